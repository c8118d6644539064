/* STM32 GPIO: alternate functions for the console's pins (stm32_gpio.c). */
#ifndef EP_STM32_GPIO_H
#define EP_STM32_GPIO_H

#include "driver.h"

void gpio_alternate(uint32_t port, uint32_t pin, uint32_t af);
void console_pins(void); /* the console USART's and its ports' clock gates on, TX and RX to their AF */

#endif
