/*
 * fd_philox.h -- the Philox4x32 block function (Salmon, Moraes, Dror, Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * Plain C99, no Python headers, no global state.  Each function is one idea:
 * a 32x32->64 multiply split into halves, one round, one key bump, the
 * R-round block function, and an L-lane version whose inner loops the
 * compiler vectorizes (vpmuludq on x86-64, umull on aarch64).
 *
 * Safety margin (from the paper, Table 2): Philox4x32 passes TestU01's
 * BigCrush from 7 rounds; 10 rounds is the recommended default.  fastdrop
 * accepts 7 to 16 rounds.
 */
#ifndef FD_PHILOX_H
#define FD_PHILOX_H

#include <stdint.h>

/* Multipliers of the Philox S-box (paper, Section 5; Random123 philox.h). */
#define FD_PHILOX_M4x32_0 UINT32_C(0xD2511F53)
#define FD_PHILOX_M4x32_1 UINT32_C(0xCD9E8D57)
/* Weyl key increments: the golden ratio and sqrt(3) - 1, as 32-bit fractions. */
#define FD_PHILOX_W32_0 UINT32_C(0x9E3779B9)
#define FD_PHILOX_W32_1 UINT32_C(0xBB67AE85)

#define FD_PHILOX_DEFAULT_ROUNDS 10
#define FD_PHILOX_MIN_ROUNDS 7
#define FD_PHILOX_MAX_ROUNDS 16

typedef struct { uint32_t v[4]; } fd_ctr4;
typedef struct { uint32_t v[2]; } fd_key2;

/* hi and lo halves of the 64-bit product a*b. */
static inline uint32_t fd_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t product = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(product >> 32);
    return (uint32_t)product;
}

static inline fd_ctr4 fd_philox4x32_round(fd_ctr4 ctr, fd_key2 key)
{
    uint32_t hi0, hi1;
    uint32_t lo0 = fd_mulhilo32(FD_PHILOX_M4x32_0, ctr.v[0], &hi0);
    uint32_t lo1 = fd_mulhilo32(FD_PHILOX_M4x32_1, ctr.v[2], &hi1);
    fd_ctr4 out = {{hi1 ^ ctr.v[1] ^ key.v[0], lo1, hi0 ^ ctr.v[3] ^ key.v[1], lo0}};
    return out;
}

static inline fd_key2 fd_philox4x32_bumpkey(fd_key2 key)
{
    key.v[0] += FD_PHILOX_W32_0;
    key.v[1] += FD_PHILOX_W32_1;
    return key;
}

/* The R-round block function: round 0 uses the key as given, each later
 * round the key bumped once more. */
static inline fd_ctr4 fd_philox4x32(fd_ctr4 ctr, fd_key2 key, int rounds)
{
    ctr = fd_philox4x32_round(ctr, key);
    for (int r = 1; r < rounds; r++) {
        key = fd_philox4x32_bumpkey(key);
        ctr = fd_philox4x32_round(ctr, key);
    }
    return ctr;
}

/*
 * FD_LANES blocks at once, structure-of-arrays: w[k][j] is word k of lane j.
 * The lane loops have no dependences between lanes, so the compiler turns
 * each into a few vector instructions (pmuludq on x86-64, umull and umull2
 * on aarch64).  A round writes new arrays and copies them back: updating w
 * in place, as the scalar round does, kept GCC from vectorizing the
 * widening multiplies on either ISA; so did inlining into the caller,
 * where the arrays become scalars (one call per 128 elements costs
 * nothing).
 */
#define FD_LANES 8

#if defined(__GNUC__)
#define FD_NOINLINE __attribute__((noinline))
#else
#define FD_NOINLINE
#endif

static FD_NOINLINE void fd_philox4x32_lanes(uint32_t w[4][FD_LANES], fd_key2 key, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        uint32_t n[4][FD_LANES];
        for (int j = 0; j < FD_LANES; j++) {
            uint64_t p0 = (uint64_t)w[0][j] * FD_PHILOX_M4x32_0;
            uint64_t p1 = (uint64_t)w[2][j] * FD_PHILOX_M4x32_1;
            n[0][j] = (uint32_t)(p1 >> 32) ^ w[1][j] ^ key.v[0];
            n[1][j] = (uint32_t)p1;
            n[2][j] = (uint32_t)(p0 >> 32) ^ w[3][j] ^ key.v[1];
            n[3][j] = (uint32_t)p0;
        }
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < FD_LANES; j++)
                w[k][j] = n[k][j];
        key = fd_philox4x32_bumpkey(key);
    }
}

#endif /* FD_PHILOX_H */
