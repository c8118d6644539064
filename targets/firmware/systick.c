/* The tick counter every board without a DWT cycle counter uses (QEMU has none): SysTick on the core
 * clock, counting down from 2^24 - 1, with its wraps counted in the interrupt to make 64 bits. */
#include "board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void systick_start(void) {
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* core clock, interrupt on wrap, enabled */
}

uint64_t board_ticks(void) {
    for (;;) {
        uint32_t wraps = systick_wraps;
        uint32_t value = SYST_CVR;
        if (wraps == systick_wraps) return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
    }
}

uint64_t board_timer_hz(void) { return EP_CPU_HZ; }
