/*
 * keyrole add: read a profile's long-term access keys (from the terminal,
 * the secret without echo, or two lines of stdin), check their form with
 * common/valid.c, and send them to the daemon, which stores them in the
 * keyring.
 *
 * Invariants:
 * - The keys are wiped on every path: the stdin buffer and its chunks,
 *   the terminal lines, struct keys, and the request (json_free() wipes).
 *   Once the request holds the secret, the local copy is wiped at once.
 * - Neither key is ever printed: the messages about bad input describe the
 *   expected form, not what was typed.
 * - The daemon's note and the verified ARN are printed through out.h's
 *   scrub, like every text line.
 * - stdout is written all at once or not at all; a failure is one stderr
 *   line (out.h).
 */
#include "cmd_add.h"

#include "awsfile.h"
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "json.h"
#include "mem.h"
#include "out.h"
#include "proto.h"
#include "request.h"
#include "tty.h"
#include "valid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Copy line number idx (0-based, without its \r\n) of text into ret_line (n bytes). */
static int nth_line(const char *text, int idx, size_t n, char *ret_line)
{
	const char *p = text;
	size_t len;

	for (int i = 0; i < idx && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return KR_ERR_PARSE;
	len = strcspn(p, "\r\n");
	if (len >= n)
		return KR_ERR_TOOBIG;
	memcpy(ret_line, p, len);
	ret_line[len] = '\0';
	return KR_OK;
}

/* The long-term keys of `keyrole add`; wiped by the caller. */
struct keys {
	char id[KR_KEY_ID_MAX + 2];
	char secret[KR_SECRET_KEY_MAX + 2];
};

/* The keys from stdin: first line the access key id, second the secret. */
static int read_keys_stdin(struct keys *ret_keys)
{
	struct keys k;
	struct buf in;
	int r;

	buf_init_secret(&in, KR_ADD_INPUT_MAX);
	r = awsfile_read_fd(0, &in);
	if (r == KR_OK && (!in.data || memchr(in.data, '\0', in.len)))
		r = KR_ERR_PARSE;
	if (r == KR_OK)
		r = nth_line(in.data, 0, sizeof(k.id), k.id);
	if (r == KR_OK)
		r = nth_line(in.data, 1, sizeof(k.secret), k.secret);
	if (r == KR_OK)
		*ret_keys = k;
	mem_wipe(&k, sizeof(k));
	buf_free(&in);
	return r;
}

/* The keys from the terminal: the id echoed, the secret not. */
static int read_keys_tty(const char *profile, struct keys *ret_keys)
{
	int64_t deadline = proto_now_ms() + KR_CLIENT_REPLY_MS;
	char prompt[KR_NAME_MAX + 64];
	struct keys k;
	int fd = -1, r;

	r = tty_open(&fd);
	if (r < 0)
		return r;
	snprintf(prompt, sizeof(prompt), "AWS access key id for %s: ", profile);
	r = tty_read_line(fd, prompt, 1, deadline, sizeof(k.id), k.id);
	snprintf(prompt, sizeof(prompt), "AWS secret access key for %s: ", profile);
	if (r == KR_OK)
		r = tty_read_line(fd, prompt, 0, deadline, sizeof(k.secret), k.secret);
	if (r == KR_OK)
		*ret_keys = k;
	mem_wipe(&k, sizeof(k));
	close(fd);
	return r;
}

/*
 * Delete the key lines keyroled names (the keys are stored by now), one
 * edit per file. why: what failed, for a person.
 */
static int move_delete(const struct json *moves, char *why, size_t why_n, const char **ret_file)
{
	struct awsfile_drop drop[2];
	const char *file[2];
	const struct json *m;
	size_t n = 0;
	int r = KR_OK;

	json_for_each(m, moves)
	{
		if (n == 2 || !json_get_str(m, "file") || !json_get_str(m, "key") ||
		    request_num(m, "line", 0) <= 0)
			return KR_ERR_PROTO;
		file[n] = json_get_str(m, "file");
		drop[n].line = (int)request_num(m, "line", 0);
		drop[n].key = json_get_str(m, "key");
		n++;
	}
	if (n == 0)
		return KR_ERR_PROTO;
	*ret_file = file[0];
	if (n == 2 && strcmp(file[0], file[1]) == 0) {
		r = awsfile_edit(file[0], drop, 2, NULL, why, why_n);
	} else {
		for (size_t i = 0; i < n && r == KR_OK; i++) {
			*ret_file = file[i];
			r = awsfile_edit(file[i], &drop[i], 1, NULL, why, why_n);
		}
	}
	return r;
}

/* add --move: keyroled takes the keys from the files, verifies and stores them; we delete. */
static int add_move(struct cmd_ctx *x)
{
	struct json *req = request_new(x, "add", 1), *reply = NULL;
	char why[KR_PATH_MAX + 256] = "";
	const char *arn, *file = "";
	int rc, r;

	if (!req || json_add_bool(req, "move", 1) < 0) {
		rc = out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		goto out;
	}
	rc = request_call(x, req, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (json_get_str(reply, "note"))
		out_warn(x, "note: %s", json_get_str(reply, "note"));
	r = move_delete(json_get(reply, "move"), why, sizeof(why), &file);
	if (r < 0) {
		rc = out_fail(x, r,
		              "the keys are stored in the keyring, but %s still holds them: %s; "
		              "delete its aws_access_key_id and aws_secret_access_key lines for %s",
		              file, why[0] ? why : err_str(r), x->profile);
		goto out;
	}
	arn = json_get_str(reply, "arn");
	r = out_line(x, "moved long-term keys for %s from %s to the keyring (verified: %s)",
	             x->profile, file, arn && *arn ? arn : "?");
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(req);
	json_free(reply);
	return rc;
}

int cmd_add_run(struct cmd_ctx *x)
{
	struct keys k = {.id = "", .secret = ""};
	const char *const id = k.id, *const secret = k.secret;
	struct json *req = NULL, *reply = NULL;
	const char *arn;
	int rc, r;

	if (x->opts & CMD_OPT_MOVE)
		return add_move(x);
	if (isatty(0))
		r = read_keys_tty(x->profile, &k);
	else
		r = read_keys_stdin(&k);
	if (r < 0) {
		rc = out_fail(x, KR_ERR_INVAL,
		              "cannot read the keys (%s): give the access key id on the first line "
		              "and the secret access key on the second",
		              err_str(r));
		goto out;
	}
	if (!valid_access_key_id(id)) {
		rc = out_fail(x, KR_ERR_INVAL,
		              "that does not look like an access key id (16 to 128 of A-Z and 0-9, "
		              "e.g. AKIA...)");
		goto out;
	}
	if (!valid_secret_key(secret)) {
		rc = out_fail(x, KR_ERR_INVAL,
		              "that does not look like a secret access key (1 to %d printable "
		              "characters, no spaces)",
		              KR_SECRET_KEY_MAX);
		goto out;
	}
	req = request_new(x, "add", 1);
	if (!req || json_add_str(req, "access_key_id", id) < 0 ||
	    json_add_str(req, "secret_access_key", secret) < 0 ||
	    json_add_bool(req, "verify", (x->opts & CMD_OPT_VERIFY) != 0) < 0) {
		rc = out_fail(x, KR_ERR_NOMEM, "%s", err_str(KR_ERR_NOMEM));
		goto out;
	}
	mem_wipe(k.secret, sizeof(k.secret)); /* the request holds the only copy now */
	rc = request_call(x, req, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	if (json_get_str(reply, "note")) /* e.g. the kernel keyring does not survive a reboot */
		out_warn(x, "note: %s", json_get_str(reply, "note"));
	arn = json_get_str(reply, "arn");
	if (arn && *arn)
		r = out_line(x, "stored long-term keys for %s (verified: %s)", x->profile, arn);
	else
		r = out_line(x, "stored long-term keys for %s", x->profile);
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	mem_wipe(&k, sizeof(k));
	json_free(req); /* held the secret: json_free() wipes */
	json_free(reply);
	return rc;
}
