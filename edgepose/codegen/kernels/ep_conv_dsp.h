/* Convolutions for cores with the Arm DSP extension (Cortex-M4, M7, M33; also compiled on the host, where
 * ep_arm.h supplies the same instructions in C). Byte-for-byte equal to ep_conv2d_s8 / ep_depthwise_conv2d_s8
 * on the layers the code generator gives them; everything they need that can be known at build time is
 * prepared by the generator (ep_rq below, weights widened and reordered).
 *
 * SMLAD multiplies two pairs of 16-bit values and adds both products: two MACs per instruction. The
 * activations are widened from int8 once (into scratch) and the weights are int16 in flash, so the inner
 * loops are loads and SMLADs only.
 */
#ifndef EP_CONV_DSP_H
#define EP_CONV_DSP_H

#include <stdint.h>

#include "ep_kernels.h"
#include "ep_rq.h"


/* CONV_2D, groups 1, any kernel size, stride, dilation and padding.
 *
 * Output pixels are computed two at a time: each one's input window becomes a column of int16 values in
 * scratch (for 1x1 without padding: the pixel itself, widened with SXTB16), the two columns interleaved in
 * groups of 4 values, and they meet the weights two output channels at a time, 4 accumulators in registers.
 *
 * weights: int16, K = kh * kw * in.c zero-padded to kp (a multiple of 4), in groups of 4 values stored in
 *          the order 0, 2, 1, 3 (the order SXTB16 widens bytes in); channels in pairs, interleaved group by
 *          group ([out.c / 2][kp / 4][2][4]), then an odd last channel alone ([kp / 4][4]).
 * rq:      out.c entries.
 * scratch: 5 * kp bytes: the column pair (2 * kp int16) and the window as int8. Padded taps hold the input
 *          zero point (the bias counts them). */
void ep_conv_dsp_s8(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                    int16_t *scratch, int8_t *out);

/* DEPTHWISE_CONV_2D, depth multiplier 1, dilation 1, batch 1, any kernel size, stride and padding.
 *
 * The kh input rows a row of outputs needs are kept widened to int16 in a ring in scratch, with the input
 * zero point in the padding (so no tap is ever skipped), each input row widened once. Channels go four at
 * a time, one product per SMLABB / SMLATT.
 *
 * weights: int16 [cp / 4][kh * kw][4], cp = in.c rounded up to 4, zero-padded: each group of 4 channels
 *          taps together, the channels of a group in the order 0, 2, 1, 3.
 * rq:      cp entries.
 * scratch: kh * wp * cp int16, wp = (out.w - 1) * stride_w + kw: the padded width of a row. */
void ep_depthwise_conv_dsp_s8(const ep_conv_params *p, const int8_t *in, const int16_t *weights, const ep_rq *rq,
                              int16_t *scratch, int8_t *out);

#endif
