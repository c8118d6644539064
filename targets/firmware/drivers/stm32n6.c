/* STM32N6 (STM32N6570-DK, Cortex-M55, loaded into RAM by a debugger in development boot): the console
 * on USART1 with HSI (64 MHz) as its kernel clock, so the baud rate does not depend on what the boot ROM left
 * in the bus prescalers. The core keeps the clock it was started on (HSI 64 MHz: the board's clock plan has no
 * PLL): bringing PLL1 to 800 MHz also needs the board's external SMPS raised to over-drive, which is not done
 * here; INFO says so. */
#include "driver.h"
#include "stm32_gpio.h"
#include "stm32_usart.h"

#define USART1_KERNEL_HSI 6u /* RCC_CCIPR13.USART1SEL: 0 PCLK2, 1 CLKP, 2 IC9, 3 IC14, 4 LSE, 5 MSI, 6 HSI */

void driver_uart_init(uint32_t uart_hz) {
    (void)uart_hz;
    RCC_CCIPR13 = (RCC_CCIPR13 & ~RCC_CCIPR13_USART1SEL_Msk) | EP_FIELD(RCC_CCIPR13, USART1SEL, USART1_KERNEL_HSI);
    console_pins();
    usart_start(EP_RESET_HZ); /* the N6 starts on its HSI: the board's clock.reset_hz is the HSI's rate */
}
