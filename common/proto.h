/*
 * The keyrole wire protocol (doc/protocol.txt): each message is a frame of
 * a 4-byte big-endian body length followed by that many bytes of a JSON
 * object carrying "v" (the protocol version). The length is checked
 * against the receiver's cap before a byte of the body is read.
 */
#ifndef KR_PROTO_H
#define KR_PROTO_H

#include "buf.h"

#include <cjson/cJSON.h>
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

/* Append the frame for msg (header + compact JSON) to out. */
int proto_encode(const cJSON *msg, struct buf *out);

/*
 * Parse a frame body into a JSON object and check its version.
 * KR_ERR_PROTO if it is not a JSON object, KR_ERR_VERSION if "v" is not ours.
 */
int proto_decode(const char *body, size_t len, cJSON **ret_msg);

/* A new message object with "v" set; NULL on allocation failure. */
cJSON *proto_new(void);

/* An error reply: {"v":1,"ok":false,"error":err_name(err),"message":msg}. */
cJSON *proto_new_error(int err, const char *message);

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

/* Read a string member; NULL if missing or not a string. */
const char *proto_get_str(const cJSON *msg, const char *key);

#endif
