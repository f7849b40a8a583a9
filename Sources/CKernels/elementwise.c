// SwiGLU's elementwise work with the AVX-512 vectors the Swift code cannot ask for (it is compiled
// for baseline x86-64: four lanes, and a division that cost 3 % of a forward pass): the same
// operations in the same order as VectorMath.exp and SwiGLU.forward, each rounded on its own (no
// fused multiply-adds), so every lane gives the bits of the Swift code, which does the rest.
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
#endif

long ttl_swiglu_forward(const float *gate, const float *up, float *a, long count) {
#if defined(__x86_64__)
    if (ttl_cpu_features() & TTL_CPU_AVX512F) return swiglu_forward_avx512(gate, up, a, count);
#endif
    return 0;
}
