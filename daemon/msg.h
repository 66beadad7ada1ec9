/*
 * The daemon's side of the wire protocol (doc/protocol.txt): a request
 * frame's JSON becomes a struct request, a struct reply becomes a frame.
 * These are the only files that know JSON in the daemon's request path:
 * requests are read in one pass with no tree (msg_req.c), replies written
 * with common/json.c's streaming writer straight into the frame (msg.c; no
 * tree, no copy).
 *
 * Invariant: JSON may hold secrets (requests with keys or an MFA code,
 * replies with credentials). A request's strings are decoded straight into
 * one block that request_free() wipes; the reply is written into the frame
 * buffer, wiped with it. msg_install_json_hooks(), called once at start,
 * makes every cJSON free wipe its block (cJSON still reads a
 * credential_process's output, proc.c).
 */
#ifndef KR_MSG_H
#define KR_MSG_H

#include "buf.h"
#include "request.h"

#include <stddef.h>

/*
 * Decode one request body (len bytes). On failure e says why, with the
 * code KR_ERR_PROTO (not a JSON object), KR_ERR_VERSION ("v" is not ours)
 * or KR_ERR_INVAL (a bad "env", a string holding a NUL byte); *ret is then
 * empty. Free a decoded request with request_free().
 */
int msg_decode_request(const char *body, size_t len, struct request *ret, struct err_detail *e);

/* Append the frame (header + compact JSON) for r to out. */
int msg_encode_reply(const struct reply *r, struct buf *out);

/* The stable name of an op ("get"); "?" for OP_UNKNOWN. */
const char *msg_op_name(enum req_op op);
/* The op of a name; OP_UNKNOWN for NULL or a name this daemon does not know. */
enum req_op msg_op_from_name(const char *name);

/*
 * Route cJSON's allocations through a free that wipes the whole block, so
 * JSON that carried credentials leaves nothing behind. Call once at start.
 */
void msg_install_json_hooks(void);

#endif
