/* Cortex-M startup without assembly: vector table, .data copy, .bss clear, FPU on, main. */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);
void SysTick_Handler(void);

static void fault(void) {
    for (;;) {
    }
}

void Reset_Handler(void) {
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end; ++dst) *dst = 0;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
    __asm volatile("dsb\n isb");
#endif
    main();
    fault();
}

__attribute__((section(".vectors"), used)) void (*const ep_vectors[16])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0,
    fault, SysTick_Handler,
};
