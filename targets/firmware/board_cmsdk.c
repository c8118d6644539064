/* Arm MPS2/MPS3 FPGA images (QEMU mps2-an500, mps3-an547): CMSDK APB UART and SysTick.
 * EP_UART_BASE and EP_CPU_HZ come from the board definition (targets/<board>.yaml). */
#include "board.h"

#define UART_DATA (*(volatile uint32_t *)(EP_UART_BASE + 0x00))
#define UART_STATE (*(volatile uint32_t *)(EP_UART_BASE + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(EP_UART_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(EP_UART_BASE + 0x10))
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void board_init(void) {
    UART_BAUDDIV = EP_CPU_HZ / EP_UART_BAUD;
    UART_CTRL = 3u; /* TX and RX enabled */
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enabled */
}

void board_uart_write(const uint8_t *data, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = data[i];
    }
}

int board_uart_read(void) { return (UART_STATE & STATE_RX_FULL) ? (int)(UART_DATA & 0xFFu) : -1; }

uint64_t board_ticks(void) {
    for (;;) { /* SysTick counts down from 2^24 - 1; the interrupt counts the wraps */
        uint32_t wraps = systick_wraps;
        uint32_t value = SYST_CVR;
        if (wraps == systick_wraps) return ((uint64_t)wraps << 24) + (0x00FFFFFFu - value);
    }
}

uint64_t board_timer_hz(void) { return EP_CPU_HZ; }
