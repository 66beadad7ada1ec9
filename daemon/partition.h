/*
 * The AWS partitions (daemon/partitions.def: botocore's partitions.json
 * with its version) and how botocore puts a region in one. The one table
 * for the STS, IAM Identity Center and console endpoints.
 */
#ifndef KR_PARTITION_H
#define KR_PARTITION_H

struct partition {
	const char *id;                   /* "aws-cn" */
	const char *region_regex;         /* botocore's regionRegex, verbatim */
	const char *global_region;        /* listed by name, or NULL */
	const char *dns_suffix;           /* "amazonaws.com.cn" */
	const char *dualstack_dns_suffix; /* "api.amazonwebservices.com.cn" */
	int fips, dualstack;              /* supportsFIPS, supportsDualStack */
	int legacy_dualstack; /* 0: botocore's older resolver refuses dual-stack (see .def) */
	int fips_plain;       /* FIPS alone keeps the plain host (aws-us-gov) */
	const char *federation, *console; /* keyrole console's; NULL: none known */
};

/*
 * botocore's aws.partition(): the first partition that lists region by
 * name or whose pattern matches it; else the first ("aws"). Never NULL.
 * *ret_by_pattern (may be NULL) is 1 when the pattern matched, which is
 * all botocore's older resolver (endpoints.json) looks at.
 */
const struct partition *partition_of(const char *region, int *ret_by_pattern);

/*
 * Does s match re, a regionRegex of the shape partitions.json uses: "^",
 * literals ("\-" escaped), one "(a|b)" group of literal alternatives, \w+
 * and \d+ (ASCII), "$"? Anything else in re never matches.
 */
int partition_regex_match(const char *re, const char *s);

#endif
