/*
 * The "keyctl" keyring backend: the kernel user keyring (@u) of the
 * daemon's uid. The only file that uses libkeyutils.
 *
 * Invariants:
 * - One "user" key per item, description "keyrole:<key>" (a session key's
 *   64-hex digest is cut to 32 hex: 128 bits, and the payload carries the
 *   full key, which lookup compares). Keys keep the kernel's default
 *   permissions: possessor all, same uid view only, nobody else anything.
 * - Session and token keys get a kernel timeout of (expiration - now): the
 *   kernel refuses them after that even if keyrole never runs again.
 * - Long-term keys do not outlive a reboot (persistent = 0).
 * - Payloads we read carry secrets: they are wiped before they are freed.
 *   Payloads are untrusted (another process of this uid can write them):
 *   parsed defensively, bounded, checked with keyring_item_check().
 * - The user keyring is linked into our process keyring at open(), so we
 *   possess our keys even when the session keyring does not link @u (a
 *   daemon started outside a PAM session); without possession, same-uid
 *   processes get "view" only and could not read what they stored.
 * - Quota: an ordinary user has ~200 keys and 20,000 bytes. On EDQUOT we
 *   invalidate expired keyrole keys, then the session keys that expire
 *   soonest (never long-term keys), and retry once; if that fails the
 *   caller gets KR_ERR_KEYRING and keeps serving from memory.
 *
 * Payload format (compact, line-based; no field but the last may contain a
 * newline, which keyring_item_check() guarantees for the metadata):
 *     "1\n" KIND "\n" EXPIRATION "\n" PROFILE "\n" ROLE "\n" KEY "\n" SECRET
 * KIND is "s" (session), "l" (long-term) or "t" (an IAM Identity Center
 * token: it expires like a session, and is never evicted: losing it means
 * a new login); ROLE may be empty.
 */
#include "keyring.h"
#include "caps.h"

#include "buf.h"
#include "err.h"
#include "mem.h"

#include <errno.h>
#include <keyutils.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KR_KCTL_DESC_PREFIX "keyrole:"

struct kernel_state {
	char desc[KR_KEYRING_KEY_MAX + 16];
	struct err_detail err; /* last failure, for last_error() */
};

/* e = "what: errno text", with the way out of a full quota; returns KR_ERR_KEYRING. */
static int errno_detail(struct err_detail *e, const char *what)
{
	int errnum = errno;

	err_set(e, KR_ERR_KEYRING, NULL, 0,
	        errnum == EDQUOT ? "the kernel keyring quota of this user is full: raise the "
	                           "kernel.keys.maxkeys and maxbytes sysctls, or choose another "
	                           "cache backend"
	                         : NULL,
	        "%s: %s", what, strerror(errnum));
	return KR_ERR_KEYRING;
}

/* Remember why a call failed (errno text); returns KR_ERR_KEYRING. */
static int kernel_fail(struct kernel_state *st, const char *what)
{
	return errno_detail(&st->err, what);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static bool is_digest(const char *key)
{
	size_t n = strlen(key);

	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return false;
	return true;
}

/* The key description for an item key (in st->desc). */
static const char *desc_for(struct kernel_state *st, const char *key)
{
	int n = is_digest(key) ? KR_KCTL_DIGEST_CUT : (int)strlen(key);

	snprintf(st->desc, sizeof(st->desc), KR_KCTL_DESC_PREFIX "%.*s", n, key);
	return st->desc;
}

/* Next '\n'-terminated field of p[0..*len): NUL-terminates it in place. */
static char *next_field(char **p, size_t *len)
{
	char *start = *p, *nl = memchr(start, '\n', *len);

	if (!nl)
		return NULL;
	*nl = '\0';
	*len -= (size_t)(nl - start) + 1;
	*p = nl + 1;
	return start;
}

/*
 * Parse a payload (buf[0..len), modified in place). with_secret: copy the
 * secret into the item. KR_ERR_PARSE for anything malformed.
 */
static int parse_payload(char *buf, size_t len, bool with_secret, struct keyring_item **ret)
{
	char *p = buf, *ver, *kind, *exp, *profile, *role, *key, *end;
	long long e;
	int r = KR_ERR_PARSE;

	if (len > KR_KCTL_PAYLOAD_MAX)
		goto out;
	if (!(ver = next_field(&p, &len)) || strcmp(ver, "1") != 0)
		goto out;
	if (!(kind = next_field(&p, &len)) || !(exp = next_field(&p, &len)) ||
	    !(profile = next_field(&p, &len)) || !(role = next_field(&p, &len)) ||
	    !(key = next_field(&p, &len)))
		goto out;
	if (strcmp(kind, "s") != 0 && strcmp(kind, "l") != 0 && strcmp(kind, "t") != 0)
		goto out;
	errno = 0;
	e = strtoll(exp, &end, 10);
	if (errno || end == exp || *end || e < 0)
		goto out;
	/* The secret is the rest: p[0..len) followed by the NUL keyutils adds. */
	if (memchr(p, '\0', len))
		goto out;
	r = keyring_item_new(key,
	                     kind[0] == 's'   ? KEYRING_KIND_SESSION
	                     : kind[0] == 't' ? KEYRING_KIND_SSO
	                                      : KEYRING_KIND_LONGTERM,
	                     profile, role[0] ? role : NULL, (int64_t)e, with_secret ? p : NULL,
	                     ret);
	if (r < 0)
		r = KR_ERR_PARSE;
	if (r == KR_OK && with_secret && !(*ret)->secret) {
		keyring_item_free(*ret);
		r = KR_ERR_PARSE;
	}
out:
	return r;
}

/* Read one key's payload (wiped by the caller with mem_free_secret(p, len + 1)). */
static int read_payload(key_serial_t serial, char **ret, size_t *ret_len)
{
	void *p = NULL;
	long n = keyctl_read_alloc(serial, &p);

	if (n < 0)
		return errno == EKEYEXPIRED || errno == EKEYREVOKED || errno == ENOKEY
		           ? KR_ERR_NOCREDS
		           : KR_ERR_KEYRING;
	*ret = p;
	*ret_len = (size_t)n;
	return KR_OK;
}

static void drop_key(key_serial_t serial)
{
	/* Invalidation frees the quota at once; unlink is the fallback. */
	if (keyctl_invalidate(serial) < 0)
		keyctl_unlink(serial, KEY_SPEC_USER_KEYRING);
}

/* Is this serial one of ours? Fills *ret_expired for keys past their timeout. */
static bool is_ours(key_serial_t serial, bool *ret_expired)
{
	char *d = NULL, *desc;
	bool ours = false;

	*ret_expired = false;
	if (keyctl_describe_alloc(serial, &d) < 0) {
		/* An expired key can no longer be described; it may be ours. */
		*ret_expired = errno == EKEYEXPIRED;
		return false;
	}
	/* "type;uid;gid;perm;description" */
	desc = d;
	for (int i = 0; i < 4 && desc; i++) {
		desc = strchr(desc, ';');
		if (desc)
			desc++;
	}
	ours = desc && strncmp(d, "user;", 5) == 0 &&
	       strncmp(desc, KR_KCTL_DESC_PREFIX, strlen(KR_KCTL_DESC_PREFIX)) == 0;
	free(d);
	return ours;
}

struct scan_entry {
	key_serial_t serial;
	struct keyring_item *item; /* metadata only */
	size_t size;
};

/*
 * Every keyrole key in @u with its metadata; expired ones are invalidated
 * on the way and left out. Keys whose payload does not parse are left out.
 * purge: also unlink keys the kernel already reports expired; those can no
 * longer be described, so we cannot tell whose they are, but they are dead
 * and keep counting against the quota until the kernel's gc runs (up to
 * 5 minutes). Only done when the quota is full.
 */
static int scan(bool purge, struct scan_entry **ret, size_t *ret_n)
{
	key_serial_t *serials = NULL;
	struct scan_entry *out = NULL;
	size_t n = 0, count;
	long bytes;
	int64_t now = (int64_t)time(NULL);
	int r = KR_ERR_KEYRING;

	bytes = keyctl_read_alloc(KEY_SPEC_USER_KEYRING, (void **)&serials);
	if (bytes < 0)
		goto out;
	count = (size_t)bytes / sizeof(key_serial_t);
	if (count > KR_KCTL_SCAN_MAX)
		count = KR_KCTL_SCAN_MAX;
	r = KR_ERR_NOMEM;
	if (count && !(out = calloc(count, sizeof(*out))))
		goto out;
	for (size_t i = 0; i < count; i++) {
		struct keyring_item *it = NULL;
		bool expired;
		char *p = NULL;
		size_t len = 0;

		if (!is_ours(serials[i], &expired)) {
			if (expired && purge)
				keyctl_unlink(serials[i], KEY_SPEC_USER_KEYRING);
			continue;
		}
		if (read_payload(serials[i], &p, &len) < 0)
			continue;
		if (parse_payload(p, len, false, &it) == KR_OK) {
			if (it->expiration != 0 && it->expiration <= now) {
				drop_key(serials[i]);
				keyring_item_free(it);
			} else {
				out[n].serial = serials[i];
				out[n].item = it;
				out[n].size = len;
				n++;
			}
		}
		mem_free_secret(p, len + 1);
	}
	*ret = out;
	*ret_n = n;
	out = NULL;
	r = KR_OK;
out:
	free(serials);
	free(out);
	return r;
}

static void scan_free(struct scan_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		keyring_item_free(e[i].item);
	free(e);
}

static int by_expiration(const void *a, const void *b)
{
	const struct scan_entry *x = a, *y = b;

	if (x->item->expiration != y->item->expiration)
		return x->item->expiration < y->item->expiration ? -1 : 1;
	return 0;
}

/*
 * Make room for about `need` bytes: expired keys went in scan(); then the
 * session keys that expire soonest, at least one. Never long-term keys.
 */
static int evict(size_t need)
{
	struct scan_entry *e = NULL;
	size_t n = 0, freed = 0, dropped = 0;
	int r;

	if ((r = scan(true, &e, &n)) < 0)
		goto out;
	qsort(e, n, sizeof(*e), by_expiration);
	for (size_t i = 0; i < n && (freed < need || dropped == 0); i++) {
		if (strcmp(e[i].item->kind, KEYRING_KIND_SESSION) != 0)
			continue;
		drop_key(e[i].serial);
		freed += e[i].size + 64;
		dropped++;
	}
out:
	scan_free(e, n);
	return r;
}

static int kernel_open(void **ret_state, struct err_detail *e)
{
	struct kernel_state *st = NULL;
	key_serial_t probe = -1;
	void *back = NULL;
	long n;
	int r = KR_ERR_KEYRING;

	if (keyctl_get_keyring_ID(KEY_SPEC_USER_KEYRING, 1) < 0) {
		r = errno == ENOSYS ? KR_ERR_UNSUPPORTED : KR_ERR_KEYRING;
		errno_detail(e, "no kernel user keyring");
		e->code = r;
		goto out;
	}
	/* Possess @u through our process keyring (see the invariants). */
	/*
	 * Both steps need quota (the process keyring is a key too). A quota
	 * full of old keyrole sessions must not cost the backend: evict once.
	 */
	for (int tries = 0;; tries++) {
		if (keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_PROCESS_KEYRING) == 0)
			break;
		if (errno != EDQUOT || tries > 0) {
			errno_detail(e, "cannot link the user keyring");
			goto out;
		}
		evict(4096);
	}
	/* Probe: what we store we must be able to read back. */
	for (int tries = 0;; tries++) {
		probe = add_key("user", KR_KCTL_DESC_PREFIX "probe", "1", 1, KEY_SPEC_USER_KEYRING);
		if (probe >= 0)
			break;
		if (errno != EDQUOT || tries > 0) {
			errno_detail(e, "cannot add a key to the user keyring");
			goto out;
		}
		evict(4096);
	}
	n = keyctl_read_alloc(probe, &back);
	if (n != 1) {
		if (n < 0)
			errno_detail(e, "cannot read back a key from the user keyring");
		else
			err_set(e, r, NULL, 0, NULL,
			        "cannot read back a key from the user keyring: wrong length");
		goto out;
	}
	r = KR_ERR_NOMEM;
	if (!(st = calloc(1, sizeof(*st)))) {
		err_set_code(e, r);
		goto out;
	}
	*ret_state = st;
	st = NULL;
	r = KR_OK;
out:
	if (probe >= 0)
		drop_key(probe);
	free(back);
	free(st);
	return r;
}

static void kernel_close(void *state)
{
	free(state);
}

static const struct err_detail *kernel_last_error(void *state)
{
	struct kernel_state *st = state;

	return st->err.code < 0 ? &st->err : NULL;
}

static int kernel_store(void *state, const struct keyring_item *item)
{
	struct kernel_state *st = state;
	struct buf payload;
	const char *desc;
	key_serial_t serial;
	bool session = strcmp(item->kind, KEYRING_KIND_SESSION) == 0;
	bool sso = strcmp(item->kind, KEYRING_KIND_SSO) == 0;
	int64_t left = item->expiration - (int64_t)time(NULL);
	int r = KR_ERR_EXPIRED;

	buf_init_secret(&payload, KR_KCTL_PAYLOAD_MAX); /* holds item->secret */
	if ((session || sso) && left <= 0)
		goto out;
	if ((r = buf_printf(&payload, "1\n%s\n%lld\n%s\n%s\n%s\n%s",
	                    session ? "s"
	                    : sso   ? "t"
	                            : "l",
	                    (long long)item->expiration, item->profile,
	                    item->role_arn ? item->role_arn : "", item->key, item->secret)) < 0)
		goto out;
	desc = desc_for(st, item->key);
	/* add_key replaces the payload of an existing key with this description. */
	serial = add_key("user", desc, payload.data, payload.len, KEY_SPEC_USER_KEYRING);
	if (serial < 0 && errno == EDQUOT) {
		evict(payload.len + strlen(desc) + 1);
		/* The kernel frees invalidated keys' quota from a work queue. */
		for (int waited = 0; waited < KR_KCTL_GC_WAIT_MS; waited += 25) {
			serial =
			    add_key("user", desc, payload.data, payload.len, KEY_SPEC_USER_KEYRING);
			if (serial >= 0 || errno != EDQUOT)
				break;
			sleep_ms(25);
		}
	}
	if (serial < 0) {
		r = kernel_fail(st, "add_key");
		goto out;
	}
	/* 0 clears a timeout left from an earlier session key of this name. */
	if (keyctl_set_timeout(
	        serial, session || sso ? (unsigned)(left > 0xfffffff ? 0xfffffff : left) : 0) < 0) {
		/* An item without its timeout would outlive its credentials. */
		r = kernel_fail(st, "keyctl_set_timeout");
		drop_key(serial);
		goto out;
	}
	r = KR_OK;
out:
	buf_free(&payload);
	return r;
}

static int kernel_lookup(void *state, const char *key, struct keyring_item **ret)
{
	struct kernel_state *st = state;
	struct keyring_item *it = NULL;
	char *p = NULL;
	size_t len = 0;
	long serial;
	int r;

	serial = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc_for(st, key), 0);
	if (serial < 0) {
		r = (errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED)
		        ? KR_ERR_NOCREDS
		        : kernel_fail(st, "keyctl_search");
		goto out;
	}
	if ((r = read_payload((key_serial_t)serial, &p, &len)) < 0) {
		if (r == KR_ERR_KEYRING)
			kernel_fail(st, "keyctl_read");
		goto out;
	}
	if ((r = parse_payload(p, len, true, &it)) < 0) {
		r = KR_ERR_NOCREDS; /* a foreign or damaged key is no answer */
		goto out;
	}
	r = KR_ERR_NOCREDS;
	if (strcmp(it->key, key) != 0)
		goto out; /* another key with the same 128-bit prefix */
	if (it->expiration != 0 && it->expiration <= (int64_t)time(NULL)) {
		drop_key((key_serial_t)serial);
		goto out;
	}
	*ret = it;
	it = NULL;
	r = KR_OK;
out:
	keyring_item_free(it);
	if (p)
		mem_free_secret(p, len + 1);
	return r;
}

static int kernel_remove(void *state, const char *key)
{
	struct kernel_state *st = state;
	long serial = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc_for(st, key), 0);

	if (serial < 0)
		return (errno == ENOKEY || errno == EKEYEXPIRED || errno == EKEYREVOKED)
		           ? KR_OK
		           : kernel_fail(st, "keyctl_search");
	drop_key((key_serial_t)serial);
	return KR_OK;
}

static int kernel_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	struct scan_entry *e = NULL;
	size_t n = 0;
	int count = 0, r;

	if ((r = scan(false, &e, &n)) < 0) {
		if (r == KR_ERR_KEYRING)
			kernel_fail(state, "reading the user keyring");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (profile && strcmp(e[i].item->profile, profile) != 0)
			continue;
		if (kind && strcmp(e[i].item->kind, kind) != 0)
			continue;
		drop_key(e[i].serial);
		count++;
	}
	*ret_count = count;
out:
	scan_free(e, n);
	return r;
}

static int kernel_list(void *state, const char *kind, struct keyring_item ***ret_items,
                       size_t *ret_n)
{
	struct scan_entry *e = NULL;
	struct keyring_item **items = NULL;
	size_t n = 0, k = 0;
	int r;

	if ((r = scan(false, &e, &n)) < 0) {
		if (r == KR_ERR_KEYRING)
			kernel_fail(state, "reading the user keyring");
		goto out;
	}
	r = KR_ERR_NOMEM;
	if (n && !(items = calloc(n, sizeof(*items))))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (kind && strcmp(e[i].item->kind, kind) != 0)
			continue;
		items[k++] = e[i].item;
		e[i].item = NULL;
	}
	*ret_items = items;
	*ret_n = k;
	items = NULL;
	r = KR_OK;
out:
	free(items);
	scan_free(e, n);
	return r;
}

const struct keyring_ops keyring_kernel_ops = {
    .name = "keyctl",
    .persistent = 0, /* the kernel keyring does not survive a reboot */
    .open = kernel_open,
    .close = kernel_close,
    .store = kernel_store,
    .lookup = kernel_lookup,
    .remove = kernel_remove,
    .remove_profile = kernel_remove_profile,
    .list = kernel_list,
    .last_error = kernel_last_error,
};
