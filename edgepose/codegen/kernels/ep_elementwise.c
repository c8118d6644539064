/* Elementwise ops for the fast variants; see ep_elementwise.h. */
#include "ep_elementwise.h"

/* one loop per clamp kind, so that the common full-range clamp is a single SSAT */
EP_INLINE void add_lut(int32_t size, const int32_t *tables, ep_rq q, int narrow, int32_t lo, int32_t hi,
                       const uint8_t *a, const uint8_t *b, int8_t *out) {
    const int32_t *t1 = tables, *t2 = tables + 256;
    for (int32_t i = 0; i < size; ++i) {
        out[i] = ep_clamp_rq(ep_requantize_rq(t1[a[i]] + t2[b[i]], &q), narrow, lo, hi);
    }
}

void ep_add_dsp_s8(int32_t size, const int32_t *tables, const ep_rq *q, int32_t lo, int32_t hi, const int8_t *a,
                   const int8_t *b, int8_t *out) {
    const uint8_t *ua = (const uint8_t *)a, *ub = (const uint8_t *)b;
    if (lo > -128 || hi < 127) {
        add_lut(size, tables, *q, 1, lo, hi, ua, ub, out);
    } else {
        add_lut(size, tables, *q, 0, lo, hi, ua, ub, out);
    }
}

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE

void ep_add_mve_s8(int32_t size, const int32_t *tables, const ep_rq *q, int32_t lo, int32_t hi, const int8_t *a,
                   const int8_t *b, int8_t *out) {
    const uint32_t *t1 = (const uint32_t *)tables, *t2 = (const uint32_t *)tables + 256;
    const uint8_t *ua = (const uint8_t *)a, *ub = (const uint8_t *)b;
    const int32x4_t multiplier = vdupq_n_s32(q->multiplier), round = vdupq_n_s32(q->round);
    const int32x4_t shift = vdupq_n_s32(-q->shift), low = vdupq_n_s32(lo), high = vdupq_n_s32(hi);
    for (int32_t i = 0; i < size; i += 4) {
        const mve_pred16_t lanes = vctp32q((uint32_t)(size - i));
        const uint32x4_t x = vldrbq_z_u32(ua + i, lanes), y = vldrbq_z_u32(ub + i, lanes);
        int32x4_t t = vaddq_s32(vreinterpretq_s32_u32(vldrwq_gather_shifted_offset_u32(t1, x)),
                                vreinterpretq_s32_u32(vldrwq_gather_shifted_offset_u32(t2, y)));
        t = vminq_s32(vmaxq_s32(ep_requantize_lanes(t, multiplier, round, shift), low), high);
        vstrbq_p_s32(out + i, t, lanes);
    }
}

#else

/* the C twin: the same arithmetic (ep_requantize_rq is VQRDMULH's) */
void ep_add_mve_s8(int32_t size, const int32_t *tables, const ep_rq *q, int32_t lo, int32_t hi, const int8_t *a,
                   const int8_t *b, int8_t *out) {
    ep_add_dsp_s8(size, tables, q, lo, hi, a, b, out);
}

#endif
