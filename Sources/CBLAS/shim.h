#ifndef TTL_CBLAS_SHIM_H
#define TTL_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (sgemm and friends) plus its thread-count controls.
#include <cblas.h>
#include <stddef.h>

// LAPACK's divide-and-conquer SVD, which libopenblas exports with the Fortran ABI (column-major,
// every argument by reference, the hidden length of the character argument last). Debian ships no
// LAPACK header with OpenBLAS, so the one prototype ttl-train needs is declared here.
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info, size_t jobz_length);

#endif
