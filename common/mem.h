/*
 * Memory that may hold secrets. Everything freed through these helpers is
 * wiped first, with a store the compiler cannot elide.
 */
#ifndef KR_MEM_H
#define KR_MEM_H

#include <stddef.h>

/* Overwrite n bytes at p with zeros; never optimised away. NULL is a no-op. */
void mem_wipe(void *p, size_t n);

/* Wipe and free a block of n bytes. NULL is a no-op. */
void mem_free_secret(void *p, size_t n);

/* Wipe (up to its NUL) and free a string. NULL is a no-op. */
void mem_free_str(char *s);

/* strndup that fails (NULL) past max bytes instead of truncating. */
char *mem_strdup_max(const char *s, size_t max);

/*
 * Secrets a program keeps (credentials, long-term keys, tokens) are
 * allocated with mem_secret_*. By default that is malloc; keyroled installs
 * an allocator that keeps them out of core dumps and swap (OpenSSL's
 * secure heap: daemon/secmem.c). mem_free_str() and mem_free_secret()
 * free either kind, so code that frees a secret need not know where it
 * lives. Install the allocator once, before the first mem_secret_* call.
 */
struct mem_secret_allocator {
	void *(*alloc)(size_t n);   /* NULL when exhausted: malloc is used */
	void (*free)(void *p);      /* wipes and frees a block of ours */
	int (*owns)(const void *p); /* is p one of ours? */
};
void mem_secret_set_allocator(const struct mem_secret_allocator *a);
void *mem_secret_alloc(size_t n);
/* mem_strdup_max() into secret memory: NULL past max bytes or out of memory. */
char *mem_secret_strdup(const char *s, size_t max);

/*
 * Allocator hooks for libraries that free without telling the size (libcurl,
 * expat, OpenSSL): every block they free is wiped first. They work on blocks
 * of the C library's malloc only (the size comes from malloc_usable_size()).
 * mem_wiping_realloc() never calls realloc(): a block that moves would leave
 * its old copy behind, so it allocates, copies, wipes and frees the old one.
 * realloc(p, 0) frees p and returns NULL, as glibc does.
 */
void mem_wiping_free(void *p);
void *mem_wiping_realloc(void *p, size_t n);

/* Compare in time independent of the contents. */
int mem_equal_ct(const void *a, const void *b, size_t n);

#endif
