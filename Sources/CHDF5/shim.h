#ifndef TTL_CHDF5_SHIM_H
#define TTL_CHDF5_SHIM_H
// HDF5's property-list defaults, file-access flags and native type ids are macros (often over
// library globals that need H5open first), which Swift either cannot import or imports with the
// wrong type. Each is exposed here as a tiny function; nothing else lives in this header.
#include <hdf5.h>

static inline hid_t ttl_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t ttl_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t ttl_h5s_all(void) { return H5S_ALL; }
static inline hsize_t ttl_h5s_unlimited(void) { return H5S_UNLIMITED; }
static inline size_t ttl_h5t_variable(void) { return H5T_VARIABLE; }

static inline unsigned ttl_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned ttl_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned ttl_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned ttl_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned ttl_h5f_acc_swmr_write(void) { return H5F_ACC_SWMR_WRITE; }
static inline unsigned ttl_h5f_acc_swmr_read(void) { return H5F_ACC_SWMR_READ; }
static inline H5F_libver_t ttl_h5f_libver_latest(void) { return H5F_LIBVER_LATEST; }

static inline hid_t ttl_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t ttl_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t ttl_h5p_link_create(void) { return H5P_LINK_CREATE; }

static inline hid_t ttl_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t ttl_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t ttl_h5t_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t ttl_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t ttl_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t ttl_h5t_c_s1(void) { return H5T_C_S1; }

#endif
