/* What the benchmark firmware (bench_main.c, wire.c) needs from a board: board.c provides it on top of
 * the family drivers (driver.h). */
#ifndef EP_BOARD_H
#define EP_BOARD_H

#include <stdint.h>

void board_init(void);
void board_uart_write(const uint8_t *data, uint32_t size);
int board_uart_read(void); /* one received byte, or -1 when none is waiting */
uint64_t board_ticks(void);
uint64_t board_timer_hz(void);
uint32_t board_runtime_json(char *out); /* ,"clock":{...},"timer":{...} for INFO; returns its length */
char *ep_decimal(char *out, uint64_t value); /* value in decimal digits at out; returns the end */

#endif
