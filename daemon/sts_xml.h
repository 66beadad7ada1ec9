/*
 * Parser for STS Query-protocol (XML) response bodies: credentials from
 * AssumeRole / GetSessionToken / GetFederationToken (and AssumeRoleWithWebIdentity), the caller
 * from GetCallerIdentity, and <Code>/<Message> from error bodies. The only
 * file that uses expat.
 *
 * Invariants:
 * - Input is untrusted: element depth, text sizes and total size are
 *   capped; DTDs and entity declarations are refused; anything that is not
 *   a well-formed STS document gives KR_ERR_PARSE with a reason, never a
 *   crash.
 * - Every buffer that held element text is wiped before it is freed; the
 *   result's strings are freed with wiping by sts_xml_result_clear().
 */
#ifndef KR_STS_XML_H
#define KR_STS_XML_H

#include "caps.h"
#include "err.h"

#include <stddef.h>
#include <time.h>

/*
 * What a body said. Strings are owned (NULL when absent). Values are
 * trimmed of leading/trailing whitespace only (inner whitespace, as in the
 * documentation samples that wrap tokens, is kept as botocore keeps it).
 */
struct sts_xml_result {
	char root[64];           /* local name of the root element */
	char *access_key_id;     /* Credentials/AccessKeyId */
	char *secret_access_key; /* Credentials/SecretAccessKey */
	char *session_token;     /* Credentials/SessionToken */
	time_t expiration;       /* Credentials/Expiration, UTC */
	int has_expiration;
	char *arn;     /* AssumedRoleUser/Arn, FederatedUser/Arn, or GetCallerIdentityResult/Arn */
	char *account; /* GetCallerIdentityResult/Account */
	char *user_id; /* GetCallerIdentityResult/UserId */
	char *error_code;    /* first <Code> (ErrorResponse/Error/Code or any) */
	char *error_message; /* first <Message> */
};

/*
 * Parse body[0..len). On KR_OK *ret is filled (an error document is a
 * successful parse: check ret->error_code) and e untouched. On failure
 * KR_ERR_PARSE (or KR_ERR_TOOBIG / KR_ERR_NOMEM), *ret untouched, and e
 * (if not NULL) gets that code and a one-line reason without any text from
 * the body that could be a secret.
 */
int sts_xml_parse(const char *body, size_t len, struct sts_xml_result *ret, struct err_detail *e);

/* Wipe and free every member; the struct is zeroed. NULL is a no-op. */
void sts_xml_result_clear(struct sts_xml_result *r);

#endif
