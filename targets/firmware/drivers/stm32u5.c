/* STM32U5 (NUCLEO-U575ZI-Q, TrustZone off): the clock plan of RM0456 ("RCC", "PWR"): range 1, the EPOD
 * booster the PLL needs above 55 MHz, PLL1 from MSIS (R to the system clock), flash wait states, the bus
 * prescalers, the switch, then the 8 KB instruction cache (a peripheral on the U5, not in the core). Any
 * step that does not complete leaves the core on the 4 MHz MSIS, and says which. */
#include "driver.h"
#include "stm32_gpio.h"
#include "stm32_usart.h"

#define PLL_SOURCE_MSIS 1u
#define SW_PLL1 3u

#if EP_CLOCK_PLAN
void driver_clock_init(ep_clock_state *clock) {
    RCC_AHB3ENR |= RCC_AHB3ENR_PWREN_Msk;
    PWR_VOSR = (PWR_VOSR & ~PWR_VOSR_VOS_Msk) | EP_FIELD(PWR_VOSR, VOS, 3u); /* range 1 */
    if (!ep_await(&PWR_VOSR, PWR_VOSR_VOSRDY_Msk, clock, "voltage range 1 did not become ready")) return;
    const uint32_t fields = RCC_PLL1CFGR_PLL1SRC_Msk | RCC_PLL1CFGR_PLL1RGE_Msk | RCC_PLL1CFGR_PLL1FRACEN_Msk |
                            RCC_PLL1CFGR_PLL1M_Msk | RCC_PLL1CFGR_PLL1MBOOST_Msk;
    RCC_PLL1CFGR = (RCC_PLL1CFGR & ~fields) | EP_FIELD(RCC_PLL1CFGR, PLL1SRC, PLL_SOURCE_MSIS) |
                   EP_FIELD(RCC_PLL1CFGR, PLL1RGE, EP_PLL_RANGE) | EP_FIELD(RCC_PLL1CFGR, PLL1M, EP_PLL_M - 1u) |
                   EP_FIELD(RCC_PLL1CFGR, PLL1MBOOST, 0u) | RCC_PLL1CFGR_PLL1REN_Msk; /* the booster's clock: /1 */
    PWR_VOSR |= PWR_VOSR_BOOSTEN_Msk;
    if (!ep_await(&PWR_VOSR, PWR_VOSR_BOOSTRDY_Msk, clock, "the EPOD booster did not become ready")) return;
    RCC_PLL1DIVR = EP_FIELD(RCC_PLL1DIVR, PLL1N, EP_PLL_N - 1u) | EP_FIELD(RCC_PLL1DIVR, PLL1P, EP_PLL_P - 1u) |
                   EP_FIELD(RCC_PLL1DIVR, PLL1Q, EP_PLL_Q - 1u) | EP_FIELD(RCC_PLL1DIVR, PLL1R, EP_PLL_R - 1u);
    RCC_CR |= RCC_CR_PLL1ON_Msk;
    if (!ep_await(&RCC_CR, RCC_CR_PLL1RDY_Msk, clock, "PLL1 did not lock")) return;
    FLASH_ACR = EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY) | FLASH_ACR_PRFTEN_Msk;
    if (!ep_step((FLASH_ACR & FLASH_ACR_LATENCY_Msk) == EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY), clock,
                "the flash did not take its wait states")) return;
    const uint32_t cfgr2 = RCC_CFGR2;
    RCC_CFGR2 = (RCC_CFGR2 & ~(RCC_CFGR2_HPRE_Msk | RCC_CFGR2_PPRE1_Msk | RCC_CFGR2_PPRE2_Msk)) |
                EP_FIELD(RCC_CFGR2, HPRE, EP_HPRE) | EP_FIELD(RCC_CFGR2, PPRE1, EP_PPRE1) | EP_FIELD(RCC_CFGR2, PPRE2, EP_PPRE2);
    RCC_CFGR1 = (RCC_CFGR1 & ~RCC_CFGR1_SW_Msk) | EP_FIELD(RCC_CFGR1, SW, SW_PLL1);
    if (!ep_wait(&RCC_CFGR1, RCC_CFGR1_SWS_Msk, EP_FIELD(RCC_CFGR1, SWS, SW_PLL1), EP_SPINS)) {
        RCC_CFGR2 = cfgr2;
        clock->note = "the system clock did not switch to PLL1";
        return;
    }
    ICACHE_CR |= ICACHE_CR_EN_Msk;
    clock_reached(clock);
}
#endif

void driver_uart_init(uint32_t uart_hz) {
    console_pins();
    usart_start(uart_hz);
}
