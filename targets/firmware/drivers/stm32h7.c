/* STM32H7 (NUCLEO-H743ZI2, STM32H747I-DISCO's Cortex-M7): the clock plan of RM0433 / RM0399 ("System
 * clock" and "Power control"): the supply configuration (written once after reset: the LDO on the H743,
 * direct SMPS on the H747 DISCO), voltage scale 1 and, for 480 MHz, VOS0 through SYSCFG's over-drive; HSE,
 * PLL1 (P to the system clock), flash wait states, the domain prescalers, then the switch. Any step that does
 * not complete leaves the core on the 64 MHz HSI, and says which. */
#include "driver.h"
#include "stm32_gpio.h"
#include "stm32_usart.h"

#define PLL_SOURCE_HSE 2u
#define SW_PLL1 3u
#define FLASH_WRITE_DELAY 2u /* WRHIGHFREQ for an AXI clock of 185-225 MHz at VOS0/VOS1 */
#define REVISION_V 0x2003u   /* DBGMCU_IDC.REV_ID of the silicon rated for 480 MHz at VOS0 (RM0433) */

#if EP_CLOCK_PLAN
static int supply_and_scale(ep_clock_state *clock) {
#if EP_SUPPLY_DIRECT_SMPS
    PWR_CR3 = (PWR_CR3 & ~(PWR_CR3_LDOEN_Msk | PWR_CR3_BYPASS_Msk)) | PWR_CR3_SDEN_Msk;
#else
    PWR_CR3 = (PWR_CR3 & ~(PWR_CR3_SCUEN_Msk | PWR_CR3_BYPASS_Msk)) | PWR_CR3_LDOEN_Msk;
#endif
    if (!ep_await(&PWR_CSR1, PWR_CSR1_ACTVOSRDY_Msk, clock, "the supply configuration did not settle"))
        return 0;
    PWR_D3CR = (PWR_D3CR & ~PWR_D3CR_VOS_Msk) | EP_FIELD(PWR_D3CR, VOS, 3u); /* scale 1 */
    if (!ep_await(&PWR_D3CR, PWR_D3CR_VOSRDY_Msk, clock, "voltage scale 1 did not become ready"))
        return 0;
#if EP_VOLTAGE_SCALE == 0
    const uint32_t revision = (DBGMCU_IDC & DBGMCU_IDC_REV_ID_Msk) >> DBGMCU_IDC_REV_ID_Pos;
    if (!ep_step(revision == REVISION_V, clock, "VOS0 (480 MHz) needs revision V silicon: plan 400 MHz at VOS1"))
        return 0;
    RCC_APB4ENR |= RCC_APB4ENR_SYSCFGEN_Msk;
    SYSCFG_PWRCR |= SYSCFG_PWRCR_ODEN_Msk; /* scale 1 + over-drive = VOS0 */
    return ep_await(&PWR_D3CR, PWR_D3CR_VOSRDY_Msk, clock, "VOS0 did not become ready");
#else
    return 1;
#endif
}

static int pll1(ep_clock_state *clock) {
    RCC_CR |= (EP_HSE_BYPASS ? RCC_CR_HSEBYP_Msk : 0u) | RCC_CR_HSEON_Msk;
    if (!ep_await(&RCC_CR, RCC_CR_HSERDY_Msk, clock, "HSE did not start: no clock on the oscillator pins"))
        return 0;
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(RCC_PLLCKSELR_PLLSRC_Msk | RCC_PLLCKSELR_DIVM1_Msk)) |
                    EP_FIELD(RCC_PLLCKSELR, PLLSRC, PLL_SOURCE_HSE) | EP_FIELD(RCC_PLLCKSELR, DIVM1, EP_PLL_M);
    /* integer mode, wide VCO (192-960 MHz), the reference range the board's plan puts it in, P, Q, R on */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(RCC_PLLCFGR_PLL1FRACEN_Msk | RCC_PLLCFGR_PLL1VCOSEL_Msk | RCC_PLLCFGR_PLL1RGE_Msk)) |
                  EP_FIELD(RCC_PLLCFGR, PLL1RGE, EP_PLL_RANGE) | RCC_PLLCFGR_DIVP1EN_Msk | RCC_PLLCFGR_DIVQ1EN_Msk |
                  RCC_PLLCFGR_DIVR1EN_Msk;
    RCC_PLL1DIVR = EP_FIELD(RCC_PLL1DIVR, DIVN1, EP_PLL_N - 1u) | EP_FIELD(RCC_PLL1DIVR, DIVP1, EP_PLL_P - 1u) |
                   EP_FIELD(RCC_PLL1DIVR, DIVQ1, EP_PLL_Q - 1u) | EP_FIELD(RCC_PLL1DIVR, DIVR1, EP_PLL_R - 1u);
    RCC_CR |= RCC_CR_PLL1ON_Msk;
    return ep_await(&RCC_CR, RCC_CR_PLL1RDY_Msk, clock, "PLL1 did not lock");
}

void driver_clock_init(ep_clock_state *clock) {
    if (!supply_and_scale(clock) || !pll1(clock)) return;
    FLASH_ACR = EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY) | EP_FIELD(FLASH_ACR, WRHIGHFREQ, FLASH_WRITE_DELAY);
    if (!ep_step((FLASH_ACR & FLASH_ACR_LATENCY_Msk) == EP_FIELD(FLASH_ACR, LATENCY, EP_FLASH_LATENCY), clock,
                "the flash did not take its wait states")) return;
    const uint32_t d1 = RCC_D1CFGR, d2 = RCC_D2CFGR, d3 = RCC_D3CFGR;
    RCC_D1CFGR = EP_FIELD(RCC_D1CFGR, D1CPRE, 0u) | EP_FIELD(RCC_D1CFGR, HPRE, EP_HPRE) | EP_FIELD(RCC_D1CFGR, D1PPRE, EP_PPRE1);
    RCC_D2CFGR = EP_FIELD(RCC_D2CFGR, D2PPRE1, EP_PPRE1) | EP_FIELD(RCC_D2CFGR, D2PPRE2, EP_PPRE2);
    RCC_D3CFGR = EP_FIELD(RCC_D3CFGR, D3PPRE, EP_PPRE1);
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_Msk) | EP_FIELD(RCC_CFGR, SW, SW_PLL1);
    if (!ep_wait(&RCC_CFGR, RCC_CFGR_SWS_Msk, EP_FIELD(RCC_CFGR, SWS, SW_PLL1), EP_SPINS)) {
        RCC_D1CFGR = d1, RCC_D2CFGR = d2, RCC_D3CFGR = d3;
        clock->note = "the system clock did not switch to PLL1";
        return;
    }
    clock_reached(clock);
}
#endif

void driver_uart_init(uint32_t uart_hz) {
    console_pins();
    usart_start(uart_hz);
}
