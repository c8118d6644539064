/* The USART of the STM32H7, U5 and N6 (stm32_usart.c); it provides driver_uart_put and driver_uart_get. */
#ifndef EP_STM32_USART_H
#define EP_STM32_USART_H

#include "driver.h"

void usart_start(uint32_t kernel_hz); /* 8N1 at EP_UART_BAUD from a kernel clock of kernel_hz */

#endif
