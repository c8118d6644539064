/* STM32F4 (NUCLEO-F446RE, QEMU netduinoplus2): the clock plan of RM0390 6.3 / RM0090 7.3 and the USART.
 * Clock: scale-1 regulator, HSE (bypass from the ST-LINK's 8 MHz or a crystal), the main PLL, over-drive
 * above 168 MHz, flash wait states, bus prescalers, then the switch. Any step that does not complete leaves
 * the core on the 16 MHz HSI it started on, and says which step. */
#include "driver.h"
#include "stm32_gpio.h"

#define PLL_SOURCE_HSE 1u
#define SW_PLL 2u

#if EP_CLOCK_PLAN
void driver_clock_init(ep_clock_state *clock) {
    RCC_APB1ENR |= RCC_APB1ENR_PWREN_Msk;
    PWR_CR = (PWR_CR & ~PWR_CR_VOS_Msk) | EP_FIELD(PWR_CR, VOS, 3u); /* scale 1 */
    RCC_CR |= (EP_HSE_BYPASS ? RCC_CR_HSEBYP_Msk : 0u) | RCC_CR_HSEON_Msk;
    if (!ep_await(&RCC_CR, RCC_CR_HSERDY_Msk, clock, "HSE did not start: no clock on the oscillator pins")) return;
    const uint32_t fields = RCC_PLLCFGR_PLLM_Msk | RCC_PLLCFGR_PLLN_Msk | RCC_PLLCFGR_PLLP_Msk |
                            RCC_PLLCFGR_PLLSRC_Msk | RCC_PLLCFGR_PLLQ_Msk;
    RCC_PLLCFGR = (RCC_PLLCFGR & ~fields) | EP_FIELD(RCC_PLLCFGR, PLLM, EP_PLL_M) | EP_FIELD(RCC_PLLCFGR, PLLN, EP_PLL_N) |
                  EP_FIELD(RCC_PLLCFGR, PLLP, EP_PLL_P / 2u - 1u) | EP_FIELD(RCC_PLLCFGR, PLLSRC, PLL_SOURCE_HSE) |
                  EP_FIELD(RCC_PLLCFGR, PLLQ, EP_PLL_Q);
    RCC_CR |= RCC_CR_PLLON_Msk;
#if EP_OVERDRIVE
    PWR_CR |= PWR_CR_ODEN_Msk;
    if (!ep_await(&PWR_CSR, PWR_CSR_ODRDY_Msk, clock, "the regulator's over-drive did not become ready")) return;
    PWR_CR |= PWR_CR_ODSWEN_Msk;
    if (!ep_await(&PWR_CSR, PWR_CSR_ODSWRDY_Msk, clock, "the regulator did not switch to over-drive")) return;
#endif
    if (!ep_await(&RCC_CR, RCC_CR_PLLRDY_Msk, clock, "the PLL did not lock")) return;
    FLASH_ACR = EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY) | FLASH_ACR_PRFTEN_Msk | FLASH_ACR_ICEN_Msk |
                FLASH_ACR_DCEN_Msk;
    if (!ep_step((FLASH_ACR & FLASH_ACR_LATENCY_Msk) == EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY), clock,
                "the flash did not take its wait states")) return;
    const uint32_t prescalers = RCC_CFGR_HPRE_Msk | RCC_CFGR_PPRE1_Msk | RCC_CFGR_PPRE2_Msk;
    const uint32_t reset_cfgr = RCC_CFGR;
    RCC_CFGR = (RCC_CFGR & ~prescalers) | EP_FIELD(RCC_CFGR, HPRE, EP_HPRE) | EP_FIELD(RCC_CFGR, PPRE1, EP_PPRE1) |
               EP_FIELD(RCC_CFGR, PPRE2, EP_PPRE2);
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_Msk) | EP_FIELD(RCC_CFGR, SW, SW_PLL);
    if (!ep_wait(&RCC_CFGR, RCC_CFGR_SWS_Msk, EP_FIELD(RCC_CFGR, SWS, SW_PLL), EP_SPINS)) {
        RCC_CFGR = reset_cfgr;
        clock->note = "the system clock did not switch to the PLL";
        return;
    }
    clock_reached(clock);
}
#endif

void driver_uart_init(uint32_t uart_hz) {
    console_pins();
    USART_BRR(EP_UART_BASE) = (uart_hz + EP_UART_BAUD / 2u) / EP_UART_BAUD; /* 16x oversampling */
    USART_CR1(EP_UART_BASE) = USART_CR1_UE_Msk | USART_CR1_TE_Msk | USART_CR1_RE_Msk;
}

void driver_uart_put(uint8_t byte) {
    while (!(USART_SR(EP_UART_BASE) & USART_SR_TXE_Msk)) {
    }
    USART_DR(EP_UART_BASE) = byte;
}

int driver_uart_get(void) {
    return (USART_SR(EP_UART_BASE) & USART_SR_RXNE_Msk) ? (int)(USART_DR(EP_UART_BASE) & 0xFFu) : -1;
}
