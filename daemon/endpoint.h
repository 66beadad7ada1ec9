/*
 * The STS endpoint for an AssumeRole call, chosen as botocore 1.43 chooses
 * it (configprovider.ConfiguredEndpointProvider, args.ClientArgsCreator):
 *
 *   1. AWS_ENDPOINT_URL_STS
 *   2. AWS_ENDPOINT_URL
 *   3. the profile's "services = NAME" -> [services NAME] -> "sts =" block's
 *      endpoint_url
 *   4. the profile's endpoint_url
 *      (1-4 are all skipped when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, else
 *       the profile's ignore_configured_endpoint_urls, is "true" in any case)
 *   5. neither FIPS nor dual-stack, and no region (or "aws-global"), or
 *      sts_regional_endpoints = legacy with a region in botocore's
 *      LEGACY_GLOBAL_STS_REGIONS: https://sts.amazonaws.com, signed for
 *      us-east-1
 *   6. botocore's STS endpoint ruleset for the region's partition
 *      (partitions.def): https://sts.REGION.<dnsSuffix>; sts-fips. for
 *      FIPS (use_fips_endpoint, AWS_USE_FIPS_ENDPOINT, or a "fips-" /
 *      "-fips" pseudo region, which is then stripped), except aws-us-gov's
 *      FIPS-only host, which is the plain one; the dual-stack suffix for
 *      dual-stack. No region counts as aws-global; signed for REGION
 *      (aws-global: us-east-1). Dual-stack in aws-iso-e and aws-iso-f is
 *      KR_ERR_CONFIG, as botocore's EndpointVariantError.
 *
 * An empty region is KR_ERR_CONFIG (botocore builds "https://sts..amazonaws.com"
 * and refuses it), as is one botocore's region check refuses ("12345").
 *
 * sts_regional_endpoints defaults to "regional" (botocore 1.43; empty counts
 * as unset); any value but "legacy"/"regional" is an error, as in botocore.
 * A configured URL is signed for the region, or us-east-1 without one. Its
 * scheme may be in any case ("HTTPS://"); *ret_url always has it in lower
 * case, which is all that the HTTP and SigV4 code below accept.
 */
#ifndef KR_ENDPOINT_H
#define KR_ENDPOINT_H

#include "err.h"

#include <stddef.h>

struct pmap;
struct pmap_profile;
struct caller_env;

struct endpoint_in {
	const char *region;                 /* resolved region, or NULL */
	const char *env_endpoint_url_sts;   /* AWS_ENDPOINT_URL_STS */
	const char *env_endpoint_url;       /* AWS_ENDPOINT_URL */
	const char *services_sts_url;       /* [services NAME] sts.endpoint_url */
	const char *profile_endpoint_url;   /* the profile's endpoint_url */
	const char *sts_regional_endpoints; /* env, else profile; NULL = regional */
	const char *ignore_configured;      /* env, else profile: "true" = ignore 1-4 */
	const char *use_fips;               /* AWS_USE_FIPS_ENDPOINT, else use_fips_endpoint */
	const char *use_dualstack; /* AWS_USE_DUALSTACK_ENDPOINT, else use_dualstack_endpoint */
};

/*
 * On success *ret_url and *ret_signing_region are new strings the caller
 * frees. KR_ERR_CONFIG for an invalid region name, an invalid
 * sts_regional_endpoints value or an endpoint URL that is not http(s)://HOST;
 * e (may be NULL) then says which and how to fix it.
 */
int endpoint_resolve(const struct endpoint_in *in, char **ret_url, char **ret_signing_region,
                     struct err_detail *e);

/*
 * Other services, with the same rules: botocore's configured endpoints
 * (1-4 above, for the service's own variable and block), else its endpoint
 * rules for the region (sso_region):
 *
 *   service    variable                    [services] block   default
 *   sts        AWS_ENDPOINT_URL_STS        sts =              (above)
 *   sso        AWS_ENDPOINT_URL_SSO        sso =              https://portal.sso.REGION.<suffix>
 *   sso-oidc   AWS_ENDPOINT_URL_SSO_OIDC   sso_oidc =         https://oidc.REGION.<suffix>
 *
 * The block's name is botocore's snake-cased service id ("SSO OIDC" ->
 * sso_oidc, not "sso-oidc").
 */
enum endpoint_service {
	ENDPOINT_STS = 0,
	ENDPOINT_SSO,      /* the IAM Identity Center portal (GetRoleCredentials, ...) */
	ENDPOINT_SSO_OIDC, /* IAM Identity Center OIDC (logins, token refreshes) */
};

/* What the configuration says about one service's endpoint (borrowed from env and the map). */
struct endpoint_conf {
	enum endpoint_service service;
	const char *env_service;   /* AWS_ENDPOINT_URL_<SERVICE> */
	const char *env_global;    /* AWS_ENDPOINT_URL */
	const char *services_url;  /* the [services NAME] block's endpoint_url */
	const char *profile_url;   /* the profile's endpoint_url */
	const char *ignore;        /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, else the profile's */
	const char *use_fips;      /* AWS_USE_FIPS_ENDPOINT (even ""), else use_fips_endpoint */
	const char *use_dualstack; /* AWS_USE_DUALSTACK_ENDPOINT, else use_dualstack_endpoint */
	/* Where the last two are (messages). */
	const char *services_name, *services_file, *profile_name, *profile_file;
	int services_line, profile_line;
};

/*
 * Where the endpoint that c makes comes from, for a person, in out (n
 * bytes): "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "[services NAME] sts
 * endpoint_url, FILE:LINE", "endpoint_url of profile P, FILE:LINE" or "the
 * default endpoint".
 */
void endpoint_conf_origin(const struct endpoint_conf *c, char *out, size_t n);

/*
 * Read service's endpoint settings for a client of profile p (the
 * requested profile: botocore makes its clients from the session) in the
 * caller's environment. [services] is looked at only when neither
 * variable is set, as in botocore; a "services = NAME" without that
 * section, or a block that is a plain value, is KR_ERR_CONFIG (e says
 * where). p may be NULL: only the environment counts.
 */
int endpoint_conf_read(const struct pmap *m, const struct pmap_profile *p,
                       const struct caller_env *env, enum endpoint_service service,
                       struct endpoint_conf *out, struct err_detail *e);

/*
 * The URL of a service other than STS: the configured one, else the
 * default for region. *ret_url is a new string (scheme in lower case).
 * KR_ERR_CONFIG for an invalid region (or none) or configured URL.
 */
int endpoint_service_url(enum endpoint_service service, const char *region,
                         const struct endpoint_conf *c, char **ret_url, struct err_detail *e);

/* The caller's proxy variables under libcurl's names (any may be NULL). */
struct endpoint_proxy_env {
	const char *https_proxy, *https_proxy_uc; /* https_proxy, HTTPS_PROXY */
	const char *http_proxy, *http_proxy_uc;   /* http_proxy, HTTP_PROXY (never used) */
	const char *all_proxy, *all_proxy_uc;     /* all_proxy, ALL_PROXY */
	const char *no_proxy, *no_proxy_uc;       /* no_proxy, NO_PROXY */
};

/*
 * The proxy for a call to url (from endpoint_resolve) as libcurl would
 * choose it in the caller's environment: https_proxy, else HTTPS_PROXY for
 * https://; http_proxy only for http:// (libcurl ignores HTTP_PROXY, which
 * a CGI request's "Proxy:" header can set); then all_proxy, ALL_PROXY. The
 * exceptions: no_proxy, else NO_PROXY. An empty value counts as unset, as
 * in libcurl.
 *
 * If the caller has none of the eight variables at all, *ret_proxy and
 * *ret_no_proxy are NULL: the daemon's own environment applies (libcurl
 * reads it). Otherwise the caller's set replaces the daemon's: both are
 * new strings, "" meaning no proxy / no exceptions. Proxy settings do not
 * change credentials: they are never part of a cache key.
 */
int endpoint_proxy(const char *url, const struct endpoint_proxy_env *env, char **ret_proxy,
                   char **ret_no_proxy);

/* botocore's region-name check: [a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])? */
int endpoint_region_valid(const char *region);

/* Is s "true" in any letter case (botocore's ensure_boolean)? */
int endpoint_is_true(const char *s);

#endif
