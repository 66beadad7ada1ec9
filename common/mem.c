#include "mem.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void mem_wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

static const struct mem_secret_allocator *secret_alloc;

void mem_secret_set_allocator(const struct mem_secret_allocator *a)
{
	secret_alloc = a;
}

void *mem_secret_alloc(size_t n)
{
	void *p = secret_alloc ? secret_alloc->alloc(n ? n : 1) : NULL;

	return p ? p : malloc(n ? n : 1);
}

char *mem_secret_strdup(const char *s, size_t max)
{
	size_t n;
	char *r;

	if (!s)
		return NULL;
	n = strnlen(s, max + 1);
	if (n > max)
		return NULL;
	r = mem_secret_alloc(n + 1);
	if (!r)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

void mem_free_secret(void *p, size_t n)
{
	if (!p)
		return;
	if (secret_alloc && secret_alloc->owns(p)) {
		secret_alloc->free(p);
		return;
	}
	explicit_bzero(p, n);
	free(p);
}

void mem_free_str(char *s)
{
	if (!s)
		return;
	mem_free_secret(s, strlen(s));
}

char *mem_strdup_max(const char *s, size_t max)
{
	size_t n;
	char *r;

	if (!s)
		return NULL;
	n = strnlen(s, max + 1);
	if (n > max)
		return NULL;
	r = malloc(n + 1);
	if (!r)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

void mem_wiping_free(void *p)
{
	if (!p)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void *mem_wiping_realloc(void *p, size_t n)
{
	size_t old;
	void *r;

	if (!p)
		return malloc(n);
	if (n == 0) {
		mem_wiping_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	/* Shrinking in place keeps no second copy: wipe the tail given up. */
	if (n <= old && n >= old / 2) {
		explicit_bzero((char *)p + n, old - n);
		return p;
	}
	r = malloc(n);
	if (!r)
		return NULL; /* p is untouched, as realloc() leaves it */
	memcpy(r, p, old < n ? old : n);
	mem_wiping_free(p);
	return r;
}

int mem_equal_ct(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
