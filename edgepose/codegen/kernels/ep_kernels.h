/* edgepose int8 and 16x8 kernels: portable C99, no heap, no libc beyond string.h.
 *
 * Each kernel computes exactly what TensorFlow Lite's reference kernels compute for the int8
 * quantization spec (per-axis weights with zero point 0, int32 bias at input_scale * weight_scale,
 * double-rounding fixed-point requantization), so outputs match the TFLite Micro interpreter byte for
 * byte. Tensors are NHWC and contiguous. Requantization parameters (multiplier, shift, offsets,
 * activation range) are computed once by the code generator and passed in as constants.
 */
#ifndef EP_KERNELS_H
#define EP_KERNELS_H

#include <stdint.h>

typedef struct {
    int32_t n, h, w, c;
} ep_shape;

typedef struct {
    ep_shape in, out;
    int32_t kh, kw;                /* filter height and width */
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t in_offset;             /* -input zero point */
    int32_t out_offset;            /* output zero point */
    int32_t act_min, act_max;      /* fused activation, in output units */
    int32_t depth_multiplier;      /* depthwise only */
    int32_t groups;                /* conv only: input channels / filter input channels */
} ep_conv_params;

typedef struct {
    int32_t batches, depth, units;
    int32_t in_offset, out_offset, act_min, act_max;
} ep_fc_params;

typedef struct {
    ep_shape in1, in2, out;        /* in1/in2 broadcast to out where a dimension is 1 */
    int32_t in1_offset, in2_offset, out_offset;
    int32_t in1_multiplier, in2_multiplier, out_multiplier;
    int32_t in1_shift, in2_shift, out_shift, left_shift;
    int32_t act_min, act_max;
} ep_binary_params;

typedef struct {
    ep_shape in, out;
    int32_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} ep_pool_params;

int32_t ep_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift);

void ep_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                  const int32_t *multiplier, const int32_t *shift, int8_t *out);
void ep_depthwise_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out);
void ep_transpose_conv2d_s8(const ep_conv_params *p, const int8_t *in, const int8_t *filter,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                            int32_t *scratch, int8_t *out);
void ep_fully_connected_s8(const ep_fc_params *p, const int8_t *in, const int8_t *filter, const int32_t *bias,
                           const int32_t *multiplier, const int32_t *shift, int8_t *out);
void ep_add_s8(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_mul_s8(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_avg_pool_s8(const ep_pool_params *p, const int8_t *in, int8_t *out);
void ep_max_pool_s8(const ep_pool_params *p, const int8_t *in, int8_t *out);
void ep_mean_hw_s8(ep_shape in, int32_t in_zero_point, int32_t out_zero_point, int32_t multiplier, int32_t shift,
                   const int8_t *input, int8_t *out);
void ep_concat_s8(int32_t outer, int32_t count, const int8_t *const *inputs, const int32_t *inner_sizes,
                  int8_t *out);
void ep_pad_s8(ep_shape in, ep_shape out, const int32_t *before, int8_t pad_value, const int8_t *input,
               int8_t *output);
void ep_resize_nearest_rows_s8(ep_shape in, ep_shape out, int32_t in_first, int32_t out_first, int32_t in_height,
                               int32_t out_height, int32_t align_corners, int32_t half_pixel_centers,
                               const int8_t *input, int8_t *output);
void ep_resize_nearest_s8(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                          const int8_t *input, int8_t *output);
void ep_resize_bilinear_s8(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                           const int8_t *input, int8_t *output);
void ep_lut_s8(int32_t size, const int8_t *table, const int8_t *in, int8_t *out);
void ep_quantize_f32_s8(int32_t size, float scale, int32_t zero_point, const float *in, int8_t *out);
void ep_dequantize_s8_f32(int32_t size, double scale, int32_t zero_point, const int8_t *in, float *out);
void ep_copy(int32_t bytes, const void *in, void *out);
/* The input window of output pixel (oy, ox) of a convolution (groups 1): kh * kw * in.c int8 values in filter
 * order, the input zero point at padded taps. */
void ep_im2col_s8(const ep_conv_params *p, const int8_t *image, int32_t oy, int32_t ox, int8_t *window);

/* 16x8: int16 activations with zero point 0, int8 weights, int64 bias (TFLite's 16x8 quantization). */
int32_t ep_multiply_by_quantized_multiplier_64(int64_t x, int32_t multiplier, int32_t shift);
void ep_conv2d_s16(const ep_conv_params *p, const int16_t *in, const int8_t *filter, const int64_t *bias,
                   const int32_t *multiplier, const int32_t *shift, int16_t *out);
void ep_depthwise_conv2d_s16(const ep_conv_params *p, const int16_t *in, const int8_t *filter,
                             const int64_t *bias, const int32_t *multiplier, const int32_t *shift, int16_t *out);
void ep_fully_connected_s16(const ep_fc_params *p, const int16_t *in, const int8_t *filter, const int64_t *bias,
                            const int32_t *multiplier, const int32_t *shift, int16_t *out);
void ep_add_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
void ep_logistic_s16(int32_t size, int32_t multiplier, int32_t left_shift, const uint16_t *table,
                     const int16_t *in, int16_t *out);
void ep_mean_hw_s16(ep_shape in, int32_t multiplier, int32_t shift, const int16_t *input, int16_t *out);
void ep_resize_nearest_s16(ep_shape in, ep_shape out, int32_t align_corners, int32_t half_pixel_centers,
                           const int16_t *input, int16_t *output);
void ep_quantize_f32_s16(int32_t size, float scale, int32_t zero_point, const float *in, int16_t *out);
void ep_dequantize_s16_f32(int32_t size, double scale, int32_t zero_point, const int16_t *in, float *out);

#endif
