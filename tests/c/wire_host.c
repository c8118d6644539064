/* The firmware's wire code built for this machine, for tests/test_protocol.py:
 *   wire_host parse      feeds stdin to wire_feed byte by byte, as the firmware does, and prints one line
 *                        per frame ("F version type seq length crc32-of-payload") and per damaged frame
 *                        ("D type seq")
 *   wire_host encode     reads records (u8 type, u16 seq, u16 length, payload) and writes them as frames
 *                        with wire_send
 *   wire_host constants  prints the protocol's constants as JSON
 * Built with AddressSanitizer and UBSan by the tests, so any out-of-bounds access on a hostile stream fails. */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "protocol.h"
#include "wire.h"

void board_uart_write(const uint8_t *data, uint32_t size) {
    if (size) fwrite(data, 1, size, stdout);
}

static int parse(void) {
    static wire_parser parser;
    wire_frame frame;
    int byte;
    while ((byte = getchar()) != EOF) {
        if (wire_feed(&parser, (uint8_t)byte, &frame))
            printf("F %u %u %u %u %08lx\n", frame.version, frame.type, frame.seq, frame.length,
                   (unsigned long)wire_crc32(0, frame.payload, frame.length));
        if (parser.damaged) {
            parser.damaged = 0;
            printf("D %u %u\n", parser.damaged_type, parser.damaged_seq);
        }
    }
    return 0;
}

static int encode(void) {
    static uint8_t payload[WIRE_MAX_PAYLOAD];
    uint8_t head[5];
    while (fread(head, 1, 5, stdin) == 5) {
        const uint16_t seq = (uint16_t)(head[1] | head[2] << 8), length = (uint16_t)(head[3] | head[4] << 8);
        if (length > WIRE_MAX_PAYLOAD || fread(payload, 1, length, stdin) != length) return 2;
        wire_send(head[0], seq, payload, length / 2, payload + length / 2, length - length / 2);
    }
    return 0;
}

static int constants(void) {
    printf("{\"PROTOCOL_VERSION\": %u, \"MAX_PAYLOAD\": %u, \"FRAME_OVERHEAD\": %u, ", WIRE_VERSION,
           WIRE_MAX_PAYLOAD, WIRE_OVERHEAD);
    printf("\"HELLO\": %d, \"READ\": %d, \"WRITE\": %d, \"INFER\": %d, \"RESET\": %d, ", HELLO, READ, WRITE, INFER,
           RESET);
    printf("\"HELLO_OK\": %d, \"DATA\": %d, \"WRITTEN\": %d, \"INFERRED\": %d, \"RESET_OK\": %d, \"STARTED\": %d, ",
           HELLO_OK, DATA, WRITTEN, INFERRED, RESET_OK, STARTED);
    printf("\"ERROR\": %d, \"BLOB_INFO\": %d, \"BLOB_INPUT\": %d, \"BLOB_OUTPUT\": %d, \"BLOB_TIMINGS\": %d, ", ERROR,
           BLOB_INFO, BLOB_INPUT, BLOB_OUTPUT, BLOB_TIMINGS);
    printf("\"BLOB_PROFILE\": %d, \"E_BAD_REQUEST\": %d, \"E_VERSION\": %d, \"E_UNKNOWN_TYPE\": %d, ", BLOB_PROFILE,
           E_BAD_REQUEST, E_VERSION, E_UNKNOWN_TYPE);
    printf("\"E_BAD_BLOB\": %d, \"E_RANGE\": %d, \"E_NOT_READY\": %d, \"E_RUNTIME\": %d, \"E_TOO_LARGE\": %d, ",
           E_BAD_BLOB, E_RANGE, E_NOT_READY, E_RUNTIME, E_TOO_LARGE);
    printf("\"E_DAMAGED\": %d, \"E_ABORTED\": %d, \"MCU_MAX_TIMED_RUNS\": %u, \"MAX_WARMUP_RUNS\": %u, ", E_DAMAGED,
           E_ABORTED, MAX_TIMED_RUNS, MAX_WARMUP_RUNS);
    printf("\"WINDOW\": %u}\n", WINDOW);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "parse")) return parse();
    if (argc == 2 && !strcmp(argv[1], "encode")) return encode();
    if (argc == 2 && !strcmp(argv[1], "constants")) return constants();
    fprintf(stderr, "usage: wire_host parse|encode|constants\n");
    return 2;
}
