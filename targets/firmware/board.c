/* The board bring-up every target shares: the family driver's clock plan, caches and MPU, the console
 * UART at the clock actually reached, and the fastest timer that counts. What happened is kept for INFO,
 * so a report says which clock and which timer its numbers come from. */
#include <string.h>

#include "driver.h"

static ep_clock_state clock;

int ep_wait(volatile uint32_t *reg, uint32_t mask, uint32_t value, uint32_t spins) {
    while (spins--)
        if ((*reg & mask) == value) return 1;
    return 0;
}

int ep_step(int done, ep_clock_state *state, const char *note) {
    if (!done) state->note = note;
    return done;
}

int ep_await(volatile uint32_t *reg, uint32_t flag, ep_clock_state *state, const char *note) {
    return ep_step(ep_wait(reg, flag, flag, EP_SPINS), state, note);
}

void clock_reached(ep_clock_state *state) {
    state->core_hz = EP_CPU_HZ, state->uart_hz = EP_UART_BUS_HZ, state->source = "pll";
}

void board_init(void) {
#if EP_CLOCK_PLAN
    clock.core_hz = EP_RESET_HZ, clock.uart_hz = EP_RESET_HZ, clock.source = "reset", clock.note = 0;
    driver_clock_init(&clock);
#else /* the core runs as it started, at the clock the board's YAML gives */
    clock.core_hz = EP_CPU_HZ, clock.uart_hz = EP_UART_BUS_HZ, clock.source = "as started", clock.note = EP_CLOCK_NOTE;
#endif
#if EP_CACHES
    cortex_m_mpu_on(); /* the MPU first: it says which memory the caches may hold */
    cortex_m_caches_on();
#endif
    driver_uart_init(clock.uart_hz);
    timer_start(clock.core_hz);
}

void board_uart_write(const uint8_t *data, uint32_t size) {
    for (uint32_t i = 0; i < size; ++i) driver_uart_put(data[i]);
}

int board_uart_read(void) { return driver_uart_get(); }
uint64_t board_ticks(void) { return timer_ticks(); }
uint64_t board_timer_hz(void) { return timer_hz(); }

static char *text(char *p, const char *s) {
    const uint32_t n = (uint32_t)strlen(s);
    memcpy(p, s, n);
    return p + n;
}

char *ep_decimal(char *p, uint64_t value) {
    char digits[21];
    int n = 0;
    do digits[n++] = (char)('0' + value % 10); while ((value /= 10) != 0);
    while (n) *p++ = digits[--n];
    return p;
}

uint32_t board_runtime_json(char *out) {
    char *p = text(out, ",\"clock\":{\"hz\":");
    p = ep_decimal(p, clock.core_hz);
    p = text(p, ",\"planned_hz\":");
    p = ep_decimal(p, EP_CPU_HZ);
    p = text(text(text(p, ",\"source\":\""), clock.source), "\"");
    if (clock.note) p = text(text(text(p, ",\"note\":\""), clock.note), "\"");
    p = text(p, ",\"uart_kernel_hz\":");
    p = ep_decimal(p, clock.uart_hz);
    p = text(p, "},\"timer\":{\"hz\":");
    p = ep_decimal(p, timer_hz());
    p = text(text(text(p, ",\"source\":\""), timer_source()), "\"");
    if (timer_note()) p = text(text(text(p, ",\"note\":\""), timer_note()), "\"");
    p = text(p, EP_TIMER_EXTRA "}}"); /* the timer, then INFO itself */
    return (uint32_t)(p - out);
}
