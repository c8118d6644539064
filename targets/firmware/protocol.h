/* The edgepose wire protocol v1's message types, blobs, error codes and limits (docs/protocol.md), as the
 * firmware speaks them. They mirror edgepose/wire.py; tests/test_protocol.py holds the two to each other. */
#ifndef EP_PROTOCOL_H
#define EP_PROTOCOL_H

enum { HELLO = 1, READ, WRITE, INFER, RESET };
enum { HELLO_OK = 0x81, DATA, WRITTEN, INFERRED, RESET_OK, STARTED, ERROR = 0xEE };
enum { BLOB_INFO, BLOB_INPUT, BLOB_OUTPUT, BLOB_TIMINGS, BLOB_PROFILE };
enum { E_BAD_REQUEST = 1, E_VERSION, E_UNKNOWN_TYPE, E_BAD_BLOB, E_RANGE, E_NOT_READY, E_RUNTIME, E_TOO_LARGE,
       E_DAMAGED, E_ABORTED };

#define MAX_TIMED_RUNS 256u /* every run's ticks are kept in RAM */
#define MAX_WARMUP_RUNS 1000u
#define WINDOW 4u /* WRITE frames the host may keep in flight */

#endif
