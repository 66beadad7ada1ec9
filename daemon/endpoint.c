/*
 * Endpoint resolution with botocore's precedence (STS, the IAM Identity
 * Center portal and OIDC); see endpoint.h. No secrets pass through here;
 * inputs are config values already bounded by the INI parser and checked
 * again below.
 */
#include "endpoint.h"

#include "err.h"
#include "caps.h"
#include "ini.h"
#include "partition.h"
#include "pmap.h"
#include "request.h"
#include "valid.h"

#include <ctype.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* botocore args.LEGACY_GLOBAL_STS_REGIONS (1.43). */
static const char *const legacy_global[] = {
    "ap-northeast-1", "ap-south-1",   "ap-southeast-1", "ap-southeast-2",
    "aws-global",     "ca-central-1", "eu-central-1",   "eu-north-1",
    "eu-west-1",      "eu-west-2",    "eu-west-3",      "sa-east-1",
    "us-east-1",      "us-east-2",    "us-west-1",      "us-west-2",
};

int endpoint_is_true(const char *s)
{
	return s && strcasecmp(s, "true") == 0;
}

int endpoint_region_valid(const char *r)
{
	return valid_region(r);
}

/*
 * botocore's host check (utils.is_valid_endpoint_url): dot-separated labels
 * of 1-63 letters, digits and "-", none starting or ending in "-" (so no
 * "_"), at most 255 characters with one trailing dot allowed; or an IPv6
 * address in brackets. h is the authority's host part, n its length.
 */
static int host_valid(const char *h, size_t n)
{
	size_t label = 0;

	if (n > 0 && h[0] == '[')
		return n > 2 && h[n - 1] == ']' &&
		       strspn(h + 1, "0123456789abcdefABCDEF:.%") >= n - 2;
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-' || h[i - label] == '-')
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)h[i]) || h[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* http(s)://HOST... with a host botocore takes and no whitespace or controls. */
static int url_valid(const char *u)
{
	const char *h;
	size_t n = strlen(u);

	if (n > KR_VALUE_MAX)
		return 0;
	if (strncasecmp(u, "https://", 8) == 0)
		h = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		h = u + 7;
	else
		return 0;
	if (*h == '\0' || *h == '/' || *h == ':' || *h == '?' || *h == '#')
		return 0;
	for (const unsigned char *p = (const unsigned char *)u; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 0;
	n = strcspn(h, "/?#");
	for (size_t i = n; i-- > 0;)
		if (h[i] == '@') { /* user info */
			h += i + 1;
			n -= i + 1;
			break;
		}
	if (n > 0 && h[0] != '[') {
		const char *colon = memchr(h, ':', n);

		if (colon)
			n = (size_t)(colon - h);
	} else if (n > 0) {
		const char *close = memchr(h, ']', n);

		n = close ? (size_t)(close - h) + 1 : 0;
	}
	return host_valid(h, n);
}

static void seterr(struct err_detail *e, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(struct err_detail *e, const char *fix, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	err_set(e, KR_ERR_CONFIG, NULL, 0, fix, "%s", "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/*
 * botocore's "fips-" and "-fips" pseudo regions: the name without them,
 * with FIPS on (ClientCreator._normalize_fips_region). *ret is a new string.
 */
static int normalize_fips(const char *region, char **ret, int *fips)
{
	char *r = strdup(region), *at;

	if (!r)
		return KR_ERR_NOMEM;
	while ((at = strstr(r, "fips-")) || (at = strstr(r, "-fips"))) {
		memmove(at, at + 5, strlen(at + 5) + 1);
		*fips = 1;
	}
	*ret = r;
	return KR_OK;
}

/*
 * The host of a service in region (already normalized) as botocore's
 * endpoint rulesets for STS, SSO and SSO OIDC build it, with its older
 * resolver's refusal first: https://PLAIN.REGION.SUFFIX, PLAIN-FIPS for
 * FIPS (except where the partition keeps the plain host), the dual-stack
 * suffix for dual-stack. Errors in botocore's words.
 */
static int variant_url(const char *plain, const char *region, int fips, int ds, char **ret,
                       struct err_detail *e)
{
	int by_pattern;
	const struct partition *p = partition_of(region, &by_pattern);
	const char *suffix = ds ? p->dualstack_dns_suffix : p->dns_suffix;
	const char *fix =
	    "set use_fips_endpoint / use_dualstack_endpoint (or AWS_USE_FIPS_ENDPOINT, "
	    "AWS_USE_DUALSTACK_ENDPOINT) to false, or name an endpoint_url";
	size_t n;
	char *url;

	if (ds && by_pattern && !p->legacy_dualstack) {
		seterr(e, fix,
		       "Unable to construct a modeled endpoint with the following variant(s) "
		       "['dualstack'%s]: botocore has no dual-stack endpoint in partition %s",
		       fips ? ", 'fips'" : "", p->id);
		return KR_ERR_CONFIG;
	}
	if ((fips && !p->fips) || (ds && !p->dualstack)) {
		seterr(e, fix, "%s",
		       fips && ds ? "FIPS and DualStack are enabled, but this partition does not "
		                    "support one or both"
		       : fips
		           ? "FIPS is enabled but this partition does not support FIPS"
		           : "DualStack is enabled but this partition does not support DualStack");
		return KR_ERR_CONFIG;
	}
	n = strlen(plain) + strlen(region) + strlen(suffix) + 16;
	url = malloc(n);
	if (!url)
		return KR_ERR_NOMEM;
	snprintf(url, n, "https://%s%s.%s.%s", plain, fips && (ds || !p->fips_plain) ? "-fips" : "",
	         region, suffix);
	*ret = url;
	return KR_OK;
}

/* libcurl's rule: a variable that is set but empty is not set. */
static const char *first_set(const char *a, const char *b)
{
	return a && a[0] ? a : b && b[0] ? b : NULL;
}

int endpoint_proxy(const char *url, const struct endpoint_proxy_env *env, char **ret_proxy,
                   char **ret_no_proxy)
{
	const char *const all[] = {env->https_proxy,   env->https_proxy_uc, env->http_proxy,
	                           env->http_proxy_uc, env->all_proxy,      env->all_proxy_uc,
	                           env->no_proxy,      env->no_proxy_uc};
	const char *proxy, *no_proxy;
	char *p = NULL, *np = NULL;
	int any = 0;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		any |= all[i] != NULL;
	*ret_proxy = *ret_no_proxy = NULL;
	if (!any)
		return KR_OK;
	if (url && strncmp(url, "https://", 8) == 0)
		proxy = first_set(env->https_proxy, env->https_proxy_uc);
	else
		proxy = first_set(env->http_proxy, NULL);
	if (!proxy)
		proxy = first_set(env->all_proxy, env->all_proxy_uc);
	no_proxy = first_set(env->no_proxy, env->no_proxy_uc);
	p = strdup(proxy ? proxy : "");
	np = strdup(no_proxy ? no_proxy : "");
	if (!p || !np) {
		free(p);
		free(np);
		return KR_ERR_NOMEM;
	}
	*ret_proxy = p;
	*ret_no_proxy = np;
	return KR_OK;
}

static int is_set(const char *s)
{
	return s && s[0];
}

/*
 * botocore's configured endpoint, in its order (the service's variable,
 * AWS_ENDPOINT_URL, the [services] block, the profile's endpoint_url): the
 * first that is set and not empty (botocore skips empty values), unless
 * ignore is true.
 */
static const char *configured_url(const char *env_service, const char *env_global,
                                  const char *services_url, const char *profile_url,
                                  const char *ignore)
{
	const char *order[] = {env_service, env_global, services_url, profile_url};

	if (endpoint_is_true(ignore))
		return NULL;
	for (size_t i = 0; i < 4; i++)
		if (order[i] && order[i][0])
			return order[i];
	return NULL;
}

/* A configured URL, checked; *ret gets a copy with the scheme in lower case. */
static int take_url(const char *configured, char **ret, struct err_detail *e)
{
	char *url;

	if (!url_valid(configured)) {
		seterr(e, "use http://HOST[:PORT] or https://HOST[:PORT]",
		       "endpoint URL \"%.200s\" is not a valid http:// or https:// URL",
		       configured);
		return KR_ERR_CONFIG;
	}
	url = strdup(configured);
	if (!url)
		return KR_ERR_NOMEM;
	/* The scheme in any case, as botocore takes it; lowercase from here on. */
	for (char *p = url; *p && *p != ':'; p++)
		*p = (char)tolower((unsigned char)*p);
	*ret = url;
	return KR_OK;
}

int endpoint_resolve(const struct endpoint_in *in, char **ret_url, char **ret_signing_region,
                     struct err_detail *e)
{
	const char *configured, *sre;
	char *url = NULL, *sign = NULL, *region = NULL;
	int global = 0, fips, ds, r = KR_OK;

	if (!in || !ret_url || !ret_signing_region)
		return KR_ERR_INVAL;
	fips = endpoint_is_true(in->use_fips);
	ds = endpoint_is_true(in->use_dualstack);
	if (in->region && !in->region[0]) {
		/* botocore builds https://sts..amazonaws.com and refuses it. */
		seterr(e, "give the region key a value, or remove it (or unset AWS_DEFAULT_REGION)",
		       "the region is empty (botocore builds an endpoint with an empty host "
		       "label and fails: \"Invalid endpoint\")");
		r = KR_ERR_CONFIG;
		goto out;
	}
	if (in->region && !endpoint_region_valid(in->region)) {
		seterr(e, "fix the region key or AWS_REGION/AWS_DEFAULT_REGION",
		       "region \"%s\" is not a valid region name (e.g. eu-west-1); botocore: "
		       "Provided region_name '%s' doesn't match a supported format.",
		       in->region, in->region);
		r = KR_ERR_CONFIG;
		goto out;
	}
	configured =
	    configured_url(in->env_endpoint_url_sts, in->env_endpoint_url, in->services_sts_url,
	                   in->profile_endpoint_url, in->ignore_configured);
	/* botocore's STS client without a region is the partition endpoint's, aws-global. */
	r = normalize_fips(in->region ? in->region : "aws-global", &region, &fips);
	if (r < 0)
		goto out;
	if (configured) {
		/* A configured endpoint wins over FIPS and dual-stack (botocore ignores both). */
		r = take_url(configured, &url, e);
		if (r == KR_OK)
			sign = strdup(in->region ? region : "us-east-1");
		goto out;
	}
	sre = in->sts_regional_endpoints;
	if (sre && sre[0] && strcmp(sre, "legacy") != 0 && strcmp(sre, "regional") != 0) {
		seterr(e, "use \"regional\" or \"legacy\"",
		       "sts_regional_endpoints = \"%s\" is invalid", sre);
		r = KR_ERR_CONFIG;
		goto out;
	}
	if (!fips && !ds && strcmp(region, "aws-global") == 0) {
		global = 1;
	} else if (!fips && !ds && sre && strcmp(sre, "legacy") == 0) {
		for (size_t i = 0; i < sizeof(legacy_global) / sizeof(legacy_global[0]); i++)
			if (strcmp(region, legacy_global[i]) == 0)
				global = 1;
	}
	if (global) {
		url = strdup("https://sts.amazonaws.com");
		sign = strdup("us-east-1");
	} else {
		r = variant_url("sts", region, fips, ds, &url, e);
		/* aws-global's credential scope is us-east-1 (endpoints.json). */
		if (r == KR_OK)
			sign = strdup(strcmp(region, "aws-global") == 0 ? "us-east-1" : region);
	}
out:
	free(region);
	if (r == KR_OK && (!url || !sign))
		r = KR_ERR_NOMEM;
	if (r == KR_OK) {
		*ret_url = url;
		*ret_signing_region = sign;
	} else {
		free(url);
		free(sign);
	}
	return r;
}

/* Per service: its variable (a member of struct caller_env), [services] block and host. */
static const struct {
	const char *name;  /* botocore's client name (messages) */
	size_t env_offset; /* of AWS_ENDPOINT_URL_<SERVICE> in struct caller_env */
	const char *block; /* the snake-cased service id */
	const char *host;  /* the default host's first labels */
	const char *var;   /* the variable's name (messages) */
} services[] = {
    [ENDPOINT_STS] = {"sts", offsetof(struct caller_env, endpoint_url_sts), "sts", "sts",
                      "AWS_ENDPOINT_URL_STS"},
    [ENDPOINT_SSO] = {"sso", offsetof(struct caller_env, endpoint_url_sso), "sso", "portal.sso",
                      "AWS_ENDPOINT_URL_SSO"},
    [ENDPOINT_SSO_OIDC] = {"sso-oidc", offsetof(struct caller_env, endpoint_url_sso_oidc),
                           "sso_oidc", "oidc", "AWS_ENDPOINT_URL_SSO_OIDC"},
};

void endpoint_conf_origin(const struct endpoint_conf *c, char *out, size_t n)
{
	if (n == 0)
		return;
	if (endpoint_is_true(c->ignore) ||
	    !configured_url(c->env_service, c->env_global, c->services_url, c->profile_url, NULL))
		snprintf(out, n, "the default endpoint");
	else if (is_set(c->env_service))
		snprintf(out, n, "%s", services[c->service].var);
	else if (is_set(c->env_global))
		snprintf(out, n, "AWS_ENDPOINT_URL");
	else if (is_set(c->services_url))
		snprintf(out, n, "[services %.100s] %s endpoint_url, %.300s:%d", c->services_name,
		         services[c->service].block, c->services_file ? c->services_file : "?",
		         c->services_line);
	else
		snprintf(out, n, "endpoint_url of profile %.100s, %.300s:%d", c->profile_name,
		         c->profile_file ? c->profile_file : "?", c->profile_line);
}

int endpoint_conf_read(const struct pmap *m, const struct pmap_profile *p,
                       const struct caller_env *env, enum endpoint_service service,
                       struct endpoint_conf *out, struct err_detail *e)
{
	struct pmap_val ig = {0}, pv = {0}, sv = {0}, fv = {0}, dv = {0};
	const struct ini_section *sec;
	const struct ini_kv *block;
	const char *name;

	if ((size_t)service >= sizeof(services) / sizeof(services[0]))
		return KR_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	out->service = service;
	out->env_service = *(const char *const *)((const char *)env + services[service].env_offset);
	out->env_global = env->endpoint_url;
	out->ignore = env->ignore_configured_endpoint_urls;
	/* The variable, even empty (botocore: "" is false), else the profile's key. */
	out->use_fips = env->use_fips_endpoint;
	out->use_dualstack = env->use_dualstack_endpoint;
	if (!p)
		return KR_OK;
	if (!out->ignore && pmap_get(m, p, PMAP_ANY, "ignore_configured_endpoint_urls", &ig))
		out->ignore = ig.v;
	if (!out->use_fips && pmap_get(m, p, PMAP_ANY, "use_fips_endpoint", &fv))
		out->use_fips = fv.v;
	if (!out->use_dualstack && pmap_get(m, p, PMAP_ANY, "use_dualstack_endpoint", &dv))
		out->use_dualstack = dv.v;
	if (pmap_get(m, p, PMAP_ANY, "endpoint_url", &pv)) {
		out->profile_url = pv.v;
		out->profile_name = pmap_name(p);
		out->profile_file = pv.file;
		out->profile_line = pv.line;
	}
	/* botocore looks at [services] only when no environment URL is set. */
	if (endpoint_is_true(out->ignore) || is_set(out->env_service) || is_set(out->env_global) ||
	    !pmap_get(m, p, PMAP_ANY, "services", &sv))
		return KR_OK;
	sec = pmap_services(m, sv.v);
	if (!sec || sec->n_kvs == 0) {
		err_set(e, KR_ERR_CONFIG, sv.file, sv.line,
		        "add a [services NAME] section or fix the name",
		        "profile \"%s\" uses services \"%.100s\", which does not exist",
		        pmap_name(p), sv.v);
		return KR_ERR_CONFIG;
	}
	name = services[service].block;
	block = ini_get(sec, name);
	if (block && !block->sub && block->value[0]) {
		char fix[128];

		snprintf(fix, sizeof(fix),
		         "write \"%s =\" and then an indented \"endpoint_url = URL\" line", name);
		err_set(e, KR_ERR_CONFIG, pmap_filename(m, PMAP_CONFIG), block->line, fix,
		        "[services %.100s] has %s = a value, not an indented block", sv.v, name);
		return KR_ERR_CONFIG;
	}
	if (ini_sub(block, "endpoint_url")) {
		out->services_url = ini_sub(block, "endpoint_url")->value;
		out->services_name = sv.v;
		out->services_file = pmap_filename(m, PMAP_CONFIG);
		out->services_line = ini_sub(block, "endpoint_url")->line;
	}
	return KR_OK;
}

int endpoint_service_url(enum endpoint_service service, const char *region,
                         const struct endpoint_conf *c, char **ret_url, struct err_detail *e)
{
	const char *configured;
	char *norm = NULL;
	int fips, r;

	if (service == ENDPOINT_STS || (size_t)service >= sizeof(services) / sizeof(services[0]))
		return KR_ERR_INVAL;
	/* botocore checks the region of every client, even one with a configured URL. */
	if (!region || !endpoint_region_valid(region)) {
		seterr(e,
		       "set sso_region to the region of your IAM Identity Center (e.g. eu-west-1)",
		       "region \"%.100s\" of the %s endpoint is not a valid region name",
		       region ? region : "", services[service].name);
		return KR_ERR_CONFIG;
	}
	configured = configured_url(c->env_service, c->env_global, c->services_url, c->profile_url,
	                            c->ignore);
	if (configured)
		return take_url(configured, ret_url, e);
	fips = endpoint_is_true(c->use_fips);
	r = normalize_fips(region, &norm, &fips);
	if (r == KR_OK)
		r = variant_url(services[service].host, norm, fips,
		                endpoint_is_true(c->use_dualstack), ret_url, e);
	free(norm);
	return r;
}
