/* Host harness for generated networks: reads inputs of EP_INPUT_BYTES from stdin until end of file and
 * writes each output of EP_OUTPUT_BYTES to stdout. Used to check generated code against the reference
 * interpreter; not part of the generated folder. */
#include <stdio.h>
#include <stdlib.h>

#include "ep_network.h"

static uint8_t arena[EP_ARENA_BYTES] __attribute__((aligned(16)));

int main(void) {
    static uint8_t input[EP_INPUT_BYTES + 1];
    static uint8_t output[EP_OUTPUT_BYTES + 1];
    for (;;) {
        size_t got = fread(input, 1, EP_INPUT_BYTES, stdin);
        if (got == 0) return 0;
        if (got != EP_INPUT_BYTES) {
            fprintf(stderr, "short input: %zu of %u bytes\n", got, (unsigned)EP_INPUT_BYTES);
            return 2;
        }
        ep_network_run((const ep_input_t *)input, (ep_output_t *)output, arena);
        if (fwrite(output, 1, EP_OUTPUT_BYTES, stdout) != EP_OUTPUT_BYTES) return 3;
    }
}
