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
// A weight read in place from its panels comes from memory, not L2, so its rows take a block of
// MC_PANELS rows of A (~0.6 MB in L2) per pass: the weight streams once for up to that many rows.
// Its k-blocks go up to KC_PANELS: a hidden size of up to 640 is one block, so each C tile is
// stored once instead of stored and loaded again — measured 9 % faster on the output head, whose
// logits do not stay in cache, and a few % on the layers, although a (640, 32) panel of the
// weight outgrows L1.
enum { KC = 256, MC = 144, KC_PANELS = 640, MC_PANELS = 528, NC = 2048 };

// C (mr, nr) (+)= Ap · Bp from packed panels: Ap (kc, mr) and Bp (kc, nr), k-major, so every step
// of k reads mr and nr consecutive floats (Bp's steps `ldb` apart: nr, or TTL_PANEL_WIDTH inside a
// weight's panels). (Reading A's rows in place, mr strided streams, measured a third slower.)
// `next` is the C tile the following call loads, prefetched here: a large C (the output head's
// logits) is not in cache when its tile comes round again for the next block of k.
typedef void (*micro_kernel)(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int load, const float *next);

// dst (size, width) = srcᵀ for src (rows, size) in registers, rows past `rows` read as zero: how
// packing moves square blocks of `transpose_size` on a vector path (none on the portable one).
typedef void (*register_transpose)(const float *src, long lds, int rows, float *dst, long ldd, int width);

// What each code path computes with, indexed by `ttl_kernel_path()`.
typedef struct {
    int mr, nr;
    micro_kernel kernel;
    int transpose_size;
    register_transpose transpose;
} gemm_path;

// ---- Micro-kernels ------------------------------------------------------------------------------

static void kernel_portable(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int load, const float *next) {
    (void)next;
    float acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = load ? c[i * ldc + j] : 0.0f;
    for (long p = 0; p < kc; p++, a += 4, b += ldb)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i * ldc + j] = acc[i][j];
}

#if defined(__x86_64__)
// 6 rows × 16 columns: 12 ymm accumulators, 2 for B, broadcasts of A from memory.
__attribute__((target("avx2,fma")))
static void kernel_avx2(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int load, const float *next) {
    if (next)
        for (int i = 0; i < 6; i++) _mm_prefetch((const char *)(next + i * ldc), _MM_HINT_T0);
    __m256 acc[6][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < 6; i++) {
        acc[i][0] = load ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        acc[i][1] = load ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
    }
#pragma clang loop unroll_count(4)
    for (long p = 0; p < kc; p++, a += 6, b += ldb) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
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
static void kernel_avx512(long kc, const float *a, const float *b, long ldb, float *c, long ldc, int load, const float *next) {
    if (next)
        for (int i = 0; i < 12; i++) {
            _mm_prefetch((const char *)(next + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(next + i * ldc + 16), _MM_HINT_T0);
        }
    __m512 acc[12][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < 12; i++) {
        acc[i][0] = load ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
        acc[i][1] = load ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
    }
#pragma clang loop unroll_count(4)
    for (long p = 0; p < kc; p++, a += 12, b += ldb) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
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

// dst (8, width) = srcᵀ for src (rows, 8), as transpose_16 with 256-bit vectors: unpack pairs of
// rows, interleave pairs of pairs, then swap 128-bit lanes. The first seven rows of dst are
// stored whole, spilling into the next row (which is written after them); the last is masked.
__attribute__((target("avx2")))
static void transpose_8(const float *src, long lds, int rows, float *dst, long ldd, int width) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + i * lds) : _mm256_setzero_ps();
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    // Now r[4g + c] holds column c of rows 4g … 4g + 3 in its low lane, column c + 4 in its high.
    for (int g = 0; g < 8; g += 4) {
        r[g] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    __m256 out[8];
    for (int c = 0; c < 4; c++) {
        out[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);
        out[c + 4] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);
    }
    for (int c = 0; c < 7; c++) _mm256_storeu_ps(dst + c * ldd, out[c]);
    __m256i stored = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst + 7 * ldd, stored, out[7]);
}
#endif

static const gemm_path paths[] = {
    {4, 4, kernel_portable, 0, NULL},
#if defined(__x86_64__)
    {6, 16, kernel_avx2, 8, transpose_8},
    {12, 32, kernel_avx512, 16, transpose_16},
#endif
};

static const gemm_path *path_in_use(void) { return &paths[ttl_kernel_path()]; }

long ttl_gemm_tile_columns(void) { return path_in_use()->nr; }

// Ap: panels of mr rows, each (kc, mr); rows past m are zero (their results are never stored).
static void pack_a(const float *a, long lda, long m, long kc, int mr, float *ap) {
    const gemm_path *path = path_in_use();
    const int size = path->transpose_size;
    for (long i0 = 0; i0 < m; i0 += mr, ap += kc * mr) {
        long rows = m - i0 < mr ? m - i0 : mr;
        long p0 = 0;
        // `size` columns of up to mr ≤ size rows at a time in registers, as pack_b does.
        if (size >= mr)
            for (; p0 + size <= kc; p0 += size) path->transpose(a + i0 * lda + p0, lda, (int)rows, ap + p0 * mr, mr, mr);
        for (long p = p0; p < kc; p++) {
            float *dst = ap + p * mr;
            for (long i = 0; i < rows; i++) dst[i] = a[(i0 + i) * lda + p];
            for (long i = rows; i < mr; i++) dst[i] = 0.0f;
        }
    }
}

// Bp: panels of nr columns of op(B), each (kc, nr); columns past n are zero.
static void pack_b(int transposed, const float *b, long ldb, long n, long kc, int nr, float *bp) {
    const gemm_path *path = path_in_use();
    const int size = path->transpose_size;
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
        // Whole square blocks in registers: the strided scalar stores of the loop below cost as
        // much as a sixth of a forward pass at a sequence's worth of rows.
        if (size > 0 && columns == nr)
            for (; p0 + size <= kc; p0 += size)
                for (long j = 0; j < nr; j += size) path->transpose(b + (j0 + j) * ldb + p0, ldb, size, bp + p0 * nr + j, nr, size);
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

// ---- Weights in panels ------------------------------------------------------------------------

long ttl_panels_float_count(long rows, long columns) {
    return (rows + TTL_PANEL_WIDTH - 1) / TTL_PANEL_WIDTH * TTL_PANEL_WIDTH * columns;
}

void ttl_panels_pack(const float *w, long rows, long columns, float *panels) {
    pack_b(1, w, columns, rows, columns, TTL_PANEL_WIDTH, panels);
}

void ttl_panels_row(const float *panels, long columns, long row, float *out) {
    const float *source = panels + row / TTL_PANEL_WIDTH * TTL_PANEL_WIDTH * columns + row % TTL_PANEL_WIDTH;
    for (long p = 0; p < columns; p++) out[p] = source[p * TTL_PANEL_WIDTH];
}

// Bp (kc, nr) panels of op(B) = W for W (k, n) in panels of TTL_PANEL_WIDTH rows (the backward
// product dy·W): columns [jc, jc + nc) and rows [pc, pc + kc) of W, columns past n zero.
static void pack_b_from_panels(const float *panels, long n, long pc, long kc, long jc, long nc, int nr, float *bp) {
    const long band = TTL_PANEL_WIDTH * n;  // floats of one panel
    const gemm_path *path = path_in_use();
    const int size = path->transpose_size;
    for (long j0 = 0; j0 < nc; j0 += nr, bp += kc * nr) {
        long columns = nc - j0 < nr ? nc - j0 : nr;
        long p0 = 0;
        // `size` rows of W (consecutive floats of a panel) by `size` columns, transposed in registers.
        if (size > 0 && columns == nr && pc % size == 0)
            for (; p0 + size <= kc; p0 += size) {
                long row = pc + p0;
                const float *source = panels + row / TTL_PANEL_WIDTH * band + row % TTL_PANEL_WIDTH;
                for (long j = 0; j < nr; j += size)
                    path->transpose(source + (jc + j0 + j) * TTL_PANEL_WIDTH, TTL_PANEL_WIDTH, size, bp + p0 * nr + j, nr, size);
            }
        for (long p = p0; p < kc; p++) {
            long row = pc + p;
            const float *source = panels + row / TTL_PANEL_WIDTH * band + row % TTL_PANEL_WIDTH + (jc + j0) * TTL_PANEL_WIDTH;
            float *dst = bp + p * nr;
            for (long j = 0; j < columns; j++) dst[j] = source[j * TTL_PANEL_WIDTH];
            for (long j = columns; j < nr; j++) dst[j] = 0.0f;
        }
    }
}

// ---- The blocked loops ------------------------------------------------------------------------

// Where op(B) comes from: a row-major matrix (transposed or not), packed per call, or a weight's
// panels — read in place for x·Wᵀ, repacked per call for dy·W.
typedef enum { B_ROWS, B_TRANSPOSED, B_PANELS, B_PANELS_TRANSPOSED } b_layout;

// C (m, n) (+)= A (m, k) · op(B) for columns [column_begin, column_end), every element one fused
// multiply-add chain over k in increasing order.
static void gemm_blocked(b_layout layout, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                         float *c, long ldc, int accumulate, long column_begin, long column_end) {
    if (column_end > n) column_end = n;
    if (m <= 0 || column_begin >= column_end) return;
    if (k <= 0) {
        if (!accumulate)
            for (long i = 0; i < m; i++) memset(c + i * ldc + column_begin, 0, (size_t)(column_end - column_begin) * sizeof(float));
        return;
    }
    const gemm_path path = *path_in_use();
    const int mr = path.mr, nr = path.nr;
    // k in equal blocks of at most KC (KC_PANELS): a short last block would pay a whole C tile's loads and
    // stores for a few multiply-adds.
    const long most_k = layout == B_PANELS ? KC_PANELS : KC;
    const long block_k = (k + (k + most_k - 1) / most_k - 1) / ((k + most_k - 1) / most_k);
    const long block_m = layout == B_PANELS ? MC_PANELS : MC;
    float *ap = grow(&buffer_a, &capacity_a, (size_t)block_m * block_k);
    float *bp = layout == B_PANELS ? NULL : grow(&buffer_b, &capacity_b, (size_t)(NC + nr) * block_k);
    if (!ap || (layout != B_PANELS && !bp)) abort();
    float edge[32 * 32] __attribute__((aligned(64))) = {0};

    for (long jc = column_begin; jc < column_end; jc += NC) {
        long nc = column_end - jc < NC ? column_end - jc : NC;
        for (long pc = 0; pc < k; pc += block_k) {
            long kc = k - pc < block_k ? k - pc : block_k;
            int load = accumulate || pc > 0;
            if (layout == B_ROWS || layout == B_TRANSPOSED)
                pack_b(layout == B_TRANSPOSED, layout == B_TRANSPOSED ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, nc, kc, nr, bp);
            else if (layout == B_PANELS_TRANSPOSED)
                pack_b_from_panels(b, n, pc, kc, jc, nc, nr, bp);
            for (long ic = 0; ic < m; ic += block_m) {
                long mc = m - ic < block_m ? m - ic : block_m;
                pack_a(a + ic * lda + pc, lda, mc, kc, mr, ap);
                for (long jr = 0; jr < nc; jr += nr) {
                    long columns = nc - jr < nr ? nc - jr : nr;
                    long column = jc + jr;
                    const float *panel_b = layout == B_PANELS
                        ? b + column / TTL_PANEL_WIDTH * TTL_PANEL_WIDTH * k + pc * TTL_PANEL_WIDTH + column % TTL_PANEL_WIDTH
                        : bp + (jr / nr) * kc * nr;
                    long step_b = layout == B_PANELS ? TTL_PANEL_WIDTH : nr;
                    for (long ir = 0; ir < mc; ir += mr) {
                        long rows = mc - ir < mr ? mc - ir : mr;
                        const float *panel_a = ap + (ir / mr) * kc * mr;
                        float *tile = c + (ic + ir) * ldc + column;
                        const float *next = ir + mr < mc ? tile + mr * ldc : NULL;
                        if (rows == mr && columns == nr) {
                            path.kernel(kc, panel_a, panel_b, step_b, tile, ldc, load, next);
                            continue;
                        }
                        // An edge tile goes through a full-size scratch tile; the padded rows and
                        // columns compute zeros that are never stored.
                        if (load)
                            for (long i = 0; i < rows; i++) memcpy(edge + i * nr, tile + i * ldc, (size_t)columns * sizeof(float));
                        path.kernel(kc, panel_a, panel_b, step_b, edge, nr, load, NULL);
                        for (long i = 0; i < rows; i++) memcpy(tile + i * ldc, edge + i * nr, (size_t)columns * sizeof(float));
                    }
                }
            }
        }
    }
}

void ttl_gemm(int b_transposed, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
              float *c, long ldc, int accumulate, long column_begin, long column_end) {
    gemm_blocked(b_transposed ? B_TRANSPOSED : B_ROWS, m, n, k, a, lda, b, ldb, c, ldc, accumulate, column_begin, column_end);
}

void ttl_gemm_panels(long m, long n, long k, const float *a, long lda, const float *panels, float *c, long ldc,
                     int accumulate, long column_begin, long column_end) {
    gemm_blocked(B_PANELS, m, n, k, a, lda, panels, 0, c, ldc, accumulate, column_begin, column_end);
}

void ttl_gemm_panels_transposed(long m, long n, long k, const float *a, long lda, const float *panels, float *c, long ldc,
                                int accumulate, long column_begin, long column_end) {
    gemm_blocked(B_PANELS_TRANSPOSED, m, n, k, a, lda, panels, 0, c, ldc, accumulate, column_begin, column_end);
}

// ---- One row times a weight in panels (generation) ---------------------------------------------

static void panel_times_vector_portable(const float *panel, long k, const float *x, float *out) {
    float acc[TTL_PANEL_WIDTH] = {0};
    for (long p = 0; p < k; p++, panel += TTL_PANEL_WIDTH)
        for (int j = 0; j < TTL_PANEL_WIDTH; j++) acc[j] += panel[j] * x[p];
    memcpy(out, acc, sizeof acc);
}

#if defined(__x86_64__)
// Four pairs of accumulators over k, summed at the end: the panel streams from memory at the rate
// of two loads a cycle instead of waiting on one chain's FMA latency.
__attribute__((target("avx512f,fma")))
static void panel_times_vector_avx512(const float *panel, long k, const float *x, float *out) {
    __m512 acc[4][2];
    for (int u = 0; u < 4; u++) acc[u][0] = acc[u][1] = _mm512_setzero_ps();
    long p = 0;
    for (; p + 4 <= k; p += 4, panel += 4 * TTL_PANEL_WIDTH)
        for (int u = 0; u < 4; u++) {
            __m512 xp = _mm512_set1_ps(x[p + u]);
            acc[u][0] = _mm512_fmadd_ps(_mm512_loadu_ps(panel + u * TTL_PANEL_WIDTH), xp, acc[u][0]);
            acc[u][1] = _mm512_fmadd_ps(_mm512_loadu_ps(panel + u * TTL_PANEL_WIDTH + 16), xp, acc[u][1]);
        }
    for (; p < k; p++, panel += TTL_PANEL_WIDTH) {
        __m512 xp = _mm512_set1_ps(x[p]);
        acc[0][0] = _mm512_fmadd_ps(_mm512_loadu_ps(panel), xp, acc[0][0]);
        acc[0][1] = _mm512_fmadd_ps(_mm512_loadu_ps(panel + 16), xp, acc[0][1]);
    }
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(acc[0][0], acc[1][0]), _mm512_add_ps(acc[2][0], acc[3][0])));
    _mm512_storeu_ps(out + 16, _mm512_add_ps(_mm512_add_ps(acc[0][1], acc[1][1]), _mm512_add_ps(acc[2][1], acc[3][1])));
}

// A panel's step of k is four ymm vectors: two sets of four accumulators (even and odd k) give
// eight independent chains.
__attribute__((target("avx2,fma")))
static void panel_times_vector_avx2(const float *panel, long k, const float *x, float *out) {
    __m256 acc[2][4];
    for (int u = 0; u < 2; u++)
        for (int v = 0; v < 4; v++) acc[u][v] = _mm256_setzero_ps();
    long p = 0;
    for (; p + 2 <= k; p += 2, panel += 2 * TTL_PANEL_WIDTH)
        for (int u = 0; u < 2; u++) {
            __m256 xp = _mm256_set1_ps(x[p + u]);
            for (int v = 0; v < 4; v++)
                acc[u][v] = _mm256_fmadd_ps(_mm256_loadu_ps(panel + u * TTL_PANEL_WIDTH + 8 * v), xp, acc[u][v]);
        }
    for (; p < k; p++, panel += TTL_PANEL_WIDTH) {
        __m256 xp = _mm256_set1_ps(x[p]);
        for (int v = 0; v < 4; v++) acc[0][v] = _mm256_fmadd_ps(_mm256_loadu_ps(panel + 8 * v), xp, acc[0][v]);
    }
    for (int v = 0; v < 4; v++) _mm256_storeu_ps(out + 8 * v, _mm256_add_ps(acc[0][v], acc[1][v]));
}
#endif

void ttl_panels_matrix_vector(const float *panels, long rows, long columns, long first_panel, long panel_count,
                              const float *x, float *y) {
    for (long panel = first_panel; panel < first_panel + panel_count; panel++) {
        float out[TTL_PANEL_WIDTH];
        const float *source = panels + panel * TTL_PANEL_WIDTH * columns;
        switch (ttl_kernel_path()) {
#if defined(__x86_64__)
        case TTL_PATH_AVX512: panel_times_vector_avx512(source, columns, x, out); break;
        case TTL_PATH_AVX2: panel_times_vector_avx2(source, columns, x, out); break;
#endif
        default: panel_times_vector_portable(source, columns, x, out);
        }
        long first = panel * TTL_PANEL_WIDTH, count = rows - first < TTL_PANEL_WIDTH ? rows - first : TTL_PANEL_WIDTH;
        memcpy(y + first, out, (size_t)count * sizeof(float));
    }
}
