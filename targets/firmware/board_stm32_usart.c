/* STM32F4 (QEMU netduinoplus2, an STM32F405): USART1 and SysTick. The USART's clock is enabled in
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

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void board_init(void) {
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART_BRR = EP_CPU_HZ / 2u / EP_UART_BAUD; /* APB2 runs at half the core clock */
    USART_CR1 = CR1_UE | CR1_TE | CR1_RE;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u;
}

void board_uart_write(const uint8_t *data, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        while (!(USART_SR & SR_TXE)) {
        }
        USART_DR = data[i];
    }
}

int board_uart_read(void) { return (USART_SR & SR_RXNE) ? (int)(USART_DR & 0xFFu) : -1; }

uint64_t board_ticks(void) {
    for (;;) {
        uint32_t wraps = systick_wraps;
        uint32_t value = SYST_CVR;
        if (wraps == systick_wraps) return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
    }
}

uint64_t board_timer_hz(void) { return EP_CPU_HZ; }
