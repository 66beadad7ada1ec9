/*
 * Typed requests: the caller's environment (its field table and copies)
 * and the reply helpers. See request.h; the wire side is msg.c.
 */
#include "request.h"

#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(name, member)                                                                        \
	{                                                                                          \
		name, offsetof(struct caller_env, member)                                          \
	}

/* Every variable of proto_env_keys (test_msg checks that the two lists agree). */
const struct caller_env_field caller_env_fields[] = {
    FIELD("HOME", home),
    FIELD("AWS_CONFIG_FILE", config_file),
    FIELD("AWS_SHARED_CREDENTIALS_FILE", credentials_file),
    FIELD("AWS_REGION", region),
    FIELD("AWS_DEFAULT_REGION", default_region),
    FIELD("AWS_ENDPOINT_URL", endpoint_url),
    FIELD("AWS_ENDPOINT_URL_STS", endpoint_url_sts),
    FIELD("AWS_STS_REGIONAL_ENDPOINTS", sts_regional_endpoints),
    FIELD("AWS_CA_BUNDLE", ca_bundle),
    FIELD("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", ignore_configured_endpoint_urls),
    FIELD("AWS_ACCESS_KEY_ID", access_key_id),
    FIELD("AWS_SECRET_ACCESS_KEY", secret_access_key),
    FIELD("AWS_SESSION_TOKEN", session_token),
    FIELD("AWS_ENDPOINT_URL_SSO", endpoint_url_sso),
    FIELD("AWS_ENDPOINT_URL_SSO_OIDC", endpoint_url_sso_oidc),
    FIELD("AWS_USE_FIPS_ENDPOINT", use_fips_endpoint),
    FIELD("AWS_USE_DUALSTACK_ENDPOINT", use_dualstack_endpoint),
    FIELD("KEYROLE_FEDERATION_URL", federation_url),
    FIELD("AWS_WEB_IDENTITY_TOKEN_FILE", web_identity_token_file),
    FIELD("AWS_ROLE_ARN", role_arn),
    FIELD("AWS_ROLE_SESSION_NAME", role_session_name),
    FIELD("AWS_EC2_METADATA_DISABLED", ec2_metadata_disabled),
    FIELD("AWS_EC2_METADATA_SERVICE_ENDPOINT", ec2_metadata_service_endpoint),
    FIELD("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", ec2_metadata_service_endpoint_mode),
    FIELD("AWS_EC2_METADATA_V1_DISABLED", ec2_metadata_v1_disabled),
    FIELD("AWS_IMDS_USE_IPV6", imds_use_ipv6),
    FIELD("AWS_METADATA_SERVICE_TIMEOUT", metadata_service_timeout),
    FIELD("AWS_METADATA_SERVICE_NUM_ATTEMPTS", metadata_service_num_attempts),
    FIELD("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", container_relative_uri),
    FIELD("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_full_uri),
    FIELD("AWS_CONTAINER_AUTHORIZATION_TOKEN", container_token),
    FIELD("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", container_token_file),
    FIELD("https_proxy", proxy.https_proxy),
    FIELD("HTTPS_PROXY", proxy.https_proxy_uc),
    FIELD("http_proxy", proxy.http_proxy),
    FIELD("HTTP_PROXY", proxy.http_proxy_uc),
    FIELD("all_proxy", proxy.all_proxy),
    FIELD("ALL_PROXY", proxy.all_proxy_uc),
    FIELD("no_proxy", proxy.no_proxy),
    FIELD("NO_PROXY", proxy.no_proxy_uc),
};
const size_t caller_env_n_fields = sizeof(caller_env_fields) / sizeof(caller_env_fields[0]);

#undef FIELD

static const char **env_slot(struct caller_env *env, size_t i)
{
	return (const char **)((char *)env + caller_env_fields[i].offset);
}

/* The block: the struct, then every string; its size is kept in front of it for the wipe. */
struct env_block {
	size_t size;
	struct caller_env env;
	char strings[];
};

struct caller_env *caller_env_dup(const struct caller_env *env)
{
	struct caller_env in = *env;
	struct env_block *b;
	size_t n = sizeof(*b);
	char *p;

	for (size_t i = 0; i < caller_env_n_fields; i++)
		if (*env_slot(&in, i))
			n += strlen(*env_slot(&in, i)) + 1;
	b = mem_secret_alloc(n); /* AWS_SECRET_ACCESS_KEY, a proxy's password */
	if (!b)
		return NULL;
	b->size = n;
	b->env = in;
	p = b->strings;
	for (size_t i = 0; i < caller_env_n_fields; i++) {
		const char *v = *env_slot(&in, i);

		if (!v)
			continue;
		memcpy(p, v, strlen(v) + 1);
		*env_slot(&b->env, i) = p;
		p += strlen(v) + 1;
	}
	return &b->env;
}

void caller_env_free(struct caller_env *env)
{
	struct env_block *b;

	if (!env)
		return;
	b = (struct env_block *)((char *)env - offsetof(struct env_block, env));
	mem_free_secret(b, b->size);
}

void request_free(struct request *r)
{
	if (!r)
		return;
	mem_free_secret(r->strings, r->strings_len);
	memset(r, 0, sizeof(*r));
}

void reply_error(reply_fn fn, void *userdata, const struct reply_error *re)
{
	struct reply r = {.ok = 0, .u.error = *re};

	fn(userdata, &r);
}

void reply_errorf(reply_fn fn, void *userdata, int code, const char *profile, const char *fmt, ...)
{
	struct err_detail e;
	struct reply_error re = {.e = &e, .profile = profile};
	va_list ap;

	memset(&e, 0, sizeof(e));
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	reply_error(fn, userdata, &re);
}

_Static_assert(sizeof(caller_env_fields) / sizeof(caller_env_fields[0]) <= KR_ENV_MAX,
               "msg.c keeps one slot per honoured variable in an array of KR_ENV_MAX");
