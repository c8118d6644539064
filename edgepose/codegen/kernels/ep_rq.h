/* Requantization prepared at build time for the fast kernels, one per output channel:
 *
 *   acc = bias + sum(w * x)                     x: the raw int8 input (bias holds input_offset * sum(w))
 *   t   = (2 * acc * multiplier + 2^31) >> 32   SMMULR: TFLite's SaturatingRoundingDoublingHighMul
 *   out = clamp((t + (t < 0 ? -1 : 0) + round) >> shift, act_min, act_max)
 *
 * with round = 2^(shift-1) + output_offset * 2^shift: TFLite's RoundingDivideByPOT (half away from zero)
 * and the output offset in one add. Equal to TFLite's arithmetic for every accumulator the layer can
 * produce, which the generator checks per channel (|2 acc| < 2^31, shift >= 1, no overflow in the add);
 * a layer where it does not hold keeps the portable kernel.
 */
#ifndef EP_RQ_H
#define EP_RQ_H

#include <stdint.h>

#include "ep_arm.h"

#define EP_INLINE static inline __attribute__((always_inline))

typedef struct {
    int32_t bias, multiplier, round, shift;
} ep_rq;

EP_INLINE int32_t ep_requantize_rq(int32_t acc, const ep_rq *q) {
    const int32_t t = ep_smmulr((int32_t)((uint32_t)acc << 1), q->multiplier);
    return (t + (t >> 31) + q->round) >> q->shift;
}

/* clamp: SSAT alone when the range is the whole int8 range (`narrow` is a constant in each caller) */
EP_INLINE int8_t ep_clamp_rq(int32_t v, int narrow, int32_t lo, int32_t hi) {
    v = ep_ssat8(v);
    if (narrow) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
    }
    return (int8_t)v;
}

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
#include <arm_mve.h>

/* ep_requantize_rq in four lanes (the bias already added): VQRDMULH is TFLite's SaturatingRoundingDoublingHighMul
 * lane by lane (SMMULR of the doubled accumulator); VSHL by the negated shift shifts right, truncating, after the
 * rounding was added. */
EP_INLINE int32x4_t ep_requantize_lanes(int32x4_t acc, int32x4_t multiplier, int32x4_t round, int32x4_t neg_shift) {
    const int32x4_t t = vqrdmulhq_s32(acc, multiplier);
    return vshlq_s32(vaddq_s32(vaddq_s32(t, vshrq_n_s32(t, 31)), round), neg_shift);
}
#endif

#endif
