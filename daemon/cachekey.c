/* The cache-key encoder; see cachekey.h. No printf: this runs for every request. */
#include "cachekey.h"

#include "caps.h"
#include "err.h"
#include "sigv4.h"

#include <string.h>

int ckey_begin(struct buf *b)
{
	return buf_puts(b, CKEY_VERSION);
}

int ckey_step(struct buf *b, const char *source_name)
{
	int r = buf_putc(b, '|');

	if (r == KR_OK)
		r = buf_puts(b, source_name);
	if (r == KR_OK)
		r = buf_putc(b, ';');
	return r;
}

int ckey_str(struct buf *b, const char *tag, const char *v)
{
	char num[24], *p = num + sizeof(num);
	size_t n;
	int r = buf_puts(b, tag);

	if (r < 0)
		return r;
	if (!v)
		return buf_append(b, "-;", 2);
	n = strlen(v);
	*--p = ':';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	r = buf_append(b, p, (size_t)(num + sizeof(num) - p));
	if (r == KR_OK)
		r = buf_puts(b, v);
	if (r == KR_OK)
		r = buf_putc(b, ';');
	return r;
}

int ckey_int(struct buf *b, const char *tag, long v)
{
	char num[24], *p = num + sizeof(num);
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	*--p = '\0';
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--p = '-';
	return ckey_str(b, tag, p);
}

/*
 * Keys with the same id but another secret (a typo, a rotated secret, a new
 * session token) are another source: they must not be answered from the
 * sessions the right ones made.
 */
int ckey_secret(struct buf *b, const char *tag, const char *secret, const char *token)
{
	struct buf m;
	char hex[65];
	int r;

	buf_init(&m, 2 * KR_VALUE_MAX + 64);
	r = buf_puts(&m, "keyrole source secret\n");
	if (r == KR_OK)
		r = ckey_str(&m, "", secret);
	if (r == KR_OK)
		r = ckey_str(&m, "", token);
	if (r == KR_OK)
		r = sigv4_sha256_hex(m.data, m.len, hex);
	buf_free(&m); /* wipes */
	if (r == KR_OK) {
		hex[16] = '\0';
		r = ckey_str(b, tag, hex);
	}
	return r;
}

uint64_t ckey_hash(const char *key)
{
	uint64_t h = 1469598103934665603u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

int ckey_digest(const char *key, char out[65])
{
	return sigv4_sha256_hex(key, strlen(key), out);
}
