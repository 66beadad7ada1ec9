/*
 * Secret memory for keyroled (see secmem.h for the contract).
 *
 * What OpenSSL 3.0's secure heap is (crypto/mem_sec.c, CRYPTO_secure_malloc_init):
 * one mmap()ed arena of a power-of-two size with a PROT_NONE guard page on
 * each side, a buddy allocator whose bookkeeping lives outside the arena,
 * blocks cleansed when freed, the arena madvise(MADV_DONTDUMP)ed (so neither
 * the kernel's core dump nor gdb's gcore writes it) and
 * mlock2(MLOCK_ONFAULT)ed (pages are locked as they are first touched, so a
 * large arena costs no memory until used). It returns 1 when every step
 * worked, 2 when one of them failed (typically mlock over RLIMIT_MEMLOCK:
 * the arena is then still left out of core dumps, only not kept out of
 * swap), 0 when there is no arena at all.
 *
 * Size: a cached hop holds an access key id (21 bytes -> a 32-byte block
 * of the buddy allocator), a secret key (41 -> 64) and a session token
 * (about 400 to 2,000 bytes -> 512 to 2,048): 0.6 to 2.2 KiB, and as much
 * again for its keyring JSON while a store is queued. agent.c caps the
 * cache at 10,000 hops, so 32 MiB (KR_SECMEM_MAX, 3.3 KiB a hop) holds
 * all of them. The arena is locked against RLIMIT_MEMLOCK, which is 8 MiB
 * by default (Linux >= 5.16, systemd user units); we raise the soft limit
 * to the hard one and take the largest power of two up to half of it,
 * leaving the other half to libsecret's own locked pool (egg-secure-memory).
 * With the default that is 4 MiB, about 2,000 hops at the worst; past
 * that mem_secret_alloc() falls back to malloc (still wiped when freed,
 * but dumpable). Never below KR_SECMEM_MIN, locked or not: being left out
 * of core dumps is worth having alone. MLOCK_ONFAULT and the buddy
 * allocator touch pages only as blocks are used, so an idle arena costs
 * almost nothing; the bookkeeping bitmaps are arena / 64 bytes (64 KiB).
 *
 * OpenSSL's ordinary allocations go through wiping hooks
 * (CRYPTO_set_mem_functions, accepted only before OpenSSL's first
 * allocation, hence secmem_init() first in main()): TLS read buffers hold
 * decrypted STS answers, HMAC contexts hold derived keys. The arena's own
 * bookkeeping is allocated through them too, so the hooks come first.
 */
#include "secmem.h"

#include "mem.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static atomic_long outstanding;

static void *sec_alloc(size_t n)
{
	/* NULL file and line: a full arena must not leave an error on OpenSSL's queue. */
	void *p = CRYPTO_secure_malloc(n, NULL, 0);

	if (p)
		atomic_fetch_add(&outstanding, 1);
	return p;
}

static void sec_free(void *p)
{
	/* Cleanses the whole block (its buddy size) before it goes back. */
	CRYPTO_secure_free(p, NULL, 0);
	atomic_fetch_sub(&outstanding, 1);
}

static int sec_owns(const void *p)
{
	return CRYPTO_secure_allocated(p);
}

static const struct mem_secret_allocator secure_heap = {sec_alloc, sec_free, sec_owns};

static void *ossl_malloc(size_t n, const char *file, int line)
{
	return malloc(n ? n : 1);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	return mem_wiping_realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	mem_wiping_free(p);
}

/* RLIMIT_MEMLOCK soft limit, raised to the hard limit first; SIZE_MAX for none. */
static size_t memlock_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 && getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
			return 0;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SIZE_MAX)
		return SIZE_MAX;
	return (size_t)rl.rlim_cur;
}

static size_t arena_size(size_t memlock)
{
	size_t want = memlock == SIZE_MAX ? KR_SECMEM_MAX : memlock / 2, size = KR_SECMEM_MAX;

	while (size > KR_SECMEM_MIN && size > want)
		size /= 2;
	return size;
}

/* VmFlags of the mapping that holds p: is it locked ("lo"), left out of cores ("dd")? */
static void mapping_flags(const void *p, int *ret_locked, int *ret_dontdump)
{
	char line[512];
	uintptr_t a = (uintptr_t)p;
	int inside = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uintmax_t lo, hi;
		if (sscanf(line, "%jx-%jx ", &lo, &hi) == 2) {
			inside = a >= lo && a < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			*ret_locked = strstr(line, " lo") != NULL;
			*ret_dontdump = strstr(line, " dd") != NULL;
			break;
		}
	}
	fclose(f);
}

void secmem_init(struct secmem_info *ret)
{
	struct secmem_info info = {0};
	int r, locked = 0, dontdump = 0;
	void *probe;

	info.hooks = CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free);
	info.memlock = memlock_limit();
	info.size = arena_size(info.memlock);
	r = CRYPTO_secure_malloc_init(info.size, KR_SECMEM_MINSIZE);
	if (r == 0) {
		info.size = 0;
		info.why = "OpenSSL has no secure heap here";
		goto out;
	}
	locked = dontdump = r == 1;
	if (r == 2 && (probe = CRYPTO_secure_malloc(1, NULL, 0))) {
		mapping_flags(probe, &locked, &dontdump);
		CRYPTO_secure_free(probe, NULL, 0);
	}
	if (!dontdump) {
		/* Without MADV_DONTDUMP the arena is no better than malloc. */
		CRYPTO_secure_malloc_done();
		info.size = 0;
		info.why = "madvise(MADV_DONTDUMP) failed";
		goto out;
	}
	info.locked = locked;
	if (!locked)
		info.why = "mlock failed (RLIMIT_MEMLOCK)";
	mem_secret_set_allocator(&secure_heap);
out:
	*ret = info;
}

long secmem_outstanding(void)
{
	return atomic_load(&outstanding);
}

int secmem_tls_ctx(void *ssl_ctx)
{
	/* OpenSSL decrypts records in place in its read buffer. With libcurl
	 * 7.88 that buffer was already gone (wiped by ossl_free()) when we took
	 * cores; a libcurl or OpenSSL that keeps it for a connection left alive
	 * in the cache would hold the last STS answer in clear. Cheap insurance. */
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
	return 0;
}
