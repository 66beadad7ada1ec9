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

/* Compare in time independent of the contents. */
int mem_equal_ct(const void *a, const void *b, size_t n);

#endif
