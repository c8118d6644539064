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

/* CONV_2D, groups 1, any kernel size, stride, dilation and padding: two output pixels at a time, each one's
 * input window a column of int8 values (for 1x1 without padding, the input pixel itself, read in place), meeting
 * the weights two output channels at a time.
 *
 * weights: int8 [out.c][kp], kp = kh * kw * in.c rounded up to 16, zero-padded.
 * rq:      out.c entries (see ep_rq).
 * scratch: 2 * kp bytes: the two windows. Padded taps hold the input zero point (the bias counts them). */
void ep_conv_mve_s8(const ep_conv_params *p, const int8_t *in, const int8_t *weights, const ep_rq *rq,
                    int8_t *scratch, int8_t *out);

#endif
