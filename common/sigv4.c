/*
 * AWS Signature Version 4 signing (see sigv4.h for the contract).
 *
 * This file uses OpenSSL (libcrypto) for hashing; the only other one is
 * the daemon's daemon/secmem.c, which sets up OpenSSL's memory.
 *
 * Invariants kept here:
 * - "AWS4"+secret and the derived keys kDate, kRegion, kService, kSigning
 *   are fixed-size stack arrays, wiped at the single exit of sign_keys()
 *   whatever happened. The secret is copied nowhere else by us (OpenSSL's
 *   HMAC keeps its key in its secure heap and cleanses it).
 * - Every heap string that may hold the session token (canonical header
 *   values, the canonical request) or the signature (the Authorization
 *   header) is secret memory (buf_init_secret(): keyroled's secure heap)
 *   and is released with buf_free()/mem_free_str(), which wipe; so is the
 *   string to sign.
 * - The result is assembled in a local struct and copied to the caller
 *   only on success, so a failure leaves *ret untouched.
 */
#include "sigv4.h"

#include "buf.h"
#include "err.h"
#include "mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHA256_LEN 32
#define METHOD_MAX 32
#define TERMINATOR "aws4_request"

static const char hexdig_lower[] = "0123456789abcdef";
static const char hexdig_upper[] = "0123456789ABCDEF";

static void hex_lower(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig_lower[p[i] >> 4];
		out[2 * i + 1] = hexdig_lower[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/*
 * SHA-256 fetched once: OpenSSL 3 looks the implementation up again on
 * every call given EVP_sha256(), which costs more than hashing a cache key.
 */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int sigv4_sha256_hex(const void *p, size_t n, char ret_hex[65])
{
	unsigned char md[SHA256_LEN];
	unsigned int mdlen = 0;
	static const unsigned char empty;
	int r = KR_ERR_INTERNAL;

	if (!p && n)
		return KR_ERR_INVAL;
	pthread_once(&sha256_once, sha256_fetch);
	if (!EVP_Digest(p ? p : &empty, n, md, &mdlen, sha256_md ? sha256_md : EVP_sha256(),
	                NULL) ||
	    mdlen != SHA256_LEN)
		goto out;
	hex_lower(md, SHA256_LEN, ret_hex);
	r = KR_OK;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return r;
}

/*
 * SHA-1 is not used for security here: the AWS CLI names its IAM Identity
 * Center token cache file by the SHA-1 of the session name or start URL,
 * and keyrole must find the same file.
 */
int sigv4_sha1_hex(const void *p, size_t n, char ret_hex[41])
{
	unsigned char md[20];
	unsigned int mdlen = 0;
	static const unsigned char empty;

	if (!p && n)
		return KR_ERR_INVAL;
	if (!EVP_Digest(p ? p : &empty, n, md, &mdlen, EVP_sha1(), NULL) || mdlen != sizeof(md))
		return KR_ERR_INTERNAL;
	hex_lower(md, sizeof(md), ret_hex);
	return KR_OK;
}

/* HMAC-SHA256(key, data) into out[32]. */
static int hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[SHA256_LEN])
{
	size_t outlen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, data, len, out, SHA256_LEN,
	               &outlen) ||
	    outlen != SHA256_LEN)
		return KR_ERR_INTERNAL;
	return KR_OK;
}

/* --- input checks ------------------------------------------------------- */

static int is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 9110 token character (header names, methods). */
static int is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int check_token(const char *s, size_t max)
{
	size_t n;

	if (!s || !*s)
		return KR_ERR_INVAL;
	n = strnlen(s, max + 1);
	if (n > max)
		return KR_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return KR_ERR_INVAL;
	return KR_OK;
}

/* A header value: no control bytes except HTAB (so no CR/LF injection). */
static int check_value(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return KR_ERR_INVAL;
	n = strnlen(s, max + 1);
	if (n > max)
		return KR_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return KR_ERR_INVAL;
	}
	return KR_OK;
}

/* Region and service: they go into the scope, which uses "/" as separator. */
static int check_scope_part(const char *s)
{
	size_t n;

	if (!s || !*s)
		return KR_ERR_INVAL;
	n = strnlen(s, KR_SIGV4_SCOPE_MAX + 1);
	if (n > KR_SIGV4_SCOPE_MAX)
		return KR_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_unreserved(c) || c == '~')
			return KR_ERR_INVAL;
	}
	return KR_OK;
}

static int check_creds(const struct sigv4_creds *c)
{
	size_t n;

	if (!c || !c->access_key_id || !*c->access_key_id || !c->secret_access_key ||
	    !*c->secret_access_key)
		return KR_ERR_INVAL;
	/* The key id goes into "Credential=ID/scope, ...": keep it a plain word. */
	n = strnlen(c->access_key_id, KR_SIGV4_KEY_MAX + 1);
	if (n > KR_SIGV4_KEY_MAX)
		return KR_ERR_TOOBIG;
	for (size_t i = 0; i < n; i++)
		if (!is_unreserved((unsigned char)c->access_key_id[i]))
			return KR_ERR_INVAL;
	if (strnlen(c->secret_access_key, KR_SIGV4_KEY_MAX + 1) > KR_SIGV4_KEY_MAX)
		return KR_ERR_TOOBIG;
	if (c->session_token && *c->session_token)
		return check_value(c->session_token, KR_SIGV4_TOKEN_MAX);
	return KR_OK;
}

/* --- canonical URI ------------------------------------------------------ */

static int put_encoded(struct buf *b, const unsigned char *p, size_t n, int keep_slash)
{
	int r = KR_OK;

	for (size_t i = 0; i < n && r == KR_OK; i++) {
		unsigned char c = p[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			r = buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hexdig_upper[c >> 4], hexdig_upper[c & 0xf]};

			r = buf_append(b, e, sizeof(e));
		}
	}
	return r;
}

struct seg {
	size_t off, len;
};

/*
 * Remove "." and ".." segments and empty segments ("//"), keeping a
 * trailing slash when the path ends in "/", "/." or "/.." and something
 * is left. ".." above the root is dropped.
 */
static int put_normalized_path(struct buf *b, const char *path, size_t plen)
{
	struct seg *segs = NULL;
	size_t nseg = 0, i = 0, last_off = 0, last_len = 0;
	int trailing, r = KR_OK;

	/* Non-empty segments are separated by "/", so at most plen/2 + 1. */
	segs = calloc(plen / 2 + 1, sizeof(*segs));
	if (!segs)
		return KR_ERR_NOMEM;
	while (i <= plen) {
		size_t start = i;

		while (i < plen && path[i] != '/')
			i++;
		last_off = start;
		last_len = i - start;
		if (last_len == 0 || (last_len == 1 && path[start] == '.')) {
			/* skip */
		} else if (last_len == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (nseg)
				nseg--;
		} else {
			segs[nseg].off = start;
			segs[nseg].len = last_len;
			nseg++;
		}
		i++; /* past the "/" (or past the end) */
	}
	trailing = last_len == 0 || (last_len == 1 && path[last_off] == '.') ||
	           (last_len == 2 && path[last_off] == '.' && path[last_off + 1] == '.');
	r = buf_putc(b, '/');
	for (size_t k = 0; k < nseg && r == KR_OK; k++) {
		if (k)
			r = buf_putc(b, '/');
		if (r == KR_OK)
			r = put_encoded(b, (const unsigned char *)path + segs[k].off, segs[k].len,
			                0);
	}
	if (r == KR_OK && nseg && trailing)
		r = buf_putc(b, '/');
	free(segs);
	return r;
}

static int put_canonical_uri(struct buf *b, const char *path, size_t plen, int normalize)
{
	if (normalize)
		return put_normalized_path(b, path, plen);
	return put_encoded(b, (const unsigned char *)path, plen, 1);
}

/* --- canonical query ---------------------------------------------------- */

struct qparam {
	char *key; /* encoded */
	char *value;
};

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode p[0..n) then encode it with the unreserved set into *ret. */
static int reencode(const char *p, size_t n, char **ret)
{
	struct buf dec, enc;
	int r = KR_OK;

	buf_init(&dec, KR_SIGV4_TARGET_MAX);
	buf_init(&enc, 3 * KR_SIGV4_TARGET_MAX);
	for (size_t i = 0; i < n && r == KR_OK; i++) {
		if (p[i] == '%') {
			int hi = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;

			if (hi < 0 || hexval((unsigned char)p[i + 2]) < 0) {
				r = KR_ERR_INVAL; /* a "%" not followed by two hex digits */
				break;
			}
			r = buf_putc(&dec, (char)(hi * 16 + hexval((unsigned char)p[i + 2])));
			i += 2;
		} else {
			r = buf_putc(&dec, p[i]);
		}
	}
	if (r == KR_OK)
		r = put_encoded(&enc, (const unsigned char *)dec.data, dec.len, 0);
	if (r == KR_OK) {
		*ret = buf_steal(&enc, NULL);
		if (!*ret)
			r = KR_ERR_NOMEM;
	}
	buf_free(&dec);
	buf_free(&enc);
	return r;
}

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static int put_canonical_query(struct buf *b, const char *q, size_t qlen)
{
	struct qparam *ps = NULL;
	size_t np = 0, i = 0;
	int r = KR_OK;

	/* Pieces are separated by "&", so at most qlen/2 + 1 non-empty ones. */
	ps = calloc(qlen / 2 + 1, sizeof(*ps));
	if (!ps)
		return KR_ERR_NOMEM;
	while (i < qlen && r == KR_OK) {
		size_t start = i, eq;

		while (i < qlen && q[i] != '&')
			i++;
		if (i > start) {
			eq = start;
			while (eq < i && q[eq] != '=')
				eq++;
			r = reencode(q + start, eq - start, &ps[np].key);
			if (r == KR_OK)
				r = reencode(q + (eq < i ? eq + 1 : i), eq < i ? i - eq - 1 : 0,
				             &ps[np].value);
			np++; /* counted even when half-made, so cleanup frees it */
		}
		i++;
	}
	if (r == KR_OK) {
		qsort(ps, np, sizeof(*ps), qparam_cmp);
		for (size_t k = 0; k < np && r == KR_OK; k++)
			r = buf_printf(b, "%s%s=%s", k ? "&" : "", ps[k].key, ps[k].value);
	}
	for (size_t k = 0; k < np; k++) {
		mem_free_str(ps[k].key);
		mem_free_str(ps[k].value);
	}
	free(ps);
	return r;
}

/* --- canonical headers -------------------------------------------------- */

struct hdr {
	char *name;  /* lowercased copy */
	char *value; /* trimmed, whitespace collapsed; may be the token: wiped */
	size_t seq;  /* order given, so duplicates join in that order */
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int hdr_make(const char *name, const char *value, size_t seq, struct hdr *ret)
{
	struct buf v;
	char *n = NULL;
	size_t len, i = 0;
	int r, pending_space = 0;

	r = check_token(name, KR_SIGV4_NAME_MAX);
	if (r == KR_OK)
		r = check_value(value, KR_SIGV4_HEADER_MAX);
	if (r < 0)
		return r;
	n = mem_strdup_max(name, KR_SIGV4_NAME_MAX);
	if (!n)
		return KR_ERR_NOMEM;
	for (char *p = n; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	buf_init_secret(&v, KR_SIGV4_HEADER_MAX); /* may be the session token */
	len = strlen(value);
	while (i < len && (value[i] == ' ' || value[i] == '\t'))
		i++;
	for (; i < len && r == KR_OK; i++) {
		if (value[i] == ' ' || value[i] == '\t') {
			pending_space = 1;
			continue;
		}
		if (pending_space)
			r = buf_putc(&v, ' ');
		pending_space = 0;
		if (r == KR_OK)
			r = buf_putc(&v, value[i]);
	}
	if (r == KR_OK) {
		ret->value = buf_steal(&v, NULL);
		if (!ret->value)
			r = KR_ERR_NOMEM;
	}
	if (r == KR_OK) {
		ret->name = n;
		ret->seq = seq;
		n = NULL;
	}
	free(n);
	buf_free(&v);
	return r;
}

/* Names the signer adds itself; the caller may not pass them too. */
static int reserved_header(const char *name, const struct sigv4_request *req, int has_token)
{
	return strcasecmp(name, "x-amz-date") == 0 || strcasecmp(name, "authorization") == 0 ||
	       (has_token && strcasecmp(name, "x-amz-security-token") == 0) ||
	       (req->sign_body && strcasecmp(name, "x-amz-content-sha256") == 0);
}

/*
 * Append "name:value\n" for every header (duplicates joined with ","),
 * then "\n", to creq, and the ";"-joined names to signed.
 */
static int put_canonical_headers(struct buf *creq, struct buf *signed_names,
                                 const struct sigv4_request *req, const struct sigv4_creds *creds,
                                 const char *amz_date, const char *content_sha256)
{
	struct hdr *hs = NULL;
	size_t nh = 0, cap = req->n_headers + 3;
	int has_token = creds->session_token && *creds->session_token;
	int has_host = 0, r = KR_OK;

	if (req->n_headers && !req->headers)
		return KR_ERR_INVAL;
	hs = calloc(cap, sizeof(*hs));
	if (!hs)
		return KR_ERR_NOMEM;
	for (size_t i = 0; i < req->n_headers && r == KR_OK; i++) {
		const char *name = req->headers[i].name;

		if (!name || reserved_header(name, req, has_token)) {
			r = KR_ERR_INVAL;
			break;
		}
		r = hdr_make(name, req->headers[i].value, nh, &hs[nh]);
		if (r == KR_OK)
			has_host |= strcmp(hs[nh].name, "host") == 0;
		if (r == KR_OK)
			nh++;
	}
	if (r == KR_OK && !has_host)
		r = KR_ERR_INVAL; /* SigV4 requires a signed Host */
	if (r == KR_OK && (r = hdr_make("x-amz-date", amz_date, nh, &hs[nh])) == KR_OK)
		nh++;
	if (r == KR_OK && has_token && !req->omit_session_token &&
	    (r = hdr_make("x-amz-security-token", creds->session_token, nh, &hs[nh])) == KR_OK)
		nh++;
	if (r == KR_OK && req->sign_body &&
	    (r = hdr_make("x-amz-content-sha256", content_sha256, nh, &hs[nh])) == KR_OK)
		nh++;
	if (r == KR_OK)
		qsort(hs, nh, sizeof(*hs), hdr_cmp);
	for (size_t i = 0; i < nh && r == KR_OK; i++) {
		int first = i == 0 || strcmp(hs[i - 1].name, hs[i].name) != 0;
		int last = i + 1 == nh || strcmp(hs[i + 1].name, hs[i].name) != 0;

		if (first) {
			r = buf_printf(creq, "%s:", hs[i].name);
			if (r == KR_OK)
				r = buf_printf(signed_names, "%s%s", i ? ";" : "", hs[i].name);
		} else {
			r = buf_putc(creq, ',');
		}
		if (r == KR_OK)
			r = buf_puts(creq, hs[i].value);
		if (r == KR_OK && last)
			r = buf_putc(creq, '\n');
	}
	if (r == KR_OK)
		r = buf_putc(creq, '\n');
	for (size_t i = 0; i < cap; i++) {
		free(hs[i].name);
		mem_free_str(hs[i].value);
	}
	free(hs);
	return r;
}

/* --- signing ------------------------------------------------------------ */

/* amz_date "YYYYMMDDTHHMMSSZ" for now; KR_ERR_INVAL outside years 0..9999. */
static int format_date(time_t now, char out[17])
{
	struct tm tm;

	if (!gmtime_r(&now, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return KR_ERR_INVAL;
	if (strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return KR_ERR_INVAL;
	return KR_OK;
}

/*
 * signature = HMAC(kSigning, sts) with kSigning derived from the secret
 * through the date, region and service. All keys are wiped before return.
 */
static int sign_keys(const char *secret, const char *date8, const char *region, const char *service,
                     const char *sts, size_t sts_len, char ret_sig[65])
{
	unsigned char ksecret[4 + KR_SIGV4_KEY_MAX];
	unsigned char kdate[SHA256_LEN], kregion[SHA256_LEN], kservice[SHA256_LEN];
	unsigned char ksigning[SHA256_LEN], sig[SHA256_LEN];
	size_t slen = strlen(secret); /* checked <= KR_SIGV4_KEY_MAX by the caller */
	int r;

	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen);
	r = hmac_sha256(ksecret, 4 + slen, date8, 8, kdate);
	if (r == KR_OK)
		r = hmac_sha256(kdate, sizeof(kdate), region, strlen(region), kregion);
	if (r == KR_OK)
		r = hmac_sha256(kregion, sizeof(kregion), service, strlen(service), kservice);
	if (r == KR_OK)
		r = hmac_sha256(kservice, sizeof(kservice), TERMINATOR, strlen(TERMINATOR),
		                ksigning);
	if (r == KR_OK)
		r = hmac_sha256(ksigning, sizeof(ksigning), sts, sts_len, sig);
	if (r == KR_OK)
		hex_lower(sig, sizeof(sig), ret_sig);
	OPENSSL_cleanse(ksecret, sizeof(ksecret));
	OPENSSL_cleanse(kdate, sizeof(kdate));
	OPENSSL_cleanse(kregion, sizeof(kregion));
	OPENSSL_cleanse(kservice, sizeof(kservice));
	OPENSSL_cleanse(ksigning, sizeof(ksigning));
	OPENSSL_cleanse(sig, sizeof(sig));
	return r;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_creds *creds, const char *region,
               const char *service, time_t now, struct sigv4_result *ret)
{
	struct sigv4_result res;
	struct buf creq, names, sts, authz;
	char creq_hash[65];
	const char *q;
	size_t tlen, plen;
	int has_token, r;

	memset(&res, 0, sizeof(res));
	buf_init_secret(&creq, KR_SIGV4_CREQ_MAX); /* holds the session token */
	buf_init(&names, KR_SIGV4_CREQ_MAX);
	buf_init(&sts, KR_SIGV4_CREQ_MAX);
	buf_init_secret(&authz, KR_SIGV4_CREQ_MAX); /* the signature */

	r = KR_ERR_INVAL;
	if (!req || !ret || !req->target || req->target[0] != '/' || (!req->body && req->body_len))
		goto out;
	if ((r = check_token(req->method, METHOD_MAX)) < 0 || (r = check_creds(creds)) < 0 ||
	    (r = check_scope_part(region)) < 0 || (r = check_scope_part(service)) < 0)
		goto out;
	r = KR_ERR_TOOBIG;
	tlen = strnlen(req->target, KR_SIGV4_TARGET_MAX + 1);
	if (tlen > KR_SIGV4_TARGET_MAX || req->n_headers > KR_SIGV4_HEADERS_MAX ||
	    req->body_len > KR_SIGV4_BODY_MAX)
		goto out;
	r = KR_ERR_INVAL;
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)req->target[i] < 0x20 || req->target[i] == 0x7f)
			goto out; /* no CR/LF/controls on the request line */
	has_token = creds->session_token && *creds->session_token;

	if ((r = format_date(now, res.amz_date)) < 0 ||
	    (r = sigv4_sha256_hex(req->body, req->body_len, res.content_sha256)) < 0)
		goto out;

	/* Canonical request. */
	q = memchr(req->target, '?', tlen);
	plen = q ? (size_t)(q - req->target) : tlen;
	if ((r = buf_printf(&creq, "%s\n", req->method)) < 0 ||
	    (r = put_canonical_uri(&creq, req->target, plen, req->normalize_path)) < 0 ||
	    (r = buf_putc(&creq, '\n')) < 0)
		goto out;
	if (q && (r = put_canonical_query(&creq, q + 1, tlen - plen - 1)) < 0)
		goto out;
	if ((r = buf_putc(&creq, '\n')) < 0 ||
	    (r = put_canonical_headers(&creq, &names, req, creds, res.amz_date,
	                               res.content_sha256)) < 0 ||
	    (r = buf_printf(&creq, "%s\n%s", names.data, res.content_sha256)) < 0)
		goto out;

	/* String to sign. */
	if ((r = sigv4_sha256_hex(creq.data, creq.len, creq_hash)) < 0 ||
	    (r = buf_printf(&sts, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/" TERMINATOR "\n%s",
	                    res.amz_date, res.amz_date, region, service, creq_hash)) < 0)
		goto out;

	if ((r = sign_keys(creds->secret_access_key, res.amz_date, region, service, sts.data,
	                   sts.len, res.signature)) < 0)
		goto out;

	if ((r = buf_printf(&authz,
	                    SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/" TERMINATOR
	                                    ", SignedHeaders=%s, Signature=%s",
	                    creds->access_key_id, res.amz_date, region, service, names.data,
	                    res.signature)) < 0)
		goto out;

	r = KR_ERR_NOMEM;
	res.canonical_request = buf_steal(&creq, NULL);
	res.string_to_sign = buf_steal(&sts, NULL);
	res.authorization = buf_steal(&authz, NULL);
	if (!res.canonical_request || !res.string_to_sign || !res.authorization)
		goto out;

	res.add[res.n_add++] = (struct sigv4_header){"X-Amz-Date", res.amz_date};
	if (has_token)
		res.add[res.n_add++] =
		    (struct sigv4_header){"X-Amz-Security-Token", creds->session_token};
	if (req->sign_body)
		res.add[res.n_add++] =
		    (struct sigv4_header){"x-amz-content-sha256", res.content_sha256};
	res.add[res.n_add++] = (struct sigv4_header){"Authorization", res.authorization};
	r = KR_OK;
out:
	buf_free(&creq);
	buf_free(&names);
	buf_free(&sts);
	buf_free(&authz);
	if (r == KR_OK) {
		*ret = res;
		/* add[] pointed into the local copy; repoint into the caller's. */
		for (size_t i = 0; i < ret->n_add; i++) {
			if (res.add[i].value == res.amz_date)
				ret->add[i].value = ret->amz_date;
			else if (res.add[i].value == res.content_sha256)
				ret->add[i].value = ret->content_sha256;
		}
	} else {
		sigv4_result_free(&res);
	}
	mem_wipe(&res, sizeof(res));
	return r;
}

void sigv4_result_free(struct sigv4_result *r)
{
	if (!r)
		return;
	mem_free_str(r->authorization);
	mem_free_str(r->canonical_request);
	mem_free_str(r->string_to_sign);
	mem_wipe(r, sizeof(*r));
}
