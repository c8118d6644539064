/* STM32F4 (QEMU netduinoplus2, an STM32F405): USART1; ticks from systick.c. The USART's clock is enabled in
 * RCC_APB2ENR as on the silicon; EP_UART_BASE and EP_CPU_HZ come from the board definition. */
#include "board.h"

#define RCC_APB2ENR (*(volatile uint32_t *)0x40023844u)
#define RCC_APB2ENR_USART1EN (1u << 4)
#define USART_SR (*(volatile uint32_t *)(EP_UART_BASE + 0x00))
#define USART_DR (*(volatile uint32_t *)(EP_UART_BASE + 0x04))
#define USART_BRR (*(volatile uint32_t *)(EP_UART_BASE + 0x08))
#define USART_CR1 (*(volatile uint32_t *)(EP_UART_BASE + 0x0C))
#define SR_RXNE (1u << 5)
#define SR_TXE (1u << 7)
#define CR1_UE (1u << 13)
#define CR1_TE (1u << 3)
#define CR1_RE (1u << 2)

void board_init(void) {
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART_BRR = EP_CPU_HZ / 2u / EP_UART_BAUD; /* APB2 runs at half the core clock */
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
    systick_start();
}

void board_uart_write(const uint8_t *data, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        while (!(USART_SR & SR_TXE)) {
        }
        USART_DR = data[i];
    }
}

int board_uart_read(void) { return (USART_SR & SR_RXNE) ? (int)(USART_DR & 0xFFu) : -1; }

