/*
 * fd_half.h -- the two 16-bit float formats <-> binary32.
 *
 * IEEE binary16 (float16): bit-exact with the hardware conversions (F16C
 * vcvtph2ps / vcvtps2ph with round-to-nearest-even, and aarch64 fcvtl /
 * fcvtn), so that every ISA path gives the same float16 results.
 *
 * bfloat16: the top half of a binary32.  Widening is a 16-bit shift (exact,
 * NaNs unchanged); narrowing rounds to nearest even, and a NaN keeps its
 * sign and top seven payload bits and is made quiet (bit 6 set), as the
 * float16 conversion does.  Every path does this with integer operations:
 * x86's vcvtneps2bf16 flushes subnormals to zero, so it is never used.
 */
#ifndef FD_HALF_H
#define FD_HALF_H

#include <stdint.h>
#include <string.h>

static inline float fd_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    float f;
    if (exponent == 0x1F) {                 /* inf, NaN (quieted, payload kept) */
        bits = sign | 0x7F800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0u);
    } else if (exponent == 0) {
        /* zero or subnormal: mantissa * 2^-24 is exact in binary32 */
        f = (float)mantissa * 5.9604644775390625e-08f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t fd_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) {                /* inf, NaN (quieted, top payload bits) */
        if (ax == 0x7F800000u)
            return (uint16_t)(sign | 0x7C00u);
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    }
    if (ax >= 0x477FF000u)                  /* >= 65520 rounds to inf */
        return (uint16_t)(sign | 0x7C00u);
    if (ax < 0x38800000u) {                 /* below 2^-14: subnormal half or zero */
        uint32_t exponent = ax >> 23;
        int shift = 126 - (int)exponent;
        if (shift > 24)
            return (uint16_t)sign;
        uint32_t mantissa = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t rounded = mantissa >> shift;
        uint32_t rest = mantissa & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (rounded & 1u)))
            rounded++;
        return (uint16_t)(sign | rounded);
    }
    /* normal: rebias the exponent and round the mantissa to nearest even */
    uint32_t rounded = ax + 0x0FFFu + ((ax >> 13) & 1u) - 0x38000000u;
    return (uint16_t)(sign | (rounded >> 13));
}

static inline float fd_bfloat16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t fd_float_to_bfloat16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u)    /* NaN: quieted, top payload bits */
        return (uint16_t)((x >> 16) | 0x0040u);
    /* round to nearest even; a carry out of the mantissa bumps the exponent,
     * up to infinity for the largest values, as it should */
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

#endif /* FD_HALF_H */
