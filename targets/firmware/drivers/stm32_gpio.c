/* Putting a pin of an STM32 GPIO port on an alternate function: the same on every STM32 family (two mode
 * bits and four AF bits per pin), with the field widths from the family's register table. */
#include "stm32_gpio.h"

void gpio_alternate(uint32_t port, uint32_t pin, uint32_t af) {
    const uint32_t mode_bits = (uint32_t)__builtin_popcount(GPIO_MODER_PIN0_Msk);
    const uint32_t af_bits = (uint32_t)__builtin_popcount(GPIO_AFRL_PIN0_Msk);
    const uint32_t mode_shift = pin * mode_bits, af_shift = (pin % 8u) * af_bits;
    const uint32_t alternate = 2u; /* MODER: 00 input, 01 output, 10 alternate function, 11 analog */
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(GPIO_MODER_PIN0_Msk << mode_shift)) | (alternate << mode_shift);
    if (pin < 8u)
        GPIO_AFRL(port) = (GPIO_AFRL(port) & ~(GPIO_AFRL_PIN0_Msk << af_shift)) | (af << af_shift);
    else
        GPIO_AFRH(port) = (GPIO_AFRH(port) & ~(GPIO_AFRH_PIN8_Msk << af_shift)) | (af << af_shift);
}

/* The console's clocks and pins: the USART's and both ports' clock gates, then TX and RX to their AF. */
void console_pins(void) {
    EP_UART_GATE |= EP_UART_GATE_MSK;
    EP_UART_TX_GATE |= EP_UART_TX_GATE_MSK;
    EP_UART_RX_GATE |= EP_UART_RX_GATE_MSK;
    (void)EP_UART_GATE; /* a read back: the clock is on before the first access to the peripheral */
    gpio_alternate(EP_UART_TX_PORT, EP_UART_TX_PIN, EP_UART_AF);
    gpio_alternate(EP_UART_RX_PORT, EP_UART_RX_PIN, EP_UART_AF);
}
