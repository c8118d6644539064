/* The few Arm DSP instructions the fast kernels use, under one name each.
 *
 * On a core with the DSP extension (Cortex-M4/M7/M33/M55: __ARM_FEATURE_DSP) they are the ACLE intrinsics of
 * arm_acle.h, one instruction each; SMMULR has no intrinsic and is one line of inline assembly. Anywhere
 * else (the host, a Cortex-M0) they are plain C computing the same bits, so the DSP kernels are also
 * checked on the host, against the same reference, before they run on an emulated core.
 */
#ifndef EP_ARM_H
#define EP_ARM_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

/* 1 where a kernel's innermost block is written in Arm assembly (GCC's inline asm), 0 where its C twin runs */
#if defined(__GNUC__)
#define EP_DSP_ASM 1
#else
#define EP_DSP_ASM 0
#endif

/* two signed 16x16 products added to an accumulator: a.lo*b.lo + a.hi*b.hi + acc */
static inline int32_t ep_smlad(uint32_t a, uint32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* bytes 0 and 2 sign-extended to two halfwords */
static inline uint32_t ep_sxtb16(uint32_t x) { return __sxtb16(x); }
/* bytes 1 and 3 sign-extended to two halfwords (SXTB16 with ROR #8) */
static inline uint32_t ep_sxtb16_odd(uint32_t x) { return __sxtb16((x >> 8) | (x << 24)); }
/* a.lo*b.lo + acc and a.hi*b.hi + acc, one product each */
static inline int32_t ep_smlabb(uint32_t a, uint32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t ep_smlatt(uint32_t a, uint32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* (a * b + 2^31) >> 32: the high word of the product, rounded */
static inline int32_t ep_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* saturate to int8 */
static inline int32_t ep_ssat8(int32_t x) { return __ssat(x, 8); }

#else

#define EP_DSP_ASM 0

static inline int32_t ep_lo(uint32_t x) { return (int16_t)(x & 0xFFFFu); }
static inline int32_t ep_hi(uint32_t x) { return (int16_t)(x >> 16); }
static inline uint32_t ep_pack(int32_t lo, int32_t hi) { return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16); }

static inline int32_t ep_smlad(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ep_lo(a) * ep_lo(b)) + (uint32_t)(ep_hi(a) * ep_hi(b)));
}
static inline uint32_t ep_sxtb16(uint32_t x) { return ep_pack((int8_t)(x & 0xFF), (int8_t)((x >> 16) & 0xFF)); }
static inline uint32_t ep_sxtb16_odd(uint32_t x) { return ep_pack((int8_t)((x >> 8) & 0xFF), (int8_t)(x >> 24)); }
static inline int32_t ep_smlabb(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ep_lo(a) * ep_lo(b)));
}
static inline int32_t ep_smlatt(uint32_t a, uint32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(ep_hi(a) * ep_hi(b)));
}
static inline int32_t ep_smmulr(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * b + (1ll << 31)) >> 32);
}
static inline int32_t ep_ssat8(int32_t x) { return x < -128 ? -128 : x > 127 ? 127 : x; }

#endif

/* word loads that may be unaligned (activations at any channel count); one LDR on the M cores */
static inline uint32_t ep_load32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* two consecutive words, 4-byte aligned: one LDRD on the M cores (little-endian: the first word is low) */
static inline void ep_load2(const uint32_t *p, uint32_t *first, uint32_t *second) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    *first = (uint32_t)v;
    *second = (uint32_t)(v >> 32);
}

#endif
