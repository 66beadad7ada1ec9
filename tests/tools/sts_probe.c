/*
 * sts_probe: perform one STS call (or a chain of AssumeRole hops) through
 * the real loop, HTTP and SigV4 code, and print the outcome as one JSON
 * object on stdout. A driver for tests/scenario/test_sts_moto.py.
 *
 * Source credentials come from the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), never from the command line
 * (argv is visible to every user). The output never contains a secret key
 * or a session token: only the access key id, ARNs, expiration, and
 * whether a secret/token was received. --verify proves the credentials
 * work by calling GetCallerIdentity with them.
 *
 * usage: sts_probe --endpoint URL [--region R] [--op assume-role|session-token|caller-identity]
 *          [--role-arn ARN [--role-arn ARN2 ...]] [--session-name S] [--external-id X]
 *          [--duration N] [--mfa-serial S --mfa-code C] [--source-identity S]
 *          [--policy JSON] [--tag K=V ...] [--transitive K ...] [--ca-bundle PATH] [--verify]
 * Exit status: 0 when every step succeeded, 1 when STS or the network said no, 2 on usage.
 */
#include "err.h"
#include "loop.h"
#include "msg.h"
#include "sts.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOPS 8
#define MAX_TAGS 16

struct probe {
	struct loop *l;
	struct sts *s;
	struct sts_params p;
	const char *roles[MAX_HOPS];
	int n_roles;
	int hop;
	int verify;
	int failed;
	/* credentials of the previous hop (owned, wiped) */
	struct sts_creds cur;
	cJSON *hops;
	cJSON *main_step; /* the last step that was not --verify's */
	cJSON *verify_step;
};

static void usage(void)
{
	fprintf(stderr,
	        "usage: sts_probe --endpoint URL [--region R] [--op OP] [--role-arn ARN ...]\n"
	        "  [--session-name S] [--external-id X] [--duration N] [--mfa-serial S]\n"
	        "  [--mfa-code C] [--source-identity S] [--policy JSON] [--tag K=V ...]\n"
	        "  [--transitive K ...] [--ca-bundle PATH] [--verify]\n"
	        "source credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
	        "AWS_SESSION_TOKEN\n");
	exit(2);
}

static cJSON *describe(int op, const struct sts_result *res)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "op", sts_op_name(op));
	cJSON_AddBoolToObject(o, "ok", res->err == KR_OK);
	cJSON_AddStringToObject(o, "error", err_name(res->err));
	cJSON_AddNumberToObject(o, "attempts", res->attempts);
	cJSON_AddNumberToObject(o, "http_status", (double)res->http_status);
	if (res->aws_code)
		cJSON_AddStringToObject(o, "aws_code", res->aws_code);
	if (res->aws_message)
		cJSON_AddStringToObject(o, "aws_message", res->aws_message);
	if (res->err != KR_OK)
		cJSON_AddStringToObject(o, "message", res->detail.msg);
	if (res->err != KR_OK && res->detail.fix[0])
		cJSON_AddStringToObject(o, "fix", res->detail.fix);
	if (res->creds.access_key_id)
		cJSON_AddStringToObject(o, "access_key_id", res->creds.access_key_id);
	if (res->creds.arn)
		cJSON_AddStringToObject(o, "arn", res->creds.arn);
	if (res->account)
		cJSON_AddStringToObject(o, "account", res->account);
	if (res->user_id)
		cJSON_AddStringToObject(o, "user_id", res->user_id);
	if (res->creds.expiration)
		cJSON_AddNumberToObject(o, "expiration", (double)res->creds.expiration);
	cJSON_AddBoolToObject(o, "has_secret", res->creds.secret_access_key != NULL);
	cJSON_AddBoolToObject(o, "has_token", res->creds.session_token != NULL);
	return o;
}

static void on_done(void *userdata, struct sts_result *res);

static void start(struct probe *pr)
{
	int r;

	r = sts_call(pr->s, &pr->p, on_done, pr, NULL);
	if (r < 0) {
		fprintf(stderr, "sts_probe: sts_call: %s\n", err_str(r));
		pr->failed = 2;
		loop_exit(pr->l, 0);
	}
}

/* Use the credentials just received as the source of the next step. */
static void take_creds(struct probe *pr, struct sts_result *res)
{
	sts_creds_clear(&pr->cur);
	pr->cur = res->creds;
	memset(&res->creds, 0, sizeof(res->creds));
	pr->p.source.access_key_id = pr->cur.access_key_id;
	pr->p.source.secret_access_key = pr->cur.secret_access_key;
	pr->p.source.session_token = pr->cur.session_token;
}

static void on_done(void *userdata, struct sts_result *res)
{
	struct probe *pr = userdata;
	cJSON *o = describe(pr->p.op, res);

	cJSON_AddItemToArray(pr->hops, o);
	if (pr->verify == 2)
		pr->verify_step = o;
	else
		pr->main_step = o;
	if (res->err != KR_OK) {
		pr->failed = 1;
		loop_exit(pr->l, 0);
		return;
	}
	if (pr->p.op == STS_GET_CALLER_IDENTITY) {
		loop_exit(pr->l, 0);
		return;
	}
	take_creds(pr, res);
	if (pr->p.op == STS_ASSUME_ROLE && ++pr->hop < pr->n_roles) {
		pr->p.role_arn = pr->roles[pr->hop];
		/* MFA applies to the first hop only (botocore does the same). */
		pr->p.mfa_serial = pr->p.mfa_code = NULL;
		start(pr);
		return;
	}
	if (pr->verify) {
		pr->p.op = STS_GET_CALLER_IDENTITY;
		pr->verify = 2;
		start(pr);
		return;
	}
	loop_exit(pr->l, 0);
}

static const char *need(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct probe pr;
	const char *op = "assume-role";
	const char *tag_keys[MAX_TAGS], *tag_values[MAX_TAGS], *trans[MAX_TAGS];
	char *tag_copies[MAX_TAGS];
	size_t n_tags = 0, n_trans = 0;
	cJSON *out;
	char *text;
	int r;

	memset(&pr, 0, sizeof(pr));
	msg_install_json_hooks();
	pr.p.region = "us-east-1";
	pr.p.session_name = "keyrole-probe";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--endpoint") == 0) {
			pr.p.endpoint = need(argc, argv, &i);
		} else if (strcmp(a, "--region") == 0) {
			pr.p.region = need(argc, argv, &i);
		} else if (strcmp(a, "--op") == 0) {
			op = need(argc, argv, &i);
		} else if (strcmp(a, "--role-arn") == 0) {
			if (pr.n_roles >= MAX_HOPS)
				usage();
			pr.roles[pr.n_roles++] = need(argc, argv, &i);
		} else if (strcmp(a, "--session-name") == 0) {
			pr.p.session_name = need(argc, argv, &i);
		} else if (strcmp(a, "--external-id") == 0) {
			pr.p.external_id = need(argc, argv, &i);
		} else if (strcmp(a, "--duration") == 0) {
			char *end = NULL;
			long v = strtol(need(argc, argv, &i), &end, 10);
			if (!end || *end || v < 0 || v > 129600)
				usage();
			pr.p.duration = (int)v;
		} else if (strcmp(a, "--mfa-serial") == 0) {
			pr.p.mfa_serial = need(argc, argv, &i);
		} else if (strcmp(a, "--mfa-code") == 0) {
			pr.p.mfa_code = need(argc, argv, &i);
		} else if (strcmp(a, "--source-identity") == 0) {
			pr.p.source_identity = need(argc, argv, &i);
		} else if (strcmp(a, "--policy") == 0) {
			pr.p.policy = need(argc, argv, &i);
		} else if (strcmp(a, "--ca-bundle") == 0) {
			pr.p.ca_bundle = need(argc, argv, &i);
		} else if (strcmp(a, "--tag") == 0) {
			const char *kv = need(argc, argv, &i);
			const char *eq = strchr(kv, '=');
			if (!eq || n_tags >= MAX_TAGS)
				usage();
			tag_copies[n_tags] = strndup(kv, (size_t)(eq - kv));
			if (!tag_copies[n_tags])
				return 2;
			tag_keys[n_tags] = tag_copies[n_tags];
			tag_values[n_tags] = eq + 1;
			n_tags++;
		} else if (strcmp(a, "--transitive") == 0) {
			if (n_trans >= MAX_TAGS)
				usage();
			trans[n_trans++] = need(argc, argv, &i);
		} else if (strcmp(a, "--verify") == 0) {
			pr.verify = 1;
		} else {
			usage();
		}
	}
	if (strcmp(op, "assume-role") == 0)
		pr.p.op = STS_ASSUME_ROLE;
	else if (strcmp(op, "session-token") == 0)
		pr.p.op = STS_GET_SESSION_TOKEN;
	else if (strcmp(op, "caller-identity") == 0)
		pr.p.op = STS_GET_CALLER_IDENTITY;
	else
		usage();
	if (!pr.p.endpoint || (pr.p.op == STS_ASSUME_ROLE && pr.n_roles == 0))
		usage();
	pr.p.role_arn = pr.roles[0];
	pr.p.tag_keys = tag_keys;
	pr.p.tag_values = tag_values;
	pr.p.n_tags = n_tags;
	pr.p.transitive_keys = trans;
	pr.p.n_transitive = n_trans;
	pr.p.source.access_key_id = getenv("AWS_ACCESS_KEY_ID");
	pr.p.source.secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
	pr.p.source.session_token = getenv("AWS_SESSION_TOKEN");
	if (pr.p.source.session_token && !*pr.p.source.session_token)
		pr.p.source.session_token = NULL;
	if (!pr.p.source.access_key_id || !pr.p.source.secret_access_key) {
		fprintf(stderr,
		        "sts_probe: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set\n");
		return 2;
	}

	pr.hops = cJSON_CreateArray();
	r = loop_new(&pr.l);
	if (r == KR_OK)
		r = sts_new(pr.l, NULL, &pr.s);
	if (r < 0) {
		fprintf(stderr, "sts_probe: setup: %s\n", err_str(r));
		return 2;
	}
	start(&pr);
	if (!pr.failed)
		loop_run(pr.l);

	out = pr.main_step ? cJSON_Duplicate(pr.main_step, 1) : cJSON_CreateObject();
	if (pr.verify_step) {
		/* GetCallerIdentity made with the new credentials: they work. */
		cJSON *ok = cJSON_GetObjectItem(pr.verify_step, "ok");
		cJSON *v = cJSON_GetObjectItem(pr.verify_step, "arn");
		cJSON_AddBoolToObject(out, "verified", cJSON_IsTrue(ok));
		if (v && cJSON_IsString(v))
			cJSON_AddStringToObject(out, "verified_arn", v->valuestring);
		if (!cJSON_IsTrue(ok))
			cJSON_ReplaceItemInObject(out, "ok", cJSON_CreateFalse());
	}
	cJSON_AddItemToObject(out, "hops", pr.hops);
	text = cJSON_PrintUnformatted(out);
	if (text) {
		printf("%s\n", text);
		free(text);
	}
	cJSON_Delete(out);
	sts_free(pr.s);
	loop_free(pr.l);
	sts_creds_clear(&pr.cur);
	for (size_t i = 0; i < n_tags; i++)
		free(tag_copies[i]);
	return pr.failed;
}
