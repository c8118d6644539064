/* The L1 caches of the Cortex-M7 and M55 and the MPU that tells them what each memory is. Both are off
 * at reset; a benchmark with them off measures the bus, not the core.
 *
 * The MPU gets one region per memory region of the board's YAML (ep_board.h): flash normal write-through
 * and read-only, RAM normal write-back write-allocate and never executed, except the RAM the firmware runs
 * from when it is loaded into RAM. Peripherals keep the default memory map (PRIVDEFENA). */
#include "driver.h"

#define BARRIERS() __asm volatile("dsb 0xF\n isb 0xF" ::: "memory")

#if EP_CACHES
typedef struct {
    uint32_t base, limit; /* first and last byte */
    uint8_t kind;         /* EP_MPU_FLASH, EP_MPU_RAM, EP_MPU_RAM_CODE */
    uint8_t size_log2;    /* PMSAv7: the region's size as a power of two (base aligned to it) */
} mpu_region;

static const mpu_region regions[] = EP_MPU_REGIONS;

#if EP_MPU_V8
void cortex_m_mpu_on(void) {
    enum { WRITE_BACK = 0, WRITE_THROUGH = 1 };
    /* MAIR attributes: 0xFF normal, inner and outer write-back read/write-allocate; 0xAA write-through read-allocate */
    MPUV8_MAIR0 = EP_FIELD(MPUV8_MAIR0, ATTR0, 0xFFu) | EP_FIELD(MPUV8_MAIR0, ATTR1, 0xAAu);
    for (uint32_t i = 0; i < sizeof regions / sizeof regions[0]; ++i) {
        const mpu_region *r = &regions[i];
        const uint32_t read_only = r->kind == EP_MPU_FLASH, never_execute = r->kind == EP_MPU_RAM;
        MPUV8_RNR = i;
        MPUV8_RBAR = (r->base & MPUV8_RBAR_BASE_Msk) | EP_FIELD(MPUV8_RBAR, AP, read_only ? 2u : 0u) |
                     EP_FIELD(MPUV8_RBAR, XN, never_execute);
        MPUV8_RLAR = (r->limit & MPUV8_RLAR_LIMIT_Msk) |
                     EP_FIELD(MPUV8_RLAR, ATTRINDX, read_only ? WRITE_THROUGH : WRITE_BACK) | MPUV8_RLAR_EN_Msk;
    }
    MPU_CTRL = MPU_CTRL_ENABLE_Msk | MPU_CTRL_PRIVDEFENA_Msk;
    BARRIERS();
}
#else
void cortex_m_mpu_on(void) {
    for (uint32_t i = 0; i < sizeof regions / sizeof regions[0]; ++i) {
        const mpu_region *r = &regions[i];
        const uint32_t read_only = r->kind == EP_MPU_FLASH, never_execute = r->kind == EP_MPU_RAM;
        MPU_RNR = i;
        MPU_RBAR = r->base;
        /* normal memory: TEX 001 C B = write-back write-allocate; TEX 000 C = write-through. Not shareable:
         * on the M7 a shareable region is not held in the data cache. AP 011 read/write, 110 read-only. */
        MPU_RASR = EP_FIELD(MPU_RASR, TEX, read_only ? 0u : 1u) | MPU_RASR_C_Msk | (read_only ? 0u : MPU_RASR_B_Msk) |
                   EP_FIELD(MPU_RASR, AP, read_only ? 6u : 3u) | EP_FIELD(MPU_RASR, XN, never_execute) |
                   EP_FIELD(MPU_RASR, SIZE, r->size_log2 - 1u) | MPU_RASR_ENABLE_Msk;
    }
    MPU_CTRL = MPU_CTRL_ENABLE_Msk | MPU_CTRL_PRIVDEFENA_Msk;
    BARRIERS();
}
#endif

void cortex_m_caches_on(void) {
    BARRIERS();
    SCB_ICIALLU = 0; /* invalidate the instruction cache, then enable it */
    BARRIERS();
    SCB_CCR |= SCB_CCR_IC_Msk;
    BARRIERS();
    /* the data cache holds garbage at reset: invalidate every line by set and way first */
    SCB_CSSELR = 0; /* level 1, data */
    BARRIERS();
    const uint32_t ccsidr = SCB_CCSIDR;
    const uint32_t sets = ((ccsidr & SCB_CCSIDR_NUMSETS_Msk) >> SCB_CCSIDR_NUMSETS_Pos) + 1u;
    const uint32_t ways = ((ccsidr & SCB_CCSIDR_ASSOCIATIVITY_Msk) >> SCB_CCSIDR_ASSOCIATIVITY_Pos) + 1u;
    const uint32_t set_shift = ((ccsidr & SCB_CCSIDR_LINESIZE_Msk) >> SCB_CCSIDR_LINESIZE_Pos) + 4u;
    const uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (uint32_t set = 0; set < sets; ++set)
        for (uint32_t way = 0; way < ways; ++way) SCB_DCISW = (way << way_shift) | (set << set_shift);
    BARRIERS();
    SCB_CCR |= SCB_CCR_DC_Msk;
    BARRIERS();
}
#endif
