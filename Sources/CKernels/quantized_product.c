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

// The same with a block as four vectors of eight: values 8v … 8v + 7 of the block in vector v.
// Q4's byte i holds value i (low nibble) and i + 16 (high), so bytes 0–7 give vectors 0 and 2.
__attribute__((target("avx2,fma,f16c")))
static void rows_avx2(int format, const uint8_t *blocks, long first, long count, long blocks_per_row,
                      const float *x, const float *block_sums, float *y) {
    long bytes = block_bytes(format);
    const __m256i low = _mm256_set1_epi32(0x0f);
    const __m256 offset = _mm256_set1_ps(format == TTL_Q4_0 ? 8 : 0);
    for (long row = first; row < first + count; row++) {
        const uint8_t *block = blocks + row * blocks_per_row * bytes;
        __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        float minimums = 0;
        for (long b = 0; b < blocks_per_row; b++, block += bytes) {
            __m256 values[4];
            if (format == TTL_Q8_0) {
                for (int v = 0; v < 4; v++)
                    values[v] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + 2 + 8 * v))));
            } else {
                const uint8_t *nibbles = block + (format == TTL_Q4_0 ? 2 : 4);
                for (int h = 0; h < 2; h++) {
                    __m256i packed = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(nibbles + 8 * h)));
                    values[h] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(packed, low)), offset);
                    values[h + 2] = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(packed, 4)), offset);
                }
            }
            __m256 scale = _mm256_set1_ps(half_at_f16c(block));
            for (int v = 0; v < 4; v++)
                sum[v & 1] = _mm256_fmadd_ps(_mm256_mul_ps(values[v], scale), _mm256_loadu_ps(x + b * 32 + 8 * v), sum[v & 1]);
            if (format == TTL_Q4_1) minimums += half_at_f16c(block + 2) * block_sums[b];
        }
        __m256 both = _mm256_add_ps(sum[0], sum[1]);
        __m128 half = _mm_add_ps(_mm256_castps256_ps128(both), _mm256_extractf128_ps(both, 1));
        half = _mm_add_ps(half, _mm_movehl_ps(half, half));
        y[row] = _mm_cvtss_f32(_mm_add_ss(half, _mm_movehdup_ps(half))) + minimums;
    }
}
#endif

void ttl_quantized_matrix_vector(int format, const uint8_t *blocks, long first_row, long row_count, long blocks_per_row,
                                 const float *x, const float *block_sums, float *y) {
    switch (ttl_kernel_path()) {
#if defined(__x86_64__)
    case TTL_PATH_AVX512: rows_avx512(format, blocks, first_row, row_count, blocks_per_row, x, block_sums, y); break;
    case TTL_PATH_AVX2: rows_avx2(format, blocks, first_row, row_count, blocks_per_row, x, block_sums, y); break;
#endif
    default: rows_portable(format, blocks, first_row, row_count, blocks_per_row, x, block_sums, y);
    }
}
