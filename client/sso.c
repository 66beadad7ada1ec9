/*
 * The sections of `keyrole sso profiles`. The naming and the contract are
 * in sso.h.
 */
#include "sso.h"

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "out.h"
#include "request.h"
#include "shellquote.h"

#include <stdlib.h>
#include <string.h>

static int name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_';
}

/* Append the sanitized s to out (len bytes used of n), at most max bytes of it. */
static size_t put_part(char *out, size_t len, size_t n, const char *s, size_t max)
{
	size_t start = len;
	int dash = 0;

	for (; *s && len + 1 < n && len - start < max; s++) {
		if (!name_char(*s)) {
			dash = len > start;
			continue;
		}
		if (*s == '.' && len == start)
			continue; /* not at the start of a part */
		if (dash) {
			if (len + 2 >= n || len - start + 1 >= max)
				break;
			out[len++] = '-';
		}
		dash = 0;
		out[len++] = *s;
	}
	while (len > start && (out[len - 1] == '.' || out[len - 1] == '-'))
		len--;
	out[len] = '\0';
	return len;
}

void sso_profile_name(const char *account_name, const char *account_id, const char *role, char *out,
                      size_t n)
{
	char rolepart[SSO_NAME_MAX + 1];
	size_t len, rl;

	rl = put_part(rolepart, 0, sizeof(rolepart), role ? role : "", SSO_NAME_MAX / 2);
	if (rl == 0)
		rl = put_part(rolepart, 0, sizeof(rolepart), "role", 4);
	len = put_part(out, 0, n, account_name ? account_name : "", SSO_NAME_MAX - rl - 1);
	if (len == 0)
		len = put_part(out, 0, n, account_id ? account_id : "", SSO_NAME_MAX - rl - 1);
	if (len == 0)
		len = put_part(out, 0, n, "account", 7);
	if (len + 1 + rl < n) {
		out[len++] = '-';
		memcpy(out + len, rolepart, rl + 1);
	}
}

/* s as one word for a credential_process line (split by shlex in botocore). */
static int put_word(struct cmd_ctx *x, const char *s)
{
	struct buf b;
	int r;

	if (s[strspn(s,
	             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+=@%:,/")] ==
	    '\0')
		return out_printf(x, "%s", s);
	buf_init(&b, KR_PATH_MAX * 4 + 8);
	r = shellquote_append(&b, s);
	if (r == KR_OK)
		r = out_printf(x, "%s", b.data);
	buf_free(&b);
	return r;
}

/* 1 if the session of reply is a legacy one: keyroled names it by its start URL (or not at all). */
static int legacy_session(const char *session)
{
	return !session || !*session || strstr(session, "://") != NULL;
}

struct names {
	char (*v)[KR_NAME_MAX + 1];
	size_t n, max;
};

static int names_has(const struct names *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], name) == 0)
			return 1;
	return 0;
}

/* The two sections of one (account, role). */
static int pair(struct cmd_ctx *x, const struct json *reply, const struct json *acct,
                const char *name, const char *role, const char *exe)
{
	const char *session = json_get_str(reply, "session");
	const char *region = request_str(acct, "region", request_str(reply, "region", NULL));
	int r;

	r = out_line(x, "[profile %s-chain]", name);
	if (r == KR_OK && !legacy_session(session))
		r = out_line(x, "sso_session = %s", session);
	if (r == KR_OK && legacy_session(session))
		r = out_line(x, "sso_start_url = %s", request_str(reply, "start_url", "?"));
	if (r == KR_OK && legacy_session(session))
		r = out_line(x, "sso_region = %s", request_str(reply, "region", "?"));
	if (r == KR_OK)
		r = out_line(x, "sso_account_id = %s", request_str(acct, "account_id", "?"));
	if (r == KR_OK)
		r = out_line(x, "sso_role_name = %s", role);
	if (r == KR_OK && region)
		r = out_line(x, "region = %s", region);
	if (r == KR_OK)
		r = out_eol(x);
	if (r == KR_OK)
		r = out_line(x, "[profile %s]", name);
	if (r == KR_OK)
		r = out_printf(x, "credential_process = ");
	if (r == KR_OK)
		r = put_word(x, exe);
	if (r == KR_OK)
		r = out_line(x, " get %s-chain", name);
	if (r == KR_OK && region)
		r = out_line(x, "region = %s", region);
	if (r == KR_OK)
		r = out_eol(x);
	return r;
}

int sso_sections(struct cmd_ctx *x, const struct json *reply, const char *exe)
{
	const struct json *accounts = json_get(reply, "accounts"), *a, *role;
	const char *session = json_get_str(reply, "session");
	struct names ns = {0};
	size_t n_roles = 0;
	int r;

	if (json_type(accounts) != JSON_ARRAY)
		return KR_ERR_PROTO;
	json_for_each(a, accounts) n_roles += json_count(json_get(a, "roles"));
	ns.max = n_roles;
	ns.v = n_roles ? calloc(n_roles, sizeof(*ns.v)) : NULL;
	if (n_roles && !ns.v)
		return KR_ERR_NOMEM;
	r = out_line(x, "# IAM Identity Center %s %s (%s): %zu account%s, %zu role%s.",
	             legacy_session(session) ? "start URL" : "session",
	             legacy_session(session) ? request_str(reply, "start_url", "?") : session,
	             legacy_session(session) ? request_str(reply, "region", "?")
	                                     : request_str(reply, "start_url", "?"),
	             json_count(accounts), json_count(accounts) == 1 ? "" : "s", n_roles,
	             n_roles == 1 ? "" : "s");
	if (r == KR_OK)
		r = out_line(x, "# For ~/.aws/config: tools use [profile NAME] (AWS_PROFILE=NAME), "
		                "keyrole resolves NAME-chain.");
	if (r == KR_OK)
		r = out_eol(x);
	json_for_each(a, accounts)
	{
		const char *id = request_str(a, "account_id", "?");
		const char *email = json_get_str(a, "email");

		if (r < 0)
			break;
		r = out_line(x, "# %s (%s%s%s)%s", request_str(a, "account_name", id), id,
		             email && *email ? ", " : "", email ? email : "",
		             json_count(json_get(a, "roles")) ? "" : ": no roles");
		if (r == KR_OK && !json_count(json_get(a, "roles")))
			r = out_eol(x);
		json_for_each(role, json_get(a, "roles"))
		{
			char name[KR_NAME_MAX + 1];
			size_t len;

			if (r < 0 || !json_str(role) || !*json_str(role))
				continue;
			sso_profile_name(json_get_str(a, "account_name"), id, json_str(role), name,
			                 sizeof(name));
			/* Two accounts of the same name: the later one's carries its id. */
			if (names_has(&ns, name)) {
				len = strlen(name);
				name[len++] = '-';
				if (put_part(name, len, sizeof(name), id, 32) == len)
					name[len - 1] = '\0';
			}
			if (names_has(&ns, name) || ns.n >= ns.max)
				continue; /* the same account and role listed twice */
			memcpy(ns.v[ns.n++], name, sizeof(name));
			r = pair(x, reply, a, name, json_str(role), exe);
		}
	}
	free(ns.v);
	return r;
}
