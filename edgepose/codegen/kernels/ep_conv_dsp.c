/* DSP convolutions; see ep_conv_dsp.h for what they compute and what the generator prepares.
 *
 * The layouts serve the inner loops: there, every operand is one LDRD at an immediate offset from a pointer
 * that only moves forward, and every instruction left is a load or an SMLAD (SMLABB/SMLATT in depthwise).
 */
#include "ep_conv_dsp.h"

#include "ep_arm.h"

/* position of value k inside its group of 4: 0, 2, 1, 3 (SXTB16's order) */
#define EP_SLOT(k) ((((k) & 1) << 1) | (((k) & 2) >> 1))

/* n int8 values (n a multiple of 4) widened to int16 in SXTB16 order, in groups of 4 that are `stride`
 * int16 apart: the layouts of both the GEMM's column pairs and the depthwise ring */
EP_INLINE void widen(const int8_t *src, int32_t n, int32_t stride, int16_t *dst) {
    for (int32_t k = 0; k < n; k += 4, dst += stride) {
        const uint32_t v = ep_load32(src + k);
        uint32_t *words = (uint32_t *)dst;
        words[0] = ep_sxtb16(v);
        words[1] = ep_sxtb16_odd(v);
    }
}

/* the same for c values (any count) with zeros up to n */
static void widen_tail(const int8_t *src, int32_t c, int32_t n, int32_t stride, int16_t *dst) {
    const int32_t whole = c & ~3;
    widen(src, whole, stride, dst);
    dst += (whole / 4) * stride;
    for (int32_t k = whole; k < n; k += 4, dst += stride) {
        for (int32_t j = 0; j < 4; ++j) dst[EP_SLOT(j)] = (int16_t)(k + j < c ? src[k + j] : 0);
    }
}

/* ---------------------------------------------------------------------------------------------- conv */

/* Column j (0 or 1) of a pair: the input window of output pixel (oy, ox), widened into `pair`, where each
 * group of 4 K values is followed by the other column's. Padded taps hold the zero point. */
static void column(const ep_conv_params *p, const int8_t *image, int32_t oy, int32_t ox, int32_t kp, int8_t *window,
                   int16_t *pair) {
    const int32_t c = p->in.c;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        widen_tail(image + ((size_t)oy * p->stride_h * p->in.w + (size_t)ox * p->stride_w) * c, c, kp, 8, pair);
        return;
    }
    ep_im2col_s8(p, image, oy, ox, window);  /* the window as int8 first, then widened 4 at a time */
    widen(window, kp, 8, pair);  /* the window's bytes past K stay 0 from the start */
}

/* Two columns x every output channel, two channels at a time: 4 accumulators, per 4 K values 4 LDRD and
 * 8 SMLAD. Weights of each channel pair are interleaved like the columns. */
EP_INLINE void gemm(const ep_conv_params *p, const int16_t *pair, int32_t columns, const int16_t *weights,
                    const ep_rq *rq, int32_t kp, int narrow, int8_t *o0) {
    const int32_t n = p->out.c, lo = p->act_min, hi = p->act_max;  /* locals: int8 stores alias anything */
    int8_t *o1 = o0 + n;
    const uint32_t *w = (const uint32_t *)weights;
    const uint32_t *end = (const uint32_t *)pair + kp;
    int32_t oc = 0;
    for (; oc + 2 <= n; oc += 2, rq += 2) {
        const uint32_t *x = (const uint32_t *)pair;
        int32_t a00 = rq[0].bias, a01 = a00, a10 = rq[1].bias, a11 = a10;
#if EP_DSP_ASM
        /* 14 instructions per 16 MACs; assembly because GCC's register allocation spills this loop */
        uint32_t x0a, x0b, x1a, x1b, wa, wb;
        __asm__("1:\n\t"
                "ldrd %[x0a], %[x0b], [%[x]], #8\n\t"
                "ldrd %[x1a], %[x1b], [%[x]], #8\n\t"
                "ldrd %[wa], %[wb], [%[w]], #8\n\t"
                "smlad %[a00], %[x0a], %[wa], %[a00]\n\t"
                "smlad %[a00], %[x0b], %[wb], %[a00]\n\t"
                "smlad %[a01], %[x1a], %[wa], %[a01]\n\t"
                "smlad %[a01], %[x1b], %[wb], %[a01]\n\t"
                "ldrd %[wa], %[wb], [%[w]], #8\n\t"
                "smlad %[a10], %[x0a], %[wa], %[a10]\n\t"
                "smlad %[a10], %[x0b], %[wb], %[a10]\n\t"
                "smlad %[a11], %[x1a], %[wa], %[a11]\n\t"
                "smlad %[a11], %[x1b], %[wb], %[a11]\n\t"
                "cmp %[x], %[end]\n\t"
                "bne 1b"
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [x] "+r"(x), [w] "+r"(w),
                  [x0a] "=&r"(x0a), [x0b] "=&r"(x0b), [x1a] "=&r"(x1a), [x1b] "=&r"(x1b), [wa] "=&r"(wa),
                  [wb] "=&r"(wb)
                : [end] "r"(end)
                : "cc", "memory");
#else
        do {
            uint32_t x0a, x0b, x1a, x1b, wa, wb;
            ep_load2(x, &x0a, &x0b);
            ep_load2(x + 2, &x1a, &x1b);
            ep_load2(w, &wa, &wb);
            a00 = ep_smlad(x0a, wa, a00);
            a00 = ep_smlad(x0b, wb, a00);
            a01 = ep_smlad(x1a, wa, a01);
            a01 = ep_smlad(x1b, wb, a01);
            ep_load2(w + 2, &wa, &wb);
            a10 = ep_smlad(x0a, wa, a10);
            a10 = ep_smlad(x0b, wb, a10);
            a11 = ep_smlad(x1a, wa, a11);
            a11 = ep_smlad(x1b, wb, a11);
            x += 4;
            w += 4;
        } while (x < end);
#endif
        o0[oc] = ep_clamp_rq(ep_requantize_rq(a00, &rq[0]), narrow, lo, hi);
        o0[oc + 1] = ep_clamp_rq(ep_requantize_rq(a10, &rq[1]), narrow, lo, hi);
        if (columns == 2) {
            o1[oc] = ep_clamp_rq(ep_requantize_rq(a01, &rq[0]), narrow, lo, hi);
            o1[oc + 1] = ep_clamp_rq(ep_requantize_rq(a11, &rq[1]), narrow, lo, hi);
        }
    }
    if (oc < n) { /* the last, odd channel: its weights alone, 4 K values per 2 words */
        const uint32_t *x = (const uint32_t *)pair;
        int32_t a0 = rq[0].bias, a1 = a0;
        do {
            a0 = ep_smlad(x[0], w[0], a0);
            a0 = ep_smlad(x[1], w[1], a0);
            a1 = ep_smlad(x[2], w[0], a1);
            a1 = ep_smlad(x[3], w[1], a1);
            x += 4;
            w += 2;
        } while (x < end);
        o0[oc] = ep_clamp_rq(ep_requantize_rq(a0, &rq[0]), narrow, lo, hi);
        if (columns == 2) o1[oc] = ep_clamp_rq(ep_requantize_rq(a1, &rq[0]), narrow, lo, hi);
    }
}

EP_INLINE void conv_dsp(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                        int16_t *scratch, int narrow, int8_t *out) {
    const int32_t k_size = p->kh * p->kw * p->in.c, kp = (k_size + 3) & ~3;
    const int32_t pixels = p->out.h * p->out.w;
    int8_t *window = (int8_t *)(scratch + 2 * kp);
    memset(window + k_size, 0, (size_t)(kp - k_size));
    for (int32_t i = 0; i < pixels; i += 2) {
        const int32_t columns = i + 1 < pixels ? 2 : 1;
        column(p, in, i / p->out.w, i % p->out.w, kp, window, scratch);
        if (columns == 2) column(p, in, (i + 1) / p->out.w, (i + 1) % p->out.w, kp, window, scratch + 4);
        gemm(p, scratch, columns, weights, rq, kp, narrow, out + (size_t)i * p->out.c);
    }
}

void ep_conv_dsp_s8(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                    int16_t *scratch, int8_t *out) {
    if (p->act_min == -128 && p->act_max == 127) {
        conv_dsp(p, in, weights, rq, scratch, 0, out);
    } else {
        conv_dsp(p, in, weights, rq, scratch, 1, out);
    }
}

/* ---------------------------------------------------------------------------------------------- depthwise */

/* Padded row py of the input, widened into `row`: group-major (all wp pixels of channels 0-3, then of 4-7...),
 * so the taps of one kernel row are 8 bytes apart. */
static void widen_row(const ep_conv_params *p, const int8_t *in, int32_t py, int32_t wp, int32_t cp, int16_t *row) {
    const int32_t c = p->in.c, y = py - p->pad_h;
    const int8_t zero_point = (int8_t)-p->in_offset;
    const int8_t pad[4] = {zero_point, zero_point, zero_point, zero_point};  /* padding channels too: weight 0 */
    for (int32_t px = 0; px < wp; ++px) {
        const int32_t x = px - p->pad_w;
        int16_t *dst = row + px * 4;
        if (y < 0 || y >= p->in.h || x < 0 || x >= p->in.w) {
            for (int32_t g = 0; g < cp; g += 4, dst += wp * 4) widen(pad, 4, 0, dst);
            continue;
        }
        widen_tail(in + ((size_t)y * p->in.w + x) * c, c, cp, wp * 4, dst);
    }
}

/* One tap of four channels: an LDRD of inputs, an LDRD of weights (both at immediate offsets), 4 MACs. Word 0
 * holds channels 0 and 2, word 1 channels 1 and 3. */
#define EP_TAP(x, w, i, k)                                  \
    do {                                                    \
        uint32_t x0, x1, w0, w1;                            \
        ep_load2((x) + 2 * (i), &x0, &x1);                  \
        ep_load2((w) + 2 * (k), &w0, &w1);                  \
        a0 = ep_smlabb(x0, w0, a0);                         \
        a2 = ep_smlatt(x0, w0, a2);                         \
        a1 = ep_smlabb(x1, w1, a1);                         \
        a3 = ep_smlatt(x1, w1, a3);                         \
    } while (0)

/* Four channels of one output pixel: kh x kw taps. */
EP_INLINE void depthwise_group(const uint32_t *const *rows, int32_t kh, int32_t kw, const uint32_t *w,
                               int32_t *acc) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    for (int32_t ky = 0; ky < kh; ++ky) {
        const uint32_t *x = rows[ky];
        for (int32_t kx = 0; kx < kw; ++kx, x += 2, w += 2) EP_TAP(x, w, 0, 0);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* One group of four channels along a row of outputs, 3x3: the pose models' depthwise, written out so that
 * every load is an LDRD at an immediate offset and everything stays in registers. */
EP_INLINE void depthwise_3x3_group(const ep_conv_params *p, const uint32_t *r0, const uint32_t *r1,
                                   const uint32_t *r2, const uint32_t *w, const ep_rq *q, int32_t left, int narrow,
                                   int8_t *o) {
    /* in locals: an int8 store may alias anything, so what is read through p would be read after every store */
    const int32_t step = p->stride_w * 2, c = p->in.c, width = p->out.w, lo = p->act_min, hi = p->act_max;
    for (int32_t ox = 0; ox < width; ++ox, o += c, r0 += step, r1 += step, r2 += step) {
        int32_t a0 = q[0].bias, a1 = q[1].bias, a2 = q[2].bias, a3 = q[3].bias;
#if EP_DSP_ASM
        /* 54 instructions for 36 MACs; written in assembly because GCC schedules the loads of all nine taps
         * first and then spills them (the same taps in C took three times as many instructions) */
        uint32_t t0, t1, t2, t3;
#define EP_TAP_ASM(row, tap, k)                                  \
        "ldrd %[t0], %[t1], [%[" row "], #" #tap "]\n\t"           \
        "ldrd %[t2], %[t3], [%[w], #" #k "]\n\t"                   \
        "smlabb %[a0], %[t0], %[t2], %[a0]\n\t"                    \
        "smlatt %[a2], %[t0], %[t2], %[a2]\n\t"                    \
        "smlabb %[a1], %[t1], %[t3], %[a1]\n\t"                    \
        "smlatt %[a3], %[t1], %[t3], %[a3]\n\t"
        __asm__(EP_TAP_ASM("r0", 0, 0) EP_TAP_ASM("r0", 8, 8) EP_TAP_ASM("r0", 16, 16)
                EP_TAP_ASM("r1", 0, 24) EP_TAP_ASM("r1", 8, 32) EP_TAP_ASM("r1", 16, 40)
                EP_TAP_ASM("r2", 0, 48) EP_TAP_ASM("r2", 8, 56) EP_TAP_ASM("r2", 16, 64)
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3),
                  [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
                : [r0] "r"(r0), [r1] "r"(r1), [r2] "r"(r2), [w] "r"(w)
                : "memory");
#undef EP_TAP_ASM
#else
        EP_TAP(r0, w, 0, 0);
        EP_TAP(r0, w, 1, 1);
        EP_TAP(r0, w, 2, 2);
        EP_TAP(r1, w, 0, 3);
        EP_TAP(r1, w, 1, 4);
        EP_TAP(r1, w, 2, 5);
        EP_TAP(r2, w, 0, 6);
        EP_TAP(r2, w, 1, 7);
        EP_TAP(r2, w, 2, 8);
#endif
        o[0] = ep_clamp_rq(ep_requantize_rq(a0, &q[0]), narrow, lo, hi);
        if (left > 1) o[1] = ep_clamp_rq(ep_requantize_rq(a1, &q[1]), narrow, lo, hi);
        if (left > 2) o[2] = ep_clamp_rq(ep_requantize_rq(a2, &q[2]), narrow, lo, hi);
        if (left > 3) o[3] = ep_clamp_rq(ep_requantize_rq(a3, &q[3]), narrow, lo, hi);
    }
}

EP_INLINE void depthwise_dsp(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                             int16_t *scratch, int narrow, int32_t kh, int32_t kw, int8_t *out) {
    const int32_t c = p->in.c, cp = (c + 3) & ~3;
    const int32_t wp = (p->out.w - 1) * p->stride_w + kw;
    const int32_t row_size = wp * cp, step = p->stride_w * 2;  /* step: words from one output's taps to the next */
    int32_t loaded[16];  /* padded row held by each ring slot; the generator limits kh to 16 */
    for (int32_t s = 0; s < kh; ++s) loaded[s] = -1;
    for (int32_t oy = 0; oy < p->out.h; ++oy) {
        const uint32_t *rows[16];
        for (int32_t ky = 0; ky < kh; ++ky) {
            const int32_t py = oy * p->stride_h + ky, slot = py % kh;
            int16_t *row = scratch + (size_t)slot * row_size;
            if (loaded[slot] != py) {
                widen_row(p, in, py, wp, cp, row);
                loaded[slot] = py;
            }
            rows[ky] = (const uint32_t *)row;
        }
        int8_t *o_row = out + (size_t)oy * p->out.w * c;
        if (kh == 3 && kw == 3) {
            for (int32_t g = 0; g < cp; g += 4) {
                const size_t at = (size_t)g / 2 * wp;
                depthwise_3x3_group(p, rows[0] + at, rows[1] + at, rows[2] + at,
                                    (const uint32_t *)(weights + (size_t)g * 9), rq + g, c - g, narrow, o_row + g);
            }
            continue;
        }
        for (int32_t g = 0; g < cp; g += 4) {
            const uint32_t *w = (const uint32_t *)(weights + (size_t)g * kh * kw);
            const uint32_t *at[16];
            for (int32_t ky = 0; ky < kh; ++ky) at[ky] = rows[ky] + (size_t)g / 2 * wp;
            const ep_rq *q = rq + g;
            const int32_t left = c - g;
            int8_t *o = o_row + g;
            for (int32_t ox = 0; ox < p->out.w; ++ox, o += c) {
                int32_t acc[4] = {q[0].bias, q[1].bias, q[2].bias, q[3].bias};
                depthwise_group(at, kh, kw, w, acc);
                for (int32_t ky = 0; ky < kh; ++ky) at[ky] += step;
                o[0] = ep_clamp_rq(ep_requantize_rq(acc[0], &q[0]), narrow, p->act_min, p->act_max);
                if (left >= 4) {
                    o[1] = ep_clamp_rq(ep_requantize_rq(acc[1], &q[1]), narrow, p->act_min, p->act_max);
                    o[2] = ep_clamp_rq(ep_requantize_rq(acc[2], &q[2]), narrow, p->act_min, p->act_max);
                    o[3] = ep_clamp_rq(ep_requantize_rq(acc[3], &q[3]), narrow, p->act_min, p->act_max);
                } else {
                    if (left > 1) o[1] = ep_clamp_rq(ep_requantize_rq(acc[1], &q[1]), narrow, p->act_min, p->act_max);
                    if (left > 2) o[2] = ep_clamp_rq(ep_requantize_rq(acc[2], &q[2]), narrow, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_depthwise_conv_dsp_s8(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                              int16_t *scratch, int8_t *out) {
    const int narrow = !(p->act_min == -128 && p->act_max == 127);
    if (p->kh == 3 && p->kw == 3) { /* the pose models' depthwise: taps unrolled */
        if (narrow) {
            depthwise_dsp(p, in, weights, rq, scratch, 1, 3, 3, out);
        } else {
            depthwise_dsp(p, in, weights, rq, scratch, 0, 3, 3, out);
        }
    } else {
        depthwise_dsp(p, in, weights, rq, scratch, 1, p->kh, p->kw, out);
    }
}
