/* The USART of the STM32H7, U5 and N6 (ISR/RDR/TDR, unlike the F4's SR/DR): 8N1, 16x oversampling. */
#include "stm32_usart.h"

void usart_start(uint32_t kernel_hz) {
    USART_BRR(EP_UART_BASE) = (kernel_hz + EP_UART_BAUD / 2u) / EP_UART_BAUD;
    USART_CR1(EP_UART_BASE) = USART_CR1_UE_Msk | USART_CR1_TE_Msk | USART_CR1_RE_Msk;
}

void driver_uart_put(uint8_t byte) {
    while (!(USART_ISR(EP_UART_BASE) & USART_ISR_TXE_Msk)) {
    }
    USART_TDR(EP_UART_BASE) = byte;
}

int driver_uart_get(void) {
    return (USART_ISR(EP_UART_BASE) & USART_ISR_RXNE_Msk) ? (int)(USART_RDR(EP_UART_BASE) & 0xFFu) : -1;
}
