/* Cortex-M startup without assembly: vector table, .data copy, .bss clear, FPU on, main.
 *
 * The same startup serves an image the core boots from flash and one a debugger loads into RAM and starts
 * (STM32N6 development boot): it points VTOR at its own vector table and, on Armv8-M, clears the stack
 * limit a boot ROM may have left set. */
#include <stdint.h>

#include "ep_regs.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern uint32_t __hot_load, __hot_start, __hot_end; /* the most-read weights, run from a TCM (board.ld) */
int main(void);
void SysTick_Handler(void);
void (*const ep_vectors[16])(void);

static void fault(void) {
    for (;;) {
    }
}

void Reset_Handler(void) {
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    __asm volatile("msr msplim, %0" ::"r"(0u));
#endif
    SCB_VTOR = (uint32_t)ep_vectors;
    uint32_t *src = &__data_load, *dst = &__data_start;
    if (src != dst)
        while (dst < &__data_end) *dst++ = *src++;
    for (src = &__hot_load, dst = &__hot_start; src != dst && dst < &__hot_end;) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end; ++dst) *dst = 0;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= EP_FIELD(SCB_CPACR, CP10, 3u) | EP_FIELD(SCB_CPACR, CP11, 3u); /* full access to the FPU */
    __asm volatile("dsb\n isb");
#endif
    main();
    fault();
}

__attribute__((section(".vectors"), used)) void (*const ep_vectors[16])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0,
    fault, SysTick_Handler,
};
