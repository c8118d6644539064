/* The benchmark firmware: serves one generated network over the edgepose wire protocol v1
 * (docs/protocol.md) — HELLO, READ (INFO, every INPUT and OUTPUT, TIMINGS, PROFILE), WRITE (INPUT), INFER with
 * tick counts and an optional per-layer profile, RESET. Single-threaded and polled: the UART is read
 * between requests and between timed runs (so a RESET stops a long INFER), never inside one. */
#include <string.h>

#include "board.h"
#include "ep_board.h"
#include "ep_network.h"
#include "protocol.h"
#include "wire.h"

extern const char ep_info_head[]; /* written by edgepose compile: board, model, I/O specs, memory */
extern const uint32_t ep_info_head_size;
static char ep_info_json[EP_INFO_CAPACITY]; /* the head + the clock and timer board_init got */
static uint32_t ep_info_size;

/* the arena has a section of its own, which the board's linker script puts in the region its placement names */
static uint8_t arena[EP_ARENA_BYTES] __attribute__((aligned(16), section(".arena")));
static uint32_t input_received[EP_NUM_INPUTS]; /* bytes of each input held contiguously from its start */
static uint8_t outputs_ready;
static uint64_t timings[MAX_TIMED_RUNS];
static uint32_t timed_runs;
static uint64_t layer_ticks[EP_NUM_LAYERS];
static char profile_json[EP_NUM_LAYERS * 48 + 4];
static uint32_t profile_size;
static wire_parser parser;
static struct {
    uint16_t seq;
    uint8_t type, valid;
    uint8_t payload[40];
    uint32_t size;
    uint8_t reply_type;
} last; /* the last INFER reply, answered again for a repeated (seq, type) */

/* The network's inputs and outputs live inside the arena, laid out there as in the caller's buffers, and the
 * firmware takes the no-copy path: it runs the network on arena + EP_INPUT_OFFSET and reads every output at
 * arena + EP_OUTPUT_OFFSET + ep_output_offsets[k]. The uploaded inputs are kept apart and copied in before
 * each run (outside the timed region), because the memory plan lets later tensors reuse their bytes. */
static uint8_t input[EP_INPUT_BYTES] __attribute__((aligned(16), section(".input"))); /* with the stack, or the arena (see board.ld) */
#define INPUT_BUFFER (arena + EP_INPUT_OFFSET)
#define OUTPUT_BUFFER (arena + EP_OUTPUT_OFFSET)

static uint64_t layer_start;
static uint8_t profiling;
void ep_layer_done(uint32_t layer) {
    if (!profiling) return;
    const uint64_t now = board_ticks();
    layer_ticks[layer] += now - layer_start;
    layer_start = now;
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v), put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v), put32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

static void error(uint16_t seq, uint16_t code, const char *message) {
    uint8_t head[2];
    put16(head, code);
    wire_send(ERROR, seq, head, 2, (const uint8_t *)message, (uint32_t)strlen(message));
}

static void build_profile(void) {
    char *p = profile_json;
    *p++ = '[';
    for (uint32_t i = 0; i < EP_NUM_LAYERS && profiling; ++i) {
        const char *name = ep_layer_names[i];
        if (i) *p++ = ',';
        memcpy(p, "{\"name\":\"", 9), p += 9;
        memcpy(p, name, strlen(name)), p += strlen(name);
        memcpy(p, "\",\"ticks\":", 10), p += 10;
        p = ep_decimal(p, layer_ticks[i] / (timed_runs ? timed_runs : 1));
        *p++ = '}';
    }
    *p++ = ']';
    profile_size = (uint32_t)(p - profile_json);
}

static int blob(uint8_t kind, uint8_t index, const uint8_t **data, uint32_t *size) {
    if (kind == BLOB_INFO) *data = (const uint8_t *)ep_info_json, *size = ep_info_size;
    else if (kind == BLOB_INPUT && index < EP_NUM_INPUTS)
        *data = input + ep_input_offsets[index], *size = input_received[index];
    else if (kind == BLOB_OUTPUT && index < EP_NUM_OUTPUTS && outputs_ready)
        *data = OUTPUT_BUFFER + ep_output_offsets[index], *size = ep_output_bytes[index];
    else if (kind == BLOB_TIMINGS) *data = (const uint8_t *)timings, *size = timed_runs * 8u;
    else if (kind == BLOB_PROFILE) *data = (const uint8_t *)profile_json, *size = profile_size;
    else return 0;
    return 1;
}

static void on_read(const wire_frame *f) {
    const uint8_t *data;
    uint32_t size;
    if (f->length < 8) return error(f->seq, E_BAD_REQUEST, "READ payload too short");
    const uint32_t offset = get32(f->payload + 2);
    uint32_t length = (uint32_t)(f->payload[6] | f->payload[7] << 8);
    if (!blob(f->payload[0], f->payload[1], &data, &size)) return error(f->seq, E_BAD_BLOB, "no such blob (run INFER before reading outputs)");
    if (offset > size) return error(f->seq, E_RANGE, "offset out of range");
    if (length > WIRE_MAX_PAYLOAD - 8) length = WIRE_MAX_PAYLOAD - 8;
    if (length > size - offset) length = size - offset;
    uint8_t head[8];
    put32(head, offset), put32(head + 4, size);
    wire_send(DATA, f->seq, head, 8, data + offset, length);
}

static void on_write(const wire_frame *f) {
    if (f->length < 10) return error(f->seq, E_BAD_REQUEST, "WRITE payload too short");
    const uint8_t index = f->payload[1];
    if (f->payload[0] != BLOB_INPUT || index >= EP_NUM_INPUTS) return error(f->seq, E_BAD_BLOB, "no such input");
    const uint32_t offset = get32(f->payload + 2), total = get32(f->payload + 6), size = f->length - 10u;
    if (total != ep_input_bytes[index]) return error(f->seq, E_TOO_LARGE, "input size differs from the model's");
    if (offset > total || size > total - offset) return error(f->seq, E_RANGE, "bytes beyond the input");
    uint32_t *received = &input_received[index];
    if (offset == 0) *received = 0;
    if (offset <= *received) {
        memcpy(input + ep_input_offsets[index] + offset, f->payload + 10, size);
        if (offset + size > *received) *received = offset + size;
    }
    uint8_t reply[4];
    put32(reply, *received);
    wire_send(WRITTEN, f->seq, reply, 4, 0, 0);
}

static int reset_arrived(uint16_t *seq) { /* between runs: a RESET aborts the INFER, other requests are dropped */
    wire_frame frame;
    int byte;
    while ((byte = board_uart_read()) >= 0)
        if (wire_feed(&parser, (uint8_t)byte, &frame) && frame.type == RESET) return *seq = frame.seq, 1;
    return 0;
}

static void on_infer(const wire_frame *f) {
    if (f->length < 9) return error(f->seq, E_BAD_REQUEST, "INFER payload too short");
    /* the frame lives in the parser's buffer, which polling for RESET reuses: copy what is needed */
    const uint32_t warmup = get32(f->payload), runs = get32(f->payload + 4);
    const uint16_t seq = f->seq;
    const uint8_t want_profile = f->payload[8];
    wire_send(STARTED, seq, 0, 0, 0, 0);
    for (uint32_t k = 0; k < EP_NUM_INPUTS; ++k)
        if (input_received[k] < ep_input_bytes[k]) return error(seq, E_NOT_READY, "input not complete");
    if (runs < 1 || runs > MAX_TIMED_RUNS) return error(seq, E_BAD_REQUEST, "INFER needs 1 to 256 timed runs");
    if (warmup > MAX_WARMUP_RUNS) return error(seq, E_BAD_REQUEST, "INFER takes at most 1000 warmup runs");
    memset(layer_ticks, 0, sizeof layer_ticks);
    uint64_t min = UINT64_MAX, max = 0, sum = 0;
    timed_runs = 0;
    for (uint32_t run = 0; run < warmup + runs; ++run) {
        uint16_t reset_seq;
        if (reset_arrived(&reset_seq)) {
            timed_runs = 0, outputs_ready = 0;
            memset(input_received, 0, sizeof input_received);
            error(seq, E_ABORTED, "RESET during INFER");
            return wire_send(RESET_OK, reset_seq, 0, 0, 0, 0);
        }
        memcpy(INPUT_BUFFER, input, EP_INPUT_BYTES); /* the network may overwrite its input in the arena */
        profiling = want_profile && run >= warmup;
        const uint64_t start = board_ticks();
        layer_start = start;
        ep_network_run((const ep_input_t *)INPUT_BUFFER, (ep_output_t *)OUTPUT_BUFFER, arena);
        const uint64_t ticks = board_ticks() - start;
        if (run < warmup) continue;
        timings[timed_runs++] = ticks;
        sum += ticks, min = ticks < min ? ticks : min, max = ticks > max ? ticks : max;
    }
    profiling = want_profile;
    build_profile();
    outputs_ready = 1;
    put32(last.payload, runs), put64(last.payload + 4, board_timer_hz());
    put64(last.payload + 12, min), put64(last.payload + 20, max), put64(last.payload + 28, sum);
    last.seq = seq, last.type = INFER, last.valid = 1, last.size = 36, last.reply_type = INFERRED;
    wire_send(INFERRED, seq, last.payload, last.size, 0, 0);
}

static void handle(const wire_frame *f) {
    if (f->version != WIRE_VERSION) return error(f->seq, E_VERSION, "firmware speaks protocol v1");
    if (last.valid && f->type == last.type && f->seq == last.seq)
        return wire_send(last.reply_type, last.seq, last.payload, last.size, 0, 0);
    uint8_t reply[7];
    switch (f->type) {
    case HELLO:
        put16(reply, WIRE_MAX_PAYLOAD), put32(reply + 2, ep_info_size), reply[6] = WINDOW;
        return wire_send(HELLO_OK, f->seq, reply, 7, 0, 0);
    case READ: return on_read(f);
    case WRITE: return on_write(f);
    case INFER: return on_infer(f);
    case RESET:
        memset(input_received, 0, sizeof input_received);
        outputs_ready = 0, timed_runs = 0, profile_size = 0, last.valid = 0;
        return wire_send(RESET_OK, f->seq, 0, 0, 0, 0);
    default: return error(f->seq, E_UNKNOWN_TYPE, "unknown message type");
    }
}

int main(void) {
    board_init();
    ep_info_size = ep_info_head_size;
    memcpy(ep_info_json, ep_info_head, ep_info_size);
    ep_info_size += board_runtime_json(ep_info_json + ep_info_size);
    build_profile();
    wire_frame frame;
    for (;;) {
        const int byte = board_uart_read();
        if (byte < 0) continue;
        if (wire_feed(&parser, (uint8_t)byte, &frame)) handle(&frame);
        if (parser.damaged) {
            parser.damaged = 0;
            if (parser.damaged_type < 0x80) error(parser.damaged_seq, E_DAMAGED, "damaged frame");
        }
    }
}
