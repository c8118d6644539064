/* Elementwise int8 ops for the fast kernel variants. Byte-for-byte equal to ep_add_s8 on the layers the code
 * generator gives them (both inputs and the output of one shape: no broadcast).
 *
 * TFLite's int8 ADD rescales each input on its own before the sum: scaled = MBQM((x + offset) << 20, m, s),
 * a function of the input byte alone. The generator tabulates it (256 int32 entries per input, indexed by the
 * byte as unsigned), so the kernel is two table loads, an add and the output requantization (ep_rq, proven
 * exact by the generator for every sum the tables can produce).
 */
#ifndef EP_ELEMENTWISE_H
#define EP_ELEMENTWISE_H

#include <stdint.h>

#include "ep_rq.h"

/* ADD of two same-shaped int8 tensors.
 *
 * tables: [2][256] int32: entry b of table i is input i's scaled value for the byte b.
 * q:      the output requantization (bias 0); lo, hi: the output clamp.
 * out may be a or b (each element is read before it is written). */
void ep_add_dsp_s8(int32_t size, const int32_t *tables, const ep_rq *q, int32_t lo, int32_t hi, const int8_t *a,
                   const int8_t *b, int8_t *out);

/* The same on Helium: four elements per step, the table entries fetched by gather loads and the four sums
 * requantized at once (VQRDMULH). No scratch. */
void ep_add_mve_s8(int32_t size, const int32_t *tables, const ep_rq *q, int32_t lo, int32_t hi, const int8_t *a,
                   const int8_t *b, int8_t *out);

#endif
