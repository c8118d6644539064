/* Host harness for generated networks: reads the model's inputs (each EP_INPUT_<k>_BYTES, back to back)
 * from stdin until end of file and writes its outputs (each EP_OUTPUT_<k>_BYTES, back to back) to stdout.
 * Used to check generated code against the reference interpreter; not part of the generated folder.
 *
 * Built with -DEP_HOST_IN_PLACE it takes the no-copy path a firmware takes: the inputs are written
 * straight into the arena at EP_INPUT_OFFSET and the outputs read from it at EP_OUTPUT_OFFSET. */
#include <stdio.h>
#include <stdlib.h>

#include "ep_network.h"

static uint8_t arena[EP_ARENA_BYTES] __attribute__((aligned(16)));

int main(void) {
#ifdef EP_HOST_IN_PLACE
    uint8_t *input = arena + EP_INPUT_OFFSET, *output = arena + EP_OUTPUT_OFFSET;
#else
    static uint8_t input_buffer[EP_INPUT_BYTES + 1] __attribute__((aligned(16)));
    static uint8_t output_buffer[EP_OUTPUT_BYTES + 1] __attribute__((aligned(16)));
    uint8_t *input = input_buffer, *output = output_buffer;
#endif
    for (;;) {
        for (uint32_t k = 0; k < EP_NUM_INPUTS; ++k) {
            const size_t got = fread(input + ep_input_offsets[k], 1, ep_input_bytes[k], stdin);
            if (got == 0 && k == 0) return 0;
            if (got != ep_input_bytes[k]) {
                fprintf(stderr, "short input %u: %zu of %u bytes\n", (unsigned)k, got, (unsigned)ep_input_bytes[k]);
                return 2;
            }
        }
        ep_network_run((const ep_input_t *)input, (ep_output_t *)output, arena);
        for (uint32_t k = 0; k < EP_NUM_OUTPUTS; ++k)
            if (fwrite(output + ep_output_offsets[k], 1, ep_output_bytes[k], stdout) != ep_output_bytes[k]) return 3;
    }
}
