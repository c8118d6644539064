/* The edgepose wire protocol v1 framing (docs/protocol.md), device side. */
#ifndef EP_WIRE_H
#define EP_WIRE_H

#include <stdint.h>

#define WIRE_VERSION 1u
#define WIRE_MAX_PAYLOAD 1024u
#define WIRE_OVERHEAD 14u

typedef struct {
    uint8_t version, type;
    uint16_t seq, length;
    const uint8_t *payload;
} wire_frame;

typedef struct {
    uint8_t buffer[WIRE_MAX_PAYLOAD + WIRE_OVERHEAD];
    uint32_t size;
    uint32_t consumed; /* bytes of the frame returned last, removed on the next call */
    uint16_t damaged_seq; /* set with damaged = 1 when an intact header came with a bad CRC-32 */
    uint8_t damaged_type, damaged;
} wire_parser;

uint16_t wire_crc16(const uint8_t *data, uint32_t size);
uint32_t wire_crc32(uint32_t crc, const uint8_t *data, uint32_t size);
/* Feed one byte; returns 1 when a whole, valid frame is in *frame (valid until the next call). */
int wire_feed(wire_parser *parser, uint8_t byte, wire_frame *frame);
/* Encode and send one frame made of a head and a tail part of payload. */
void wire_send(uint8_t type, uint16_t seq, const uint8_t *head, uint32_t head_size, const uint8_t *tail,
               uint32_t tail_size);

#endif
