/*
 * daemon/secmem.c and the secret allocations it serves: keyroled's secure
 * heap is a locked MADV_DONTDUMP arena; every place that makes a credential
 * string puts it there (STS XML, credential_process output, keyring items,
 * the SigV4 Authorization header, secret buffers); a full arena falls back
 * to malloc; and the wiping allocators given to libcurl, expat and OpenSSL
 * wipe what they free, realloc included.
 *
 * Linked with -Wl,--wrap=free (Makefile): every block our code frees is
 * checked for a marker first. main() calls secmem_init() before anything
 * else, as keyroled does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "keyring.h"
#include "mem.h"
#include "proc.h"
#include "secmem.h"
#include "sigv4.h"
#include "sts.h"
#include "sts_xml.h"

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- free() with a look inside ---- */

#define MARKER "KRSECRETwipeME42"

static size_t unwiped_frees;

void __real_free(void *p);
void __wrap_free(void *p);

void __wrap_free(void *p)
{
	if (p && memmem(p, malloc_usable_size(p), MARKER, strlen(MARKER)))
		unwiped_frees++;
	__real_free(p);
}

/* ---- the arena ---- */

static struct secmem_info info;
static uintptr_t arena_lo, arena_hi;
static char arena_flags[256];

/* The mapping that holds p, from /proc/self/smaps: bounds and VmFlags. */
static int find_mapping(const void *p, uintptr_t *lo, uintptr_t *hi, char *flags, size_t n)
{
	char line[512];
	uintptr_t a = (uintptr_t)p;
	int inside = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		uintmax_t l, h;
		if (sscanf(line, "%jx-%jx ", &l, &h) == 2) {
			inside = a >= l && a < h;
			if (inside) {
				*lo = (uintptr_t)l;
				*hi = (uintptr_t)h;
			}
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(flags, n, "%s", line + 8);
			found = 1;
			break;
		}
	}
	fclose(f);
	return found;
}

static int in_arena(const void *p)
{
	return (uintptr_t)p >= arena_lo && (uintptr_t)p < arena_hi;
}

static void arena_is_a_locked_power_of_two_left_out_of_cores(void **state)
{
	void *p = mem_secret_alloc(16);

	assert_true(info.size >= KR_SECMEM_MIN && info.size <= KR_SECMEM_MAX);
	assert_int_equal(info.size & (info.size - 1), 0);
	assert_true(info.hooks); /* nothing called OpenSSL before secmem_init() */
	assert_non_null(p);
	assert_true(find_mapping(p, &arena_lo, &arena_hi, arena_flags, sizeof(arena_flags)));
	assert_int_equal(arena_hi - arena_lo, info.size);
	assert_non_null(strstr(arena_flags, " dd")); /* MADV_DONTDUMP */
	/* Locked exactly when secmem_init() says so (mlock2 MLOCK_ONFAULT: "lo"). */
	assert_int_equal(strstr(arena_flags, " lo") != NULL, info.locked);
	mem_free_secret(p, 16);
}

static void secret_blocks_are_counted_and_freed_through_mem_free(void **state)
{
	long before = secmem_outstanding();
	char *s = mem_secret_strdup("AKIASECRETCOUNT0", 64);

	assert_non_null(s);
	assert_true(in_arena(s));
	assert_int_equal(secmem_outstanding(), before + 1);
	mem_free_str(s);
	assert_int_equal(secmem_outstanding(), before);
	assert_null(mem_secret_strdup("toolong", 3));
	assert_int_equal(secmem_outstanding(), before);
}

static void a_block_the_arena_cannot_hold_comes_from_malloc(void **state)
{
	long before = secmem_outstanding();
	char *p = mem_secret_alloc(info.size + 1);

	assert_non_null(p);
	assert_false(in_arena(p));
	assert_int_equal(secmem_outstanding(), before);
	memcpy(p, MARKER, strlen(MARKER));
	unwiped_frees = 0;
	mem_free_secret(p, info.size + 1);
	assert_int_equal(unwiped_frees, 0);
}

static void secret_buffers_grow_inside_the_arena(void **state)
{
	long before = secmem_outstanding();
	struct buf b;
	char *s;

	buf_init_secret(&b, 64 * 1024);
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf_puts(&b, MARKER), KR_OK);
	assert_true(in_arena(b.data));
	assert_int_equal(secmem_outstanding(), before + 1); /* old blocks went back */
	s = buf_steal(&b, NULL);
	assert_true(in_arena(s));
	mem_free_str(s);
	assert_int_equal(secmem_outstanding(), before);
	/* An ordinary buffer stays in malloc. */
	buf_init(&b, 64);
	assert_int_equal(buf_puts(&b, "x"), KR_OK);
	assert_false(in_arena(b.data));
	buf_free(&b);
}

static void wiping_free_and_realloc_wipe_what_they_let_go(void **state)
{
	char *p = malloc(64), *q;

	assert_non_null(p);
	memcpy(p, MARKER, strlen(MARKER) + 1);
	unwiped_frees = 0;
	q = mem_wiping_realloc(p, 4096); /* grows: moves, the old block is wiped */
	assert_non_null(q);
	assert_string_equal(q, MARKER);
	assert_int_equal(unwiped_frees, 0);
	memcpy(q + 3500, MARKER, strlen(MARKER));
	p = mem_wiping_realloc(q, 3000); /* shrinks a little: in place, the tail wiped */
	assert_ptr_equal(p, q);
	assert_string_equal(p, MARKER);
	assert_null(memmem(p + 3000, malloc_usable_size(p) - 3000, MARKER, strlen(MARKER)));
	memcpy(p + 2048, MARKER, strlen(MARKER));
	q = mem_wiping_realloc(p, 1024); /* shrinks a lot: moves, the old block is wiped */
	assert_non_null(q);
	assert_string_equal(q, MARKER);
	assert_int_equal(unwiped_frees, 0);
	assert_null(mem_wiping_realloc(q, 0)); /* frees, wiped */
	p = mem_wiping_realloc(NULL, 32);
	assert_non_null(p);
	memcpy(p, MARKER, strlen(MARKER));
	mem_wiping_free(p);
	mem_wiping_free(NULL);
	assert_int_equal(unwiped_frees, 0);
}

/* ---- where credentials are made ---- */

static const char assume_role_xml[] =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleResult><Credentials>"
    "<AccessKeyId>ASIASECMEMTEST00001</AccessKeyId>"
    "<SecretAccessKey>" MARKER "secretsecretsecret</SecretAccessKey>"
    "<SessionToken>" MARKER "tokentokentokentoken</SessionToken>"
    "<Expiration>2030-01-01T00:00:00Z</Expiration>"
    "</Credentials><AssumedRoleUser>"
    "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
    "<AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>"
    "</AssumeRoleResult></AssumeRoleResponse>";

static void sts_xml_puts_the_credentials_in_the_arena(void **state)
{
	struct sts_xml_result r;
	struct err_detail why;

	memset(&r, 0, sizeof(r));
	unwiped_frees = 0;
	assert_int_equal(sts_xml_parse(assume_role_xml, strlen(assume_role_xml), &r, &why), KR_OK);
	assert_true(in_arena(r.access_key_id));
	assert_true(in_arena(r.secret_access_key));
	assert_true(in_arena(r.session_token));
	assert_false(in_arena(r.arn)); /* not a secret */
	sts_xml_result_clear(&r);
	/* Nothing freed through us (expat's blocks included: its allocator is ours) kept the
	 * marker. */
	assert_int_equal(unwiped_frees, 0);
}

static void credential_process_output_goes_to_the_arena(void **state)
{
	static const char json[] =
	    "{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCSECMEM01\", "
	    "\"SecretAccessKey\": \"" MARKER "\", \"SessionToken\": \"t" MARKER
	    "\", \"Expiration\": \"2030-01-01T00:00:00Z\"}";
	struct sts_creds c;
	struct err_detail why;

	memset(&c, 0, sizeof(c));
	assert_int_equal(proc_parse_creds(json, strlen(json), &c, &why), KR_OK);
	assert_true(in_arena(c.access_key_id));
	assert_true(in_arena(c.secret_access_key));
	assert_true(in_arena(c.session_token));
	sts_creds_clear(&c);
}

static void keyring_item_secrets_go_to_the_arena(void **state)
{
	struct keyring_item *it = NULL, *dup = NULL;

	assert_int_equal(keyring_item_new("k1", KEYRING_KIND_SESSION, "prof", NULL, 2000000000,
	                                  "{\"s\":\"" MARKER "\"}", &it),
	                 KR_OK);
	assert_true(in_arena(it->secret));
	assert_false(in_arena(it->profile));
	assert_int_equal(keyring_item_dup(it, &dup), KR_OK);
	assert_true(in_arena(dup->secret));
	keyring_item_free(dup);
	keyring_item_free(it);
}

static void sigv4_keeps_the_authorization_header_in_the_arena(void **state)
{
	struct sigv4_creds creds = {"AKIDEXAMPLE", MARKER "secret", "token" MARKER};
	struct sigv4_header hdrs[] = {{"Host", "sts.amazonaws.com"}};
	struct sigv4_request req = {.method = "POST",
	                            .target = "/",
	                            .headers = hdrs,
	                            .n_headers = 1,
	                            .body = "Action=GetCallerIdentity",
	                            .body_len = 24,
	                            .normalize_path = 1};
	struct sigv4_result res;

	unwiped_frees = 0;
	assert_int_equal(sigv4_sign(&req, &creds, "us-east-1", "sts", 1700000000, &res), KR_OK);
	assert_true(in_arena(res.authorization));
	assert_true(in_arena(res.canonical_request)); /* holds the token */
	sigv4_result_free(&res);
	assert_int_equal(unwiped_frees, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(arena_is_a_locked_power_of_two_left_out_of_cores),
	    cmocka_unit_test(secret_blocks_are_counted_and_freed_through_mem_free),
	    cmocka_unit_test(a_block_the_arena_cannot_hold_comes_from_malloc),
	    cmocka_unit_test(secret_buffers_grow_inside_the_arena),
	    cmocka_unit_test(wiping_free_and_realloc_wipe_what_they_let_go),
	    cmocka_unit_test(sts_xml_puts_the_credentials_in_the_arena),
	    cmocka_unit_test(credential_process_output_goes_to_the_arena),
	    cmocka_unit_test(keyring_item_secrets_go_to_the_arena),
	    cmocka_unit_test(sigv4_keeps_the_authorization_header_in_the_arena),
	};
	int r;

	secmem_init(&info); /* first, as in keyroled's main() */
	r = cmocka_run_group_tests(tests, NULL, NULL);
	if (secmem_outstanding() != 0) {
		fprintf(stderr, "%ld secret blocks leaked\n", secmem_outstanding());
		r = 1;
	}
	return r;
}
