#!/usr/bin/env bash
# Quick start 2: set up, build with -Werror, run the test suite (Criterion
# through ctest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CMAKE_FLAGS="-DWERROR=ON ${CMAKE_FLAGS:-}" bash scripts/setup.sh
cd build
ctest --output-on-failure -j 1 --timeout 900
