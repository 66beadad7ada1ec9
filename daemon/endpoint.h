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
 *   5. no region (or "aws-global"), or sts_regional_endpoints = legacy with a
 *      region in botocore's LEGACY_GLOBAL_STS_REGIONS:
 *      https://sts.amazonaws.com, signed for us-east-1
 *   6. https://sts.REGION.<partition suffix> (amazonaws.com, amazonaws.com.cn
 *      for cn-*, and the ISO partitions), signed for REGION.
 *
 * sts_regional_endpoints defaults to "regional" (botocore 1.43; empty counts
 * as unset); any value but "legacy"/"regional" is an error, as in botocore.
 * A configured URL is signed for the region, or us-east-1 without one. Its
 * scheme may be in any case ("HTTPS://"); *ret_url always has it in lower
 * case, which is all that the HTTP and SigV4 code below accept.
 */
#ifndef KR_ENDPOINT_H
#define KR_ENDPOINT_H

#include <stddef.h>

struct endpoint_in {
	const char *region;                 /* resolved region, or NULL */
	const char *env_endpoint_url_sts;   /* AWS_ENDPOINT_URL_STS */
	const char *env_endpoint_url;       /* AWS_ENDPOINT_URL */
	const char *services_sts_url;       /* [services NAME] sts.endpoint_url */
	const char *profile_endpoint_url;   /* the profile's endpoint_url */
	const char *sts_regional_endpoints; /* env, else profile; NULL = regional */
	const char *ignore_configured;      /* env, else profile: "true" = ignore 1-4 */
};

/*
 * On success *ret_url and *ret_signing_region are new strings the caller
 * frees. KR_ERR_CONFIG for an invalid region name, an invalid
 * sts_regional_endpoints value or an endpoint URL that is not http(s)://HOST;
 * errbuf (may be NULL) then says which and how to fix it.
 */
int endpoint_resolve(const struct endpoint_in *in, char **ret_url, char **ret_signing_region,
                     char *errbuf, size_t errlen);

/* botocore's region-name check: [a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])? */
int endpoint_region_valid(const char *region);

/* Is s "true" in any letter case (botocore's ensure_boolean)? */
int endpoint_is_true(const char *s);

#endif
