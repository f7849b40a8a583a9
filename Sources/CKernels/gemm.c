// The row-stable GEMM (see CKernels.h): BLIS-style blocking (Goto & van de Geijn 2008) around
// register-tiled micro-kernels, with one rule that OpenBLAS and MKL do not keep — each element of
// C is a single fused multiply-add chain over k in increasing order. Blocking k only splits that
// chain: a later block starts from the value the earlier one stored. So tiling, edge tiles, the
// number of rows in the call and the vector width change nothing in the result, and the model
// can multiply all sequences of a batch in one call while each sequence keeps its own bits.
#include "CKernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Block sizes: a (KC, 32) panel of B stays in L1 while the kernel walks down MC packed rows of A
// (an (MC, KC) block, ~0.15 MB, in L2); NC packed columns of B (2 MB) stay in L2 across them. MC
// is a multiple of every path's rows per tile.
enum { KC = 256, MC = 144, NC = 2048 };

// C (mr, nr) (+)= Ap · Bp from packed panels: Ap (kc, mr) and Bp (kc, nr), k-major, so every step
// of k reads mr and nr consecutive floats. (Reading A's rows in place, mr strided streams, measured
// a third slower.)
typedef void (*micro_kernel)(long kc, const float *a, const float *b, float *c, long ldc, int load);

typedef struct {
    int mr, nr;
    micro_kernel kernel;
} gemm_path;

// ---- Micro-kernels ------------------------------------------------------------------------------

static void kernel_portable(long kc, const float *a, const float *b, float *c, long ldc, int load) {
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = load ? c[i * ldc + j] : 0.0f;
    for (long p = 0; p < kc; p++, a += 4, b += 4)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i * ldc + j] = acc[i][j];
}

#if defined(__x86_64__)
// 6 rows × 16 columns: 12 ymm accumulators, 2 for B, broadcasts of A from memory.
__attribute__((target("avx2,fma")))
static void kernel_avx2(long kc, const float *a, const float *b, float *c, long ldc, int load) {
    __m256 acc[6][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) {
        acc[i][0] = load ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        acc[i][1] = load ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
    }
    for (long p = 0; p < kc; p++, a += 6, b += 16) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma clang loop unroll(full)
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) {
        _mm256_storeu_ps(c + i * ldc, acc[i][0]);
        _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    }
}

// 12 rows × 32 columns: 24 zmm accumulators, 2 for B, broadcasts of A from memory — two FMAs a
// cycle need 24 independent chains at a latency of 4 cycles, and 24 + 2 + 1 of 32 registers fit.
__attribute__((target("avx512f,fma")))
static void kernel_avx512(long kc, const float *a, const float *b, float *c, long ldc, int load) {
    __m512 acc[12][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < 12; i++) {
        acc[i][0] = load ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
        acc[i][1] = load ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
    }
#pragma clang loop unroll_count(4)
    for (long p = 0; p < kc; p++, a += 12, b += 32) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma clang loop unroll(full)
        for (int i = 0; i < 12; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < 12; i++) {
        _mm512_storeu_ps(c + i * ldc, acc[i][0]);
        _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
    }
}
#endif

static const gemm_path paths[] = {
    {4, 4, kernel_portable},
#if defined(__x86_64__)
    {6, 16, kernel_avx2},
    {12, 32, kernel_avx512},
#endif
};

static int supported_path(void) {
    uint32_t features = ttl_cpu_features();
    if ((features & TTL_CPU_AVX512F) && (features & TTL_CPU_FMA)) return 2;
    if ((features & TTL_CPU_AVX2) && (features & TTL_CPU_FMA)) return 1;
    return 0;
}

static int active_path = -1;

int ttl_gemm_path(void) {
    if (active_path < 0) active_path = supported_path();
    return active_path;
}

int ttl_gemm_force_path(int path) {
    if (path >= 0 && path <= supported_path()) active_path = path;
    return ttl_gemm_path();
}

long ttl_gemm_tile_columns(void) { return paths[ttl_gemm_path()].nr; }

// ---- Packing ----------------------------------------------------------------------------------

#if defined(__x86_64__)
// dst (16, width) = srcᵀ for src (rows, 16), both with leading dimensions; rows past `rows` read
// as zero and only the first `width` columns of dst are stored. Unpack pairs of rows, interleave
// pairs of pairs, then gather 128-bit lanes twice.
__attribute__((target("avx512f")))
static void transpose_16(const float *src, long lds, int rows, float *dst, long ldd, int width) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds) : _mm512_setzero_ps();
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    // Now r[4g + c] holds, in 128-bit lane l, column c + 4l of rows 4g … 4g + 3.
    for (int g = 0; g < 16; g += 4) {
        r[g] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    __mmask16 stored = (__mmask16)((1u << width) - 1);
    for (int c = 0; c < 4; c++) {
        __m512 even_low = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), even_high = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
        __m512 odd_low = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd), odd_high = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
        _mm512_mask_storeu_ps(dst + c * ldd, stored, _mm512_shuffle_f32x4(even_low, even_high, 0x88));
        _mm512_mask_storeu_ps(dst + (c + 8) * ldd, stored, _mm512_shuffle_f32x4(even_low, even_high, 0xdd));
        _mm512_mask_storeu_ps(dst + (c + 4) * ldd, stored, _mm512_shuffle_f32x4(odd_low, odd_high, 0x88));
        _mm512_mask_storeu_ps(dst + (c + 12) * ldd, stored, _mm512_shuffle_f32x4(odd_low, odd_high, 0xdd));
    }
}
#endif

// Ap: panels of mr rows, each (kc, mr); rows past m are zero (their results are never stored).
static void pack_a(const float *a, long lda, long m, long kc, int mr, float *ap) {
    for (long i0 = 0; i0 < m; i0 += mr, ap += kc * mr) {
        long rows = m - i0 < mr ? m - i0 : mr;
        long p0 = 0;
#if defined(__x86_64__)
        // 16 columns of up to mr ≤ 16 rows at a time in registers, as pack_b does.
        if (ttl_gemm_path() == 2)
            for (; p0 + 16 <= kc; p0 += 16) transpose_16(a + i0 * lda + p0, lda, (int)rows, ap + p0 * mr, mr, mr);
#endif
        for (long p = p0; p < kc; p++) {
            float *dst = ap + p * mr;
            for (long i = 0; i < rows; i++) dst[i] = a[(i0 + i) * lda + p];
            for (long i = rows; i < mr; i++) dst[i] = 0.0f;
        }
    }
}

// Bp: panels of nr columns of op(B), each (kc, nr); columns past n are zero.
static void pack_b(int transposed, const float *b, long ldb, long n, long kc, int nr, float *bp) {
    for (long j0 = 0; j0 < n; j0 += nr, bp += kc * nr) {
        long columns = n - j0 < nr ? n - j0 : nr;
        if (!transposed) {  // B (k, n): rows of B are rows of the panel
            for (long p = 0; p < kc; p++) {
                memcpy(bp + p * nr, b + p * ldb + j0, (size_t)columns * sizeof(float));
                for (long j = columns; j < nr; j++) bp[p * nr + j] = 0.0f;
            }
            continue;
        }
        // B (n, k): column j of op(B) is row j of B
        long p0 = 0;
#if defined(__x86_64__)
        // Whole 16 × 16 blocks in registers: the strided scalar stores of the loop below cost as
        // much as a sixth of a forward pass at a sequence's worth of rows.
        if (ttl_gemm_path() == 2 && columns == nr)
            for (; p0 + 16 <= kc; p0 += 16)
                for (long j = 0; j < nr; j += 16) transpose_16(b + (j0 + j) * ldb + p0, ldb, 16, bp + p0 * nr + j, nr, 16);
#endif
        for (long j = 0; j < columns; j++) {
            const float *src = b + (j0 + j) * ldb;
            for (long p = p0; p < kc; p++) bp[p * nr + j] = src[p];
        }
        for (long j = columns; j < nr; j++)
            for (long p = 0; p < kc; p++) bp[p * nr + j] = 0.0f;
    }
}

// Per-thread packing buffers, grown on demand and kept for the thread's life.
static _Thread_local float *buffer_a, *buffer_b;
static _Thread_local size_t capacity_a, capacity_b;

static float *grow(float **buffer, size_t *capacity, size_t floats) {
    if (floats > *capacity) {
        free(*buffer);
        size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
        *buffer = aligned_alloc(64, bytes);
        *capacity = *buffer ? floats : 0;
    }
    return *buffer;
}

// ---- The blocked loops ------------------------------------------------------------------------

void ttl_gemm(int b_transposed, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
              float *c, long ldc, int accumulate, long column_begin, long column_end) {
    if (column_end > n) column_end = n;
    if (m <= 0 || column_begin >= column_end) return;
    if (k <= 0) {
        if (!accumulate)
            for (long i = 0; i < m; i++) memset(c + i * ldc + column_begin, 0, (size_t)(column_end - column_begin) * sizeof(float));
        return;
    }
    const gemm_path path = paths[ttl_gemm_path()];
    const int mr = path.mr, nr = path.nr;
    // k in equal blocks of at most KC: a short last block would pay a whole C tile's loads and
    // stores for a few multiply-adds.
    const long block_k = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC);
    float *ap = grow(&buffer_a, &capacity_a, (size_t)MC * block_k);
    float *bp = grow(&buffer_b, &capacity_b, (size_t)(NC + nr) * block_k);
    if (!ap || !bp) abort();
    float edge[32 * 32] __attribute__((aligned(64))) = {0};

    for (long jc = column_begin; jc < column_end; jc += NC) {
        long nc = column_end - jc < NC ? column_end - jc : NC;
        for (long pc = 0; pc < k; pc += block_k) {
            long kc = k - pc < block_k ? k - pc : block_k;
            int load = accumulate || pc > 0;
            pack_b(b_transposed, b_transposed ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, nc, kc, nr, bp);
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                pack_a(a + ic * lda + pc, lda, mc, kc, mr, ap);
                for (long jr = 0; jr < nc; jr += nr) {
                    long columns = nc - jr < nr ? nc - jr : nr;
                    const float *panel_b = bp + (jr / nr) * kc * nr;
                    for (long ir = 0; ir < mc; ir += mr) {
                        long rows = mc - ir < mr ? mc - ir : mr;
                        const float *panel_a = ap + (ir / mr) * kc * mr;
                        float *tile = c + (ic + ir) * ldc + jc + jr;
                        if (rows == mr && columns == nr) {
                            path.kernel(kc, panel_a, panel_b, tile, ldc, load);
                            continue;
                        }
                        // An edge tile goes through a full-size scratch tile; the padded rows and
                        // columns compute zeros that are never stored.
                        if (load)
                            for (long i = 0; i < rows; i++) memcpy(edge + i * nr, tile + i * ldc, (size_t)columns * sizeof(float));
                        path.kernel(kc, panel_a, panel_b, edge, nr, load);
                        for (long i = 0; i < rows; i++) memcpy(tile + i * ldc, edge + i * nr, (size_t)columns * sizeof(float));
                    }
                }
            }
        }
    }
}
