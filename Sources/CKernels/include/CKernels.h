#ifndef TTL_CKERNELS_H
#define TTL_CKERNELS_H
// ttl-train's own C kernels: a row-stable single-precision GEMM with AVX-512, AVX2 and portable
// code paths, GGUF's block quantization, the CPU's features from CPUID, and the choice of OpenBLAS's kernel before it runs.
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---- Row-stable GEMM -------------------------------------------------------------------------
// C (m, n) = A (m, k) · op(B), op(B) = Bᵀ for B (n, k) (`b_transposed`) or B for B (k, n); all
// row-major with leading dimensions. With `accumulate` the product is added to C.
//
// Every element is one chain of fused multiply-adds over k in increasing order, starting from 0
// (or from C's value when accumulating), whatever m, n, the tiling, the code path or the thread:
// a row's result never depends on the rows computed with it, and the AVX-512, AVX2 and portable
// paths give the same bits. Only columns [column_begin, column_end) are computed, so callers
// split n across threads.
void ttl_gemm(int b_transposed, long m, long n, long k, const float *a, long lda, const float *b, long ldb,
              float *c, long ldc, int accumulate, long column_begin, long column_end);

// A frozen weight W (rows, columns) laid out once for these products ("panels"): bands of
// TTL_PANEL_WIDTH rows, each stored column by column — element (r, p) at
// `(r / 32) · 32 · columns + p · 32 + r % 32`, rows past the last padded with zeros — which is the
// order the micro-kernels read Wᵀ in, so x·Wᵀ reads it in place instead of transposing W on every
// call. The same bits as `ttl_gemm` on the row-major W, on every path.
enum { TTL_PANEL_WIDTH = 32 };
long ttl_panels_float_count(long rows, long columns);
void ttl_panels_pack(const float *w, long rows, long columns, float *panels);
// Row `row` of W into `out` (columns floats).
void ttl_panels_row(const float *panels, long columns, long row, float *out);
// C (m, n) (+)= A (m, k) · Wᵀ for W (n, k) in panels: a linear layer's forward.
void ttl_gemm_panels(long m, long n, long k, const float *a, long lda, const float *panels, float *c, long ldc,
                     int accumulate, long column_begin, long column_end);
// C (m, n) (+)= A (m, k) · W for W (k, n) in panels: a linear layer's activation gradient.
void ttl_gemm_panels_transposed(long m, long n, long k, const float *a, long lda, const float *panels, float *c, long ldc,
                                int accumulate, long column_begin, long column_end);
// y[r] = Σ_p W[r, p]·x[p] for the rows of panels [first_panel, first_panel + panel_count) of
// W (rows, columns): one generated token's product. Not row-stable (partial sums in lanes).
void ttl_panels_matrix_vector(const float *panels, long rows, long columns, long first_panel, long panel_count,
                              const float *x, float *y);

// Columns per micro-tile of the path in use; thread ranges that are multiples of it waste nothing.
long ttl_gemm_tile_columns(void);

// ---- Compute threads (thread_pool.c) ----------------------------------------------------------
// Runs body(context, part) for part in [0, parts), part 0 on the caller and part i on the team's
// worker i (started on first use and kept), and returns when all are done. A call made from
// inside a part, or while another thread's call runs, runs its parts in turn on its own thread.
typedef void (*ttl_parallel_body)(void *context, int part);
void ttl_parallel_run(int parts, ttl_parallel_body body, void *context);

// ---- Elementwise (elementwise.c) ----------------------------------------------------------------
// The bits of VectorMath.exp and its Swift callers, 16 lanes at a time on the AVX-512 path, 8 on
// the AVX2 path; each returns how many leading elements it wrote (a multiple of the lanes, or 0
// on the portable path) and the caller's Swift loop does the rest.
// a = SiLU(gate) ⊙ up (SwiGLU.forward).
long ttl_swiglu_forward(const float *gate, const float *up, float *a, long count);
// dgate, dup for upstream da (SwiGLU.backward).
long ttl_swiglu_backward(const float *da, const float *gate, const float *up, float *gate_gradient, float *up_gradient, long count);
// y = exp(x − shift) (VectorMath.expShifted; y may be x).
long ttl_exp_shifted(const float *x, float *y, long count, float shift);
// values = scale · exp(values − shift) (CrossEntropy.backward).
long ttl_exp_shifted_scaled(float *values, long count, float shift, float scale);

// ---- Block quantization (GGUF's Q8_0, Q4_0, Q4_1; quantization.c) ---------------------------
// Blocks of 32 values: Q8_0 = half scale + 32 int8 (34 bytes), Q4_0 = half scale + 16 bytes of
// nibbles, value i in the low nibble of byte i and value i + 16 in its high nibble (18 bytes),
// Q4_1 = half scale, half minimum + the same nibbles (20 bytes). Dequantization rounds exactly as
// gguf-py's numpy code does; quantization is ggml's reference, bit for bit.
void ttl_dequantize_q8_0(const uint8_t *blocks, long block_count, float *out);
void ttl_dequantize_q4_0(const uint8_t *blocks, long block_count, float *out);
void ttl_dequantize_q4_1(const uint8_t *blocks, long block_count, float *out);
void ttl_quantize_q8_0(const float *values, long block_count, uint8_t *blocks);
void ttl_quantize_q4_0(const float *values, long block_count, uint8_t *blocks);
void ttl_quantize_q4_1(const float *values, long block_count, uint8_t *blocks);
// `y[first_row ..< first_row + row_count] = W·x` for W of rows of `blocks_per_row` blocks of
// `format`, reading the blocks once (one generated token's product; quantized_product.c).
// `block_sums` holds the sum of each block's 32 values of x (used by Q4_1's minimum).
enum { TTL_Q8_0 = 0, TTL_Q4_0 = 1, TTL_Q4_1 = 2 };
void ttl_quantized_matrix_vector(int format, const uint8_t *blocks, long first_row, long row_count, long blocks_per_row,
                                 const float *x, const float *block_sums, float *y);
// IEEE half precision, round to nearest even (numpy's `astype(float16)`).
float ttl_half_to_float(uint16_t half);
uint16_t ttl_float_to_half(float value);

// ---- CPU features ----------------------------------------------------------------------------
enum {
    TTL_CPU_SSE3 = 1 << 0,
    TTL_CPU_AVX = 1 << 1,
    TTL_CPU_FMA = 1 << 2,
    TTL_CPU_AVX2 = 1 << 3,
    TTL_CPU_AVX512F = 1 << 4,
    TTL_CPU_AVX512BW = 1 << 5,
    TTL_CPU_AVX512VL = 1 << 6,
    TTL_CPU_AVX512DQ = 1 << 7,
    TTL_CPU_AVX512CD = 1 << 8,
    TTL_CPU_AVX512_BF16 = 1 << 9,
    TTL_CPU_AVX512_FP16 = 1 << 10,
    TTL_CPU_AVX_VNNI = 1 << 11,
    TTL_CPU_AMX_TILE = 1 << 12,
    TTL_CPU_F16C = 1 << 13,
};
// Features the CPU has and the operating system enables (XSAVE state for ymm/zmm registers);
// 0 on other architectures.
uint32_t ttl_cpu_features_detected(void);
// The vector-extension generations the kernels are written for, oldest first.
enum { TTL_ISA_UNKNOWN = -2, TTL_ISA_UNSET = -1, TTL_ISA_SSE3 = 0, TTL_ISA_AVX = 1, TTL_ISA_AVX2 = 2, TTL_ISA_AVX512 = 3 };
// TTL_TRAIN_MAX_ISA (sse3, avx, avx2 or avx512, any case): the newest generation ttl-train's kernels
// and OpenBLAS's may use, as oneDNN's ONEDNN_MAX_CPU_ISA or PyTorch's ATEN_CPU_CAPABILITY — to
// run as on an older CPU (and measure it) or to step around a broken extension. TTL_ISA_UNSET
// when the variable is not set, TTL_ISA_UNKNOWN when it names no generation (the program refuses it).
#define TTL_ISA_CEILING_VARIABLE "TTL_TRAIN_MAX_ISA"
int ttl_isa_ceiling(void);
// The name TTL_TRAIN_MAX_ISA takes for a level: "sse3", "avx", "avx2", "avx512".
const char *ttl_isa_name(int level);
// What the kernels may use: the detected features without those above the ceiling.
uint32_t ttl_cpu_features(void);
// The code path every kernel of this module takes (GEMM, packing, elementwise, matrix-vector):
// AVX-512 (F + FMA), AVX2 (+ FMA, F16C) or portable C — the newest `ttl_cpu_features` allows,
// chosen at first use. The GEMM's paths give the same bits, and so do the elementwise ones.
// `ttl_kernel_force_path` picks another path, or the best the CPU supports where it supports less
// (tests compare them), and returns the path in use.
enum { TTL_PATH_PORTABLE = 0, TTL_PATH_AVX2 = 1, TTL_PATH_AVX512 = 2 };
int ttl_kernel_path(void);
int ttl_kernel_force_path(int path);
// "GenuineIntel", "AuthenticAMD", … ("" on other architectures); `family` and `model` as Linux
// reports them (extended fields folded in).
const char *ttl_cpu_vendor(void);
int ttl_cpu_family(void);
int ttl_cpu_model(void);

// ---- OpenBLAS kernel choice ------------------------------------------------------------------
// OpenBLAS (DYNAMIC_ARCH) picks its kernels from the CPU model when the library loads and falls
// back to generic SSE3 ones for a model it does not know. Before main, ttl-train compares that
// choice with the CPU's features and, when OpenBLAS runs a kernel older than the CPU allows (or
// newer than TTL_TRAIN_MAX_ISA allows) and the user did not set OPENBLAS_CORETYPE, re-executes
// the process once with the best kernel set.
//
// The OpenBLAS core in use ("SkylakeX", "Haswell", "Prescott", …).
const char *ttl_blas_core(void);
// Who chose it: "openblas" (its own detection), "ttl-train" (re-executed with a better core) or
// "user" (OPENBLAS_CORETYPE was in the environment).
const char *ttl_blas_core_chosen_by(void);
// The OpenBLAS core this CPU's features call for ("SkylakeX", "Haswell", "Zen", "Sandybridge"),
// or NULL when no known kernel is better than the generic one.
const char *ttl_blas_best_core(void);
// Whether `core` is a kernel that uses less of this CPU than `ttl_blas_best_core` would.
int ttl_blas_core_is_behind_cpu(const char *core);
// Whether `core` is written for a newer generation than TTL_TRAIN_MAX_ISA allows.
int ttl_blas_core_is_above_ceiling(const char *core);

#ifdef __cplusplus
}
#endif
#endif
