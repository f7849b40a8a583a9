// What the CPU can do, from CPUID, and what the operating system lets it use (XGETBV): a CPU with
// AVX-512 in a kernel or hypervisor that does not save zmm state cannot run AVX-512 code. The
// kernels ask `ttl_cpu_features`, which leaves out what lies above TTL_TRAIN_MAX_ISA.
#include "CKernels.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const isa_names[] = {"sse3", "avx", "avx2", "avx512"};

int ttl_isa_ceiling(void) {
    enum { NOT_READ = TTL_ISA_UNKNOWN - 1 };
    static int ceiling = NOT_READ;
    if (ceiling == NOT_READ) {
        const char *requested = getenv(TTL_ISA_CEILING_VARIABLE);
        // Empty counts as unset, as for a shell's `TTL_TRAIN_MAX_ISA= ttl-train …`.
        ceiling = requested == NULL || requested[0] == '\0' ? TTL_ISA_UNSET : TTL_ISA_UNKNOWN;
        for (int level = TTL_ISA_SSE3; requested != NULL && level <= TTL_ISA_AVX512; level++)
            if (strcasecmp(requested, isa_names[level]) == 0) ceiling = level;
    }
    return ceiling;
}

const char *ttl_isa_name(int level) { return isa_names[level]; }

// The features at or below `ceiling`: AVX-512 and AMX go above avx2; AVX2, FMA and AVX-VNNI
// (VEX-coded, from the AVX2 generation) above avx; AVX and F16C above sse3.
static uint32_t below(int ceiling, uint32_t features) {
    if (ceiling < TTL_ISA_AVX512)
        features &= ~(uint32_t)(TTL_CPU_AVX512F | TTL_CPU_AVX512BW | TTL_CPU_AVX512VL | TTL_CPU_AVX512DQ | TTL_CPU_AVX512CD
                                | TTL_CPU_AVX512_BF16 | TTL_CPU_AVX512_FP16 | TTL_CPU_AMX_TILE);
    if (ceiling < TTL_ISA_AVX2) features &= ~(uint32_t)(TTL_CPU_AVX2 | TTL_CPU_FMA | TTL_CPU_AVX_VNNI);
    if (ceiling < TTL_ISA_AVX) features &= ~(uint32_t)(TTL_CPU_AVX | TTL_CPU_F16C);
    return features;
}

uint32_t ttl_cpu_features(void) {
    static uint32_t features = UINT32_MAX;
    if (features == UINT32_MAX) {
        int ceiling = ttl_isa_ceiling();
        features = ceiling >= TTL_ISA_SSE3 ? below(ceiling, ttl_cpu_features_detected()) : ttl_cpu_features_detected();
    }
    return features;
}

static int supported_path(void) {
    uint32_t features = ttl_cpu_features();
    if ((features & TTL_CPU_AVX512F) && (features & TTL_CPU_FMA)) return TTL_PATH_AVX512;
    uint32_t avx2 = TTL_CPU_AVX2 | TTL_CPU_FMA | TTL_CPU_F16C;
    if ((features & avx2) == avx2) return TTL_PATH_AVX2;
    return TTL_PATH_PORTABLE;
}

static int active_path = -1;

int ttl_kernel_path(void) {
    if (active_path < 0) active_path = supported_path();
    return active_path;
}

int ttl_kernel_force_path(int path) {
    int best = supported_path();
    if (path >= TTL_PATH_PORTABLE) active_path = path < best ? path : best;
    return ttl_kernel_path();
}

#if defined(__x86_64__)
#include <cpuid.h>

static uint32_t xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

static uint32_t read_cpu_features(void);

// Read once: CPUID traps to the hypervisor in a VM (tens of µs), and the elementwise kernels ask
// for every row.
uint32_t ttl_cpu_features_detected(void) {
    static uint32_t features = UINT32_MAX;
    if (features == UINT32_MAX) features = read_cpu_features();
    return features;
}

static uint32_t read_cpu_features(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    uint32_t features = 0;
    if (ecx & bit_SSE3) features |= TTL_CPU_SSE3;
    int osxsave = (ecx & bit_OSXSAVE) != 0;
    uint32_t state = osxsave ? xcr0() : 0;
    int ymm = (state & 0x6) == 0x6;            // SSE and AVX state
    int zmm = ymm && (state & 0xe0) == 0xe0;   // opmask, upper zmm halves, zmm16-31
    int tiles = (state & 0x60000) == 0x60000;  // AMX tile config and data
    if (ymm && (ecx & bit_AVX)) features |= TTL_CPU_AVX;
    if (ymm && (ecx & bit_FMA)) features |= TTL_CPU_FMA;
    if (ymm && (ecx & bit_F16C)) features |= TTL_CPU_F16C;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        if (ymm && (ebx & bit_AVX2)) features |= TTL_CPU_AVX2;
        if (zmm && (ebx & bit_AVX512F)) features |= TTL_CPU_AVX512F;
        if (zmm && (ebx & bit_AVX512BW)) features |= TTL_CPU_AVX512BW;
        if (zmm && (ebx & bit_AVX512VL)) features |= TTL_CPU_AVX512VL;
        if (zmm && (ebx & bit_AVX512DQ)) features |= TTL_CPU_AVX512DQ;
        if (zmm && (ebx & bit_AVX512CD)) features |= TTL_CPU_AVX512CD;
        if (zmm && (edx & (1u << 23))) features |= TTL_CPU_AVX512_FP16;
        if (tiles && (edx & (1u << 24))) features |= TTL_CPU_AMX_TILE;
    }
    if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
        if (ymm && (eax & (1u << 4))) features |= TTL_CPU_AVX_VNNI;
        if (zmm && (eax & (1u << 5))) features |= TTL_CPU_AVX512_BF16;
    }
    return features;
}

const char *ttl_cpu_vendor(void) {
    static char vendor[13];
    unsigned eax, ebx, ecx, edx;
    if (!vendor[0] && __get_cpuid(0, &eax, &ebx, &ecx, &edx)) {
        memcpy(vendor, &ebx, 4);
        memcpy(vendor + 4, &edx, 4);
        memcpy(vendor + 8, &ecx, 4);
    }
    return vendor;
}

static unsigned signature(void) {
    unsigned eax = 0, ebx, ecx, edx;
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    return eax;
}

int ttl_cpu_family(void) {
    unsigned eax = signature(), family = (eax >> 8) & 0xf;
    return (int)(family == 0xf ? family + ((eax >> 20) & 0xff) : family);
}

int ttl_cpu_model(void) {
    unsigned eax = signature(), family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    return (int)(family == 0x6 || family == 0xf ? model | ((eax >> 12) & 0xf0) : model);
}
#else
uint32_t ttl_cpu_features_detected(void) { return 0; }
const char *ttl_cpu_vendor(void) { return ""; }
int ttl_cpu_family(void) { return 0; }
int ttl_cpu_model(void) { return 0; }
#endif
