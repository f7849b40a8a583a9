// One token's product with a matrix stored in GGUF blocks, `y = W·x`, reading the blocks once:
// each block's 32 values are scaled and multiplied into x in registers, never written out as
// floats. Generation is bound by the bytes of W it reads per token, so a 4-bit matrix read this
// way is ~5× fewer bytes than its float32 twin. The sums are in another order than the dequantized
// product's (the scale multiplies the block, Q4_1's minimum multiplies the block's sum of x), so
// the result equals it to rounding, not bit for bit — generation compares by value.
#include "CKernels.h"

static float half_at(const uint8_t *at) { return ttl_half_to_float((uint16_t)(at[0] | at[1] << 8)); }

static long block_bytes(int format) { return format == TTL_Q8_0 ? 34 : format == TTL_Q4_0 ? 18 : 20; }

// Value i (0..31) of a block, before scaling: int8 (Q8_0), nibble − 8 (Q4_0), nibble (Q4_1).
static float value_at(int format, const uint8_t *block, int i) {
    if (format == TTL_Q8_0) return (float)(int8_t)block[2 + i];
    const uint8_t *nibbles = block + (format == TTL_Q4_0 ? 2 : 4);
    int q = i < 16 ? nibbles[i] & 0x0f : nibbles[i - 16] >> 4;
    return (float)(format == TTL_Q4_0 ? q - 8 : q);
}

static void rows_portable(int format, const uint8_t *blocks, long first, long count, long blocks_per_row,
                          const float *x, const float *block_sums, float *y) {
    long bytes = block_bytes(format);
    for (long row = first; row < first + count; row++) {
        const uint8_t *block = blocks + row * blocks_per_row * bytes;
        float total = 0;
        for (long b = 0; b < blocks_per_row; b++, block += bytes) {
            float dot = 0;
            for (int i = 0; i < 32; i++) dot += value_at(format, block, i) * x[b * 32 + i];
            total += half_at(block) * dot;
            if (format == TTL_Q4_1) total += half_at(block + 2) * block_sums[b];
        }
        y[row] = total;
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("f16c")))
static float half_at_f16c(const uint8_t *at) { return _cvtsh_ss((unsigned short)(at[0] | at[1] << 8)); }

__attribute__((target("avx512f,avx512bw,f16c")))
static void rows_avx512(int format, const uint8_t *blocks, long first, long count, long blocks_per_row,
                        const float *x, const float *block_sums, float *y) {
    long bytes = block_bytes(format);
    const __m512i low = _mm512_set1_epi32(0x0f);
    const __m512 eight = _mm512_set1_ps(8);
    for (long row = first; row < first + count; row++) {
        const uint8_t *block = blocks + row * blocks_per_row * bytes;
        __m512 sum = _mm512_setzero_ps();
        float minimums = 0;
        for (long b = 0; b < blocks_per_row; b++, block += bytes) {
            __m512 first_half, second_half;
            if (format == TTL_Q8_0) {
                first_half = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 2))));
                second_half = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 18))));
            } else {
                __m512i nibbles = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(block + (format == TTL_Q4_0 ? 2 : 4))));
                first_half = _mm512_cvtepi32_ps(_mm512_and_si512(nibbles, low));
                second_half = _mm512_cvtepi32_ps(_mm512_srli_epi32(nibbles, 4));
                if (format == TTL_Q4_0) {
                    first_half = _mm512_sub_ps(first_half, eight);
                    second_half = _mm512_sub_ps(second_half, eight);
                }
            }
            __m512 scale = _mm512_set1_ps(half_at_f16c(block));
            sum = _mm512_fmadd_ps(_mm512_mul_ps(first_half, scale), _mm512_loadu_ps(x + b * 32), sum);
            sum = _mm512_fmadd_ps(_mm512_mul_ps(second_half, scale), _mm512_loadu_ps(x + b * 32 + 16), sum);
            if (format == TTL_Q4_1) minimums += half_at_f16c(block + 2) * block_sums[b];
        }
        y[row] = _mm512_reduce_add_ps(sum) + minimums;
    }
}
#endif

// 1 for the AVX-512 rows, 0 for the portable ones; -1 until first asked. CPUID is slow (a VM
// traps it), so the features are read once.
static int avx512 = -1;

int ttl_quantized_product_path(int choice) {
    if (avx512 < 0 || choice == 0) avx512 = (ttl_cpu_features() & (TTL_CPU_AVX512F | TTL_CPU_AVX512BW)) == (TTL_CPU_AVX512F | TTL_CPU_AVX512BW);
    if (choice == 1) avx512 = 0;
    return avx512;
}

void ttl_quantized_matrix_vector(int format, const uint8_t *blocks, long first_row, long row_count, long blocks_per_row,
                                 const float *x, const float *block_sums, float *y) {
#if defined(__x86_64__)
    if (avx512 > 0 || (avx512 < 0 && ttl_quantized_product_path(-1))) {
        rows_avx512(format, blocks, first_row, row_count, blocks_per_row, x, block_sums, y);
        return;
    }
#endif
    rows_portable(format, blocks, first_row, row_count, blocks_per_row, x, block_sums, y);
}
