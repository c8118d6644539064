/* DSP convolutions; see ep_conv_dsp.h for what they compute and what the generator prepares. */
#include "ep_conv_dsp.h"

#include "ep_arm.h"

/* position of value k inside its group of 4: 0, 2, 1, 3 (SXTB16's order) */
#define EP_SLOT(k) (((k) & ~3) | (((k) & 1) << 1) | (((k) & 2) >> 1))

static inline int32_t requantize_rq(int32_t acc, const ep_rq *q) {
    const int32_t t = ep_smmulr((int32_t)((uint32_t)acc << 1), q->multiplier);
    return (t + (t >> 31) + q->round) >> q->shift;
}

/* clamp: SSAT alone when the range is the whole int8 range (`narrow` is a constant in each caller) */
static inline int8_t clamp_rq(int32_t v, int narrow, int32_t lo, int32_t hi) {
    v = ep_ssat8(v);
    if (narrow) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
    }
    return (int8_t)v;
}

/* ---------------------------------------------------------------------------------------------- conv */

/* The input window of output pixel (oy, ox) as int16 values in SXTB16 order; padded taps hold the zero
 * point, the values past K hold 0. */
static void im2col(const ep_conv_params *p, const int8_t *image, int32_t oy, int32_t ox, int32_t kp,
                   int16_t *col) {
    const int32_t c = p->in.c;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        const int8_t *pixel = image + ((size_t)oy * p->stride_h * p->in.w + (size_t)ox * p->stride_w) * c;
        uint32_t *words = (uint32_t *)col;
        int32_t k = 0;
        for (; k + 4 <= c; k += 4) {
            const uint32_t v = ep_load32(pixel + k);
            words[k / 2] = ep_sxtb16(v);
            words[k / 2 + 1] = ep_sxtb16_odd(v);
        }
        for (; k < kp; ++k) col[EP_SLOT(k)] = (int16_t)(k < c ? pixel[k] : 0);
        return;
    }
    const int16_t zero_point = (int16_t)-p->in_offset;
    const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
    int32_t k = 0;
    for (int32_t ky = 0; ky < p->kh; ++ky) {
        const int32_t y = y0 + ky * p->dil_h;
        for (int32_t kx = 0; kx < p->kw; ++kx) {
            const int32_t x = x0 + kx * p->dil_w;
            if (y < 0 || y >= p->in.h || x < 0 || x >= p->in.w) {
                for (int32_t ic = 0; ic < c; ++ic, ++k) col[EP_SLOT(k)] = zero_point;
                continue;
            }
            const int8_t *pixel = image + ((size_t)y * p->in.w + x) * c;
            for (int32_t ic = 0; ic < c; ++ic, ++k) col[EP_SLOT(k)] = pixel[ic];
        }
    }
    for (; k < kp; ++k) col[EP_SLOT(k)] = 0;
}

/* two columns x every output channel, two channels at a time */
static inline __attribute__((always_inline)) void gemm_two(const ep_conv_params *p, const int16_t *c0,
                                                           const int16_t *c1, const int16_t *weights,
                                                           const ep_rq *rq, int32_t kp, int narrow, int8_t *o0,
                                                           int8_t *o1) {
    const int32_t n = p->out.c;
    int32_t oc = 0;
    for (; oc + 2 <= n; oc += 2) {
        const uint32_t *w0 = (const uint32_t *)(weights + (size_t)oc * kp), *w1 = w0 + kp / 2;
        const uint32_t *x0 = (const uint32_t *)c0, *x1 = (const uint32_t *)c1;
        int32_t a00 = rq[oc].bias, a01 = a00, a10 = rq[oc + 1].bias, a11 = a10;
        for (int32_t k = 0; k < kp; k += 4) {
            const uint32_t p0 = x0[0], p1 = x0[1], q0 = x1[0], q1 = x1[1];
            uint32_t u = w0[0], v = w0[1];
            a00 = ep_smlad(p0, u, a00);
            a01 = ep_smlad(q0, u, a01);
            a00 = ep_smlad(p1, v, a00);
            a01 = ep_smlad(q1, v, a01);
            u = w1[0];
            v = w1[1];
            a10 = ep_smlad(p0, u, a10);
            a11 = ep_smlad(q0, u, a11);
            a10 = ep_smlad(p1, v, a10);
            a11 = ep_smlad(q1, v, a11);
            x0 += 2, x1 += 2, w0 += 2, w1 += 2;
        }
        o0[oc] = clamp_rq(requantize_rq(a00, &rq[oc]), narrow, p->act_min, p->act_max);
        o1[oc] = clamp_rq(requantize_rq(a01, &rq[oc]), narrow, p->act_min, p->act_max);
        o0[oc + 1] = clamp_rq(requantize_rq(a10, &rq[oc + 1]), narrow, p->act_min, p->act_max);
        o1[oc + 1] = clamp_rq(requantize_rq(a11, &rq[oc + 1]), narrow, p->act_min, p->act_max);
    }
    for (; oc < n; ++oc) {
        const uint32_t *w0 = (const uint32_t *)(weights + (size_t)oc * kp);
        const uint32_t *x0 = (const uint32_t *)c0, *x1 = (const uint32_t *)c1;
        int32_t a0 = rq[oc].bias, a1 = a0;
        for (int32_t k = 0; k < kp; k += 2, ++w0, ++x0, ++x1) {
            a0 = ep_smlad(*x0, *w0, a0);
            a1 = ep_smlad(*x1, *w0, a1);
        }
        o0[oc] = clamp_rq(requantize_rq(a0, &rq[oc]), narrow, p->act_min, p->act_max);
        o1[oc] = clamp_rq(requantize_rq(a1, &rq[oc]), narrow, p->act_min, p->act_max);
    }
}

static void gemm_one(const ep_conv_params *p, const int16_t *c0, const int16_t *weights, const ep_rq *rq,
                     int32_t kp, int8_t *o0) {
    for (int32_t oc = 0; oc < p->out.c; ++oc) {
        const uint32_t *w0 = (const uint32_t *)(weights + (size_t)oc * kp), *x0 = (const uint32_t *)c0;
        int32_t acc = rq[oc].bias;
        for (int32_t k = 0; k < kp; k += 2) acc = ep_smlad(*x0++, *w0++, acc);
        o0[oc] = clamp_rq(requantize_rq(acc, &rq[oc]), 1, p->act_min, p->act_max);
    }
}

static inline __attribute__((always_inline)) void conv_dsp(const ep_conv_params *p, const int8_t *in,
                                                           const int16_t *weights, const ep_rq *rq,
                                                           int16_t *scratch, int narrow, int8_t *out) {
    const int32_t kp = (p->kh * p->kw * p->in.c + 3) & ~3;
    const int32_t pixels = p->out.h * p->out.w;
    int16_t *c0 = scratch, *c1 = scratch + kp;
    int32_t i = 0;
    for (; i + 2 <= pixels; i += 2) {
        im2col(p, in, i / p->out.w, i % p->out.w, kp, c0);
        im2col(p, in, (i + 1) / p->out.w, (i + 1) % p->out.w, kp, c1);
        int8_t *o0 = out + (size_t)i * p->out.c;
        gemm_two(p, c0, c1, weights, rq, kp, narrow, o0, o0 + p->out.c);
    }
    if (i < pixels) {
        im2col(p, in, i / p->out.w, i % p->out.w, kp, c0);
        gemm_one(p, c0, weights, rq, kp, out + (size_t)i * p->out.c);
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

/* padded row py of the input, widened into `row` (wp pixels of cp int16, SXTB16 order in groups of 4) */
static void widen_row(const ep_conv_params *p, const int8_t *in, int32_t py, int32_t wp, int32_t cp, int16_t *row) {
    const int32_t c = p->in.c, y = py - p->pad_h;
    const int16_t zero_point = (int16_t)-p->in_offset;
    for (int32_t px = 0; px < wp; ++px, row += cp) {
        const int32_t x = px - p->pad_w;
        if (y < 0 || y >= p->in.h || x < 0 || x >= p->in.w) {
            for (int32_t k = 0; k < cp; ++k) row[EP_SLOT(k)] = (int16_t)(k < c ? zero_point : 0);
            continue;
        }
        const int8_t *pixel = in + ((size_t)y * p->in.w + x) * c;
        uint32_t *words = (uint32_t *)row;
        int32_t k = 0;
        for (; k + 4 <= c; k += 4) {
            const uint32_t v = ep_load32(pixel + k);
            words[k / 2] = ep_sxtb16(v);
            words[k / 2 + 1] = ep_sxtb16_odd(v);
        }
        for (; k < cp; ++k) row[EP_SLOT(k)] = (int16_t)(k < c ? pixel[k] : 0);
    }
}

static inline __attribute__((always_inline)) void depthwise_dsp(const ep_conv_params *p, const int8_t *in,
                                                                const int16_t *weights, const ep_rq *rq,
                                                                int16_t *scratch, int narrow, int8_t *out) {
    const int32_t c = p->in.c, cp = (c + 3) & ~3;
    const int32_t wp = (p->out.w - 1) * p->stride_w + p->kw;
    const int32_t row_size = wp * cp;
    int32_t loaded[16];  /* padded row held by each ring slot; the generator limits kh to 16 */
    for (int32_t s = 0; s < p->kh; ++s) loaded[s] = -1;
    for (int32_t oy = 0; oy < p->out.h; ++oy) {
        for (int32_t ky = 0; ky < p->kh; ++ky) {
            const int32_t py = oy * p->stride_h + ky, slot = py % p->kh;
            if (loaded[slot] != py) {
                widen_row(p, in, py, wp, cp, scratch + (size_t)slot * row_size);
                loaded[slot] = py;
            }
        }
        for (int32_t ox = 0; ox < p->out.w; ++ox) {
            int8_t *o = out + ((size_t)oy * p->out.w + ox) * c;
            for (int32_t g = 0; g < cp; g += 4) {
                int32_t a0 = rq[g].bias, a1 = rq[g + 1].bias, a2 = rq[g + 2].bias, a3 = rq[g + 3].bias;
                const uint32_t *w = (const uint32_t *)(weights + g);
                for (int32_t ky = 0; ky < p->kh; ++ky) {
                    const int32_t slot = (oy * p->stride_h + ky) % p->kh;
                    const uint32_t *x = (const uint32_t *)(scratch + (size_t)slot * row_size +
                                                           (size_t)ox * p->stride_w * cp + g);
                    for (int32_t kx = 0; kx < p->kw; ++kx) {
                        const uint32_t x0 = x[0], x1 = x[1], w0 = w[0], w1 = w[1];
                        a0 = ep_smlabb(x0, w0, a0);
                        a2 = ep_smlatt(x0, w0, a2);
                        a1 = ep_smlabb(x1, w1, a1);
                        a3 = ep_smlatt(x1, w1, a3);
                        x += cp / 2;
                        w += cp / 2;
                    }
                }
                /* rq and the outputs are in channel order; the accumulators a0..a3 hold channels g..g+3 */
                const int32_t left = c - g;
                o[g] = clamp_rq(requantize_rq(a0, &rq[g]), narrow, p->act_min, p->act_max);
                if (left > 1) o[g + 1] = clamp_rq(requantize_rq(a1, &rq[g + 1]), narrow, p->act_min, p->act_max);
                if (left > 2) o[g + 2] = clamp_rq(requantize_rq(a2, &rq[g + 2]), narrow, p->act_min, p->act_max);
                if (left > 3) o[g + 3] = clamp_rq(requantize_rq(a3, &rq[g + 3]), narrow, p->act_min, p->act_max);
            }
        }
    }
}

void ep_depthwise_conv_dsp_s8(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                              int16_t *scratch, int8_t *out) {
    if (p->act_min == -128 && p->act_max == 127) {
        depthwise_dsp(p, in, weights, rq, scratch, 0, out);
    } else {
        depthwise_dsp(p, in, weights, rq, scratch, 1, out);
    }
}
