/*
 * The daemon's side of the wire protocol (doc/protocol.txt): messages as
 * cJSON objects, framed by common/proto.c. The client has its own JSON
 * (common/json.c) and links none of this.
 *
 * Invariant: cJSON trees may hold secrets (requests with keys, replies
 * with credentials). msg_install_json_hooks(), called once at start by
 * every program that uses cJSON, makes every cJSON free wipe the block.
 */
#ifndef KR_MSG_H
#define KR_MSG_H

#include "buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Append the frame for msg (header + compact JSON) to out. */
int msg_encode(const cJSON *msg, struct buf *out);

/*
 * Parse a frame body into a JSON object and check its version.
 * KR_ERR_PROTO if it is not a JSON object, KR_ERR_VERSION if "v" is not ours.
 */
int msg_decode(const char *body, size_t len, cJSON **ret_msg);

/* A new message object with "v" set; NULL on allocation failure. */
cJSON *msg_new(void);

/* An error reply: {"v":1,"ok":false,"error":err_name(err),"message":msg}. */
cJSON *msg_new_error(int err, const char *message);

/* Read a string member; NULL if missing or not a string. */
const char *msg_get_str(const cJSON *msg, const char *key);

/*
 * Route cJSON's allocations through a free that wipes the whole block, so
 * JSON that carried credentials leaves nothing behind. Call once at start.
 */
void msg_install_json_hooks(void);

#endif
