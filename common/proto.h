/*
 * The keyrole wire protocol (doc/protocol.txt): each message is a frame of
 * a 4-byte big-endian body length followed by that many bytes of a JSON
 * object carrying "v" (the protocol version). The length is checked
 * against the receiver's cap before a byte of the body is read.
 *
 * This is the part both programs share, and it knows no JSON library: the
 * daemon's messages are cJSON objects (daemon/msg.c), the client's are
 * common/json.c trees (client/conn.c).
 */
#ifndef KR_PROTO_H
#define KR_PROTO_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Validate a frame header. On success *ret_len is the body length.
 * KR_ERR_PROTO for a zero length, KR_ERR_TOOBIG for one over max.
 */
int proto_frame_len(const unsigned char hdr[4], size_t max, size_t *ret_len);

/*
 * Append the frame for a body of n bytes (header, then the body) to out.
 * KR_ERR_PROTO for an empty body; on failure out is as it was.
 */
int proto_frame_append(struct buf *out, const void *body, size_t n);

/*
 * A frame whose body is written in place: proto_frame_begin() appends a
 * header to fill in and returns where the frame starts; the caller appends
 * the body; proto_frame_end() writes its length into the header. On any
 * failure the caller truncates out to *ret_start.
 */
int proto_frame_begin(struct buf *out, size_t *ret_start);
int proto_frame_end(struct buf *out, size_t start);

/*
 * Blocking helpers for the client and tests: write all of a buffer, read
 * one whole frame (body into out, NUL-terminated). deadline_ms is an
 * absolute CLOCK_MONOTONIC time in ms (see proto_now_ms), 0 for none.
 */
int proto_write_all(int fd, const void *p, size_t n, int64_t deadline_ms);
int proto_read_frame(int fd, size_t max, int64_t deadline_ms, struct buf *out);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t proto_now_ms(void);

/*
 * The environment variables a request's "env" may carry (doc/protocol.txt):
 * the client sends those that are set, the daemon honours only these.
 * NULL-terminated.
 */
extern const char *const proto_env_keys[];

#endif
