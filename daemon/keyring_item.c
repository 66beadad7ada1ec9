/*
 * Keyring items: making, copying, checking, labelling and freeing the
 * records that the keyring front and its backends pass around.
 *
 * Invariants:
 * - An item's secret lives in secret memory (mem_secret_strdup()) and is
 *   wiped when the item is freed (mem_free_str()); nothing else in an item
 *   is secret.
 * - keyring_item_check() is the one definition of a well-formed item: the
 *   front runs it on every item it is given and on everything a backend
 *   hands back (keyring contents are untrusted when read back), and
 *   keyring_item_new() runs it before it copies a byte.
 */
#include "keyring.h"

#include "err.h"
#include "caps.h"
#include "mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void keyring_item_free(struct keyring_item *it)
{
	if (!it)
		return;
	free(it->key);
	free(it->kind);
	free(it->profile);
	free(it->role_arn);
	mem_free_str(it->secret);
	free(it);
}

void keyring_items_free(struct keyring_item **items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		keyring_item_free(items[i]);
	free(items);
}

int keyring_item_check_field(const char *s, size_t max, int required)
{
	size_t n;

	if (!s)
		return required ? KR_ERR_INVAL : KR_OK;
	n = strnlen(s, max + 1);
	if (n > max)
		return KR_ERR_TOOBIG;
	if (n == 0 && required)
		return KR_ERR_INVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return KR_ERR_INVAL;
	return KR_OK;
}

int keyring_item_check(const struct keyring_item *it, int need_secret)
{
	bool session, longterm, sso;
	size_t n;
	int r = KR_ERR_INVAL;

	if (!it || !it->kind)
		goto out;
	if ((r = keyring_item_check_field(it->key, KR_KEYRING_KEY_MAX, 1)) < 0 ||
	    (r = keyring_item_check_field(it->profile, KR_NAME_MAX, 1)) < 0 ||
	    (r = keyring_item_check_field(it->role_arn, KR_KEYRING_ROLE_MAX, 0)) < 0)
		goto out;
	r = KR_ERR_INVAL;
	session = strcmp(it->kind, KEYRING_KIND_SESSION) == 0;
	longterm = strcmp(it->kind, KEYRING_KIND_LONGTERM) == 0;
	sso = strcmp(it->kind, KEYRING_KIND_SSO) == 0;
	/* A session or a token always expires; a long-term key may (0 = never). */
	if ((!session && !longterm && !sso) || ((session || sso) && it->expiration <= 0) ||
	    it->expiration < 0)
		goto out;
	if (!it->secret) {
		r = need_secret ? KR_ERR_INVAL : KR_OK;
		goto out;
	}
	n = strnlen(it->secret, KR_KEYRING_SECRET_MAX + 1);
	r = n > KR_KEYRING_SECRET_MAX ? KR_ERR_TOOBIG : n == 0 ? KR_ERR_INVAL : KR_OK;
out:
	return r;
}

int keyring_item_new(const char *key, const char *kind, const char *profile, const char *role_arn,
                     int64_t expiration, const char *secret, struct keyring_item **ret)
{
	/* Check the borrowed strings first, so a cap gives TOOBIG, not NOMEM. */
	const struct keyring_item view = {
	    .key = (char *)key,
	    .kind = (char *)kind,
	    .profile = (char *)profile,
	    .role_arn = (char *)role_arn,
	    .expiration = expiration,
	    .secret = (char *)secret,
	};
	struct keyring_item *it = NULL;
	int r;

	if ((r = keyring_item_check(&view, 0)) < 0)
		goto out;
	r = KR_ERR_NOMEM;
	if (!(it = calloc(1, sizeof(*it))))
		goto out;
	it->expiration = expiration;
	if (!(it->key = strdup(key)) || !(it->kind = strdup(kind)) ||
	    !(it->profile = strdup(profile)))
		goto out;
	if (role_arn && !(it->role_arn = strdup(role_arn)))
		goto out;
	/* The checks above held it within KR_KEYRING_SECRET_MAX. */
	if (secret && !(it->secret = mem_secret_strdup(secret, KR_KEYRING_SECRET_MAX)))
		goto out;
	*ret = it;
	it = NULL;
	r = KR_OK;
out:
	keyring_item_free(it);
	return r;
}

int keyring_item_dup(const struct keyring_item *it, struct keyring_item **ret)
{
	if (!it)
		return KR_ERR_INVAL;
	return keyring_item_new(it->key, it->kind, it->profile, it->role_arn, it->expiration,
	                        it->secret, ret);
}

int keyring_item_label(const struct keyring_item *it, char *buf, size_t len)
{
	char until[64] = "";
	struct tm tm;
	time_t t;
	int n;

	if (!it || !it->profile || !it->kind || !buf || len == 0)
		return KR_ERR_INVAL;
	if (strcmp(it->kind, KEYRING_KIND_LONGTERM) == 0) {
		n = snprintf(buf, len, "keyrole: long-term keys for %s", it->profile);
	} else {
		t = (time_t)it->expiration;
		if (gmtime_r(&t, &tm))
			strftime(until, sizeof(until), " until %Y-%m-%d %H:%M UTC", &tm);
		if (strcmp(it->kind, KEYRING_KIND_SSO) == 0)
			n = snprintf(buf, len, "keyrole: IAM Identity Center session %s (%s)%s",
			             it->profile, it->role_arn ? it->role_arn : "-", until);
		else if (it->role_arn)
			n = snprintf(buf, len, "keyrole: %s session (%s)%s", it->profile,
			             it->role_arn, until);
		else
			n = snprintf(buf, len, "keyrole: %s session%s", it->profile, until);
	}
	if (n < 0 || (size_t)n >= len)
		return KR_ERR_TOOBIG;
	return KR_OK;
}
