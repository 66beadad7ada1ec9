/*
 * The pieces of `keyrole console` that are plain data: the federation
 * (sign-in) endpoint and the console's home page of a region's partition,
 * the getSigninToken request, its answer, and the login URL. No I/O here:
 * ops_console.c makes the calls.
 *
 * AWS's custom identity broker flow ("Enable custom identity broker access
 * to the AWS console", IAM User Guide):
 *   1. temporary credentials: a role session (AssumeRole, IAM Identity
 *      Center), or GetFederationToken called with an IAM user's long-term
 *      keys (GetSessionToken's credentials are refused by the endpoint);
 *   2. GET FEDERATION?Action=getSigninToken&Session=<JSON of sessionId,
 *      sessionKey, sessionToken>, with SessionDuration (900 .. 43200 s)
 *      only for credentials of an AssumeRole* call (the guide: "If you
 *      used one of the AssumeRole* APIs ..., this request ... can include
 *      SessionDuration"); GetFederationToken's own DurationSeconds sets
 *      the console session of its credentials; AWS refuses more than an
 *      hour (or any) for a role assumed with temporary credentials;
 *      answer {"SigninToken":"..."};
 *   3. FEDERATION?Action=login&Issuer=..&Destination=..&SigninToken=..,
 *      valid for 15 minutes.
 *
 * Invariants:
 * - Everything built from credentials or a sign-in token (the Session
 *   JSON, both URLs) is built in secret buffers (buf_init_secret), which
 *   wipe themselves; the answer's tree is wiped by json_free().
 * - Errors never quote the answer's body or a URL that holds a secret.
 */
#ifndef KR_CONSOLE_H
#define KR_CONSOLE_H

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "sts.h"

/*
 * The default session policy of GetFederationToken: every action on every
 * resource. A federated user's permissions are the intersection of this
 * and the IAM user's own policies, so it takes nothing away and adds
 * nothing (without a policy the session could do nothing at all).
 */
extern const char console_default_policy[];

/* The issuer keyrole names in the login URL. */
#define CONSOLE_ISSUER "keyrole"

/*
 * The partition's federation endpoint for region (NULL or "": aws):
 *   aws         https://signin.aws.amazon.com/federation
 *   aws-us-gov  https://signin.amazonaws-us-gov.com/federation   (us-gov-*)
 *   aws-cn      https://signin.amazonaws.cn/federation           (cn-*)
 * NULL for the ISO partitions, which have no public sign-in endpoint.
 */
const char *console_federation_default(const char *region);

/*
 * The console's home page of region, a new string in *ret:
 * https://REGION.console.aws.amazon.com/console/home?region=REGION (aws),
 * console.amazonaws-us-gov.com, console.amazonaws.cn; without a region
 * https://console.aws.amazon.com/console/home. KR_ERR_CONFIG for an ISO
 * partition's region or an invalid region name (e says so), KR_ERR_NOMEM.
 */
int console_destination_default(const char *region, char **ret, struct err_detail *e);

/*
 * 1 if url is an absolute http:// or https:// URL with a host, of
 * printable ASCII without blanks, at most KR_CONSOLE_URL_MAX bytes; with
 * no_query, it must not have a query or fragment either (a federation
 * endpoint, to which keyrole appends "?Action=...").
 */
int console_url_ok(const char *url, int no_query);

/*
 * GetFederationToken's Name for profile: "keyrole-PROFILE", every byte
 * outside [A-Za-z0-9_+=,.@-] made '-', cut at KR_CONSOLE_NAME_MAX.
 */
void console_federation_name(const char *profile, char out[KR_CONSOLE_NAME_MAX + 1]);

/*
 * Append base?Action=getSigninToken[&SessionDuration=N]&Session=<JSON> to
 * out (a secret buffer): session_duration 0 leaves SessionDuration out.
 * c must have a session token. KR_ERR_INVAL without one, KR_ERR_TOOBIG.
 */
int console_signin_token_url(const char *base, const struct sts_creds *c, long session_duration,
                             struct buf *out);

/*
 * The federation endpoint's answer: a JSON object with a non-empty string
 * "SigninToken" of printable ASCII, at most KR_CONSOLE_RESP_MAX bytes in
 * all. *ret_token is secret memory (mem_free_str()). KR_ERR_PARSE with e
 * saying why, never quoting the body.
 */
int console_parse_signin(const char *body, size_t len, char **ret_token, struct err_detail *e);

/*
 * Append base?Action=login&Issuer=keyrole&Destination=..&SigninToken=..
 * to out (a secret buffer), every value percent-encoded.
 */
int console_login_url(const char *base, const char *destination, const char *token,
                      struct buf *out);

#endif
