/* NumPy .npy files (format version 1.0) of 2-D float32 matrices: what
 * `harness probe` writes for Enc(Text), Enc(Code) and Pred(Enc(Text)), and
 * reads back. Reference: numpy/lib/format.py ("NEP 1"): magic "\x93NUMPY",
 * version 1.0, a little-endian uint16 header length, an ASCII Python dict
 * literal {'descr': '<f4', 'fortran_order': False, 'shape': (R, C), } padded
 * with spaces and ending in '\n' so that the data starts at a multiple of 64
 * bytes, then R·C little-endian float32 values in row-major order. */
#ifndef ANALYSIS_NPY_H
#define ANALYSIS_NPY_H

#include <stddef.h>

/* Write x (rows, cols), row-major, to path as a .npy v1.0 '<f4' C-order
 * file (written to "<path>.tmp" and renamed, so a reader never sees half a
 * file). The bytes are a pure function of (rows, cols, x): writing the same
 * matrix twice gives identical files. rows, cols >= 0. Returns 0, or -1 with
 * err naming path (cannot create, short write). */
int npy_write_f32(const char *path, const float *x, int rows, int cols, char *err, size_t errn);

/* Read a .npy file holding a 2-D little-endian float32 C-order array (a 1-D
 * array of length L reads as rows = L, cols = 1)
 * into *x (malloc'd, caller frees; NULL when rows·cols = 0). Accepts format
 * versions 1.0 and 2.0 and any dict key order and spacing numpy writes.
 * Never reads past the end of the file; refuses anything else with err
 * naming path and what was expected: bad magic, unsupported version, header
 * not a dict, descr other than '<f4' (e.g. '<f8', '>f4'), fortran_order
 * True, more than 2 dimensions, negative or overflowing shape, data shorter
 * than the shape says (trailing bytes are also an error). Returns 0 or -1. */
int npy_read_f32(const char *path, float **x, int *rows, int *cols, char *err, size_t errn);

#endif
