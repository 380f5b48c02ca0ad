#!/usr/bin/env bash
# harness slurm and harness status against a real SLURM: starts a single-node cluster on this
# machine (munged with a generated key, slurmctld and slurmd from Debian's slurm-wlm, as root,
# without systemd or cgroups, everything under a temporary directory), submits a pico grid of
# 8 runs as a 4-task array with `harness slurm`, waits for the queue to empty, and checks that
# every run was recorded exactly once, ok, and that `harness status` says all done. Shuts the
# daemons down on exit. Exits 77 (skipped) when slurm-wlm or munge is not installed, when not
# root, or when the daemons cannot start.
#   usage: test_slurm.sh HARNESS_BIN SOURCE_DIR
set -uo pipefail
HARNESS=${1:?usage: test_slurm.sh HARNESS_BIN SOURCE_DIR}
SRC=${2:?usage: test_slurm.sh HARNESS_BIN SOURCE_DIR}
skip() { echo "slurm test: SKIPPED: $*"; exit 77; }
fail() { echo "slurm test: FAILED: $*"; dump_logs; exit 1; }

for p in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
  command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$p" >/dev/null 2>&1 ||
    skip "$p not found (install: apt-get install -y slurm-wlm munge)"
done
export PATH=$PATH:/usr/sbin
[ "$(id -u)" -eq 0 ] || skip "not root: slurmd and munged are started as root"

W=$(mktemp -d /tmp/jepa_slurm_cluster_XXXXXX)
chmod 755 "$W"
PIDS=()
dump_logs() {
  for f in "$W"/munged.log "$W"/slurmctld.log "$W"/slurmd.log "$W"/results/tiny/slurm/*.out; do
    [ -f "$f" ] && { echo "--- $f (last 20 lines)"; tail -n 20 "$f"; }
  done
}
cleanup() {
  [ -n "${SLURM_CONF:-}" ] && scancel --name=harness-tiny >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done; kill -9 "$p" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT

# munge: a generated key, a socket of our own.
mungekey --create --keyfile="$W/munge.key" >/dev/null 2>&1 || dd if=/dev/urandom of="$W/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$W/munge.key"
munged --foreground --force --key-file="$W/munge.key" --socket="$W/munge.sock" --pid-file="$W/munged.pid" \
  --log-file="$W/munged.log" --seed-file="$W/munged.seed" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$W/munge.sock" ] && break; sleep 0.1; done
[ -S "$W/munge.sock" ] || { dump_logs; skip "munged did not start (log above)"; }

# slurm.conf: this host, its CPUs, one partition, no accounting, no cgroups.
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
PORT=$((20000 + RANDOM % 20000))
mkdir -p "$W/state" "$W/spool" "$W/results"
cat > "$W/slurm.conf" <<EOF
ClusterName=jepatest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$W/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$W/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" >"$W/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >"$W/slurmd.out" 2>&1 &
PIDS+=($!)
up=0
for _ in $(seq 60); do
  state=$(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1)
  case "$state" in idle | mix | alloc) up=1; break ;; esac
  sleep 0.5
done
[ $up -eq 1 ] || { cat "$W/slurmctld.out" "$W/slurmd.out" 2>/dev/null; dump_logs; skip "slurmctld/slurmd did not come up (node state '${state:-none}'; logs above)"; }
echo "slurm test: cluster up: node $HOST, $CPUS CPUs, partition debug ($(sinfo --version))"

# A pico grid of 8 runs (2 arms x 4 seeds), as a 4-task array.
cat > "$W/tiny.grid" <<EOF
dataset = synth
model = pico
epochs = 1
batch_size = 16
train_limit = 48
test_limit = 8
max_new_tokens = 24
epoch_eval_limit = 0
threads = 1
seeds = 82, 23, 37, 84
[baseline]
loss = ntp
[jepa]
loss = jepa
EOF
cd "$W" || fail "cd $W"
export HARNESS_DATA="$SRC/data"
"$HARNESS" run tiny.grid --results "$W/results" --dry-run 2>/dev/null | awk '{print $1}' | sort > "$W/expected"
[ "$(wc -l < "$W/expected")" -eq 8 ] || fail "the grid should have 8 runs: $(cat "$W/expected")"
# Submitted to a partition that is down, so the tasks wait and harness status shows them queued.
scontrol update PartitionName=debug State=DOWN || fail "scontrol update PartitionName=debug State=DOWN"
out=$("$HARNESS" slurm tiny.grid --tasks 4 --cpus-per-task 1 --time 10:00 --results "$W/results" 2>&1) ||
  fail "harness slurm: $out"
echo "$out"
job=$(echo "$out" | awk '/^job [0-9]+:/ {sub(":", "", $2); print $2; exit}')
[ -n "$job" ] || fail "no job id in: $out"
st=$("$HARNESS" status tiny.grid --results "$W/results" 2>&1) || fail "harness status: $st"
echo "$st"
echo "$st" | grep -q "^8 runs: 0 done (0 ok, 0 diverged), 0 running, 0 failed, 8 pending" || fail "harness status before the run"
echo "$st" | grep -q "^| ${job}_.* | PENDING |" || fail "harness status does not show the queued tasks of job $job"
scontrol update PartitionName=debug State=UP || fail "scontrol update PartitionName=debug State=UP"

# Wait for the array to leave the queue (at most 10 minutes).
t0=$(date +%s)
while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
  [ $(($(date +%s) - t0)) -lt 600 ] || { squeue; fail "job $job still queued after 600 s"; }
  sleep 1
done
echo "slurm test: job $job left the queue after $(($(date +%s) - t0)) s"

# Every run recorded exactly once, ok; every task wrote its log; status says all done.
csv="$W/results/tiny/runs.csv"
[ -f "$csv" ] || fail "no $csv"
tail -n +2 "$csv" | cut -d, -f1 | sort > "$W/recorded"
diff "$W/expected" "$W/recorded" >/dev/null ||
  fail "runs recorded (left) differ from the grid's runs (right), each once: $(diff "$W/recorded" "$W/expected")"
nok=$(python3 -c 'import csv,sys; print(sum(r["status"] == "ok" for r in csv.DictReader(open(sys.argv[1]))))' "$csv" 2>/dev/null ||
  tail -n +2 "$csv" | grep -c ',ok,')
[ "$nok" -eq 8 ] || fail "$nok of 8 runs recorded ok"
nlogs=$(ls "$W/results/tiny/slurm/${job}"_*.out 2>/dev/null | wc -l)
[ "$nlogs" -eq 4 ] || fail "$nlogs task logs, expected 4"
for f in "$W/results/tiny/slurm/${job}"_*.out; do
  grep -q "in this slice;" "$f" || fail "$f did not run a slice: $(cat "$f")"
done
st=$("$HARNESS" status tiny.grid --results "$W/results" 2>&1) || fail "harness status: $st"
echo "$st"
echo "$st" | grep -q "^8 runs: 8 done (8 ok, 0 diverged), 0 running, 0 failed, 0 pending" || fail "harness status does not say all done"
echo "slurm test: PASSED: 8 runs over 4 array tasks of job $job, each recorded once"
