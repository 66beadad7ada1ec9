/*
 * libFuzzer harness: the first bytes the daemon reads from a socket. The
 * input is a frame (4-byte big-endian length + body) exactly as it arrives:
 * proto_frame_len() judges the header against the request cap, and the body
 * (what follows, cut to the announced length) goes to msg_decode().
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - proto_frame_len() accepts exactly 1..KR_REQ_MAX and writes ret_len only
 *   on success;
 * - a message msg_decode() accepted survives msg_encode() and decodes
 *   again (what the daemon builds replies with must handle anything a
 *   client could send), and the re-encoded frame announces its true length.
 */
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "msg.h"
#include "proto.h"

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

/* Re-encode msg and decode the result again; abort() on any mismatch. */
static void check_roundtrip(const cJSON *msg)
{
	struct buf out;
	cJSON *again = NULL;
	size_t n = 0;

	buf_init(&out, KR_RESP_MAX + KR_FRAME_HDR);
	if (msg_encode(msg, &out) < 0)
		goto out; /* only NOMEM/TOOBIG, both legitimate */
	if (out.len < KR_FRAME_HDR ||
	    proto_frame_len((const unsigned char *)out.data, KR_RESP_MAX, &n) < 0 ||
	    n != out.len - KR_FRAME_HDR)
		abort();
	if (msg_decode(out.data + KR_FRAME_HDR, n, &again) < 0)
		abort();
	/* The fields the daemon dispatches on read back the same. */
	{
		const char *a = msg_get_str(msg, "op"), *b = msg_get_str(again, "op");
		if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
			abort();
	}
out:
	cJSON_Delete(again);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = (size_t)-1;
	cJSON *msg = NULL;
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
	r = msg_decode((const char *)data + KR_FRAME_HDR, len, &msg);
	if (r < 0) {
		if (r != KR_ERR_PROTO && r != KR_ERR_VERSION)
			abort();
		return 0;
	}
	(void)msg_get_str(msg, "profile");
	check_roundtrip(msg);
	cJSON_Delete(msg);
	return 0;
}
