#ifndef TTL_CMPI_SHIM_H
#define TTL_CMPI_SHIM_H
// Open MPI defines its handles as macros over global objects, which Swift cannot import.
// Each is exposed here as a tiny function; nothing else lives in this header.
#include <mpi.h>

static inline MPI_Comm ttl_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Errhandler ttl_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Datatype ttl_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ttl_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ttl_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype ttl_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype ttl_mpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Op ttl_mpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op ttl_mpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op ttl_mpi_op_min(void) { return MPI_MIN; }
static inline void *ttl_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int ttl_mpi_success(void) { return MPI_SUCCESS; }
static inline int ttl_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info ttl_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline int ttl_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int ttl_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline MPI_Status *ttl_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request ttl_mpi_request_null(void) { return MPI_REQUEST_NULL; }

#endif
