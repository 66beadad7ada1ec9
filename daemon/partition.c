/*
 * The partition table (partitions.def) and botocore's region matching;
 * see partition.h. Region names are bounded (endpoint_region_valid) before
 * they get here; the matcher recurses once per pattern atom at most.
 */
#include "partition.h"

#include <stddef.h>
#include <string.h>

static const struct partition partitions[] = {
#define PARTITION(id, re, global, dns, ds_dns, fips, ds, legacy_ds, fips_plain, fed, console)      \
	{id, re, global, dns, ds_dns, fips, ds, legacy_ds, fips_plain, fed, console},
#include "partitions.def"
#undef PARTITION
};

static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int match_here(const char *re, const char *s)
{
	if (re[0] == '$' && re[1] == '\0')
		return *s == '\0';
	if (re[0] == '\0')
		return 0; /* every pattern ends in "$" */
	if (re[0] == '(') {
		const char *end = strchr(re, ')'), *alt = re + 1;

		if (!end)
			return 0;
		while (alt < end) {
			const char *bar = memchr(alt, '|', (size_t)(end - alt));
			size_t n = (size_t)((bar ? bar : end) - alt);

			if (strncmp(s, alt, n) == 0 && match_here(end + 1, s + n))
				return 1;
			alt += n + 1;
		}
		return 0;
	}
	if (re[0] == '\\' && (re[1] == 'w' || re[1] == 'd') && re[2] == '+') {
		int (*cls)(char) = re[1] == 'w' ? is_word : is_digit;
		size_t n = 0;

		while (s[n] && cls(s[n]))
			n++;
		for (; n > 0; n--)
			if (match_here(re + 3, s + n))
				return 1;
		return 0;
	}
	if (re[0] == '\\' && re[1] != '\0')
		return *s == re[1] && match_here(re + 2, s + 1);
	return *s == re[0] && match_here(re + 1, s + 1);
}

int partition_regex_match(const char *re, const char *s)
{
	return re && s && re[0] == '^' && match_here(re + 1, s);
}

const struct partition *partition_of(const char *region, int *ret_by_pattern)
{
	if (ret_by_pattern)
		*ret_by_pattern = 0;
	for (size_t i = 0; region && i < sizeof(partitions) / sizeof(partitions[0]); i++) {
		const struct partition *p = &partitions[i];
		int by_pattern = partition_regex_match(p->region_regex, region);

		if (by_pattern || (p->global_region && strcmp(region, p->global_region) == 0)) {
			if (ret_by_pattern)
				*ret_by_pattern = by_pattern;
			return p;
		}
	}
	return &partitions[0];
}
