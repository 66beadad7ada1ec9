/*
 * keyring_probe: drive one keyring backend from a scenario test.
 *
 *   keyring_probe [-b BACKEND] [-t TIMEOUT_MS] COMMAND [ARGS...]
 *     backend                           "backend NAME persistent=0|1"
 *     store KEY KIND PROFILE ROLE|- EXP the secret is read from stdin
 *     lookup KEY [--compare]            metadata; --compare reads the expected
 *                                       secret from stdin, prints secret=match|mismatch
 *     remove KEY
 *     remove-profile PROFILE|- [KIND]   "removed N"
 *     list [KIND]                       one metadata line per item
 *     fill N PROFILE SECONDS            store N session items (1 KB secrets)
 *     sweep                             delete expired session items: "swept N"
 *
 * EXP is unix seconds, "+N" (N seconds from now) or 0 (never).
 * It never prints a secret: lookups print metadata and the secret's length,
 * and a comparison only says whether it matched (test use only).
 * Exit status: 0 ok, 3 not found, 1 failure (one "error: ..." line), 2 usage.
 */
#include "err.h"
#include "keyring.h"
#include "mem.h"
#include "msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: keyring_probe [-b BACKEND] [-t TIMEOUT_MS] "
	                "backend|store|lookup|remove|remove-profile|list|fill|sweep ...\n");
	return 2;
}

static int parse_long(const char *s, long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return KR_ERR_INVAL;
	*ret = v;
	return KR_OK;
}

static int parse_exp(const char *s, int64_t *ret)
{
	long long v;
	int rel = s[0] == '+';

	if (parse_long(s + rel, &v) < 0 || v < 0)
		return KR_ERR_INVAL;
	*ret = rel ? (int64_t)time(NULL) + v : v;
	return KR_OK;
}

/* Read stdin up to the secret cap; strips one trailing newline. */
static char *read_stdin_secret(void)
{
	size_t cap = KR_KEYRING_SECRET_MAX + 2, n = 0;
	char *b = calloc(1, cap + 1);
	ssize_t got;

	if (!b)
		return NULL;
	while (n < cap && (got = read(0, b + n, cap - n)) > 0)
		n += (size_t)got;
	if (n > 0 && b[n - 1] == '\n')
		b[--n] = '\0';
	if (n == 0 || n > KR_KEYRING_SECRET_MAX) {
		mem_free_secret(b, cap + 1);
		return NULL;
	}
	return b;
}

static void print_item(const char *prefix, const struct keyring_item *it)
{
	printf("%s key=%s kind=%s profile=%s role=%s expiration=%lld", prefix, it->key, it->kind,
	       it->profile, it->role_arn ? it->role_arn : "-", (long long)it->expiration);
	if (it->secret)
		printf(" secret_len=%zu", strlen(it->secret));
	printf("\n");
}

static int fail(struct keyring *k, int r)
{
	const struct err_detail *e = k ? keyring_last_error(k) : NULL;
	char why[KR_ERR_LINE_MAX];

	if (r == KR_ERR_NOCREDS) {
		printf("absent\n");
		return 3;
	}
	if (e)
		err_format(e, why, sizeof(why));
	printf("error: %s: %s\n", err_name(r), e ? why : err_str(r));
	return 1;
}

static int cmd_store(struct keyring *k, int argc, char **argv)
{
	struct keyring_item *it = NULL;
	char *secret = NULL;
	int64_t exp;
	int r;

	if (argc != 6 || parse_exp(argv[5], &exp) < 0)
		return usage();
	if (!(secret = read_stdin_secret())) {
		fprintf(stderr, "keyring_probe: no secret on stdin\n");
		return 2;
	}
	r = keyring_item_new(argv[1], argv[2], argv[3], strcmp(argv[4], "-") ? argv[4] : NULL, exp,
	                     secret, &it);
	mem_free_str(secret);
	if (r == KR_OK)
		r = keyring_store_sync(k, it);
	keyring_item_free(it);
	if (r < 0)
		return fail(k, r);
	printf("stored\n");
	return 0;
}

static int cmd_lookup(struct keyring *k, int argc, char **argv)
{
	struct keyring_item *it = NULL;
	char *expected = NULL;
	int compare = argc == 3 && strcmp(argv[2], "--compare") == 0;
	int r;

	if (argc != 2 && !compare)
		return usage();
	if (compare && !(expected = read_stdin_secret()))
		return 2;
	r = keyring_lookup_sync(k, argv[1], &it);
	if (r < 0) {
		mem_free_str(expected);
		return fail(k, r);
	}
	print_item("found", it);
	if (compare) {
		size_t a = strlen(it->secret), b = strlen(expected);
		printf("secret=%s\n",
		       a == b && mem_equal_ct(it->secret, expected, a) ? "match" : "mismatch");
	}
	mem_free_str(expected);
	keyring_item_free(it);
	return 0;
}

static int cmd_list(struct keyring *k, int argc, char **argv)
{
	struct keyring_item **items = NULL;
	size_t n = 0;
	int r;

	if (argc > 2)
		return usage();
	r = keyring_list_sync(k, argc == 2 ? argv[1] : NULL, &items, &n);
	if (r < 0)
		return fail(k, r);
	for (size_t i = 0; i < n; i++)
		print_item("item", items[i]);
	printf("count %zu\n", n);
	keyring_items_free(items, n);
	return 0;
}

/* A digest-like key: 64 hex digits that differ early (splitmix64 of i). */
static void fill_key(unsigned long long i, char *out, size_t len)
{
	unsigned long long x[4];

	for (int j = 0; j < 4; j++) {
		unsigned long long z = i * 4 + (unsigned long long)j + 0x9e3779b97f4a7c15ULL;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		x[j] = z ^ (z >> 31);
	}
	snprintf(out, len, "%016llx%016llx%016llx%016llx", x[0], x[1], x[2], x[3]);
}

/* Store N items of about 1 KB each, as a busy daemon would. */
static int cmd_fill(struct keyring *k, int argc, char **argv)
{
	long long n, secs;
	char key[80], secret[1100];
	int ok = 0, failed = 0, last = 0;

	if (argc != 4 || parse_long(argv[1], &n) < 0 || n < 0 || n > 100000 ||
	    parse_long(argv[3], &secs) < 0 || secs <= 0)
		return usage();
	for (long long i = 0; i < n; i++) {
		struct keyring_item *it = NULL;
		int r;

		fill_key((unsigned long long)i, key, sizeof(key));
		/* Not a real credential: the index and filler, the size of a session. */
		snprintf(secret, sizeof(secret),
		         "{\"a\":\"ASIAFILL%08lld\",\"s\":\"%.40d\",\"t\":\"%.1000d\"}", i, 0, 0);
		r = keyring_item_new(key, KEYRING_KIND_SESSION, argv[2],
		                     "arn:aws:iam::123456789012:role/fill",
		                     (int64_t)time(NULL) + secs + i, secret, &it);
		if (r == KR_OK)
			r = keyring_store_sync(k, it);
		keyring_item_free(it);
		if (r == KR_OK) {
			ok++;
		} else {
			failed++;
			last = r;
		}
	}
	printf("stored %d failed %d backend %s\n", ok, failed, keyring_backend_name(k));
	if (failed)
		return fail(k, last);
	return 0;
}

int main(int argc, char **argv)
{
	const char *backend = "auto";
	struct keyring *k = NULL;
	struct err_detail why;
	char line[KR_ERR_LINE_MAX];
	long long timeout = 0;
	int opt, r, rc = 1;

	while ((opt = getopt(argc, argv, "+b:t:")) != -1) {
		switch (opt) {
		case 'b':
			backend = optarg;
			break;
		case 't':
			if (parse_long(optarg, &timeout) < 0 || timeout < 0 || timeout > 600000)
				return usage();
			break;
		default:
			return usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return usage();
	msg_install_json_hooks();
	if (timeout) {
		const struct keyring_ops *ops =
		    strcmp(backend, "secret-service") == 0 ? &keyring_secret_ops
		    : strcmp(backend, "keyctl") == 0       ? &keyring_kernel_ops
		                                           : &keyring_memory_ops;
		r = keyring_open_ops(ops, NULL, (unsigned)timeout, &k, &why);
	} else {
		r = keyring_open(backend, NULL, &k, &why);
	}
	if (r < 0) {
		err_format(&why, line, sizeof(line));
		printf("error: open: %s: %s\n", err_name(r), line);
		return 1;
	}
	if (strcmp(argv[0], "backend") == 0) {
		printf("backend %s persistent=%d\n", keyring_backend_name(k),
		       keyring_persistent(k));
		rc = 0;
	} else if (strcmp(argv[0], "store") == 0) {
		rc = cmd_store(k, argc, argv);
	} else if (strcmp(argv[0], "lookup") == 0) {
		rc = cmd_lookup(k, argc, argv);
	} else if (strcmp(argv[0], "remove") == 0 && argc == 2) {
		r = keyring_remove_sync(k, argv[1]);
		rc = r < 0 ? fail(k, r) : (printf("removed\n"), 0);
	} else if (strcmp(argv[0], "remove-profile") == 0 && (argc == 2 || argc == 3)) {
		int count = 0;
		r = keyring_remove_profile_sync(k, strcmp(argv[1], "-") ? argv[1] : NULL,
		                                argc == 3 ? argv[2] : NULL, &count);
		rc = r < 0 ? fail(k, r) : (printf("removed %d\n", count), 0);
	} else if (strcmp(argv[0], "list") == 0) {
		rc = cmd_list(k, argc, argv);
	} else if (strcmp(argv[0], "fill") == 0) {
		rc = cmd_fill(k, argc, argv);
	} else if (strcmp(argv[0], "sweep") == 0 && argc == 1) {
		int count = 0;
		r = keyring_sweep_sync(k, &count);
		rc = r < 0 ? fail(k, r) : (printf("swept %d\n", count), 0);
	} else {
		rc = usage();
	}
	if (keyring_warning(k))
		printf("warning: %s\n", keyring_warning(k));
	fflush(stdout);
	keyring_free(k);
	return rc;
}
