/*
 * STS Query requests: the form-encoded POST body of each operation, the
 * pieces of the endpoint URL that SigV4 signs, and what an error means
 * (retry or not, and a one-line hint on what usually fixes it).
 *
 * Invariants:
 * - The body may carry an MFA code: it is built in a struct buf (wiped).
 * - Every byte outside A-Za-z0-9-_.~ is percent-encoded with uppercase
 *   hex, a space is %20 (never '+'), so the bytes we hash are the bytes a
 *   server re-encoding the form would hash.
 */
#ifndef KR_STS_REQ_H
#define KR_STS_REQ_H

#include "caps.h"

#include "buf.h"
#include "err.h"
#include "sts.h"

#include <stddef.h>

/* Append the percent-encoding of s[0..n) to out. */
int sts_req_urlencode(struct buf *out, const char *s, size_t n);

/*
 * Append the form body of p->op to out ("Action=...&Version=2011-06-15&...").
 * Parameters follow the order botocore sends them in. KR_ERR_INVAL when a
 * required parameter is missing or a value is over its cap.
 */
int sts_req_body(const struct sts_params *p, struct buf *out);

/*
 * Split an endpoint URL into the Host header value and the path to sign.
 * Accepts http:// and https://, an optional port (kept unless it is the
 * scheme's default), an optional path (default "/"); no userinfo, query or
 * fragment. ret_host/ret_path are malloc'd strings.
 */
int sts_req_endpoint(const char *url, char **ret_host, char **ret_path);

/*
 * Should a failed attempt be retried? err is the transport/parse outcome
 * (KR_OK when an HTTP answer arrived), status the HTTP status, aws_code
 * the parsed error code (NULL if none). Returns 1 to retry, 0 not to.
 * Retried: throttling codes, IDPCommunicationError, 5xx, network errors,
 * timeouts. Never: auth/validation codes, whatever the status.
 */
int sts_req_retryable(int err, long status, const char *aws_code);

/*
 * A one-line, static "likely fix" for a common AWS error code during op
 * (enum sts_op); NULL when there is nothing useful to say.
 */
const char *sts_req_hint(const char *aws_code, int op);

/*
 * The failure of a call for a person, into e: "WHAT: CODE: MESSAGE — HINT"
 * when AWS answered with a code, with advice for an untrusted certificate,
 * else WHAT and res->detail (its msg and fix). what names the call
 * ("AssumeRole arn:...").
 */
void sts_req_describe(const struct sts_result *res, const char *what, int op, struct err_detail *e);

/*
 * The same, naming the endpoint (url, and from: where it was configured;
 * either may be NULL) when no answer came: "WHAT: no answer from URL
 * (FROM) after 30.0 s, 3 attempts (last: libcurl's words)".
 */
void sts_req_describe_at(const struct sts_result *res, const char *what, int op, const char *url,
                         const char *from, struct err_detail *e);

#endif
