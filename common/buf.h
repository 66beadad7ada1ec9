/*
 * A growable byte buffer with a hard size cap set when it is made. It may
 * hold secrets: growing copies into a new block and wipes the old one, and
 * buf_free() wipes before freeing. The contents are always NUL-terminated
 * (the NUL is not counted in len), so text can be used as a C string.
 * A buffer made with buf_init_secret() lives in secret memory
 * (mem_secret_alloc(): keyroled's secure heap); what buf_steal() hands out
 * from any buffer is freed with mem_free_str() or mem_free_secret().
 */
#ifndef KR_BUF_H
#define KR_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes used */
	size_t cap; /* bytes allocated (excluding the NUL slot) */
	size_t max; /* hard cap on len */
	int secret; /* blocks come from mem_secret_alloc() */
};

/* Initialise an empty buffer that refuses to grow past max bytes. */
void buf_init(struct buf *b, size_t max);
/* The same for a buffer that will hold a secret (a key, a token, a body carrying them). */
void buf_init_secret(struct buf *b, size_t max);

/* Append n bytes; KR_ERR_TOOBIG past the cap (buffer unchanged). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Make room for n more bytes; KR_ERR_TOOBIG past the cap. */
int buf_reserve(struct buf *b, size_t n);

/* Drop the first n bytes (wiping the tail that moves). */
void buf_consume(struct buf *b, size_t n);

/* Keep the first len bytes, wiping the rest; no-op if len >= b->len. */
void buf_truncate(struct buf *b, size_t len);

/* Wipe the contents, keep the allocation. */
void buf_reset(struct buf *b);

/* Wipe and free; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);

/* Hand the contents to the caller (NUL-terminated, never NULL on success). */
char *buf_steal(struct buf *b, size_t *ret_len);

#endif
