/* Convolutions for cores with Helium, the M-profile vector extension (Cortex-M55, M85; also compiled
 * elsewhere, where the same sums are plain C). Byte-for-byte equal to ep_conv2d_s8 on the layers the code
 * generator gives them.
 *
 * VMLADAVA multiplies 16 pairs of int8 values and adds all 16 products to a scalar accumulator: the raw int8
 * activations and weights go straight into it, 16 MACs per instruction, with the input offset in the bias.
 */
#ifndef EP_CONV_MVE_H
#define EP_CONV_MVE_H

#include <stdint.h>

#include "ep_conv_dsp.h"
#include "ep_kernels.h"

/* CONV_2D, groups 1, any kernel size, stride, dilation and padding: each output pixel's input window is a
 * column of int8 values (for 1x1 without padding, the input pixel itself, read in place when K is a multiple of
 * 16), meeting the weights four output channels at a time, whose four accumulators are requantized together in
 * the lanes of a vector.
 *
 * weights: int8 [np / 4][kp / 16][4][16], kp = kh * kw * in.c rounded up to 16, np = out.c rounded up to 4,
 *          zero-padded: each block of four channels' 16-value chunks in load order.
 * rq:      int32 [np / 4][4][4]: per block of four channels, the bias, multiplier and round of ep_rq and the
 *          negated shift, four lanes each.
 * scratch: kp bytes: the window. Padded taps hold the input zero point (the bias counts them). */
void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const int32_t *rq,
                    int8_t *scratch, int8_t *out);

/* DEPTHWISE_CONV_2D, depth multiplier 1, dilation 1, batch 1, any kernel size, stride and padding: channels in
 * the four 32-bit lanes of a vector, one VMLA per tap, and the requantization of four channels at once
 * (VQRDMULH is TFLite's SaturatingRoundingDoublingHighMul lane by lane). The kh input rows a row of outputs
 * needs are kept in a ring in scratch, int8, group-major, the zero point in the padding.
 *
 * weights: int32 [cp / 4][kh * kw][4], cp = in.c rounded up to 4, zero-padded: each group of 4 channels' taps
 *          together.
 * rq:      int32 [cp / 4][4][4]: as for ep_conv_mve_s8.
 * scratch: kh * wp * cp bytes, wp = (out.w - 1) * stride_w + kw. */
void ep_depthwise_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int32_t *weights, const int32_t *rq,
                              int8_t *scratch, int8_t *out);

#endif
