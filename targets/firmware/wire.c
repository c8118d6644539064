#include "wire.h"

#include <string.h>

#include "board.h"

uint16_t wire_crc16(const uint8_t *data, uint32_t size) { /* CRC-16/CCITT-FALSE */
    uint16_t crc = 0xFFFF;
    for (uint32_t i = 0; i < size; ++i) {
        crc ^= (uint16_t)(data[i] << 8);
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint32_t wire_crc32(uint32_t crc, const uint8_t *data, uint32_t size) { /* zlib's CRC-32; start with 0 */
    crc = ~crc;
    for (uint32_t i = 0; i < size; ++i) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

static void drop(wire_parser *p, uint32_t count) {
    memmove(p->buffer, p->buffer + count, p->size - count);
    p->size -= count;
}

/* Skip to the next sync and check what can be checked; 1 when buffer[0..] holds a whole frame. */
static int scan(wire_parser *p) {
    for (;;) {
        uint32_t start = 0;
        while (start < p->size && !(p->buffer[start] == 0xA5 && (start + 1 == p->size || p->buffer[start + 1] == 0x5E))) ++start;
        if (start) drop(p, start);
        if (p->size < 10) return 0;
        const uint16_t length = u16(p->buffer + 6);
        if (length > WIRE_MAX_PAYLOAD || wire_crc16(p->buffer + 2, 6) != u16(p->buffer + 8)) {
            drop(p, 1);
            continue;
        }
        if (p->size < WIRE_OVERHEAD + length) return 0;
        if (wire_crc32(0, p->buffer + 2, 8u + length) != u32(p->buffer + 10 + length)) {
            p->damaged = 1;
            p->damaged_type = p->buffer[3];
            p->damaged_seq = u16(p->buffer + 4);
            drop(p, 1);
            continue;
        }
        return 1;
    }
}

int wire_feed(wire_parser *p, uint8_t byte, wire_frame *frame) {
    if (p->consumed) {
        drop(p, p->consumed);
        p->consumed = 0;
    }
    if (p->size < sizeof p->buffer) p->buffer[p->size++] = byte;
    if (!scan(p)) return 0;
    frame->version = p->buffer[2];
    frame->type = p->buffer[3];
    frame->seq = u16(p->buffer + 4);
    frame->length = u16(p->buffer + 6);
    frame->payload = p->buffer + 10;
    p->consumed = WIRE_OVERHEAD + frame->length;
    return 1;
}

void wire_send(uint8_t type, uint16_t seq, const uint8_t *head, uint32_t head_size, const uint8_t *tail,
               uint32_t tail_size) {
    const uint32_t length = head_size + tail_size;
    uint8_t header[10] = {0xA5, 0x5E, WIRE_VERSION, type, (uint8_t)seq, (uint8_t)(seq >> 8), (uint8_t)length,
                          (uint8_t)(length >> 8)};
    const uint16_t check = wire_crc16(header + 2, 6);
    header[8] = (uint8_t)check;
    header[9] = (uint8_t)(check >> 8);
    uint32_t crc = wire_crc32(0, header + 2, 8);
    crc = wire_crc32(crc, head, head_size);
    crc = wire_crc32(crc, tail, tail_size);
    const uint8_t trailer[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    board_uart_write(header, 10);
    board_uart_write(head, head_size);
    board_uart_write(tail, tail_size);
    board_uart_write(trailer, 4);
}
