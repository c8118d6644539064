/* Arm MPS2/MPS3 FPGA images (QEMU mps2-an500, mps3-an547): the CMSDK APB UART; ticks from systick.c.
 * EP_UART_BASE and EP_CPU_HZ come from the board definition (targets/<board>.yaml). */
#include "board.h"

#define UART_DATA (*(volatile uint32_t *)(EP_UART_BASE + 0x00))
#define UART_STATE (*(volatile uint32_t *)(EP_UART_BASE + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(EP_UART_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(EP_UART_BASE + 0x10))
#define STATE_TX_FULL 1u
#define STATE_RX_FULL 2u

void board_init(void) {
    UART_BAUDDIV = EP_CPU_HZ / EP_UART_BAUD;
    UART_CTRL = 3u; /* TX and RX enabled */
    systick_start();
}

void board_uart_write(const uint8_t *data, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = data[i];
    }
}

int board_uart_read(void) { return (UART_STATE & STATE_RX_FULL) ? (int)(UART_DATA & 0xFFu) : -1; }

