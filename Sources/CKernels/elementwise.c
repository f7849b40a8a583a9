// The exponentials of SiLU and the softmaxes with the vectors the Swift code cannot ask for (it is
// compiled for baseline x86-64: four lanes, and SwiGLU's division alone cost 3 % of a forward
// pass): 16 lanes on the AVX-512 path, 8 on the AVX2 path, the same bodies (elementwise_lanes.h)
// for both. Each function does the leading multiple of its lanes and returns how many; Swift does
// the rest (and everything on the portable path, where they return 0).
#include "CKernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

#define VEC __m512
#define LANES 16
#define TARGET "avx512f"
#define NAME(f) f##_avx512
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define SET1 _mm512_set1_ps
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL _mm512_mul_ps
#define DIV _mm512_div_ps
#define MIN _mm512_min_ps
#define MAX _mm512_max_ps
#define NEGATE(v) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)))
#define POW2(shifted, magic)                                                                                    \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                                                      \
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(magic)), _mm512_set1_epi32(127)), 23))
#define ZERO_BELOW(v, x, bound) _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, bound, _CMP_LT_OQ), _mm512_setzero_ps())
#define INFINITY_ABOVE(v, x, bound) _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(x, bound, _CMP_GT_OQ), _mm512_set1_ps(__builtin_inff()))
#include "elementwise_lanes.h"

#define VEC __m256
#define LANES 8
#define TARGET "avx2"
#define NAME(f) f##_avx2
#define LOAD _mm256_loadu_ps
#define STORE _mm256_storeu_ps
#define SET1 _mm256_set1_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps
#define DIV _mm256_div_ps
#define MIN _mm256_min_ps
#define MAX _mm256_max_ps
#define NEGATE(v) _mm256_xor_ps(v, _mm256_set1_ps(-0.0f))
#define POW2(shifted, magic)                                                                                    \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                                                      \
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic)), _mm256_set1_epi32(127)), 23))
#define ZERO_BELOW(v, x, bound) _mm256_blendv_ps(v, _mm256_setzero_ps(), _mm256_cmp_ps(x, bound, _CMP_LT_OQ))
#define INFINITY_ABOVE(v, x, bound) _mm256_blendv_ps(v, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x, bound, _CMP_GT_OQ))
#include "elementwise_lanes.h"
#endif

// The lanes of each vector path, indexed by `ttl_kernel_path()` (none on the portable path).
typedef struct {
    long (*swiglu_forward)(const float *gate, const float *up, float *a, long count);
    long (*swiglu_backward)(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient, long count);
    long (*exp_shifted)(const float *x, float *y, long count, float shift, float scale, int scaled);
} lanes;

static const lanes *lanes_in_use(void) {
#if defined(__x86_64__)
    static const lanes paths[] = {
        [TTL_PATH_AVX2] = {swiglu_forward_avx2, swiglu_backward_avx2, exp_shifted_avx2},
        [TTL_PATH_AVX512] = {swiglu_forward_avx512, swiglu_backward_avx512, exp_shifted_avx512},
    };
    int path = ttl_kernel_path();
    if (path != TTL_PATH_PORTABLE) return &paths[path];
#endif
    return NULL;
}

long ttl_exp_shifted(const float *x, float *y, long count, float shift) {
    const lanes *vector = lanes_in_use();
    return vector ? vector->exp_shifted(x, y, count, shift, 1, 0) : 0;
}

long ttl_exp_shifted_scaled(float *values, long count, float shift, float scale) {
    const lanes *vector = lanes_in_use();
    return vector ? vector->exp_shifted(values, values, count, shift, scale, 1) : 0;
}

long ttl_swiglu_backward(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient, long count) {
    const lanes *vector = lanes_in_use();
    return vector ? vector->swiglu_backward(da, gate, up, gate_gradient, up_gradient, count) : 0;
}

long ttl_swiglu_forward(const float *gate, const float *up, float *a, long count) {
    const lanes *vector = lanes_in_use();
    return vector ? vector->swiglu_forward(gate, up, a, count) : 0;
}
