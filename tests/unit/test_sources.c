/*
 * The sources of a machine's own credentials (daemon/source_webid.c,
 * source_imds.c, source_container.c, metadata.c): what a profile and the
 * caller's variables resolve to, botocore's rules on them, their cache
 * keys, the credentials JSON and the token files' bounds, and the
 * AssumeRoleWithWebIdentity body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "caps.h"
#include "check.h"
#include "err.h"
#include "ini.h"
#include "mem.h"
#include "metadata.h"
#include "pmap.h"
#include "resolve.h"
#include "source.h"
#include "sts_req.h"

#include "../lib/cfg_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int resolve(struct fx *fx, const char *name, struct chain **ret, char *err, size_t len)
{
	struct resolve_opts o = {.mfa_duration = 43200};
	struct err_detail e;
	int r;

	memset(&e, 0, sizeof(e));
	*ret = NULL;
	r = resolve_chain(&fx->env, name, &o, ret, &e);
	if (err)
		err_format(&e, err, len);
	resolve_memo_clear();
	return r;
}

/* The source step's report (strings borrowed from ch). */
static struct step_report source_report(const struct chain *ch)
{
	struct step_report rep;

	memset(&rep, 0, sizeof(rep));
	ch->steps[0].ops->describe(&ch->steps[0], ch, &rep);
	return rep;
}

static void imds_settings_follow_botocore(void **state)
{
	struct fx *fx = *state;
	struct chain *ch;
	char err[1024];

	put(fx->config, "[profile i]\nrole_arn = arn:aws:iam::1:role/iiiiii\n"
	                "credential_source = Ec2InstanceMetadata\n"
	                "[profile m6]\nrole_arn = arn:aws:iam::1:role/iiiiii\n"
	                "credential_source = Ec2InstanceMetadata\n"
	                "ec2_metadata_service_endpoint_mode = IPv6\n"
	                "[profile bad]\nrole_arn = arn:aws:iam::1:role/iiiiii\n"
	                "credential_source = Ec2InstanceMetadata\nmetadata_service_timeout = 1.5\n"
	                "[profile badmode]\nrole_arn = arn:aws:iam::1:role/iiiiii\n"
	                "credential_source = Ec2InstanceMetadata\n"
	                "ec2_metadata_service_endpoint_mode = ipv5\n");
	assert_int_equal(resolve(fx, "i", &ch, err, sizeof(err)), KR_OK);
	assert_ptr_equal(ch->steps[0].ops, &source_imds);
	assert_string_equal(source_report(ch).url, "http://169.254.169.254/");
	assert_true(ch->steps[1].chained); /* instance credentials are a role's */
	chain_unref(ch);
	assert_int_equal(resolve(fx, "m6", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).url, "http://[fd00:ec2::254]/");
	chain_unref(ch);
	fx->env.ec2_metadata_service_endpoint = "http://127.0.0.1:9/";
	assert_int_equal(resolve(fx, "m6", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).url, "http://127.0.0.1:9/"); /* the URL wins */
	chain_unref(ch);
	fx->env.ec2_metadata_service_endpoint = NULL;
	fx->env.ec2_metadata_service_endpoint_mode = "ipv4"; /* the variable before the key */
	assert_int_equal(resolve(fx, "m6", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).url, "http://169.254.169.254/");
	chain_unref(ch);
	fx->env.ec2_metadata_service_endpoint_mode = NULL;
	assert_int_equal(resolve(fx, "bad", &ch, err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "metadata_service_timeout"));
	chain_unref(ch);
	assert_int_equal(resolve(fx, "badmode", &ch, err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "ipv5"));
	chain_unref(ch);
	fx->env.ec2_metadata_disabled = "TRUE";
	assert_int_equal(resolve(fx, "i", &ch, err, sizeof(err)), KR_ERR_NOCREDS);
	assert_non_null(strstr(err, "AWS_EC2_METADATA_DISABLED"));
	chain_unref(ch);
}

static void container_full_uri_hosts_follow_botocore(void **state)
{
	static const struct {
		const char *url;
		int ok;
	} cases[] = {
	    {"http://127.0.0.1:8080/creds", 1},
	    {"http://127.9.9.9/creds", 1},
	    {"http://[::1]:80/creds", 1},
	    {"http://localhost/creds", 1},
	    {"http://LOCALHOST/creds", 1},
	    {"http://169.254.170.2/v2/credentials", 1},
	    {"http://169.254.170.23/v1/credentials", 1},
	    {"http://[fd00:ec2::23]/v1/credentials", 1},
	    {"https://creds.example.com/path", 1},
	    {"http://creds.example.com/path", 0},
	    {"http://169.254.170.24/v1/credentials", 0},
	    {"http://127.0.0.1.example.com/", 0},
	    {"http://[fd00:ec2::24]/", 0},
	    {"ftp://127.0.0.1/", 0},
	};
	struct fx *fx = *state;
	struct chain *ch;
	char err[1024];

	put(fx->config, "[profile c]\nrole_arn = arn:aws:iam::1:role/cccccc\n"
	                "credential_source = EcsContainer\n");
	assert_int_equal(resolve(fx, "c", &ch, err, sizeof(err)), KR_ERR_NOCREDS);
	assert_non_null(strstr(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI"));
	chain_unref(ch);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx->env.container_full_uri = cases[i].url;
		if (resolve(fx, "c", &ch, err, sizeof(err)) !=
		    (cases[i].ok ? KR_OK : KR_ERR_CONFIG))
			fail_msg("%s: %s", cases[i].url, err);
		if (cases[i].ok)
			assert_string_equal(source_report(ch).url, cases[i].url);
		else if (strncmp(cases[i].url, "http://", 7) == 0)
			assert_non_null(strstr(err, "Unsupported host"));
		chain_unref(ch);
	}
	/* The relative URI wins, on botocore's address. */
	fx->env.container_relative_uri = "/v2/credentials/abc";
	assert_int_equal(resolve(fx, "c", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).url, "http://169.254.170.2/v2/credentials/abc");
	chain_unref(ch);
	fx->env.container_token = "bad\r\ntoken";
	assert_int_equal(resolve(fx, "c", &ch, err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "not a legal header value"));
	chain_unref(ch);
}

/* The key of profile name's source step (a copy). */
static char *source_key(struct fx *fx, const char *name)
{
	struct chain *ch;
	char *k;

	assert_int_equal(resolve(fx, name, &ch, NULL, 0), KR_OK);
	k = strdup(ch->steps[0].key);
	chain_unref(ch);
	return k;
}

static void container_key_names_the_token_by_a_digest(void **state)
{
	struct fx *fx = *state;
	char *a, *b, *c;

	put(fx->config, "[profile c]\nrole_arn = arn:aws:iam::1:role/cccccc\n"
	                "credential_source = EcsContainer\n");
	fx->env.container_full_uri = "http://127.0.0.1/creds";
	fx->env.container_token = "secret-token-one";
	a = source_key(fx, "c");
	fx->env.container_token = "secret-token-two";
	b = source_key(fx, "c");
	fx->env.container_token_file = "/run/token"; /* the file wins, by its path */
	c = source_key(fx, "c");
	assert_null(strstr(a, "secret-token"));
	assert_null(strstr(b, "secret-token"));
	assert_string_not_equal(a, b);
	assert_non_null(strstr(c, "/run/token"));
	assert_null(strstr(c, "secret-token"));
	free(a);
	free(b);
	free(c);
}

static void web_identity_reads_the_profile_and_the_callers_variables(void **state)
{
	struct fx *fx = *state;
	struct chain *ch;
	char err[1024], tok[128], *k1, *k2;
	struct step_report rep;

	snprintf(tok, sizeof(tok), "%s/token", fx->dir);
	put(tok, "a-token");
	{
		char cfg[1024];

		snprintf(
		    cfg, sizeof(cfg),
		    "[profile w]\nrole_arn = arn:aws:iam::1:role/wwwwww\n"
		    "web_identity_token_file = %s\nrole_session_name = sess\n"
		    "[profile on-w]\nrole_arn = arn:aws:iam::1:role/oooooo\nsource_profile = w\n"
		    "[profile plain]\nregion = eu-west-1\n"
		    "[profile on-plain]\nrole_arn = arn:aws:iam::1:role/pppppp\n"
		    "source_profile = plain\n"
		    "[profile rel]\nrole_arn = arn:aws:iam::1:role/wwwwww\n"
		    "web_identity_token_file = token\n"
		    "[profile gone]\nrole_arn = arn:aws:iam::1:role/wwwwww\n"
		    "web_identity_token_file = %s/gone\n"
		    "[profile noarn]\nweb_identity_token_file = %s\n",
		    tok, fx->dir, tok);
		put(fx->config, cfg);
	}
	assert_int_equal(resolve(fx, "w", &ch, err, sizeof(err)), KR_OK);
	rep = source_report(ch);
	assert_string_equal(rep.type, "web-identity");
	assert_string_equal(rep.role_arn, "arn:aws:iam::1:role/wwwwww");
	assert_string_equal(rep.session_name, "sess");
	assert_string_equal(rep.token_file, tok);
	assert_non_null(ch->endpoint); /* its own STS call, without a role above it */
	assert_null(strstr(ch->steps[0].key, "a-token"));
	chain_unref(ch);
	assert_int_equal(resolve(fx, "on-w", &ch, err, sizeof(err)), KR_OK);
	assert_int_equal(ch->n, 2);
	assert_ptr_equal(ch->steps[0].ops, &source_webid);
	assert_true(ch->steps[1].chained);
	chain_unref(ch);
	assert_int_equal(resolve(fx, "rel", &ch, err, sizeof(err)), KR_ERR_CONFIG);
	chain_unref(ch);
	assert_int_equal(resolve(fx, "gone", &ch, err, sizeof(err)), KR_ERR_NOCREDS);
	assert_non_null(strstr(err, "web identity token file"));
	chain_unref(ch);
	assert_int_equal(resolve(fx, "noarn", &ch, err, sizeof(err)), KR_ERR_CONFIG);
	assert_non_null(strstr(err, "has no role ARN configured"));
	chain_unref(ch);

	/* The caller's variables: for the requested profile, before its keys. */
	fx->env.web_identity_token_file = tok;
	fx->env.role_arn = "arn:aws:iam::1:role/envenv";
	fx->env.role_session_name = "from-env";
	assert_int_equal(resolve(fx, "plain", &ch, err, sizeof(err)), KR_OK);
	rep = source_report(ch);
	assert_string_equal(rep.role_arn, "arn:aws:iam::1:role/envenv");
	assert_string_equal(rep.session_name, "from-env");
	chain_unref(ch);
	assert_int_equal(resolve(fx, "w", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).role_arn, "arn:aws:iam::1:role/envenv");
	chain_unref(ch);
	/* ... not for a source profile, and not over a role hop. */
	assert_int_equal(resolve(fx, "on-plain", &ch, err, sizeof(err)), KR_OK);
	assert_ptr_equal(ch->steps[0].ops, &source_keyring);
	chain_unref(ch);
	assert_int_equal(resolve(fx, "on-w", &ch, err, sizeof(err)), KR_OK);
	assert_string_equal(source_report(ch).role_arn, "arn:aws:iam::1:role/wwwwww");
	chain_unref(ch);
	/* An empty variable is no source. */
	fx->env.web_identity_token_file = "";
	assert_int_equal(resolve(fx, "plain", &ch, err, sizeof(err)), KR_OK);
	assert_ptr_equal(ch->steps[0].ops, &source_keyring);
	chain_unref(ch);
	/* The key changes with the role and the file, never with the token. */
	fx->env.web_identity_token_file = NULL;
	k1 = source_key(fx, "on-w");
	put(tok, "another-token");
	k2 = source_key(fx, "on-w");
	assert_string_equal(k1, k2);
	free(k1);
	free(k2);
	unlink(tok);
}

static void metadata_credentials_json(void **state)
{
	const char *good =
	    "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s\","
	    "\"Token\":\"t\",\"Expiration\":\"2030-01-01T00:00:00Z\"}";
	const char *bad[] = {
	    "[]",
	    "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s\",\"Expiration\":\"2030-01-01T00:"
	    "00:00Z\"}",
	    "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s\",\"Token\":\"t\",\"Expiration\":"
	    "\"soon\"}",
	    "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
	    "\"Expiration\":\"2030-01-01T00:00:00Z\"}",
	    "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\"}",
	    "not json",
	};
	struct sts_creds c = {0};
	struct err_detail e;

	(void)state;
	assert_int_equal(metadata_parse_creds(good, strlen(good), "x", &c, &e), KR_OK);
	assert_string_equal(c.access_key_id, "ASIAX");
	assert_string_equal(c.session_token, "t");
	assert_int_equal(c.expiration, 1893456000);
	sts_creds_clear(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(metadata_parse_creds(bad[i], strlen(bad[i]), "x", &c, &e),
		                 KR_ERR_PARSE);
		assert_null(c.access_key_id);
		assert_null(strstr(e.msg, "AssumeRoleUnauthorizedAccess")); /* no value echoed */
	}
}

static void token_files_are_bounded(void **state)
{
	char dir[] = "/tmp/kr_tok_XXXXXX", path[64], *big, *t = NULL;
	struct err_detail e;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t", dir);
	big = malloc(KR_WEBID_TOKEN_MAX + 1);
	assert_non_null(big);
	memset(big, 'a', KR_WEBID_TOKEN_MAX + 1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, big, KR_WEBID_TOKEN_MAX), KR_WEBID_TOKEN_MAX);
	close(fd);
	assert_int_equal(metadata_read_file(path, KR_WEBID_TOKEN_MAX, "t", &t, &e), KR_OK);
	assert_int_equal(strlen(t), KR_WEBID_TOKEN_MAX);
	mem_free_str(t);
	t = NULL;
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "a", 1), 1);
	close(fd);
	assert_int_equal(metadata_read_file(path, KR_WEBID_TOKEN_MAX, "t", &t, &e), KR_ERR_TOOBIG);
	assert_null(t);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, "ab\0cd", 5), 5);
	close(fd);
	assert_int_equal(metadata_read_file(path, KR_WEBID_TOKEN_MAX, "t", &t, &e), KR_ERR_PARSE);
	assert_int_equal(metadata_read_file(dir, KR_WEBID_TOKEN_MAX, "t", &t, &e), KR_ERR_NOCREDS);
	unlink(path);
	assert_int_equal(metadata_read_file(path, KR_WEBID_TOKEN_MAX, "t", &t, &e), KR_ERR_NOCREDS);
	assert_non_null(strstr(e.msg, "cannot read the t"));
	rmdir(dir);
	free(big);
}

static void web_identity_body_is_botocores(void **state)
{
	struct sts_params p = {.op = STS_ASSUME_ROLE_WITH_WEB_IDENTITY,
	                       .role_arn = "arn:aws:iam::1:role/r",
	                       .session_name = "s",
	                       .web_identity_token = "ey.J+/="};
	struct buf b;

	(void)state;
	buf_init(&b, KR_STS_BODY_MAX);
	assert_int_equal(sts_req_body(&p, &b), KR_OK);
	assert_string_equal(b.data, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
	                            "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&RoleSessionName=s"
	                            "&WebIdentityToken=ey.J%2B%2F%3D");
	buf_reset(&b);
	p.web_identity_token = NULL;
	assert_int_equal(sts_req_body(&p, &b), KR_ERR_INVAL);
	buf_free(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(imds_settings_follow_botocore),
	    T(container_full_uri_hosts_follow_botocore),
	    T(container_key_names_the_token_by_a_digest),
	    T(web_identity_reads_the_profile_and_the_callers_variables),
	    cmocka_unit_test(metadata_credentials_json),
	    cmocka_unit_test(token_files_are_bounded),
	    cmocka_unit_test(web_identity_body_is_botocores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
