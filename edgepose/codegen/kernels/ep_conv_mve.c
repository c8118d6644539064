/* Helium convolutions; see ep_conv_mve.h for what they compute and what the generator prepares. */
#include "ep_conv_mve.h"

#include <string.h>

/* Where the column of output pixel i starts. A 1x1 convolution without padding reads the input pixel in place
 * when K (its depth) is a whole number of vectors, else a copy in the window (the vector loads run past K); other
 * shapes gather their window (im2col). */
static const int8_t *column(const ep_conv_params *p, const int8_t *in, int32_t i, int8_t *window) {
    const int32_t oy = i / p->out.w, ox = i % p->out.w;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        const int8_t *pixel = in + ((size_t)oy * p->stride_h * p->in.w + (size_t)ox * p->stride_w) * p->in.c;
        if ((p->in.c & 15) == 0) return pixel;
        memcpy(window, pixel, (size_t)p->in.c);
        return window;
    }
    ep_im2col_s8(p, in, oy, ox, window);
    return window;
}

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
#include <arm_mve.h>

/* Four channels' accumulators requantized at once and stored as 4 bytes (the first `left` of them): rq points at
 * the channels' block of 16 int32 (bias, multiplier, round, negated shift, 4 lanes each). */
EP_INLINE void store_lanes(int32x4_t acc, const int32_t *rq, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32x4_t t = ep_requantize_lanes(vaddq_s32(acc, vldrwq_s32(rq)), vldrwq_s32(rq + 4), vldrwq_s32(rq + 8),
                                      vldrwq_s32(rq + 12));
    t = vminq_s32(vmaxq_s32(t, vdupq_n_s32(lo)), vdupq_n_s32(hi));
    if (left >= 4) {
        vstrbq_s32(o, t);
    } else {
        vstrbq_p_s32(o, t, vctp32q((uint32_t)left));
    }
}

/* One column and four channels, requantized and clamped in the lanes of the result: per 16 K values one load of
 * the column, four of the weights (chunk-interleaved, read with one advancing pointer) and four VMLADAV(A).
 * Assembly: GCC keeps the loop's pointers and accumulators in memory. VMLADAV's accumulator must be an even
 * register ("Te"). `chunks` >= 1; the column may hold anything past K (the weights are zero there). */
EP_INLINE int32x4_t gemm_block(const int8_t *col, const int8_t **w, const int32_t **rq, int32_t chunks,
                               int32x4_t lo, int32x4_t hi) {
    int32_t a0, a1, a2, a3;
    int32x4_t r;
#define EP_GEMM_CHUNK(op)                  \
    "vldrb.8 q0, [%[c]], #16\n\t"          \
    "vldrb.8 q1, [%[w]], #16\n\t"          \
    op " %[a0], q0, q1\n\t"                \
    "vldrb.8 q1, [%[w]], #16\n\t"          \
    op " %[a1], q0, q1\n\t"                \
    "vldrb.8 q1, [%[w]], #16\n\t"          \
    op " %[a2], q0, q1\n\t"                \
    "vldrb.8 q1, [%[w]], #16\n\t"          \
    op " %[a3], q0, q1\n\t"
    __asm__(EP_GEMM_CHUNK("vmladav.s8")
            "subs %[n], %[n], #1\n\t"
            "beq 2f\n"
            "1:\n\t"
            EP_GEMM_CHUNK("vmladava.s8")
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n"
            "2:\n\t"
            "vmov %q[r][2], %q[r][0], %[a0], %[a2]\n\t"
            "vmov %q[r][3], %q[r][1], %[a1], %[a3]\n\t"
            "vldrw.32 q1, [%[rq]], #16\n\t"
            "vadd.i32 %q[r], %q[r], q1\n\t"
            "vldrw.32 q1, [%[rq]], #16\n\t"
            "vqrdmulh.s32 %q[r], %q[r], q1\n\t"
            "vshr.s32 q1, %q[r], #31\n\t"
            "vadd.i32 %q[r], %q[r], q1\n\t"
            "vldrw.32 q1, [%[rq]], #16\n\t"
            "vadd.i32 %q[r], %q[r], q1\n\t"
            "vldrw.32 q1, [%[rq]], #16\n\t"
            "vshl.s32 %q[r], %q[r], q1\n\t"
            "vmax.s32 %q[r], %q[r], %q[lo]\n\t"
            "vmin.s32 %q[r], %q[r], %q[hi]"
            : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [r] "=&w"(r), [c] "+r"(col),
              [w] "+r"(*w), [rq] "+r"(*rq), [n] "+r"(chunks)
            : [lo] "w"(lo), [hi] "w"(hi)
            : "q0", "q1", "memory", "cc");
#undef EP_GEMM_CHUNK
    return r;
}

void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const int32_t *rq,
                    int8_t *scratch, int8_t *out) {
    const int32_t k_size = p->kh * p->kw * p->in.c, chunks = (k_size + 15) >> 4, n = p->out.c;
    const int32_t pixels = p->out.h * p->out.w, full = n >> 2;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    for (int32_t i = 0; i < pixels; ++i) {
        const int8_t *col = column(p, in, i, scratch);
        const int8_t *w = weights;
        const int32_t *q = rq;
        int8_t *o = out + (size_t)i * n;
        for (int32_t b = 0; b < full; ++b, o += 4) vstrbq_s32(o, gemm_block(col, &w, &q, chunks, lo, hi));
        if (n & 3) vstrbq_p_s32(o, gemm_block(col, &w, &q, chunks, lo, hi), vctp32q((uint32_t)(n & 3)));
    }
}

#else

/* the same arithmetic in C, for the host and cores without Helium */
EP_INLINE void store_lanes_c(const int32_t *acc, const int32_t *rq, int32_t left, int32_t lo, int32_t hi,
                             int8_t *o) {
    for (int32_t lane = 0; lane < 4 && lane < left; ++lane) {
        const ep_rq q = {0, rq[4 + lane], rq[8 + lane], -rq[12 + lane]};
        o[lane] = ep_clamp_rq(ep_requantize_rq(acc[lane] + rq[lane], &q), 1, lo, hi);
    }
}

void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const int32_t *rq,
                    int8_t *scratch, int8_t *out) {
    const int32_t k_size = p->kh * p->kw * p->in.c, chunks = (k_size + 15) >> 4, n = p->out.c;
    const int32_t pixels = p->out.h * p->out.w;
    for (int32_t i = 0; i < pixels; ++i) {
        const int8_t *col = column(p, in, i, scratch);
        for (int32_t oc = 0; oc < n; oc += 4) {
            const int8_t *w = weights + (size_t)oc * chunks * 16;
            int32_t acc[4] = {0, 0, 0, 0};
            for (int32_t k = 0; k < k_size; ++k) {
                for (int32_t lane = 0; lane < 4; ++lane) acc[lane] += col[k] * w[(k >> 4) * 64 + lane * 16 + (k & 15)];
            }
            store_lanes_c(acc, rq + oc * 4, n - oc, p->act_min, p->act_max, out + (size_t)i * n + oc);
        }
    }
}

#endif

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
 * the requantization of the four lanes at once (full 3x3 groups take depthwise_row_3x3 below) */
EP_INLINE void depthwise_lanes(const int8_t *const *at, int32_t kh, int32_t kw, const int32_t *w,
                               const int32_t *rq, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int32_t ky = 0; ky < kh; ++ky) {
        for (int32_t kx = 0; kx < kw; ++kx) {
            const int32x4_t x = vldrbq_s32(at[ky] + kx * 4), weight = vldrwq_s32(w + (ky * kw + kx) * 4);
            acc = vaddq_s32(acc, vmulq_s32(x, weight));
        }
    }
    store_lanes(acc, rq, left, lo, hi, o);
}

/* A row of outputs of one group of four channels, 3x3 taps: the loop over the row in assembly, so that the three
 * row pointers, the weights' address and the output stay in registers (GCC spilled them, and the requantization
 * constants are reloaded from flash each pixel: there are not enough vector registers to hold them too). Volatile:
 * its only effect is the stores. */
EP_INLINE void depthwise_row_3x3(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int32_t *w,
                                 const int32_t *rq, int32_t count, int32_t step, int32_t stride, int32x4_t lo,
                                 int32x4_t hi, int8_t *o) {
    int32x4_t acc;
#define EP_TAP_ROW(row, tap, k)                   \
    "vldrb.s32 q0, [%[" row "], #" #tap "]\n\t"  \
    "vldrw.32 q1, [%[w], #" #k "]\n\t"           \
    "vmul.i32 q0, q0, q1\n\t"                    \
    "vadd.i32 %q[acc], %q[acc], q0\n\t"
    __asm__ volatile("1:\n\t"
            "vldrb.s32 q0, [%[r0]]\n\t"
            "vldrw.32 q1, [%[w]]\n\t"
            "vmul.i32 %q[acc], q0, q1\n\t"
            EP_TAP_ROW("r0", 4, 16) EP_TAP_ROW("r0", 8, 32)
            EP_TAP_ROW("r1", 0, 48) EP_TAP_ROW("r1", 4, 64) EP_TAP_ROW("r1", 8, 80)
            EP_TAP_ROW("r2", 0, 96) EP_TAP_ROW("r2", 4, 112) EP_TAP_ROW("r2", 8, 128)
            "add %[r0], %[r0], %[step]\n\t"
            "add %[r1], %[r1], %[step]\n\t"
            "add %[r2], %[r2], %[step]\n\t"
            "vldrw.32 q1, [%[rq]]\n\t"
            "vadd.i32 %q[acc], %q[acc], q1\n\t"
            "vldrw.32 q1, [%[rq], #16]\n\t"
            "vqrdmulh.s32 %q[acc], %q[acc], q1\n\t"
            "vshr.s32 q1, %q[acc], #31\n\t"
            "vadd.i32 %q[acc], %q[acc], q1\n\t"
            "vldrw.32 q1, [%[rq], #32]\n\t"
            "vadd.i32 %q[acc], %q[acc], q1\n\t"
            "vldrw.32 q1, [%[rq], #48]\n\t"
            "vshl.s32 %q[acc], %q[acc], q1\n\t"
            "vmax.s32 %q[acc], %q[acc], %q[lo]\n\t"
            "vmin.s32 %q[acc], %q[acc], %q[hi]\n\t"
            "vstrb.32 %q[acc], [%[o]]\n\t"
            "add %[o], %[o], %[stride]\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b"
            : [acc] "=&w"(acc), [r0] "+l"(r0), [r1] "+l"(r1), [r2] "+l"(r2), [o] "+l"(o), [n] "+r"(count)
            : [w] "r"(w), [rq] "r"(rq), [step] "r"(step), [stride] "r"(stride), [lo] "w"(lo), [hi] "w"(hi)
            : "q0", "q1", "memory", "cc");
#undef EP_TAP_ROW
}

#else

EP_INLINE void depthwise_lanes(const int8_t *const *at, int32_t kh, int32_t kw, const int32_t *w,
                               const int32_t *rq, int32_t left, int32_t lo, int32_t hi, int8_t *o) {
    int32_t acc[4] = {0, 0, 0, 0};
    for (int32_t lane = 0; lane < 4; ++lane) {
        for (int32_t ky = 0; ky < kh; ++ky) {
            for (int32_t kx = 0; kx < kw; ++kx) acc[lane] += at[ky][kx * 4 + lane] * w[(ky * kw + kx) * 4 + lane];
        }
    }
    store_lanes_c(acc, rq, left, lo, hi, o);
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
#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
            if (kh == 3 && kw == 3 && c - g >= 4) {
                depthwise_row_3x3(at[0], at[1], at[2], w, rq + g * 4, p->out.w, step, c, vdupq_n_s32(lo),
                                  vdupq_n_s32(hi), o);
                continue;
            }
#endif
            for (int32_t ox = 0; ox < p->out.w; ++ox, o += c) {
                depthwise_lanes(at, kh, kw, w, rq + g * 4, c - g, lo, hi, o);
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
