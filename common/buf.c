#include "buf.h"

#include "err.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secret = 0;
}

void buf_init_secret(struct buf *b, size_t max)
{
	buf_init(b, max);
	b->secret = 1;
}

int buf_reserve(struct buf *b, size_t n)
{
	size_t want, ncap;
	char *nd;

	if (n > b->max || b->len > b->max - n)
		return KR_ERR_TOOBIG;
	want = b->len + n;
	if (want <= b->cap && b->data)
		return KR_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if (ncap < want)
		ncap = want;
	/* Never realloc: it may leave a copy of a secret in the old block. */
	nd = b->secret ? mem_secret_alloc(ncap + 1) : malloc(ncap + 1);
	if (!nd)
		return KR_ERR_NOMEM;
	if (b->data) {
		memcpy(nd, b->data, b->len);
		mem_free_secret(b->data, b->cap + 1);
	}
	nd[b->len] = '\0';
	b->data = nd;
	b->cap = ncap;
	return KR_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int r = buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return KR_OK;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n, r;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return KR_ERR_INVAL;
	r = buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return KR_OK;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	mem_wipe(b->data + b->len - n, n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len >= b->len)
		return;
	mem_wipe(b->data + len, b->len - len);
	b->len = len;
	b->data[len] = '\0';
}

void buf_reset(struct buf *b)
{
	if (b->data) {
		mem_wipe(b->data, b->cap + 1);
	}
	b->len = 0;
}

void buf_free(struct buf *b)
{
	if (b->data)
		mem_free_secret(b->data, b->cap + 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
	char *d;

	if (!b->data && buf_reserve(b, 0) < 0)
		return NULL;
	d = b->data;
	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return d;
}
