/*
 * STS Query request bodies, endpoint splitting, and error classification.
 *
 * Invariants:
 * - Bodies may carry an MFA code; they are only ever built into the
 *   caller's struct buf (which wipes itself), never into other memory.
 * - Percent-encoding covers every byte outside A-Za-z0-9-_.~ with
 *   uppercase hex: the body we hash is byte for byte what we send, and what
 *   a server that re-encodes the form (moto) computes, spaces excepted
 *   (STS values never legitimately hold one).
 * - Every caller string is length-checked against its cap before use.
 */
#include "sts_req.h"

#include "err.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

int sts_req_urlencode(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	int r = KR_OK;

	for (size_t i = 0; i < n && r == KR_OK; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c)) {
			r = buf_putc(out, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			r = buf_append(out, e, sizeof(e));
		}
	}
	return r;
}

/* Is s present, non-empty and at most max bytes? */
static int ok_str(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return 0;
	n = strnlen(s, max + 1);
	return n > 0 && n <= max;
}

/* Optional value: NULL is fine, otherwise it must be a valid string. */
static int ok_opt(const char *s, size_t max)
{
	return !s || ok_str(s, max);
}

/* "&name=value" with value percent-encoded. */
static int param(struct buf *out, const char *name, const char *value)
{
	int r = buf_printf(out, "&%s=", name);

	if (r == KR_OK)
		r = sts_req_urlencode(out, value, strlen(value));
	return r;
}

static int param_int(struct buf *out, const char *name, int v)
{
	return buf_printf(out, "&%s=%d", name, v);
}

static int check_params(const struct sts_params *p)
{
	if (p->duration < 0)
		return KR_ERR_INVAL;
	/* An MFA code makes sense only with the device it belongs to. */
	if ((p->mfa_serial != NULL) != (p->mfa_code != NULL))
		return KR_ERR_INVAL;
	if (!ok_opt(p->mfa_serial, KR_STS_PARAM_MAX) || !ok_opt(p->mfa_code, KR_STS_PARAM_MAX))
		return KR_ERR_INVAL;
	if (p->op == STS_GET_FEDERATION_TOKEN)
		return ok_str(p->session_name, KR_STS_PARAM_MAX) &&
		               ok_opt(p->policy, KR_STS_POLICY_MAX)
		           ? KR_OK
		           : KR_ERR_INVAL;
	if (p->op != STS_ASSUME_ROLE)
		return KR_OK;
	if (!ok_str(p->role_arn, KR_STS_PARAM_MAX) || !ok_str(p->session_name, KR_STS_PARAM_MAX))
		return KR_ERR_INVAL;
	if (!ok_opt(p->external_id, KR_STS_PARAM_MAX) ||
	    !ok_opt(p->source_identity, KR_STS_PARAM_MAX) || !ok_opt(p->policy, KR_STS_POLICY_MAX))
		return KR_ERR_INVAL;
	if (p->n_tags > KR_STS_TAGS_MAX || p->n_transitive > KR_STS_TAGS_MAX)
		return KR_ERR_INVAL;
	if (p->n_tags && (!p->tag_keys || !p->tag_values))
		return KR_ERR_INVAL;
	if (p->n_transitive && !p->transitive_keys)
		return KR_ERR_INVAL;
	for (size_t i = 0; i < p->n_tags; i++) {
		/* A tag value may be empty; a key may not. */
		if (!ok_str(p->tag_keys[i], KR_STS_PARAM_MAX) || !p->tag_values[i] ||
		    strnlen(p->tag_values[i], KR_STS_PARAM_MAX + 1) > KR_STS_PARAM_MAX)
			return KR_ERR_INVAL;
	}
	for (size_t i = 0; i < p->n_transitive; i++)
		if (!ok_str(p->transitive_keys[i], KR_STS_PARAM_MAX))
			return KR_ERR_INVAL;
	return KR_OK;
}

static int body_assume_role(const struct sts_params *p, struct buf *out)
{
	char name[64];
	int r;

	/* The order of botocore's AssumeRole input shape. */
	r = buf_puts(out, "Action=AssumeRole&Version=2011-06-15");
	if (r == KR_OK)
		r = param(out, "RoleArn", p->role_arn);
	if (r == KR_OK)
		r = param(out, "RoleSessionName", p->session_name);
	if (r == KR_OK && p->policy)
		r = param(out, "Policy", p->policy);
	if (r == KR_OK && p->duration > 0)
		r = param_int(out, "DurationSeconds", p->duration);
	for (size_t i = 0; r == KR_OK && i < p->n_tags; i++) {
		snprintf(name, sizeof(name), "Tags.member.%zu.Key", i + 1);
		r = param(out, name, p->tag_keys[i]);
		if (r == KR_OK) {
			snprintf(name, sizeof(name), "Tags.member.%zu.Value", i + 1);
			r = param(out, name, p->tag_values[i]);
		}
	}
	for (size_t i = 0; r == KR_OK && i < p->n_transitive; i++) {
		snprintf(name, sizeof(name), "TransitiveTagKeys.member.%zu", i + 1);
		r = param(out, name, p->transitive_keys[i]);
	}
	if (r == KR_OK && p->external_id)
		r = param(out, "ExternalId", p->external_id);
	if (r == KR_OK && p->mfa_serial)
		r = param(out, "SerialNumber", p->mfa_serial);
	if (r == KR_OK && p->mfa_code)
		r = param(out, "TokenCode", p->mfa_code);
	if (r == KR_OK && p->source_identity)
		r = param(out, "SourceIdentity", p->source_identity);
	return r;
}

static int body_session_token(const struct sts_params *p, struct buf *out)
{
	int r = buf_puts(out, "Action=GetSessionToken&Version=2011-06-15");

	if (r == KR_OK && p->duration > 0)
		r = param_int(out, "DurationSeconds", p->duration);
	if (r == KR_OK && p->mfa_serial)
		r = param(out, "SerialNumber", p->mfa_serial);
	if (r == KR_OK && p->mfa_code)
		r = param(out, "TokenCode", p->mfa_code);
	return r;
}

/* The order of botocore's GetFederationToken input shape: Name, Policy, DurationSeconds. */
static int body_federation_token(const struct sts_params *p, struct buf *out)
{
	int r = buf_puts(out, "Action=GetFederationToken&Version=2011-06-15");

	if (r == KR_OK)
		r = param(out, "Name", p->session_name);
	if (r == KR_OK && p->policy)
		r = param(out, "Policy", p->policy);
	if (r == KR_OK && p->duration > 0)
		r = param_int(out, "DurationSeconds", p->duration);
	return r;
}

int sts_req_body(const struct sts_params *p, struct buf *out)
{
	int r;

	if (!p || !out)
		return KR_ERR_INVAL;
	r = check_params(p);
	if (r < 0)
		return r;
	switch (p->op) {
	case STS_ASSUME_ROLE:
		r = body_assume_role(p, out);
		break;
	case STS_GET_SESSION_TOKEN:
		r = body_session_token(p, out);
		break;
	case STS_GET_CALLER_IDENTITY:
		r = buf_puts(out, "Action=GetCallerIdentity&Version=2011-06-15");
		break;
	case STS_GET_FEDERATION_TOKEN:
		r = body_federation_token(p, out);
		break;
	default:
		r = KR_ERR_INVAL;
		break;
	}
	return r;
}

static char *dup_n(const char *s, size_t n)
{
	char *r = malloc(n + 1);

	if (r) {
		memcpy(r, s, n);
		r[n] = '\0';
	}
	return r;
}

int sts_req_endpoint(const char *url, char **ret_host, char **ret_path)
{
	const char *rest, *host_end, *port = NULL, *p;
	const char *default_port;
	char *host = NULL, *path = NULL;
	size_t host_len, plen;
	int r = KR_ERR_INVAL;

	if (!url || strnlen(url, KR_STS_ENDPOINT_MAX + 1) > KR_STS_ENDPOINT_MAX)
		goto out;
	if (strncasecmp(url, "https://", 8) == 0) {
		rest = url + 8;
		default_port = "443";
	} else if (strncasecmp(url, "http://", 7) == 0) {
		rest = url + 7;
		default_port = "80";
	} else {
		goto out;
	}
	for (p = rest; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* No userinfo, query, fragment, spaces or control bytes. */
		if (c <= 0x20 || c >= 0x7f || c == '@' || c == '?' || c == '#' || c == '\\')
			goto out;
	}
	host_end = strchr(rest, '/');
	if (!host_end)
		host_end = rest + strlen(rest);
	if (rest[0] == '[') {
		const char *rb = memchr(rest, ']', (size_t)(host_end - rest));
		if (!rb || rb == rest + 1)
			goto out;
		if (rb + 1 < host_end) {
			if (rb[1] != ':')
				goto out;
			port = rb + 1;
		}
	} else {
		port = memchr(rest, ':', (size_t)(host_end - rest));
	}
	if (port) {
		/* ":digits" up to host_end, 1..65535. */
		const char *d = port + 1;
		long v = 0;
		if (d == host_end || host_end - d > 5)
			goto out;
		for (; d < host_end; d++) {
			if (*d < '0' || *d > '9')
				goto out;
			v = v * 10 + (*d - '0');
		}
		if (v < 1 || v > 65535)
			goto out;
	}
	host_len = (size_t)((port ? port : host_end) - rest);
	if (host_len == 0 || host_len > KR_STS_HOST_MAX)
		goto out;
	/* Keep a non-default port: we send this Host header, and sign it. */
	plen = port ? (size_t)(host_end - port - 1) : 0;
	if (port && plen == strlen(default_port) && memcmp(port + 1, default_port, plen) == 0)
		host = dup_n(rest, host_len);
	else
		host = dup_n(rest, (size_t)(host_end - rest));
	path = *host_end ? dup_n(host_end, strlen(host_end)) : dup_n("/", 1);
	if (!host || !path) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	*ret_host = host;
	*ret_path = path;
	host = path = NULL;
	r = KR_OK;
out:
	free(host);
	free(path);
	return r;
}

static int code_in(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(code, *list) == 0)
			return 1;
	return 0;
}

int sts_req_retryable(int err, long status, const char *aws_code)
{
	static const char *const retry[] = {
	    "Throttling",
	    "ThrottlingException",
	    "ThrottledException",
	    "RequestThrottledException",
	    "TooManyRequestsException",
	    "RequestLimitExceeded",
	    "ProvisionedThroughputExceededException",
	    "BandwidthLimitExceeded",
	    "SlowDown",
	    "PriorRequestNotComplete",
	    "EC2ThrottledException",
	    "IDPCommunicationError",
	    "RequestTimeout",
	    "RequestTimeoutException",
	    "InternalError",
	    "InternalFailure",
	    "ServiceUnavailable",
	    NULL,
	};

	if (err == KR_ERR_NETWORK || err == KR_ERR_TIMEOUT)
		return 1;
	if (aws_code && code_in(aws_code, retry))
		return 1;
	/* A known code outside the retry list is a verdict, whatever the status. */
	if (aws_code && *aws_code && status < 500)
		return 0;
	if (status >= 500 && status <= 599)
		return 1;
	if (status == 429)
		return 1;
	return 0;
}

struct hint {
	const char *code;
	int op; /* 0 = any operation */
	const char *text;
};

static const struct hint hints[] = {
    {"AccessDenied", STS_ASSUME_ROLE,
     "the role's trust policy must name the calling identity, and the caller needs "
     "sts:AssumeRole on the role (check ExternalId and MFA conditions too)"},
    {"AccessDenied", STS_GET_SESSION_TOKEN,
     "check the MFA serial (the device ARN) and that the code is current; the caller must be "
     "an IAM user with long-term keys"},
    {"AccessDenied", 0, "the calling identity is not allowed to make this call"},
    {"SignatureDoesNotMatch", 0,
     "the secret access key does not match the access key id (or the clock is far off)"},
    {"InvalidClientTokenId", 0,
     "the access key id is unknown or deactivated, or a session token is missing for "
     "temporary keys"},
    {"UnrecognizedClientException", 0,
     "the access key id is unknown or deactivated, or a session token is missing"},
    {"ExpiredToken", 0, "the source credentials have expired: refresh or replace them"},
    {"ExpiredTokenException", 0, "the source credentials have expired: refresh or replace them"},
    {"RegionDisabledException", 0,
     "activate STS in this region for the account (IAM account settings) or use the global "
     "endpoint"},
    {"ValidationError", STS_ASSUME_ROLE,
     "check role_arn, role_session_name ([\\w+=,.@-], up to 64 characters), duration_seconds "
     "and external_id"},
    {"ValidationError", 0, "a parameter was rejected: check duration_seconds and mfa_serial"},
    {"MalformedPolicyDocument", 0, "the session policy is not a valid IAM policy document"},
    {"PackedPolicyTooLarge", 0, "the session policy and tags are too large: shorten them"},
    {"InvalidParameterValue", 0, "a parameter was rejected: check the profile's settings"},
    {"IncompleteSignature", 0, "the request signature is incomplete: this is a bug in keyrole"},
    {"MissingAuthenticationToken", 0, "the request was not signed: this is a bug in keyrole"},
    {"RequestExpired", 0, "the request timestamp is too old: check the system clock"},
    {"Throttling", 0, "STS is rate limiting this account: try again shortly"},
    {NULL, 0, NULL},
};

const char *sts_req_hint(const char *aws_code, int op)
{
	if (!aws_code)
		return NULL;
	for (const struct hint *h = hints; h->code; h++)
		if (strcmp(h->code, aws_code) == 0 && (h->op == 0 || h->op == op))
			return h->text;
	return NULL;
}

void sts_req_describe(const struct sts_result *res, const char *what, int op, struct err_detail *e)
{
	sts_req_describe_at(res, what, op, NULL, NULL, e);
}

void sts_req_describe_at(const struct sts_result *res, const char *what, int op, const char *url,
                         const char *from, struct err_detail *e)
{
	const char *hint = res->aws_code ? sts_req_hint(res->aws_code, op) : NULL;
	const char *why = res->detail.msg[0] ? res->detail.msg : err_str(res->err);

	if ((res->err == KR_ERR_TIMEOUT || res->err == KR_ERR_NETWORK) && res->attempts > 0)
		/* Nothing came back: the whole wait, every attempt, and where the URL came from. */
		err_set(e, res->err, NULL, 0,
		        "check the endpoint and the network; how long keyroled waits is its "
		        "sts-deadline setting",
		        "%s: no answer from %s%s%s%s after %.1f s, %d attempt%s%s%s%s", what,
		        url ? url : "STS", from ? " (" : "", from ? from : "", from ? ")" : "",
		        (double)res->elapsed_ms / 1000.0, res->attempts,
		        res->attempts == 1 ? "" : "s", res->transport[0] ? " (last: " : "",
		        res->transport, res->transport[0] ? ")" : "");
	else if (res->err == KR_ERR_AWS && res->aws_code)
		err_set(e, res->err, NULL, 0, NULL, "%s: %s: %s%s%s", what, res->aws_code,
		        res->aws_message ? res->aws_message : "(no message)", hint ? " — " : "",
		        hint ? hint : "");
	else if (res->err == KR_ERR_TLS)
		err_set(e, res->err, NULL, 0,
		        "point AWS_CA_BUNDLE (or ca_bundle in the profile) at your CA's PEM file",
		        "%s: %s — the STS endpoint's certificate is not trusted", what, why);
	else /* an AWS answer without a code says what it was in detail ("HTTP 503 (...)") */
		err_set(e, res->err, NULL, 0, res->detail.fix, "%s: %s", what, why);
}
