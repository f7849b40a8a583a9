// Choosing OpenBLAS's kernel before the program runs (see CKernels.h).
//
// OpenBLAS reads OPENBLAS_CORETYPE once, in its own constructor, which the dynamic loader runs
// before this executable's constructors. So the only way to change the kernel of a process that
// already loaded the library is to start it again: `execv` of /proc/self/exe with the same argv
// and the variable set keeps the pid, the open files and the environment, which is what mpirun's
// and srun's process managers track — and it happens before main, hence before MPI_Init, in every
// binary that links this module (ttl-train and its test bundle alike).
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char *openblas_get_corename(void);

// Set together with OPENBLAS_CORETYPE when ttl-train chose the kernel, so the re-executed
// process (and its children) can tell its own choice from the user's.
static const char *const chosen_marker = "TTL_TRAIN_BLAS_CORE";
static const char *chosen_by = "openblas";

// The vector-extension generation (TTL_ISA_…) an OpenBLAS kernel family is written for; the
// generic fallbacks (Prescott, Core2, Nehalem, Barcelona, …) are SSE3.
static int core_level(const char *core) {
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen"};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"};
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++)
        if (strcasecmp(core, avx512[i]) == 0) return TTL_ISA_AVX512;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++)
        if (strcasecmp(core, avx2[i]) == 0) return TTL_ISA_AVX2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++)
        if (strcasecmp(core, avx[i]) == 0) return TTL_ISA_AVX;
    return TTL_ISA_SSE3;
}

int ttl_blas_core_is_above_ceiling(const char *core) {
    int ceiling = ttl_isa_ceiling();
    return ceiling >= TTL_ISA_SSE3 && core_level(core) > ceiling;
}

const char *ttl_blas_best_core(void) {
    uint32_t f = ttl_cpu_features();
    uint32_t avx512 = TTL_CPU_AVX512F | TTL_CPU_AVX512BW | TTL_CPU_AVX512VL | TTL_CPU_AVX512DQ | TTL_CPU_AVX512CD;
    // SkylakeX, not Cooperlake, also where AVX512_BF16 is there: its sgemm is the faster of the
    // two (measured on a Xeon model 207: 141 against 127 GFLOP/s on one core).
    if ((f & avx512) == avx512 && (f & TTL_CPU_FMA)) return "SkylakeX";
    if ((f & TTL_CPU_AVX2) && (f & TTL_CPU_FMA)) return strcmp(ttl_cpu_vendor(), "AuthenticAMD") == 0 ? "Zen" : "Haswell";
    if (f & TTL_CPU_AVX) return "Sandybridge";
    return NULL;
}

int ttl_blas_core_is_behind_cpu(const char *core) {
    const char *best = ttl_blas_best_core();
    return best != NULL && core_level(core) < core_level(best);
}

const char *ttl_blas_core(void) { return openblas_get_corename(); }

const char *ttl_blas_core_chosen_by(void) { return chosen_by; }

__attribute__((constructor)) static void choose_blas_core(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    const char *requested = getenv("OPENBLAS_CORETYPE");
    if (requested != NULL) {
        const char *marker = getenv(chosen_marker);
        chosen_by = marker != NULL && strcmp(marker, requested) == 0 ? "ttl-train" : "user";
        return;
    }
    const char *core = openblas_get_corename();
    if (argv == NULL || core == NULL || !(ttl_blas_core_is_behind_cpu(core) || ttl_blas_core_is_above_ceiling(core))) return;
    // Below AVX (a TTL_TRAIN_MAX_ISA of sse3) the generic kernel is the best there is.
    const char *best = ttl_blas_best_core();
    if (best == NULL) best = "Prescott";
    setenv("OPENBLAS_CORETYPE", best, 1);
    setenv(chosen_marker, best, 1);
    // The resolved path rather than /proc/self/exe itself, so the process keeps its name
    // (`ps`, `pgrep ttl-train`, Slurm's and the kernel's messages) instead of becoming "exe".
    char self[4096];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length > 0) {
        self[length] = '\0';
        execv(self, argv);
    }
    execv("/proc/self/exe", argv);
    // Not re-executed (no /proc, say): carry on with OpenBLAS's own choice, and say so.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(chosen_marker);
}
