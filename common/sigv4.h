/*
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), header mode.
 *
 * sigv4_sign() is a pure function of (request, credentials, region,
 * service, time): no clock, no environment, no I/O. The caller passes the
 * time, so tests sign the published vectors and the daemon signs with its
 * own clock.
 *
 * Invariants:
 * - The secret key and every key derived from it (kSecret = "AWS4"+secret,
 *   kDate, kRegion, kService, kSigning) live only on the stack inside
 *   sigv4_sign() and are wiped before it returns, on every path.
 * - The result's strings that may carry a secret (the Authorization header,
 *   and the canonical request / string to sign, which carry the session
 *   token) are wiped by sigv4_result_free().
 * - Every input is bounded (KR_SIGV4_* below) and checked: header names
 *   must be HTTP tokens, values may not hold CR, LF or other control bytes
 *   (no header injection), the target must start with "/" and its
 *   percent-escapes must be valid. Bad input is KR_ERR_INVAL or
 *   KR_ERR_TOOBIG, never a crash.
 *
 * Encoding follows the rules the AWS test suite's runner uses for non-S3
 * services: the canonical URI is the raw path (after optional
 * normalisation) percent-encoded byte by byte with the RFC 3986 unreserved
 * set and "/" kept ("double" encoding: a "%" in the path becomes "%25");
 * each query key and value is percent-decoded, then encoded with the
 * unreserved set, and pairs are sorted by encoded key, then encoded value.
 * S3 (single encoding, no normalisation) is not supported.
 */
#ifndef KR_SIGV4_H
#define KR_SIGV4_H

#include "caps.h"

#include <stddef.h>
#include <time.h>

/* Caps on what sigv4_sign() accepts. */

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

/* Borrowed strings; nothing here is copied beyond sigv4_sign(). */
struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL if none */
};

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method; /* "GET", "POST" */
	/* request-target as on the request line: path, optionally "?query"; raw bytes
	 * (spaces, UTF-8 allowed); must start with "/" */
	const char *target;
	/* As the caller will send them, Host included; names case-insensitive,
	 * duplicates allowed (values joined with "," in the order given), values
	 * trimmed and inner runs of spaces/tabs collapsed to one space. All are
	 * signed. X-Amz-Date and Authorization may not be given (the signer makes
	 * them), nor X-Amz-Security-Token when creds has a token, nor
	 * x-amz-content-sha256 when sign_body is set. */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *body; /* may be NULL when body_len is 0 */
	size_t body_len;
	int normalize_path;     /* remove . and .. segments, merge // (1 for STS) */
	int sign_body;          /* add and sign x-amz-content-sha256 */
	int omit_session_token; /* token added after signing, not signed */
};

/* Headers the caller must add to the request, in this order. */
#define SIGV4_ADD_MAX 4

struct sigv4_result {
	char amz_date[17];       /* "20150830T123600Z": send as X-Amz-Date */
	char *authorization;     /* full Authorization header value; wiped on free */
	char *canonical_request; /* for tests/debugging; may hold the token: wiped on free */
	char *string_to_sign;
	char signature[65];
	char content_sha256[65]; /* payload hash used */
	/*
	 * The headers to send besides the caller's: X-Amz-Date, then
	 * X-Amz-Security-Token (when creds has a token, signed or not), then
	 * x-amz-content-sha256 (when sign_body), then Authorization. Names are
	 * static strings; values point into this result, except the token,
	 * which is creds->session_token itself (borrowed: keep creds alive while
	 * using add[]).
	 */
	struct sigv4_header add[SIGV4_ADD_MAX];
	size_t n_add;
};

/*
 * Sign req in header mode at time now. The signer adds X-Amz-Date (and
 * X-Amz-Security-Token when creds has a token and !omit_session_token, and
 * x-amz-content-sha256 when sign_body) to the signed headers itself; callers
 * then send ret->add[] along with their own headers. On success *ret is
 * filled and must be released with sigv4_result_free(); on failure *ret is
 * untouched.
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds, const char *region,
               const char *service, time_t now, struct sigv4_result *ret);

/* Wipe and free what sigv4_sign() allocated; zeroes *r. NULL ok. */
void sigv4_result_free(struct sigv4_result *r);

/* Lowercase hex SHA-256 of n bytes at p (p may be NULL when n is 0). */
int sigv4_sha256_hex(const void *p, size_t n, char ret_hex[65]);

/* Lowercase hex SHA-1 (the AWS CLI's IAM Identity Center cache file names; not for security). */
int sigv4_sha1_hex(const void *p, size_t n, char ret_hex[41]);

#endif
