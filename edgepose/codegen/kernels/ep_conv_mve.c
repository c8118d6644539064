/* Helium convolutions; see ep_conv_mve.h for what they compute and what the generator prepares. */
#include "ep_conv_mve.h"

#include <string.h>

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
#include <arm_mve.h>

/* Four channels' accumulators requantized at once and stored as 4 bytes (the first `left` of them): rq points at
 * lane 0 of the [4][stride] bias / multiplier / round / negated shift arrays. VQRDMULH is TFLite's
 * SaturatingRoundingDoublingHighMul lane by lane; VSHL by a negative amount shifts right, truncating, after the
 * rounding was added. */
EP_INLINE void store_lanes(int32x4_t acc, const int32_t *rq, int32_t stride, int32_t left, int32_t lo, int32_t hi,
                           int8_t *o) {
    int32x4_t t = vqrdmulhq_s32(vaddq_s32(acc, vldrwq_s32(rq)), vldrwq_s32(rq + stride));
    t = vaddq_s32(vaddq_s32(t, vshrq_n_s32(t, 31)), vldrwq_s32(rq + 2 * stride));
    t = vshlq_s32(t, vldrwq_s32(rq + 3 * stride));
    t = vminq_s32(vmaxq_s32(t, vdupq_n_s32(lo)), vdupq_n_s32(hi));
    if (left >= 4) {
        vstrbq_s32(o, t);
    } else {
        vstrbq_p_s32(o, t, vctp32q((uint32_t)left));
    }
}

/* 16 K values of one column and four channels: 5 loads and 4 VMLADAVA. The column's last group is loaded under a
 * tail predicate (a 1x1 column is the input pixel itself, whose bytes end at K); the weights are zero there. */
#define EP_GEMM_STEP(x, k)                                 \
    do {                                                   \
        a0 = vmladavaq_s8(a0, x, vldrbq_s8(w + (k)));      \
        a1 = vmladavaq_s8(a1, x, vldrbq_s8(w + kp + (k))); \
        a2 = vmladavaq_s8(a2, x, vldrbq_s8(w2 + (k)));     \
        a3 = vmladavaq_s8(a3, x, vldrbq_s8(w2 + kp + (k))); \
    } while (0)

/* one column x four channels (weights [4][kp] from w), requantized and stored */
EP_INLINE void gemm_lanes(const int8_t *col, const int8_t *w, int32_t k_size, int32_t kp, const int32_t *rq,
                          int32_t stride, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    const int8_t *w2 = w + 2 * kp;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k = 0;
    for (; k + 16 <= k_size; k += 16) EP_GEMM_STEP(vldrbq_s8(col + k), k);
    if (k < k_size) EP_GEMM_STEP(vldrbq_z_s8(col + k, vctp8q((uint32_t)(k_size - k))), k);
    const int32x4_t acc = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
    store_lanes(acc, rq, stride, left, lo, hi, o);
}

#else

/* the same arithmetic in C, for the host and cores without Helium */
EP_INLINE void store_lanes_c(const int32_t *acc, const int32_t *rq, int32_t stride, int32_t left, int32_t lo,
                             int32_t hi, int8_t *o) {
    for (int32_t lane = 0; lane < 4 && lane < left; ++lane) {
        const ep_rq q = {0, rq[stride + lane], rq[2 * stride + lane], -rq[3 * stride + lane]};
        o[lane] = ep_clamp_rq(ep_requantize_rq(acc[lane] + rq[lane], &q), 1, lo, hi);
    }
}

EP_INLINE void gemm_lanes(const int8_t *col, const int8_t *w, int32_t k_size, int32_t kp, const int32_t *rq,
                          int32_t stride, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32_t acc[4] = {0, 0, 0, 0};
    for (int32_t lane = 0; lane < 4; ++lane) {
        for (int32_t k = 0; k < k_size; ++k) acc[lane] += col[k] * w[lane * kp + k];
    }
    store_lanes_c(acc, rq, stride, left, lo, hi, o);
}

#endif

/* where the column of output pixel i starts: the input pixel itself for 1x1 without padding, else its window */
static const int8_t *column(const ep_conv_params *p, const int8_t *in, int32_t i, int8_t *window) {
    const int32_t oy = i / p->out.w, ox = i % p->out.w;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return in + ((size_t)oy * p->stride_h * p->in.w + (size_t)ox * p->stride_w) * p->in.c;
    }
    ep_im2col_s8(p, in, oy, ox, window);
    return window;
}

void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const int32_t *rq,
                    int8_t *scratch, int8_t *out) {
    const int32_t k_size = p->kh * p->kw * p->in.c, kp = (k_size + 15) & ~15;
    const int32_t pixels = p->out.h * p->out.w, n = p->out.c, np = (n + 3) & ~3;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < pixels; ++i) {
        const int8_t *col = column(p, in, i, scratch);
        int8_t *o = out + (size_t)i * n;
        for (int32_t oc = 0; oc < n; oc += 4) {
            gemm_lanes(col, weights + (size_t)oc * kp, k_size, kp, rq + oc, np, n - oc, lo, hi, o + oc);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- depthwise */

/* Padded row py of the input, group-major (all wp pixels of channels 0-3, then of 4-7...), so that the taps
 * of a kernel row are 4 bytes apart; the zero point in the padding (padding channels too: weight 0). */
static void pad_row(const ep_conv_params *p, const int8_t *in, int32_t py, int32_t wp, int32_t cp, int8_t *row) {
    const int32_t c = p->in.c, y = py - p->pad_h;
    const int8_t zero_point = (int8_t)-p->in_offset;
    if (y < 0 || y >= p->in.h) {
        memset(row, zero_point, (size_t)wp * cp);
        return;
    }
    for (int32_t px = 0; px < wp; ++px) {
        const int32_t x = px - p->pad_w;
        int8_t *dst = row + px * 4;
        if (x < 0 || x >= p->in.w) {
            for (int32_t g = 0; g < cp; g += 4, dst += wp * 4) memset(dst, zero_point, 4);
            continue;
        }
        const int8_t *src = in + ((size_t)y * p->in.w + x) * c;
        int32_t g = 0;
        for (; g + 4 <= c; g += 4, dst += wp * 4) memcpy(dst, src + g, 4);
        if (g < c) {
            memset(dst, zero_point, 4);
            memcpy(dst, src + g, (size_t)(c - g));
        }
    }
}

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE

/* four channels of one output pixel: a widening load, a load of the weights, a multiply and an add per tap, then
 * the requantization of the four lanes at once */
EP_INLINE void depthwise_lanes(const int8_t *const *at, int32_t kh, int32_t kw, int32_t cp, const int32_t *w,
                               const int32_t *rq, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32x4_t acc = vdupq_n_s32(0);
    if (kh == 3 && kw == 3) {
        /* 36 instructions for 36 MACs; assembly because GCC hoists each tap's weight address out of the loop
         * over pixels and spills it, doubling the loads */
#define EP_TAP_MVE(row, tap, k)                               \
        "vldrb.s32 q0, [%[" row "], #" #tap "]\n\t"            \
        "vldrw.32 q1, [%[w], #" #k "]\n\t"                     \
        "vmul.i32 q0, q0, q1\n\t"                              \
        "vadd.i32 %q[acc], %q[acc], q0\n\t"
        __asm__(EP_TAP_MVE("r0", 0, 0) EP_TAP_MVE("r0", 4, 16) EP_TAP_MVE("r0", 8, 32)
                EP_TAP_MVE("r1", 0, 48) EP_TAP_MVE("r1", 4, 64) EP_TAP_MVE("r1", 8, 80)
                EP_TAP_MVE("r2", 0, 96) EP_TAP_MVE("r2", 4, 112) EP_TAP_MVE("r2", 8, 128)
                : [acc] "+w"(acc)
                : [r0] "r"(at[0]), [r1] "r"(at[1]), [r2] "r"(at[2]), [w] "r"(w)
                : "q0", "q1", "memory");
#undef EP_TAP_MVE
    } else {
        for (int32_t ky = 0; ky < kh; ++ky) {
            for (int32_t kx = 0; kx < kw; ++kx) {
                const int32x4_t x = vldrbq_s32(at[ky] + kx * 4), weight = vldrwq_s32(w + (ky * kw + kx) * 4);
                acc = vaddq_s32(acc, vmulq_s32(x, weight));
            }
        }
    }
    store_lanes(acc, rq, cp, left, lo, hi, o);
}

#else

EP_INLINE void depthwise_lanes(const int8_t *const *at, int32_t kh, int32_t kw, int32_t cp, const int32_t *w,
                               const int32_t *rq, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32_t acc[4] = {0, 0, 0, 0};
    for (int32_t lane = 0; lane < 4; ++lane) {
        for (int32_t ky = 0; ky < kh; ++ky) {
            for (int32_t kx = 0; kx < kw; ++kx) acc[lane] += at[ky][kx * 4 + lane] * w[(ky * kw + kx) * 4 + lane];
        }
    }
    store_lanes_c(acc, rq, cp, left, lo, hi, o);
}

#endif

EP_INLINE void depthwise_mve(const ep_conv_params *p, const int8_t *in, const int32_t *weights, const int32_t *rq,
                             int8_t *scratch, int32_t kh, int32_t kw, int8_t *out) {
    const int32_t c = p->in.c, cp = (c + 3) & ~3, lo = p->act_min, hi = p->act_max;
    const int32_t wp = (p->out.w - 1) * p->stride_w + kw, row_size = wp * cp, step = p->stride_w * 4;
    int32_t loaded[16];  /* padded row held by each ring slot; the generator limits kh to 16 */
    for (int32_t s = 0; s < kh; ++s) loaded[s] = -1;
    for (int32_t oy = 0; oy < p->out.h; ++oy) {
        const int8_t *rows[16];
        for (int32_t ky = 0; ky < kh; ++ky) {
            const int32_t py = oy * p->stride_h + ky, slot = py % kh;
            int8_t *row = scratch + (size_t)slot * row_size;
            if (loaded[slot] != py) {
                pad_row(p, in, py, wp, cp, row);
                loaded[slot] = py;
            }
            rows[ky] = row;
        }
        int8_t *o_row = out + (size_t)oy * p->out.w * c;
        for (int32_t g = 0; g < cp; g += 4) {
            const int32_t *w = weights + (size_t)g * kh * kw;
            const int8_t *at[16];
            for (int32_t ky = 0; ky < kh; ++ky) at[ky] = rows[ky] + (size_t)g * wp;
            int8_t *o = o_row + g;
            for (int32_t ox = 0; ox < p->out.w; ++ox, o += c) {
                depthwise_lanes(at, kh, kw, cp, w, rq + g, c - g, lo, hi, o);
                for (int32_t ky = 0; ky < kh; ++ky) at[ky] += step;
            }
        }
    }
}

void ep_depthwise_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int32_t *weights, const int32_t *rq,
                              int8_t *scratch, int8_t *out) {
    if (p->kh == 3 && p->kw == 3) { /* the pose models' depthwise: taps unrolled */
        depthwise_mve(p, in, weights, rq, scratch, 3, 3, out);
    } else {
        depthwise_mve(p, in, weights, rq, scratch, p->kh, p->kw, out);
    }
}
