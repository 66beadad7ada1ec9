/*
 * The container credentials endpoint of `keyrole exec --server`: an HTTP
 * listener on 127.0.0.1 that answers the SDKs' container provider from the
 * daemon's cache. See credsrv.c for its invariants.
 *
 * A registration (one per live `exec --server`) binds a random token to a
 * profile and the caller's environment. The listener exists only while at
 * least one registration does: the first opens it on an ephemeral port,
 * the last one's end closes it.
 */
#ifndef KR_CREDSRV_H
#define KR_CREDSRV_H

#include "err.h"
#include "request.h"

#include <stddef.h>

struct agent;
struct loop;
struct credsrv;
struct credsrv_reg;

int credsrv_new(struct loop *l, struct agent *a, struct credsrv **ret);
/* Closes the listener and every connection; registrations must be gone first. */
void credsrv_free(struct credsrv *s);

/*
 * Register a token for profile, answered for env (both copied). Opens the
 * listener when it is the first. KR_ERR_BUSY past KR_CREDSRV_REGS_MAX.
 * The registration is the caller's until credsrv_unregister().
 */
int credsrv_register(struct credsrv *s, const char *profile, const struct caller_env *env,
                     struct credsrv_reg **ret, struct err_detail *e);
/* Revoke the token (wiped); the listener closes with the last one. NULL is a no-op. */
void credsrv_unregister(struct credsrv_reg *r);

/* "http://127.0.0.1:PORT/PATH" and the token (secret: never logged). */
const char *credsrv_reg_url(const struct credsrv_reg *r);
const char *credsrv_reg_token(const struct credsrv_reg *r);

/* Live registrations, and the port listened on (0: none). */
unsigned credsrv_count(const struct credsrv *s);
int credsrv_port(const struct credsrv *s);

/* ---- the request parser (pure; for tests) ---- */

struct credsrv_req {
	const char *method, *target, *auth; /* into the buffer; auth NULL when absent */
	size_t method_len, target_len, auth_len;
	size_t head_len; /* bytes up to and including the blank line */
};

/*
 * Parse the request line and headers of buf[0..len). 1: complete (*ret
 * filled), 0: incomplete (read more), KR_ERR_TOOBIG: no end of the headers
 * within KR_CREDSRV_REQ_MAX, KR_ERR_PROTO: malformed (a bad request line,
 * a header without a colon, a control character, two Authorization headers).
 */
int credsrv_parse(const char *buf, size_t len, struct credsrv_req *ret);

#endif
