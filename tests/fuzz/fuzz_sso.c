/*
 * libFuzzer harness: what IAM Identity Center parts read from outside:
 * the answers of the portal and OIDC (daemon/sso_api.c's sso_api_parse(),
 * one operation chosen by the first byte), keyrole's own keyring item and
 * the AWS CLI's cache file (daemon/sso_copies.c), all untrusted.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - a failed parse leaves nothing in the result (every pointer NULL);
 * - what a parse keeps is NUL-terminated within its cap, and an access
 *   token is only kept with an expiry;
 * - an expiry read is never further than the parser's bound.
 */
#include "caps.h"
#include "err.h"
#include "sso_api.h"
#include "sso_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t max)
{
	if (s && strnlen(s, max + 1) > max)
		abort();
}

static void api(int op, const char *text, size_t n)
{
	struct sso_api_result res;
	int r;

	memset(&res, 0, sizeof(res));
	r = sso_api_parse(op, text, n, &res);
	if (r != KR_OK && (res.accounts || res.roles || res.next_token || res.client_id ||
	                   res.client_secret || res.device_code || res.user_code ||
	                   res.access_token || res.refresh_token || res.creds.access_key_id))
		abort();
	check_str(res.access_token, KR_SSO_TOKEN_MAX);
	check_str(res.refresh_token, KR_SSO_TOKEN_MAX);
	check_str(res.device_code, KR_SSO_TOKEN_MAX);
	check_str(res.user_code, KR_SSO_FIELD_MAX);
	check_str(res.next_token, KR_SSO_FIELD_MAX);
	for (size_t i = 0; i < res.n_accounts; i++)
		check_str(res.accounts[i].account_id, KR_SSO_FIELD_MAX);
	if (res.n_accounts > KR_SSO_PAGE_MAX || res.n_roles > KR_SSO_PAGE_MAX)
		abort();
	if (r == KR_OK && op == SSO_CREATE_TOKEN && res.expires_in <= 0)
		abort();
	sso_api_result_clear(&res);
}

static void copies(int cli, const char *text, size_t n)
{
	char url[] = "https://d-fuzz.awsapps.com/start";
	struct sso s;
	struct sso_tok t;
	struct sso_found f;
	time_t now = time(NULL);

	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	memset(&f, 0, sizeof(f));
	t.s = &s;
	t.where.start_url = url;
	if (cli)
		sso_cli_parse_text(&t, text, n, &f);
	else
		sso_item_parse(&t, text, &f);
	check_str(f.access, KR_SSO_TOKEN_MAX);
	check_str(f.client_secret, KR_SSO_TOKEN_MAX);
	if ((f.access && !f.expires) || f.expires > now + 31L * 86400 ||
	    f.reg_expires > now + 401L * 86400)
		abort();
	sso_found_clear(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;
	int which;

	if (size < 1 || size > 256 * 1024)
		return 0;
	which = data[0] % 9;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (which < 7)
		api(which + 1, text, size - 1);
	else
		copies(which == 8, text, which == 8 ? size - 1 : strlen(text));
	free(text);
	return 0;
}
