/*
 * RFC 3339 UTC times, as AWS writes Expiration: read by the daemon (STS
 * answers, credential_process output) and the client (status), written by
 * the daemon (replies). Libc only.
 */
#ifndef KR_RFC3339_H
#define KR_RFC3339_H

#include <time.h>

#define RFC3339_LEN 20 /* "2026-11-23T18:00:00Z" */

/*
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (also "+00:00") to UTC seconds; the
 * fraction is dropped. KR_ERR_PARSE for anything else (an impossible date
 * included).
 */
int rfc3339_parse(const char *s, time_t *ret);

/* "YYYY-MM-DDTHH:MM:SSZ", no fraction; KR_ERR_INVAL for a time with no such form. */
int rfc3339_format(time_t t, char out[RFC3339_LEN + 1]);

#endif
