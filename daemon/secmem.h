/*
 * keyroled's secret memory: OpenSSL's secure heap behind mem_secret_*
 * (common/mem.h), wiping allocators for OpenSSL itself, and the TLS option
 * that wipes decrypted records. The daemon's second and last OpenSSL file
 * (the first is common/sigv4.c): this is process-wide policy of the daemon,
 * which common/ must not know about.
 *
 * Invariants:
 * - secmem_init() is the first thing main() does after making the process
 *   non-dumpable: before any OpenSSL call (libcurl's global init makes
 *   some) and before any secret is allocated.
 * - What it allocates is freed only through mem_free_str()/mem_free_secret()
 *   (they ask the allocator whether a block is its own), never free().
 */
#ifndef KR_SECMEM_H
#define KR_SECMEM_H

#include "caps.h"

#include <stddef.h>

/* The arena: the largest power of two within these bounds and half of RLIMIT_MEMLOCK. */

struct secmem_info {
	size_t size;     /* arena bytes; 0 when there is no secure heap */
	size_t memlock;  /* RLIMIT_MEMLOCK soft limit after raising it (bytes; SIZE_MAX = none) */
	int locked;      /* the arena is mlock()ed: never swapped */
	int hooks;       /* OpenSSL's own frees wipe (CRYPTO_set_mem_functions took) */
	const char *why; /* when size == 0 or !locked: a short reason, else NULL */
};

/* Set everything up; never fails (without a secure heap secrets use malloc). */
void secmem_init(struct secmem_info *ret);

/* Blocks of ours (mem_secret_alloc()) still allocated in the secure heap. */
long secmem_outstanding(void);

/* For CURLOPT_SSL_CTX_FUNCTION: TLS records are wiped once read (SSL_OP_CLEANSE_PLAINTEXT). */
int secmem_tls_ctx(void *ssl_ctx);

#endif
