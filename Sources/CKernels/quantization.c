// GGUF's block formats Q8_0, Q4_0 and Q4_1 (ggml-quants.c): 32 values a block, an IEEE half scale
// (and, for Q4_1, a half minimum) followed by the quantized values. Dequantization is exactly the
// float operations of gguf-py's `dequantize_blocks` — `d·q` (Q8_0, Q4_0), `(d·q) + m` rounded
// twice (Q4_1) — so a quantized base gives the bits of a float32 import of the same file.
// Quantization follows ggml's reference `quantize_row_*_ref`, bit for bit.
#include "CKernels.h"

#include <math.h>
#include <string.h>

// No fused multiply-add may replace a product and a sum here: the importer rounds both.
#pragma STDC FP_CONTRACT OFF

float ttl_half_to_float(uint16_t half) {
    uint32_t sign = (uint32_t)(half & 0x8000) << 16, exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal half: normalise
        int shift = 0;
        while (!(mantissa & 0x400)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
    }
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

uint16_t ttl_float_to_half(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude >= 0x7f800000u)  // infinity or NaN (kept quiet)
        return sign | 0x7c00 | (magnitude > 0x7f800000u ? 0x200 : 0);
    if (magnitude >= 0x477ff000u) return sign | 0x7c00;  // rounds past the largest half
    if (magnitude < 0x38800000u) {  // below the smallest normal half: a subnormal or zero
        if (magnitude < 0x33000000u) return sign;  // under half the smallest subnormal
        uint32_t exponent = magnitude >> 23, mantissa = (magnitude & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - exponent;  // 14 + (113 - exponent) - 1 … as a right shift of the 24-bit mantissa
        uint32_t result = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (result & 1))) result++;
        return sign | (uint16_t)result;
    }
    uint32_t result = ((magnitude >> 13) - (112u << 10)), rest = magnitude & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (result & 1))) result++;  // a carry into the exponent is right
    return sign | (uint16_t)result;
}

static float scale_at(const uint8_t *block) { return ttl_half_to_float((uint16_t)(block[0] | block[1] << 8)); }

static void store_half(uint8_t *at, float value) {
    uint16_t half = ttl_float_to_half(value);
    at[0] = (uint8_t)half;
    at[1] = (uint8_t)(half >> 8);
}

void ttl_dequantize_q8_0(const uint8_t *blocks, long block_count, float *out) {
    for (long b = 0; b < block_count; b++, blocks += 34, out += 32) {
        const float d = scale_at(blocks);
        const int8_t *q = (const int8_t *)(blocks + 2);
        for (int i = 0; i < 32; i++) out[i] = (float)q[i] * d;
    }
}

void ttl_dequantize_q4_0(const uint8_t *blocks, long block_count, float *out) {
    for (long b = 0; b < block_count; b++, blocks += 18, out += 32) {
        const float d = scale_at(blocks);
        const uint8_t *q = blocks + 2;
        for (int i = 0; i < 16; i++) {
            out[i] = d * (float)((int)(q[i] & 0x0f) - 8);
            out[i + 16] = d * (float)((int)(q[i] >> 4) - 8);
        }
    }
}

void ttl_dequantize_q4_1(const uint8_t *blocks, long block_count, float *out) {
    for (long b = 0; b < block_count; b++, blocks += 20, out += 32) {
        const float d = scale_at(blocks), m = scale_at(blocks + 2);
        const uint8_t *q = blocks + 4;
        for (int i = 0; i < 16; i++) {
            float low = d * (float)(q[i] & 0x0f), high = d * (float)(q[i] >> 4);
            out[i] = low + m;
            out[i + 16] = high + m;
        }
    }
}

void ttl_quantize_q8_0(const float *values, long block_count, uint8_t *blocks) {
    for (long b = 0; b < block_count; b++, values += 32, blocks += 34) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(values[i]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        store_half(blocks, d);
        for (int i = 0; i < 32; i++) blocks[2 + i] = (uint8_t)(int8_t)roundf(values[i] * id);
    }
}

void ttl_quantize_q4_0(const float *values, long block_count, uint8_t *blocks) {
    for (long b = 0; b < block_count; b++, values += 32, blocks += 18) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < 32; i++)
            if (amax < fabsf(values[i])) {
                amax = fabsf(values[i]);
                max = values[i];
            }
        const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        store_half(blocks, d);
        for (int i = 0; i < 16; i++) {
            float x0 = values[i] * id, x1 = values[i + 16] * id;
            int q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f);
            blocks[2 + i] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
        }
    }
}

void ttl_quantize_q4_1(const float *values, long block_count, uint8_t *blocks) {
    for (long b = 0; b < block_count; b++, values += 32, blocks += 20) {
        float min = INFINITY, max = -INFINITY;
        for (int i = 0; i < 32; i++) {
            if (values[i] < min) min = values[i];
            if (values[i] > max) max = values[i];
        }
        const float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        store_half(blocks, d);
        store_half(blocks + 2, min);
        for (int i = 0; i < 16; i++) {
            float x0 = (values[i] - min) * id, x1 = (values[i + 16] - min) * id;
            int q0 = (int8_t)(x0 + 0.5f), q1 = (int8_t)(x1 + 0.5f);
            blocks[4 + i] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
        }
    }
}
