/* Arm MPS2/MPS3 FPGA images (QEMU mps2-an500, mps2-an505, mps3-an547): the CMSDK APB UART. The core runs at
 * the image's fixed clock (the board's cpu.clock_hz): the board has no clock plan. */
#include "driver.h"

void driver_uart_init(uint32_t uart_hz) {
    UART_BAUDDIV(EP_UART_BASE) = uart_hz / EP_UART_BAUD;
    UART_CTRL(EP_UART_BASE) = UART_CTRL_TXEN_Msk | UART_CTRL_RXEN_Msk;
}

void driver_uart_put(uint8_t byte) {
    while (UART_STATE(EP_UART_BASE) & UART_STATE_TXFULL_Msk) {
    }
    UART_DATA(EP_UART_BASE) = byte;
}

int driver_uart_get(void) {
    return (UART_STATE(EP_UART_BASE) & UART_STATE_RXFULL_Msk) ? (int)(UART_DATA(EP_UART_BASE) & 0xFFu) : -1;
}
