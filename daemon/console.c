/*
 * keyrole console's data: endpoints, the getSigninToken request, its
 * answer, the login URL. The contract and AWS's rules are in console.h.
 */
#include "console.h"

#include "endpoint.h"
#include "json.h"
#include "mem.h"
#include "partition.h"
#include "sts_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char console_default_policy[] =
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\","
    "\"Resource\":\"*\"}]}";

const char *console_federation_default(const char *region)
{
	return partition_of(region, NULL)->federation;
}

int console_destination_default(const char *region, char **ret, struct err_detail *e)
{
	const struct partition *p = partition_of(region, NULL);
	char *s = NULL;
	int n;

	*ret = NULL;
	if (region && *region && !endpoint_region_valid(region)) {
		err_set(e, KR_ERR_CONFIG, NULL, 0, "check the profile's region", "invalid region");
		return KR_ERR_CONFIG;
	}
	if (!p->console) {
		err_set(
		    e, KR_ERR_CONFIG, NULL, 0,
		    "give the page with --destination and the endpoint in KEYROLE_FEDERATION_URL",
		    "region %s has no known console sign-in endpoint", region);
		return KR_ERR_CONFIG;
	}
	if (region && *region)
		n = asprintf(&s, "https://%s.%s/console/home?region=%s", region, p->console,
		             region);
	else
		n = asprintf(&s, "https://%s/console/home", p->console);
	if (n < 0)
		return KR_ERR_NOMEM;
	*ret = s;
	return KR_OK;
}

int console_url_ok(const char *url, int no_query)
{
	size_t n;

	if (!url)
		return 0;
	if (strncmp(url, "https://", 8) == 0)
		n = 8;
	else if (strncmp(url, "http://", 7) == 0)
		n = 7;
	else
		return 0;
	/* A host: not empty, no userinfo (an '@' before the path would hide the real host). */
	if (!url[n] || url[n] == '/' || url[n] == '?' || url[n] == '#' || url[n] == ':')
		return 0;
	if (strnlen(url, KR_CONSOLE_URL_MAX + 1) > KR_CONSOLE_URL_MAX)
		return 0;
	for (const char *p = url + n; *p && *p != '/' && *p != '?' && *p != '#'; p++)
		if (*p == '@')
			return 0;
	for (const char *p = url; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
		if (no_query && (*p == '?' || *p == '#'))
			return 0;
	}
	return 1;
}

void console_federation_name(const char *profile, char out[KR_CONSOLE_NAME_MAX + 1])
{
	size_t n = (size_t)snprintf(out, KR_CONSOLE_NAME_MAX + 1, "keyrole-%s", profile);

	if (n > KR_CONSOLE_NAME_MAX)
		n = KR_CONSOLE_NAME_MAX;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_+=,.@-", c)))
			out[i] = '-';
	}
	out[n] = '\0';
}

int console_signin_token_url(const char *base, const struct sts_creds *c, long session_duration,
                             struct buf *out)
{
	struct json_writer w;
	struct buf json;
	int r;

	if (!c || !c->access_key_id || !c->secret_access_key || !c->session_token ||
	    !*c->session_token)
		return KR_ERR_INVAL;
	buf_init_secret(&json, KR_HTTP_URL_MAX);
	json_w_init(&w, &json);
	json_w_begin_object(&w, NULL);
	json_w_str(&w, "sessionId", c->access_key_id);
	json_w_str(&w, "sessionKey", c->secret_access_key);
	json_w_str(&w, "sessionToken", c->session_token);
	json_w_end_object(&w);
	r = json_w_end(&w);
	if (r == KR_OK)
		r = buf_printf(out, "%s?Action=getSigninToken", base);
	if (r == KR_OK && session_duration > 0)
		r = buf_printf(out, "&SessionDuration=%ld", session_duration);
	if (r == KR_OK)
		r = buf_puts(out, "&Session=");
	if (r == KR_OK)
		r = sts_req_urlencode(out, json.data, json.len);
	buf_free(&json);
	return r;
}

int console_parse_signin(const char *body, size_t len, char **ret_token, struct err_detail *e)
{
	struct json *v = NULL;
	const char *t;
	int r = KR_ERR_PARSE;

	*ret_token = NULL;
	if (!body || len == 0 || len > KR_CONSOLE_RESP_MAX) {
		err_set(e, KR_ERR_PARSE, NULL, 0, NULL,
		        "the federation endpoint's answer is empty or over %d bytes",
		        KR_CONSOLE_RESP_MAX);
		return KR_ERR_PARSE;
	}
	if (json_parse(body, len, &v) < 0 || json_type(v) != JSON_OBJECT) {
		err_set(e, KR_ERR_PARSE, NULL, 0, NULL,
		        "the federation endpoint's answer is not a JSON object");
		goto out;
	}
	t = json_get_str(v, "SigninToken");
	if (!t || !*t) {
		err_set(e, KR_ERR_PARSE, NULL, 0, NULL,
		        "the federation endpoint's answer has no SigninToken");
		goto out;
	}
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			err_set(e, KR_ERR_PARSE, NULL, 0, NULL,
			        "the federation endpoint's SigninToken is not printable ASCII");
			goto out;
		}
	*ret_token = mem_secret_strdup(t, KR_CONSOLE_RESP_MAX);
	r = *ret_token ? KR_OK : KR_ERR_NOMEM;
	if (r < 0)
		err_set_code(e, r);
out:
	json_free(v); /* held the token: wiped */
	return r;
}

int console_login_url(const char *base, const char *destination, const char *token, struct buf *out)
{
	int r = buf_printf(out, "%s?Action=login&Issuer=%s&Destination=", base, CONSOLE_ISSUER);

	if (r == KR_OK)
		r = sts_req_urlencode(out, destination, strlen(destination));
	if (r == KR_OK)
		r = buf_puts(out, "&SigninToken=");
	if (r == KR_OK)
		r = sts_req_urlencode(out, token, strlen(token));
	return r;
}
