/*
 * fd_dtype.h -- the element types the kernels handle, and the scaling of
 * one element, the reference every path's vector code matches bit for bit.
 *
 * float16 and bfloat16 are computed in float32, float64 in float64: the
 * product x * (kept ? scale : 0) is rounded once, to the element's type.
 */
#ifndef FD_DTYPE_H
#define FD_DTYPE_H

#include <stdint.h>
#include <string.h>
#include "fd_half.h"

enum { FD_FLOAT16 = 0, FD_FLOAT32 = 1, FD_FLOAT64 = 2, FD_BFLOAT16 = 3 };

static inline int64_t fd_itemsize(int dtype)
{
    return dtype == FD_FLOAT64 ? 8 : dtype == FD_FLOAT32 ? 4 : 2;
}

/* y = x * (kept ? scale : 0) for one element of `dtype` at x (unaligned). */
static inline void fd_scale_element(int dtype, const char *x, char *y, int kept, double scale)
{
    float s32 = kept ? (float)scale : 0.0f;
    if (dtype == FD_FLOAT64) {
        double v;
        memcpy(&v, x, 8);
        v *= kept ? scale : 0.0;
        memcpy(y, &v, 8);
    } else if (dtype == FD_FLOAT32) {
        float v;
        memcpy(&v, x, 4);
        v *= s32;
        memcpy(y, &v, 4);
    } else {
        uint16_t h;
        memcpy(&h, x, 2);
        if (dtype == FD_FLOAT16)
            h = fd_float_to_half(fd_half_to_float(h) * s32);
        else
            h = fd_float_to_bfloat16(fd_bfloat16_to_float(h) * s32);
        memcpy(y, &h, 2);
    }
}

#endif /* FD_DTYPE_H */
