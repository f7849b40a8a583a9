// The exponentials of SiLU and the softmaxes with the AVX-512 vectors the Swift code cannot ask
// for (it is compiled for baseline x86-64: four lanes, and SwiGLU's division alone cost 3 % of a
// forward pass): the same operations in the same order as VectorMath.exp and its callers, each
// rounded on its own (no fused multiply-adds), so every lane gives the bits of the Swift code.
// Each function does the leading multiple of 16 elements and returns how many; Swift does the
// rest (and everything on a CPU without AVX-512, where they return 0).
#include "CKernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
static inline __m512 exp_avx512(__m512 x) {
    __m512 clamped = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.37f));
    __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_add_ps(_mm512_mul_ps(clamped, _mm512_set1_ps(1.44269504f)), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    __m512 r = _mm512_sub_ps(clamped, _mm512_mul_ps(n, _mm512_set1_ps(0.69314575f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(1.4286068e-6f)));
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 120));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 24));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.0f / 6));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(0.5f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1));
    __m512i exponent = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_castps_si512(magic)), _mm512_set1_epi32(127)), 23);
    __m512 result = _mm512_mul_ps(p, _mm512_castsi512_ps(exponent));
    result = _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33f), _CMP_LT_OQ), _mm512_setzero_ps());
    return _mm512_mask_mov_ps(result, _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72f), _CMP_GT_OQ), _mm512_set1_ps(__builtin_inff()));
}

__attribute__((target("avx512f")))
static long swiglu_forward_avx512(const float *gate, const float *up, float *a, long count) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), sign));
        __m512 denominator = _mm512_add_ps(_mm512_set1_ps(1), exp_avx512(negated));
        _mm512_storeu_ps(a + i, _mm512_mul_ps(_mm512_div_ps(g, denominator), _mm512_loadu_ps(up + i)));
    }
    return i;
}

__attribute__((target("avx512f")))
static long swiglu_backward_avx512(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient,
                                   long count) {
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    const __m512 one = _mm512_set1_ps(1);
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(da + i);
        __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), sign));
        __m512 sigmoid = _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(negated)));
        _mm512_storeu_ps(up_gradient + i, _mm512_mul_ps(_mm512_mul_ps(d, g), sigmoid));
        __m512 slope = _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, sigmoid)));
        _mm512_storeu_ps(gate_gradient + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(d, _mm512_loadu_ps(up + i)), sigmoid), slope));
    }
    return i;
}

__attribute__((target("avx512f")))
static long exp_shifted_avx512(const float *x, float *y, long count, float shift, float scale, int scaled) {
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(shift)));
        _mm512_storeu_ps(y + i, scaled ? _mm512_mul_ps(_mm512_set1_ps(scale), e) : e);
    }
    return i;
}
#endif

static int has_avx512(void) { return (ttl_cpu_features() & TTL_CPU_AVX512F) != 0; }

long ttl_exp_shifted(const float *x, float *y, long count, float shift) {
#if defined(__x86_64__)
    if (has_avx512()) return exp_shifted_avx512(x, y, count, shift, 1, 0);
#endif
    return 0;
}

long ttl_exp_shifted_scaled(float *values, long count, float shift, float scale) {
#if defined(__x86_64__)
    if (has_avx512()) return exp_shifted_avx512(values, values, count, shift, scale, 1);
#endif
    return 0;
}

long ttl_swiglu_backward(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient, long count) {
#if defined(__x86_64__)
    if (has_avx512()) return swiglu_backward_avx512(da, gate, up, gate_gradient, up_gradient, count);
#endif
    return 0;
}

long ttl_swiglu_forward(const float *gate, const float *up, float *a, long count) {
#if defined(__x86_64__)
    if (has_avx512()) return swiglu_forward_avx512(gate, up, a, count);
#endif
    return 0;
}
