/*
 * daemon/partition.c (botocore's region-to-partition match and its regex
 * subset) and daemon/sdkdiff.c (the lines botocore and the other SDKs read
 * differently): one warning per differing line, none where they agree.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ini.h"
#include "partition.h"
#include "sdkdiff.h"

#include <stdio.h>
#include <string.h>

static void regex_subset_matches_as_python(void **state)
{
	const char *aws = "^(us|eu|ap|sa|ca|me|af|il|mx)\\-\\w+\\-\\d+$";

	(void)state;
	assert_true(partition_regex_match(aws, "us-east-1"));
	assert_true(partition_regex_match(aws, "mx-central-12"));
	assert_false(partition_regex_match(aws, "us-gov-west-1")); /* \w has no '-' */
	assert_false(partition_regex_match(aws, "cn-north-1"));
	assert_false(partition_regex_match(aws, "us-east-1a"));
	assert_false(partition_regex_match(aws, "us-east-"));
	assert_true(partition_regex_match("^eusc\\-(de)\\-\\w+\\-\\d+$", "eusc-de-east-1"));
	assert_false(partition_regex_match("^eusc\\-(de)\\-\\w+\\-\\d+$", "eusc-fr-east-1"));
	assert_false(partition_regex_match("no-anchor", "no-anchor"));
}

static void regions_fall_in_botocores_partitions(void **state)
{
	int by_pattern;

	(void)state;
	assert_string_equal(partition_of("cn-north-1", NULL)->id, "aws-cn");
	assert_string_equal(partition_of("cn-foo", NULL)->id, "aws");
	assert_string_equal(partition_of("eusc-de-east-1", NULL)->dns_suffix, "amazonaws.eu");
	assert_string_equal(partition_of("eu-isof-south-1", NULL)->id, "aws");
	assert_string_equal(partition_of("us-isof-south-1", &by_pattern)->id, "aws-iso-f");
	assert_true(by_pattern);
	assert_string_equal(partition_of("aws-iso-f-global", &by_pattern)->id, "aws-iso-f");
	assert_false(by_pattern);
	assert_string_equal(partition_of(NULL, NULL)->id, "aws");
}

struct seen {
	int n, lines[8];
	char last[512];
};

static int record(void *ctx, int line, const char *msg, const char *fix)
{
	struct seen *s = ctx;

	if (s->n < 8)
		s->lines[s->n] = line;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", msg);
	assert_non_null(fix);
	return 0;
}

static struct seen lint(const char *text, int is_config)
{
	struct ini *ini = NULL;
	struct seen s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(ini_parse(text, strlen(text), "f", &ini, NULL), 0);
	assert_int_equal(sdkdiff_lint(ini, is_config, NULL, record, &s), 0);
	ini_free(ini);
	return s;
}

static void warns_where_the_sdks_read_otherwise(void **state)
{
	struct seen s;

	(void)state;
	s = lint("[profile a]\nregion = eu-west-1 # dublin\n", 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.lines[0], 2);
	assert_non_null(strstr(s.last, "\"eu-west-1\""));
	s = lint("[profile a]\nregion: eu-west-1\n", 1);
	assert_int_equal(s.n, 1);
	s = lint("[profile a!b]\n", 1);
	assert_int_equal(s.n, 1);
	s = lint("[ profile a]\n", 1);
	assert_int_equal(s.n, 1);
	s = lint("[profile a]\nx =\n  = 1\n", 1);
	assert_int_equal(s.n, 1);
	s = lint("[profile default]\n[default]\n", 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.lines[0], 2);
	s = lint("[profile a]\n[a b]\n", 0);
	assert_int_equal(s.n, 2);
	/* A secret's value is never quoted. */
	s = lint("[a]\naws_secret_access_key = abc #def\n", 0);
	assert_int_equal(s.n, 1);
	assert_null(strstr(s.last, "abc"));
}

static void quiet_where_they_agree(void **state)
{
	struct seen s;

	(void)state;
	s = lint("# c\n[profile a] # c\nregion = eu-west-1\nx = a#b\ns3 =\n  k = v # c\n"
	         "[default]\n[profile default]\n[profile in valid]\n",
	         1);
	assert_int_equal(s.n, 0);
	s = lint("[a]\nk = v\n", 0);
	assert_int_equal(s.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(regex_subset_matches_as_python),
	    cmocka_unit_test(regions_fall_in_botocores_partitions),
	    cmocka_unit_test(warns_where_the_sdks_read_otherwise),
	    cmocka_unit_test(quiet_where_they_agree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
