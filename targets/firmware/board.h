/* What the benchmark firmware needs from a board: a byte UART and a free-running tick counter. */
#ifndef EP_BOARD_H
#define EP_BOARD_H

#include <stdint.h>

void board_init(void);
void board_uart_write(const uint8_t *data, uint32_t size);
int board_uart_read(void); /* one received byte, or -1 when none is waiting */
uint64_t board_ticks(void);
uint64_t board_timer_hz(void);
void systick_start(void); /* systick.c: board_ticks() from SysTick, for cores without DWT */

#endif
