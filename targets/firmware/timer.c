/* The tick counter the measurements use: the DWT cycle counter on cores that have one and where it
 * counts, SysTick otherwise. QEMU implements no DWT counter (its CYCCNT stays put), so the same binary
 * counts cycles on a board and falls back, saying so in INFO, on an emulator.
 *
 * SysTick counts down from 2^24 - 1 on the core clock and interrupts at each wrap. With the DWT it only
 * samples CYCCNT in that interrupt, often enough to see every 2^32 wrap of the 32-bit counter, so both
 * give 64-bit ticks. */
#include "driver.h"

static volatile uint32_t systick_wraps, cyccnt_high, cyccnt_seen;
static uint8_t use_dwt;
static uint32_t ticks_hz;
static const char *why_not_dwt;

void SysTick_Handler(void) {
    if (use_dwt) {
        const uint32_t now = DWT_CYCCNT;
        if (now < cyccnt_seen) cyccnt_high++;
        cyccnt_seen = now;
    } else {
        systick_wraps++;
    }
}

static int dwt_counts(void) {
#if EP_HAS_DWT
    DCB_DEMCR |= DCB_DEMCR_TRCENA_Msk;
#if EP_DWT_LOCKED
    DWT_LAR = 0xC5ACCE55u; /* the M7's DWT ignores writes until this key unlocks it */
#endif
    if (DWT_CTRL & DWT_CTRL_NOCYCCNT_Msk) return why_not_dwt = "the DWT has no cycle counter", 0;
    DWT_CYCCNT = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA_Msk;
    const uint32_t first = DWT_CYCCNT;
    for (volatile uint32_t i = 0; i < 64; ++i) {
    }
    if (DWT_CYCCNT != first) return 1;
    return why_not_dwt = "the DWT cycle counter does not count", 0;
#else
    return why_not_dwt = "this core has no DWT cycle counter", 0;
#endif
}

void timer_start(uint32_t core_hz) {
    use_dwt = (uint8_t)dwt_counts();
#if defined(EP_SYSTICK_HZ)
    ticks_hz = use_dwt ? core_hz : EP_SYSTICK_HZ; /* an emulator's SysTick runs at its own fixed rate */
#else
    ticks_hz = core_hz;
#endif
    cyccnt_seen = use_dwt ? DWT_CYCCNT : 0;
    SYST_RVR = SYST_RVR_RELOAD_Msk;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE_Msk | SYST_CSR_TICKINT_Msk | SYST_CSR_CLKSOURCE_Msk;
}

uint64_t timer_ticks(void) {
    for (;;) {
        if (use_dwt) {
            const uint32_t high = cyccnt_high, seen = cyccnt_seen, now = DWT_CYCCNT;
            if (high != cyccnt_high) continue;
            return ((uint64_t)(high + (now < seen)) << 32) + now; /* a wrap since the interrupt's last look */
        }
        const uint32_t wraps = systick_wraps, value = SYST_CVR;
        if (wraps == systick_wraps) return ((uint64_t)wraps << 24) + (SYST_RVR_RELOAD_Msk - value);
    }
}

uint64_t timer_hz(void) { return ticks_hz; }
const char *timer_source(void) { return use_dwt ? "dwt" : "systick"; }
const char *timer_note(void) { return use_dwt ? 0 : why_not_dwt; }
