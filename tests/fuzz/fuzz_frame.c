/*
 * libFuzzer harness: the first bytes the daemon reads from a socket. The
 * input is a frame (4-byte big-endian length + body) exactly as it arrives:
 * proto_frame_len() judges the header against the request cap, and the body
 * (what follows, cut to the announced length) goes to msg_decode_request().
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - proto_frame_len() accepts exactly 1..KR_REQ_MAX and writes ret_len only
 *   on success;
 * - msg_decode_request() fails only with PROTO, VERSION or INVAL, with a
 *   reason; a request it accepts has an op that agrees with its op name;
 * - a reply that echoes what a client sent (an error naming the request's
 *   profile and op) encodes into a frame that announces its true length
 *   and reads back as JSON with the same profile.
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "msg.h"
#include "proto.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* As in the daemon: cJSON frees wipe, so the hooks are in the path. */
	msg_install_json_hooks();
	return 0;
}

/* An error reply naming what the client sent; abort() on any mismatch. */
static void check_reply(const struct request *req)
{
	struct err_detail e;
	struct reply r = {.ok = 0};
	struct buf out;
	cJSON *back = NULL;
	const cJSON *p;
	size_t n = 0;

	err_set(&e, KR_ERR_UNKNOWN_OP, NULL, 0, NULL, "unknown operation \"%.64s\"",
	        req->op_name ? req->op_name : "");
	r.u.error.e = &e;
	r.u.error.profile = req->profile;
	buf_init(&out, KR_RESP_MAX + KR_FRAME_HDR);
	if (msg_encode_reply(&r, &out) < 0)
		goto out; /* only NOMEM/TOOBIG, both legitimate */
	if (out.len < KR_FRAME_HDR ||
	    proto_frame_len((const unsigned char *)out.data, KR_RESP_MAX, &n) < 0 ||
	    n != out.len - KR_FRAME_HDR)
		abort();
	back = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, n);
	if (!back)
		abort();
	p = cJSON_GetObjectItemCaseSensitive(back, "profile");
	if ((req->profile == NULL) != (p == NULL) ||
	    (p && (!cJSON_IsString(p) || strcmp(p->valuestring, req->profile) != 0)))
		abort();
out:
	cJSON_Delete(back);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = (size_t)-1;
	struct request req;
	struct err_detail e;
	int r;

	if (size < KR_FRAME_HDR)
		return 0;
	r = proto_frame_len(data, KR_REQ_MAX, &len);
	if (r < 0) {
		if (len != (size_t)-1 || (r != KR_ERR_PROTO && r != KR_ERR_TOOBIG))
			abort();
		return 0;
	}
	if (len == 0 || len > KR_REQ_MAX)
		abort();
	/* A short read is what the daemon sees on a truncated frame: decode what came. */
	if (len > size - KR_FRAME_HDR)
		len = size - KR_FRAME_HDR;
	r = msg_decode_request((const char *)data + KR_FRAME_HDR, len, &req, &e);
	if (r < 0) {
		if ((r != KR_ERR_PROTO && r != KR_ERR_VERSION && r != KR_ERR_INVAL) ||
		    e.code != r || !e.msg[0])
			abort();
		return 0;
	}
	if (req.op != OP_UNKNOWN && (!req.op_name || strcmp(msg_op_name(req.op), req.op_name) != 0))
		abort();
	check_reply(&req);
	request_free(&req);
	return 0;
}
