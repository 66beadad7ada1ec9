/*
 * The agent with a fake wall clock and a fake STS transport: the cache
 * never hands out expired credentials, hits make no STS call, a failed
 * refresh keeps serving still-valid credentials, expired ones that cannot
 * be refreshed give an error, and background refreshes stop when nobody
 * uses an entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "agent.h"
#include "err.h"
#include "loop.h"
#include "msg.h"
#include "sts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static time_t fake_now = 1800000000; /* 2027-01-15 */
static time_t clock_now(void)
{
	return fake_now;
}

struct fake {
	struct loop *loop;
	int calls;
	int fail;     /* answer AccessDenied */
	int lifetime; /* seconds of the credentials handed out */
	/* one pending answer at a time is enough: the agent makes one call per key */
	struct pending {
		struct loop_timer *t;
		http_done_fn done;
		void *userdata;
		struct http_xfer *x;
	} p[8];
};

static struct fake fake;

static void deliver(struct loop_timer *t, void *userdata)
{
	struct pending *p = userdata;
	char xml[2048], exp[32];
	struct buf body;
	struct tm tm;
	time_t e = fake_now + fake.lifetime;
	http_done_fn done = p->done;

	loop_timer_free(p->t);
	p->t = NULL;
	p->done = NULL;
	gmtime_r(&e, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_init(&body, 1 << 20);
	if (fake.fail) {
		buf_puts(&body, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no"
		                "</Message></Error></ErrorResponse>");
		done(p->userdata, KR_OK, 403, &body, NULL);
	} else {
		snprintf(xml, sizeof(xml),
		         "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
		         "<AccessKeyId>ASIAFAKE%08d</AccessKeyId><SecretAccessKey>s%d"
		         "</SecretAccessKey><SessionToken>t%d</SessionToken><Expiration>%s"
		         "</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::1:assumed-"
		         "role/r/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>",
		         fake.calls, fake.calls, fake.calls, exp);
		buf_puts(&body, xml);
		done(p->userdata, KR_OK, 200, &body, NULL);
	}
	buf_free(&body);
}

static int fake_post(void *hu, const struct http_request *req, http_done_fn done, void *userdata,
                     struct http_xfer **ret)
{
	for (int i = 0; i < 8; i++) {
		struct pending *p = &fake.p[i];
		if (p->done)
			continue;
		fake.calls++;
		p->done = done;
		p->userdata = userdata;
		p->x = (struct http_xfer *)p;
		loop_timer_add(fake.loop, loop_now(fake.loop), deliver, p, &p->t);
		*ret = p->x;
		return KR_OK;
	}
	return KR_ERR_BUSY;
}

static void fake_cancel(void *hu, struct http_xfer *x)
{
	struct pending *p = (struct pending *)x;

	loop_timer_free(p->t);
	p->t = NULL;
	p->done = NULL;
}

static time_t sts_wall(void *u)
{
	return fake_now;
}

static const struct sts_ops ops = {
    .http_post = fake_post,
    .http_cancel = fake_cancel,
    .wall_now = sts_wall,
};

struct ctx {
	struct loop *loop;
	struct agent *agent;
	char dir[64];
	char config[128], creds[128];
};

struct answer {
	cJSON *reply;
	struct loop *loop;
};

static void on_reply(void *userdata, cJSON *reply)
{
	struct answer *a = userdata;

	a->reply = reply;
}

static cJSON *get(struct ctx *c, const char *profile)
{
	struct answer ans = {.loop = c->loop};
	struct agent_req *pending = NULL;
	cJSON *req = msg_new(), *env;

	cJSON_AddStringToObject(req, "op", "get");
	cJSON_AddStringToObject(req, "profile", profile);
	env = cJSON_AddObjectToObject(req, "env");
	cJSON_AddStringToObject(env, "HOME", c->dir);
	cJSON_AddStringToObject(env, "AWS_CONFIG_FILE", c->config);
	cJSON_AddStringToObject(env, "AWS_SHARED_CREDENTIALS_FILE", c->creds);
	cJSON_AddStringToObject(env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
	agent_handle(c->agent, req, on_reply, &ans, &pending);
	cJSON_Delete(req);
	for (int i = 0; pending && !ans.reply && i < 1000; i++)
		loop_run_once(c->loop, 100000);
	assert_non_null(ans.reply);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(ans.reply, "ok")))
		print_message("# reply: %s: %s\n", msg_get_str(ans.reply, "error"),
		              msg_get_str(ans.reply, "message"));
	return ans.reply;
}

static time_t reply_expiration(const cJSON *r)
{
	const char *e = msg_get_str(r, "Expiration");
	struct tm tm = {0};

	assert_non_null(e);
	assert_non_null(strptime(e, "%Y-%m-%dT%H:%M:%SZ", &tm));
	return timegm(&tm);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct agent_opts o = {.cache = "memory", .now = clock_now, .sts_ops = &ops};

	snprintf(c->dir, sizeof(c->dir), "/tmp/kr-agent-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->config, sizeof(c->config), "%s/config", c->dir);
	snprintf(c->creds, sizeof(c->creds), "%s/credentials", c->dir);
	write_file(c->config, "[profile dev]\nregion = us-east-1\n"
	                      "[profile a]\nrole_arn = arn:aws:iam::111111111111:role/a\n"
	                      "source_profile = dev\nrole_session_name = tt\nregion = us-east-1\n"
	                      "[profile b]\nrole_arn = arn:aws:iam::222222222222:role/b\n"
	                      "source_profile = a\nrole_session_name = tt\nregion = us-east-1\n");
	write_file(c->creds, "[dev]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\n"
	                     "aws_secret_access_key = secretsecretsecret\n");
	assert_int_equal(loop_new(&c->loop), 0);
	memset(&fake, 0, sizeof(fake));
	fake.loop = c->loop;
	fake.lifetime = 3600;
	assert_int_equal(agent_new(c->loop, &o, &c->agent), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	agent_free(c->agent);
	for (int i = 0; i < 8; i++)
		loop_timer_free(fake.p[i].t);
	loop_free(c->loop);
	unlink(c->config);
	unlink(c->creds);
	snprintf(cmd, sizeof(cmd), "%s", c->dir);
	rmdir(cmd);
	free(c);
	return 0;
}

static void cached_answer_makes_no_sts_call(void **state)
{
	struct ctx *c = *state;
	cJSON *r = get(c, "b");

	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_int_equal(fake.calls, 2); /* two hops */
	cJSON_Delete(r);
	r = get(c, "b");
	assert_int_equal(fake.calls, 2);
	assert_string_equal(msg_get_str(r, "from"), "memory");
	cJSON_Delete(r);
	r = get(c, "a"); /* the first hop is shared */
	assert_int_equal(fake.calls, 2);
	cJSON_Delete(r);
}

static void never_hands_out_expired_credentials(void **state)
{
	struct ctx *c = *state;

	srand(42);
	fake.lifetime = 900; /* the shortest STS allows: below botocore's margin */
	for (int i = 0; i < 3000; i++) {
		cJSON *r;
		fake_now += rand() % 40;
		r = get(c, (i & 1) ? "a" : "b");
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
		assert_true(reply_expiration(r) > fake_now + 60);
		cJSON_Delete(r);
	}
	/* ~3000 * 20 s = 60000 s of 900 s credentials: refreshed, not per call */
	assert_true(fake.calls < 600);
}

static void long_lived_credentials_have_botocores_margin(void **state)
{
	struct ctx *c = *state;

	fake.lifetime = 3600;
	for (int i = 0; i < 500; i++) {
		cJSON *r;
		fake_now += 17;
		r = get(c, "b");
		assert_true(reply_expiration(r) - fake_now > 15 * 60);
		cJSON_Delete(r);
	}
}

static void failed_refresh_serves_still_valid_credentials(void **state)
{
	struct ctx *c = *state;
	cJSON *r = get(c, "b");
	const char *ak = msg_get_str(r, "AccessKeyId");
	char first[64];

	snprintf(first, sizeof(first), "%s", ak);
	cJSON_Delete(r);
	fake_now += 3600 - 10 * 60; /* 10 minutes left: under the 15 minute margin */
	fake.fail = 1;
	r = get(c, "b");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "AccessKeyId"), first);
	assert_non_null(msg_get_str(r, "refresh_error"));
	cJSON_Delete(r);
	fake_now += 10 * 60; /* now expired */
	r = get(c, "b");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "error"), "aws");
	assert_string_equal(msg_get_str(r, "aws_code"), "AccessDenied");
	cJSON_Delete(r);
}

/* Run the loop for ms milliseconds of real time (the refresh timers are real). */
static void run_for(struct ctx *c, int ms)
{
	uint64_t end = loop_now(c->loop) + (uint64_t)ms * 1000;

	while (loop_now(c->loop) < end)
		loop_run_once(c->loop, end - loop_now(c->loop));
}

/*
 * Entries a client used are refreshed in the background once, and a
 * refresh is not "use": without new requests the refreshing stops.
 * Credentials of 90 s put each refresh ~1 s of real time ahead.
 */
static void background_refresh_stops_without_clients(void **state)
{
	struct ctx *c = *state;
	cJSON *r;
	int after;

	fake.lifetime = 90;
	r = get(c, "b");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	cJSON_Delete(r);
	assert_int_equal(fake.calls, 2);
	run_for(c, 2500);
	after = fake.calls;
	assert_int_equal(after, 4); /* each hop refreshed once, in the background */
	run_for(c, 2500);
	assert_int_equal(fake.calls, after); /* nobody asked since: no more STS calls */
	r = get(c, "b");                     /* the refreshed credentials serve without a call */
	assert_int_equal(fake.calls, after);
	cJSON_Delete(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(cached_answer_makes_no_sts_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(never_hands_out_expired_credentials, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_lived_credentials_have_botocores_margin, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(failed_refresh_serves_still_valid_credentials, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(background_refresh_stops_without_clients, setup,
	                                    teardown),
	};

	msg_install_json_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
