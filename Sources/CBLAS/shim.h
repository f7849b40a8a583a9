#ifndef TTL_CBLAS_SHIM_H
#define TTL_CBLAS_SHIM_H
// OpenBLAS's CBLAS interface (sgemm and friends) plus its thread-count controls.
#include <cblas.h>

#endif
