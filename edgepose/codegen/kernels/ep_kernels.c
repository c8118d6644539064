/* edgepose int8 kernels; see ep_kernels.h. The arithmetic follows TensorFlow Lite's reference kernels
 * step by step (same rounding, same order of saturation) because bit-exactness is the contract. */
#include "ep_kernels.h"

#include <math.h>
#include <string.h>

#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
#include <arm_mve.h>
#endif

#define EP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define EP_MAX(a, b) ((a) > (b) ? (a) : (b))
#define EP_CLAMP(x, lo, hi) EP_MIN(EP_MAX((x), (lo)), (hi))

/* gemmlowp's SaturatingRoundingDoublingHighMul: (a * b * 2) >> 32 with rounding to nearest. */
static inline int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}

/* gemmlowp's RoundingDivideByPOT: x / 2^exponent, rounding half away from zero. */
static inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
    const int32_t mask = (int32_t)((1ll << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t ep_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    /* the left shift wraps like TFLite's int32 multiply; unsigned arithmetic keeps that defined in C */
    const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
    return rounding_divide_by_pot(srdhm(shifted, multiplier), right_shift);
}

static inline int8_t requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t offset, int32_t lo,
                                int32_t hi) {
    acc = ep_multiply_by_quantized_multiplier(acc, multiplier, shift) + offset;
    return (int8_t)EP_CLAMP(acc, lo, hi);
}

void ep_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                  const int32_t *multiplier, const int32_t *shift, int8_t *out) {
    const int32_t filter_depth = p->in.c / p->groups;
    const int32_t filters_per_group = p->out.c / p->groups;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int8_t *image = in + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < p->out.c; ++oc) {
                    const int32_t channel0 = (oc / filters_per_group) * filter_depth;
                    const int8_t *weights = filter + (size_t)oc * p->kh * p->kw * filter_depth;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in.h) continue;
                        for (int32_t kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x < 0 || x >= p->in.w) continue;
                            const int8_t *pixel = image + ((size_t)y * p->in.w + x) * p->in.c + channel0;
                            const int8_t *w = weights + ((size_t)ky * p->kw + kx) * filter_depth;
                            for (int32_t ic = 0; ic < filter_depth; ++ic) acc += w[ic] * (pixel[ic] + p->in_offset);
                        }
                    }
                    if (bias) acc += bias[oc];
                    *out++ = requantize(acc, multiplier[oc], shift[oc], p->out_offset, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_depthwise_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out) {
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int8_t *image = in + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t ic = 0; ic < p->in.c; ++ic) {
                    for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < p->kh; ++ky) {
                            const int32_t y = y0 + ky * p->dil_h;
                            if (y < 0 || y >= p->in.h) continue;
                            for (int32_t kx = 0; kx < p->kw; ++kx) {
                                const int32_t x = x0 + kx * p->dil_w;
                                if (x < 0 || x >= p->in.w) continue;
                                const int32_t value = image[((size_t)y * p->in.w + x) * p->in.c + ic];
                                acc += filter[((size_t)ky * p->kw + kx) * p->out.c + oc] * (value + p->in_offset);
                            }
                        }
                        if (bias) acc += bias[oc];
                        *out++ = requantize(acc, multiplier[oc], shift[oc], p->out_offset, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void ep_transpose_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int32_t *scratch, int8_t *out) {
    const size_t out_size = (size_t)p->out.n * p->out.h * p->out.w * p->out.c;
    memset(scratch, 0, out_size * sizeof(int32_t));
    for (int32_t b = 0; b < p->in.n; ++b) {
        for (int32_t iy = 0; iy < p->in.h; ++iy) {
            for (int32_t ix = 0; ix < p->in.w; ++ix) {
                const int8_t *pixel = in + (((size_t)b * p->in.h + iy) * p->in.w + ix) * p->in.c;
                const int32_t y0 = iy * p->stride_h - p->pad_h;
                const int32_t x0 = ix * p->stride_w - p->pad_w;
                for (int32_t ky = 0; ky < p->kh; ++ky) {
                    const int32_t y = y0 + ky;
                    if (y < 0 || y >= p->out.h) continue;
                    for (int32_t kx = 0; kx < p->kw; ++kx) {
                        const int32_t x = x0 + kx;
                        if (x < 0 || x >= p->out.w) continue;
                        int32_t *acc = scratch + (((size_t)b * p->out.h + y) * p->out.w + x) * p->out.c;
                        for (int32_t oc = 0; oc < p->out.c; ++oc) {
                            const int8_t *w = filter + (((size_t)oc * p->kh + ky) * p->kw + kx) * p->in.c;
                            int32_t sum = 0;
                            for (int32_t ic = 0; ic < p->in.c; ++ic) sum += (pixel[ic] + p->in_offset) * w[ic];
                            acc[oc] += sum;
                        }
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < out_size; ++i) {
        const int32_t oc = (int32_t)(i % (size_t)p->out.c);
        const int32_t acc = scratch[i] + (bias ? bias[oc] : 0);
        out[i] = requantize(acc, multiplier[oc], shift[oc], p->out_offset, p->act_min, p->act_max);
    }
}

void ep_fully_connected_s8(const ep_fc_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                           const int32_t *multiplier, const int32_t *shift, int8_t *out) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *row = in + (size_t)b * p->depth;
        for (int32_t u = 0; u < p->units; ++u) {
            const int8_t *w = filter + (size_t)u * p->depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->depth; ++d) acc += w[d] * (row[d] + p->in_offset);
            if (bias) acc += bias[u];
            *out++ = requantize(acc, multiplier[u], shift[u], p->out_offset, p->act_min, p->act_max);
        }
    }
}

/* Offset of output position (n, y, x, c) in an input that broadcasts along its size-1 dimensions. */
static inline size_t broadcast_offset(ep_shape s, int32_t n, int32_t y, int32_t x, int32_t c) {
    if (s.n == 1) n = 0;
    if (s.h == 1) y = 0;
    if (s.w == 1) x = 0;
    if (s.c == 1) c = 0;
    return (((size_t)n * s.h + y) * s.w + x) * s.c + c;
}

static inline int8_t add_one(const ep_binary_params *p, int32_t a, int32_t b) {
    const int32_t shifted1 = (int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift);
    const int32_t shifted2 = (int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift);
    const int32_t scaled1 = ep_multiply_by_quantized_multiplier(shifted1, p->in1_multiplier, p->in1_shift);
    const int32_t scaled2 = ep_multiply_by_quantized_multiplier(shifted2, p->in2_multiplier, p->in2_shift);
    return requantize(scaled1 + scaled2, p->out_multiplier, p->out_shift, p->out_offset, p->act_min, p->act_max);
}

static inline int8_t mul_one(const ep_binary_params *p, int32_t a, int32_t b) {
    return requantize((a + p->in1_offset) * (b + p->in2_offset), p->out_multiplier, p->out_shift, p->out_offset,
                      p->act_min, p->act_max);
}

static int same_shape(ep_shape a, ep_shape b) {
    return a.n == b.n && a.h == b.h && a.w == b.w && a.c == b.c;
}

#define EP_BINARY_LOOP(ONE)                                                                               \
    do {                                                                                                  \
        if (same_shape(p->in1, p->out) && same_shape(p->in2, p->out)) {                                   \
            const size_t size = (size_t)p->out.n * p->out.h * p->out.w * p->out.c;                       \
            for (size_t i = 0; i < size; ++i) out[i] = ONE(p, in1[i], in2[i]);                            \
            return;                                                                                       \
        }                                                                                                 \
        for (int32_t n = 0; n < p->out.n; ++n)                                                            \
            for (int32_t y = 0; y < p->out.h; ++y)                                                        \
                for (int32_t x = 0; x < p->out.w; ++x)                                                    \
                    for (int32_t c = 0; c < p->out.c; ++c)                                                \
                        *out++ = ONE(p, in1[broadcast_offset(p->in1, n, y, x, c)],                        \
                                     in2[broadcast_offset(p->in2, n, y, x, c)]);                          \
    } while (0)

void ep_add_s8(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    EP_BINARY_LOOP(add_one);
}

void ep_mul_s8(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    EP_BINARY_LOOP(mul_one);
}

void ep_avg_pool_s8(const ep_pool_params *p, const int8_t *in, int8_t *out) {
    for (int32_t b = 0; b < p->out.n; ++b) {
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = EP_MAX(0, -y0), ky1 = EP_MIN(p->kh, p->in.h - y0);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = EP_MAX(0, -x0), kx1 = EP_MIN(p->kw, p->in.w - x0);
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                for (int32_t c = 0; c < p->out.c; ++c) {
                    int32_t sum = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky)
                        for (int32_t kx = kx0; kx < kx1; ++kx)
                            sum += in[(((size_t)b * p->in.h + y0 + ky) * p->in.w + x0 + kx) * p->in.c + c];
                    if (count > 0) sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    *out++ = (int8_t)EP_CLAMP(sum, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_max_pool_s8(const ep_pool_params *p, const int8_t *in, int8_t *out) {
    for (int32_t b = 0; b < p->out.n; ++b) {
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            const int32_t ky0 = EP_MAX(0, -y0), ky1 = EP_MIN(p->kh, p->in.h - y0);
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                const int32_t kx0 = EP_MAX(0, -x0), kx1 = EP_MIN(p->kw, p->in.w - x0);
                for (int32_t c = 0; c < p->out.c; ++c) {
                    int32_t best = -128;
                    for (int32_t ky = ky0; ky < ky1; ++ky)
                        for (int32_t kx = kx0; kx < kx1; ++kx)
                            best = EP_MAX(best, in[(((size_t)b * p->in.h + y0 + ky) * p->in.w + x0 + kx) * p->in.c + c]);
                    *out++ = (int8_t)EP_CLAMP(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_mean_hw_s8(ep_shape in, int32_t in_zero_point, int32_t out_zero_point, int32_t multiplier, int32_t shift,
                   const int8_t *input, int8_t *out) {
    /* TFLite's QuantizedMeanOrSum: the 1/count of the mean is folded into multiplier and shift */
    const int32_t count = in.h * in.w;
    for (int32_t b = 0; b < in.n; ++b) {
        for (int32_t c = 0; c < in.c; ++c) {
            int32_t acc = 0;
            for (int32_t i = 0; i < count; ++i) acc += input[((size_t)b * count + i) * in.c + c];
            acc = ep_multiply_by_quantized_multiplier(acc - in_zero_point * count, multiplier, shift) + out_zero_point;
            *out++ = (int8_t)EP_CLAMP(acc, -128, 127);
        }
    }
}

void ep_concat_s8(int32_t outer, int32_t count, const int8_t *const *inputs, const int32_t *inner_sizes,
                  int8_t *out) {
    for (int32_t o = 0; o < outer; ++o) {
        for (int32_t i = 0; i < count; ++i) {
            memcpy(out, inputs[i] + (size_t)o * inner_sizes[i], (size_t)inner_sizes[i]);
            out += inner_sizes[i];
        }
    }
}

void ep_pad_s8(ep_shape in, ep_shape out, const int32_t *before, int8_t pad_value, const int8_t *input,
               int8_t *output) {
    for (int32_t n = 0; n < out.n; ++n)
        for (int32_t y = 0; y < out.h; ++y)
            for (int32_t x = 0; x < out.w; ++x) {
                int8_t *dst = output + (((size_t)n * out.h + y) * out.w + x) * out.c;
                const int32_t in_n = n - before[0], in_y = y - before[1], in_x = x - before[2];
                const int inside = in_n >= 0 && in_n < in.n && in_y >= 0 && in_y < in.h && in_x >= 0 && in_x < in.w;
                memset(dst, pad_value, (size_t)out.c);
                if (inside)
                    memcpy(dst + before[3], input + (((size_t)in_n * in.h + in_y) * in.w + in_x) * in.c, (size_t)in.c);
            }
}

/* TFLite's GetNearestNeighbor, in float32 like the reference. */
static int32_t nearest(int32_t value, int32_t in_size, int32_t out_size, int32_t align, int32_t half) {
    const float scale = (align && out_size > 1) ? (float)(in_size - 1) / (float)(out_size - 1)
                                                : (float)in_size / (float)out_size;
    const float offset = half ? 0.5f : 0.0f;
    const float position = ((float)value + offset) * scale;
    int32_t result = align ? (int32_t)roundf(position) : (int32_t)floorf(position);
    result = EP_MIN(result, in_size - 1);
    if (half) result = EP_MAX(0, result);
    return result;
}

void ep_resize_nearest_s8(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                          const int8_t *input, int8_t *output) {
    ep_resize_nearest_rows_s8(in, out, 0, 0, in.h, out.h, align_corners, half_pixel_centers, input, output);
}

/* Output rows out_first .. out_first + out.h of a resize from in_height to out_height rows, reading a window of
 * the input that starts at row in_first: each row is chosen from the whole tensors' heights, as above. */
void ep_resize_nearest_rows_s8(ep_shape in, ep_shape out, int32_t in_first, int32_t out_first, int32_t in_height,
                               int32_t out_height, int32_t align_corners, int32_t half_pixel_centers,
                               const int8_t *input, int8_t *output) {
    for (int32_t n = 0; n < out.n; ++n)
        for (int32_t y = 0; y < out.h; ++y) {
            const int32_t in_y =
                nearest(out_first + y, in_height, out_height, align_corners, half_pixel_centers) - in_first;
            for (int32_t x = 0; x < out.w; ++x) {
                const int32_t in_x = nearest(x, in.w, out.w, align_corners, half_pixel_centers);
                memcpy(output, input + (((size_t)n * in.h + in_y) * in.w + in_x) * in.c, (size_t)in.c);
                output += out.c;
            }
        }
}

/* TFLite's ComputeInterpolationValuesInteger: positions in 10-bit fixed point. */
static void interpolation(int32_t value, int32_t scale_10, int32_t half, int32_t in_size, int32_t *scaled,
                          int32_t *lower, int32_t *upper) {
    *scaled = half ? value * scale_10 + scale_10 / 2 - (1 << 9) : value * scale_10;
    *lower = EP_MAX(*scaled / (1 << 10), 0);
    *upper = EP_MIN((*scaled + (1 << 10) - 1) / (1 << 10), in_size - 1);
}

static int32_t scale_10(int32_t in_size, int32_t out_size, int32_t align) {
    if (align && out_size > 1) return ((1 << 10) * (in_size - 1) + (out_size - 1) / 2) / (out_size - 1);
    return ((1 << 10) * in_size + out_size / 2) / out_size;
}

void ep_resize_bilinear_s8(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                           const int8_t *input, int8_t *output) {
    const int32_t sy = scale_10(in.h, out.h, align_corners), sx = scale_10(in.w, out.w, align_corners);
    for (int32_t n = 0; n < out.n; ++n)
        for (int32_t y = 0; y < out.h; ++y) {
            int32_t iy, y0, y1;
            interpolation(y, sy, half_pixel_centers, in.h, &iy, &y0, &y1);
            const int64_t dy = iy - (1 << 10) * y0;
            for (int32_t x = 0; x < out.w; ++x) {
                int32_t ix, x0, x1;
                interpolation(x, sx, half_pixel_centers, in.w, &ix, &x0, &x1);
                const int64_t dx = ix - (1 << 10) * x0;
                const int8_t *p00 = input + (((size_t)n * in.h + y0) * in.w + x0) * in.c;
                const int8_t *p10 = input + (((size_t)n * in.h + y1) * in.w + x0) * in.c;
                const int8_t *p01 = input + (((size_t)n * in.h + y0) * in.w + x1) * in.c;
                const int8_t *p11 = input + (((size_t)n * in.h + y1) * in.w + x1) * in.c;
                for (int32_t c = 0; c < in.c; ++c) {
                    const int64_t value = p00[c] * ((1 << 10) - dy) * ((1 << 10) - dx) +
                                          p10[c] * dy * ((1 << 10) - dx) + p01[c] * ((1 << 10) - dy) * dx +
                                          p11[c] * dy * dx;
                    const int64_t round = value > 0 ? (1 << 19) : -(1 << 19);
                    *output++ = (int8_t)((value + round) / (1 << 20));
                }
            }
        }
}

void ep_lut_s8(int32_t size, const int8_t *table, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < size; ++i) out[i] = table[(uint8_t)in[i]];
}

void ep_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *in, int8_t *out) {
    for (int32_t i = 0; i < size; ++i) {
        const int32_t value = (int32_t)roundf(in[i] / scale) + zero_point;
        out[i] = (int8_t)EP_CLAMP(value, -128, 127);
    }
}

void ep_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *in, float *out) {
    for (int32_t i = 0; i < size; ++i) out[i] = (float)(scale * (in[i] - zero_point));
}

void ep_copy(int32_t bytes, const void *in, void *out) {
    if (in != out) memmove(out, in, (size_t)bytes);
}

/* ---------------------------------------------------------------------------------------------------
 * 16x8: int16 activations (symmetric, zero point 0), int8 weights, int64 bias. TFLite accumulates in
 * 64 bits and requantizes with its int64 MultiplyByQuantizedMultiplier, which rounds once with the
 * multiplier reduced to 16 bits; the kernels below do the same. */

int32_t ep_multiply_by_quantized_multiplier_64(int64_t x, int32_t multiplier, int32_t shift) {
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t total_shift = 15 - shift;
    const int64_t rounded = x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(rounded >> total_shift);
}

static inline int16_t requantize_64(int64_t acc, int32_t multiplier, int32_t shift, int32_t lo, int32_t hi) {
    const int32_t scaled = ep_multiply_by_quantized_multiplier_64(acc, multiplier, shift);
    return (int16_t)EP_CLAMP(scaled, lo, hi);
}

void ep_conv2d_s16(const ep_conv_params *p, const int16_t *in, const int8_t *filter, const int64_t *bias,
                   const int32_t *multiplier, const int32_t *shift, int16_t *out) {
    const int32_t filter_depth = p->in.c / p->groups;
    const int32_t filters_per_group = p->out.c / p->groups;
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int16_t *image = in + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t oc = 0; oc < p->out.c; ++oc) {
                    const int32_t channel0 = (oc / filters_per_group) * filter_depth;
                    const int8_t *weights = filter + (size_t)oc * p->kh * p->kw * filter_depth;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < p->kh; ++ky) {
                        const int32_t y = y0 + ky * p->dil_h;
                        if (y < 0 || y >= p->in.h) continue;
                        for (int32_t kx = 0; kx < p->kw; ++kx) {
                            const int32_t x = x0 + kx * p->dil_w;
                            if (x < 0 || x >= p->in.w) continue;
                            const int16_t *pixel = image + ((size_t)y * p->in.w + x) * p->in.c + channel0;
                            const int8_t *w = weights + ((size_t)ky * p->kw + kx) * filter_depth;
                            for (int32_t ic = 0; ic < filter_depth; ++ic) acc += (int32_t)w[ic] * pixel[ic];
                        }
                    }
                    if (bias) acc += bias[oc];
                    *out++ = requantize_64(acc, multiplier[oc], shift[oc], p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_depthwise_conv2d_s16(const ep_conv_params *p, const int16_t *in, const int8_t *filter,
                             const int64_t *bias, const int32_t *multiplier, const int32_t *shift, int16_t *out) {
    for (int32_t b = 0; b < p->out.n; ++b) {
        const int16_t *image = in + (size_t)b * p->in.h * p->in.w * p->in.c;
        for (int32_t oy = 0; oy < p->out.h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out.w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_w;
                for (int32_t ic = 0; ic < p->in.c; ++ic) {
                    for (int32_t m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = ic * p->depth_multiplier + m;
                        int64_t acc = 0;
                        for (int32_t ky = 0; ky < p->kh; ++ky) {
                            const int32_t y = y0 + ky * p->dil_h;
                            if (y < 0 || y >= p->in.h) continue;
                            for (int32_t kx = 0; kx < p->kw; ++kx) {
                                const int32_t x = x0 + kx * p->dil_w;
                                if (x < 0 || x >= p->in.w) continue;
                                const int32_t value = image[((size_t)y * p->in.w + x) * p->in.c + ic];
                                acc += (int64_t)filter[((size_t)ky * p->kw + kx) * p->out.c + oc] * value;
                            }
                        }
                        if (bias) acc += bias[oc];
                        *out++ = requantize_64(acc, multiplier[oc], shift[oc], p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void ep_fully_connected_s16(const ep_fc_params *p, const int16_t *in, const int8_t *filter, const int64_t *bias,
                            const int32_t *multiplier, const int32_t *shift, int16_t *out) {
    for (int32_t b = 0; b < p->batches; ++b) {
        const int16_t *row = in + (size_t)b * p->depth;
        for (int32_t u = 0; u < p->units; ++u) {
            const int8_t *w = filter + (size_t)u * p->depth;
            int64_t acc = 0;
            for (int32_t d = 0; d < p->depth; ++d) acc += (int32_t)w[d] * row[d];
            if (bias) acc += bias[u];
            *out++ = requantize_64(acc, multiplier[u], shift[u], p->act_min, p->act_max);
        }
    }
}

static inline int16_t add_one_s16(const ep_binary_params *p, int32_t a, int32_t b) {
    /* the int8 arithmetic with a left shift of 15: TFLite's AddElementwise for int16 */
    const int32_t shifted1 = (int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift);
    const int32_t shifted2 = (int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift);
    const int32_t scaled1 = ep_multiply_by_quantized_multiplier(shifted1, p->in1_multiplier, p->in1_shift);
    const int32_t scaled2 = ep_multiply_by_quantized_multiplier(shifted2, p->in2_multiplier, p->in2_shift);
    const int32_t sum = ep_multiply_by_quantized_multiplier(scaled1 + scaled2, p->out_multiplier, p->out_shift);
    return (int16_t)EP_CLAMP(sum + p->out_offset, p->act_min, p->act_max);
}

void ep_add_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out) {
    EP_BINARY_LOOP(add_one_s16);
}

void ep_logistic_s16(int32_t size, int32_t multiplier, int32_t left_shift, const uint16_t *table,
                     const int16_t *in, int16_t *out) {
    /* TFLite's int16 Logistic: the input rescaled to 1/(3*4096) per step, then a 256-entry sigmoid table
     * interpolated on 9 fractional bits, on the absolute value (sigmoid(-x) = 1 - sigmoid(x)). */
    const int32_t round = left_shift > 0 ? 1 << (left_shift - 1) : 0;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t value = (in[i] * multiplier + round) >> left_shift;
        const uint32_t magnitude = (uint32_t)(value < 0 ? -value : value);
        const uint32_t index = magnitude >> 9;
        uint32_t result;
        if (index >= 255) {
            result = 0x7FFFu << 10;
        } else {
            const uint32_t low = table[index], high = table[index + 1];
            result = (low << 9) + (magnitude & 0x1FFu) * (high - low);
        }
        result = value >= 0 ? result + (1u << 9) : (1u << (16 + 9)) - result + (1u << 9) - 1;
        out[i] = (int16_t)(result >> 10);
    }
}

void ep_mean_hw_s16(ep_shape in, int32_t multiplier, int32_t shift, const int16_t *input, int16_t *out) {
    const int32_t count = in.h * in.w;
    for (int32_t b = 0; b < in.n; ++b) {
        for (int32_t c = 0; c < in.c; ++c) {
            int32_t acc = 0;
            for (int32_t i = 0; i < count; ++i) acc += input[((size_t)b * count + i) * in.c + c];
            acc = ep_multiply_by_quantized_multiplier(acc, multiplier, shift);
            *out++ = (int16_t)EP_CLAMP(acc, -32768, 32767);
        }
    }
}

void ep_resize_nearest_s16(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                           const int16_t *input, int16_t *output) {
    for (int32_t n = 0; n < out.n; ++n)
        for (int32_t y = 0; y < out.h; ++y) {
            const int32_t in_y = nearest(y, in.h, out.h, align_corners, half_pixel_centers);
            for (int32_t x = 0; x < out.w; ++x) {
                const int32_t in_x = nearest(x, in.w, out.w, align_corners, half_pixel_centers);
                memcpy(output, input + (((size_t)n * in.h + in_y) * in.w + in_x) * in.c, (size_t)in.c * 2);
                output += out.c;
            }
        }
}

void ep_quantize_f32_s16(int32_t size, float scale, int32_t zero_point, const float *in, int16_t *out) {
    for (int32_t i = 0; i < size; ++i) {
        const int32_t value = (int32_t)roundf(in[i] / scale) + zero_point;
        out[i] = (int16_t)EP_CLAMP(value, -32768, 32767);
    }
}

void ep_dequantize_s16_f32(int32_t size, double scale, int32_t zero_point, const int16_t *in, float *out) {
    for (int32_t i = 0; i < size; ++i) out[i] = (float)(scale * (in[i] - zero_point));
}

/* n bytes, whole words first (with Helium: 16 at a time, the last ones under a tail predicate): the windows'
 * runs are short, a call to memcpy would cost more than the copy */
static inline void copy_bytes(const int8_t *src, int32_t n, int8_t *dst) {
#if defined(__ARM_FEATURE_MVE) && __ARM_FEATURE_MVE
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t lanes = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, lanes), lanes);
    }
#else
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) memcpy(dst + i, src + i, 4);
    for (; i < n; ++i) dst[i] = src[i];
#endif
}

void ep_im2col_s8(const ep_conv_params *p, const int8_t *image, int32_t oy, int32_t ox, int8_t *window) {
    const int32_t c = p->in.c;
    const int8_t zero_point = (int8_t)-p->in_offset;
    const int32_t y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
    int8_t *k = window;
    for (int32_t ky = 0; ky < p->kh; ++ky) {
        const int32_t y = y0 + ky * p->dil_h;
        const int8_t *row = image + (size_t)y * p->in.w * c;
        if (y < 0 || y >= p->in.h) {
            memset(k, zero_point, (size_t)p->kw * c);
            k += p->kw * c;
            continue;
        }
        if (p->dil_w == 1 && x0 >= 0 && x0 + p->kw <= p->in.w) { /* a whole kernel row is contiguous in NHWC */
            copy_bytes(row + (size_t)x0 * c, p->kw * c, k);
            k += p->kw * c;
            continue;
        }
        for (int32_t kx = 0; kx < p->kw; ++kx, k += c) {
            const int32_t x = x0 + kx * p->dil_w;
            if (x < 0 || x >= p->in.w) {
                memset(k, zero_point, (size_t)c);
            } else {
                copy_bytes(row + (size_t)x * c, c, k);
            }
        }
    }
}
