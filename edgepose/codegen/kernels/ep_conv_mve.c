/* Helium convolutions; see ep_conv_mve.h for what they compute and what the generator prepares. */
#include "ep_conv_mve.h"

#include <string.h>

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
#include <arm_mve.h>

/* 16 K values of two columns and two channels: 4 loads and 4 VMLADAVA. The columns' last group is loaded under
 * a tail predicate (a 1x1 column is the input pixel itself, whose bytes end at K); the weights are zero there. */
#define EP_GEMM_STEP(x0, x1, k)                                         \
    do {                                                               \
        const int8x16_t w0 = vldrbq_s8(wa + (k)), w1 = vldrbq_s8(wb + (k));    \
        a00 = vmladavaq_s8(a00, x0, w0);                               \
        a01 = vmladavaq_s8(a01, x1, w0);                               \
        a10 = vmladavaq_s8(a10, x0, w1);                               \
        a11 = vmladavaq_s8(a11, x1, w1);                               \
    } while (0)

EP_INLINE void dot4(const int8_t *c0, const int8_t *c1, const int8_t *wa, const int8_t *wb, int32_t k_size,
                    int32_t *acc) {
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k = 0;
    for (; k + 16 <= k_size; k += 16) EP_GEMM_STEP(vldrbq_s8(c0 + k), vldrbq_s8(c1 + k), k);
    if (k < k_size) {
        const mve_pred16_t tail = vctp8q((uint32_t)(k_size - k));
        EP_GEMM_STEP(vldrbq_z_s8(c0 + k, tail), vldrbq_z_s8(c1 + k, tail), k);
    }
    acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
}

#else

/* the same sums in C, for the host and cores without Helium */
EP_INLINE void dot4(const int8_t *c0, const int8_t *c1, const int8_t *wa, const int8_t *wb, int32_t k_size,
                    int32_t *acc) {
    for (int32_t k = 0; k < k_size; ++k) {
        acc[0] += c0[k] * wa[k];
        acc[1] += c1[k] * wa[k];
        acc[2] += c0[k] * wb[k];
        acc[3] += c1[k] * wb[k];
    }
}

#endif

/* where column j of output pixel i starts: the input pixel itself for 1x1 without padding, else its window */
static const int8_t *column(const ep_conv_params *p, const int8_t *in, int32_t i, int8_t *window) {
    const int32_t oy = i / p->out.w, ox = i % p->out.w;
    if (p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return in + ((size_t)oy * p->stride_h * p->in.w + (size_t)ox * p->stride_w) * p->in.c;
    }
    ep_im2col_s8(p, in, oy, ox, window);
    return window;
}

EP_INLINE void conv_mve(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const ep_rq *rq,
                        int8_t *scratch, int narrow, int8_t *out) {
    const int32_t k_size = p->kh * p->kw * p->in.c, kp = (k_size + 15) & ~15;
    const int32_t pixels = p->out.h * p->out.w, n = p->out.c, lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < pixels; i += 2) {
        const int32_t columns = i + 1 < pixels ? 2 : 1;
        const int8_t *c0 = column(p, in, i, scratch);
        const int8_t *c1 = columns == 2 ? column(p, in, i + 1, scratch + kp) : c0;
        int8_t *o0 = out + (size_t)i * n, *o1 = o0 + n;
        for (int32_t oc = 0; oc < n; oc += 2) {
            const int32_t pair = oc + 1 < n;
            const int8_t *wa = weights + (size_t)oc * kp, *wb = pair ? wa + kp : wa;
            int32_t acc[4] = {rq[oc].bias, rq[oc].bias, rq[oc + pair].bias, rq[oc + pair].bias};
            dot4(c0, c1, wa, wb, k_size, acc);
            o0[oc] = ep_clamp_rq(ep_requantize_rq(acc[0], &rq[oc]), narrow, lo, hi);
            if (columns == 2) o1[oc] = ep_clamp_rq(ep_requantize_rq(acc[1], &rq[oc]), narrow, lo, hi);
            if (pair) {
                o0[oc + 1] = ep_clamp_rq(ep_requantize_rq(acc[2], &rq[oc + 1]), narrow, lo, hi);
                if (columns == 2) o1[oc + 1] = ep_clamp_rq(ep_requantize_rq(acc[3], &rq[oc + 1]), narrow, lo, hi);
            }
        }
    }
}

void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const ep_rq *rq,
                    int8_t *scratch, int8_t *out) {
    if (p->act_min == -128 && p->act_max == 127) {
        conv_mve(p, in, weights, rq, scratch, 0, out);
    } else {
        conv_mve(p, in, weights, rq, scratch, 1, out);
    }
}
