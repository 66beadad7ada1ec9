/*
 * The agent with a fake wall clock, a fake STS transport and a fake
 * persistent keyring: the cache never hands out expired credentials, hits
 * make no STS call, a failed refresh keeps serving still-valid credentials,
 * expired ones that cannot be refreshed give an error, background refreshes
 * stop when nobody uses an entry, and what a restart loads from the keyring
 * is refreshed exactly as before the restart. And the defects found when
 * the agent was rebuilt on its seams: an entry freed by a trim while its
 * waiters were handed on, keyring items whose expiry is nonsense,
 * credentials that arrive already expired or expire centuries away, a
 * background refresh of a profile that no longer resolves; and a source
 * added through the table alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "agent.h"
#include "err.h"
#include "keyring.h"
#include "loop.h"
#include "mem.h"
#include "msg.h"

#include <cjson/cJSON.h>
#include "proto.h"
#include "caps.h"
#include "sts.h"
#include "cachekey.h"
#include "source.h"

#include <pthread.h>
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
	int hold;     /* calls stay in flight until fake_release() */
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
		if (!fake.hold)
			loop_timer_add(fake.loop, loop_now(fake.loop), deliver, p, &p->t);
		*ret = p->x;
		return KR_OK;
	}
	return KR_ERR_BUSY;
}

/* Answer the calls held in flight (and the next ones at once). */
static void fake_release(void)
{
	fake.hold = 0;
	for (int i = 0; i < 8; i++)
		if (fake.p[i].done && !fake.p[i].t)
			loop_timer_add(fake.loop, loop_now(fake.loop), deliver, &fake.p[i],
			               &fake.p[i].t);
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

/*
 * A persistent keyring that outlives the agent (a restart): items by key.
 * Its calls run on the keyring worker thread, hence the lock. legacy: store
 * items as versions before the stored lifetime wrote them (no "l").
 */
#define KR_FAKE_ITEMS 32
static struct fake_kr {
	pthread_mutex_t mu;
	struct keyring_item *items[KR_FAKE_ITEMS];
	size_t n;
	int stores;
	int sweeps;
	int legacy;
} kr = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void kr_reset(void)
{
	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n; i++)
		keyring_item_free(kr.items[i]);
	kr.n = 0;
	kr.stores = 0;
	kr.sweeps = 0;
	kr.legacy = 0;
	pthread_mutex_unlock(&kr.mu);
}

/* A counter of kr, read under its lock. */
static int kr_read(const int *counter)
{
	int n;

	pthread_mutex_lock(&kr.mu);
	n = *counter;
	pthread_mutex_unlock(&kr.mu);
	return n;
}

static int kr_stores(void)
{
	return kr_read(&kr.stores);
}

static int kr_open(void **ret_state, struct err_detail *e)
{
	*ret_state = &kr;
	return KR_OK;
}

static void kr_close(void *state)
{
}

static int kr_store(void *state, const struct keyring_item *item)
{
	struct keyring_item *copy = NULL;
	int r = keyring_item_dup(item, &copy);

	if (r < 0)
		return r;
	if (kr.legacy) {
		cJSON *o = cJSON_Parse(copy->secret);
		cJSON_DeleteItemFromObjectCaseSensitive(o, "l");
		mem_free_str(copy->secret);
		copy->secret = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	pthread_mutex_lock(&kr.mu);
	kr.stores++;
	for (size_t i = 0; copy && i < kr.n; i++) {
		if (strcmp(kr.items[i]->key, item->key) == 0) {
			keyring_item_free(kr.items[i]);
			kr.items[i] = copy;
			copy = NULL;
		}
	}
	if (copy && kr.n < KR_FAKE_ITEMS) {
		kr.items[kr.n++] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&kr.mu);
	keyring_item_free(copy);
	return KR_OK;
}

static int kr_lookup(void *state, const char *key, struct keyring_item **ret)
{
	int r = KR_ERR_NOCREDS;

	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n; i++)
		if (strcmp(kr.items[i]->key, key) == 0)
			r = keyring_item_dup(kr.items[i], ret);
	pthread_mutex_unlock(&kr.mu);
	return r;
}

/* Drop items whose key equals key (or whose profile equals profile). */
static int kr_drop(const char *key, const char *profile)
{
	size_t k = 0;
	int count = 0;

	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n; i++) {
		if ((key && strcmp(kr.items[i]->key, key) == 0) ||
		    (!key && (!profile || strcmp(kr.items[i]->profile, profile) == 0))) {
			keyring_item_free(kr.items[i]);
			count++;
		} else {
			kr.items[k++] = kr.items[i];
		}
	}
	kr.n = k;
	pthread_mutex_unlock(&kr.mu);
	return count;
}

static int kr_remove(void *state, const char *key)
{
	kr_drop(key, NULL);
	return KR_OK;
}

static int kr_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	*ret_count = kr_drop(NULL, profile);
	return KR_OK;
}

static int kr_list(void *state, const char *kind, struct keyring_item ***ret_items, size_t *ret_n)
{
	*ret_items = NULL;
	*ret_n = 0;
	return KR_OK;
}

static int kr_sweep(void *state, int *ret_count)
{
	pthread_mutex_lock(&kr.mu);
	kr.sweeps++;
	pthread_mutex_unlock(&kr.mu);
	*ret_count = 0;
	return KR_OK;
}

static int kr_sweeps(void)
{
	return kr_read(&kr.sweeps);
}

static const struct keyring_ops kr_ops = {
    .name = "fake",
    .persistent = 1,
    .open = kr_open,
    .close = kr_close,
    .store = kr_store,
    .lookup = kr_lookup,
    .remove = kr_remove,
    .remove_profile = kr_remove_profile,
    .list = kr_list,
    .sweep = kr_sweep,
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

/* The reply as the client would read it: encoded, then parsed back. */
static void on_reply(void *userdata, const struct reply *reply)
{
	struct answer *a = userdata;
	struct buf out;

	buf_init(&out, KR_RESP_MAX);
	assert_int_equal(msg_encode_reply(reply, &out), KR_OK);
	a->reply = cJSON_ParseWithLength(out.data + KR_FRAME_HDR, out.len - KR_FRAME_HDR);
	assert_non_null(a->reply);
	buf_free(&out);
}

static const char *msg_get_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Hand a request, as JSON text, to the agent. */
static void handle_json(struct agent *a, cJSON *msg, struct answer *ans)
{
	struct agent_req *pending = NULL;
	struct request req;
	struct err_detail e;
	char *text = cJSON_PrintUnformatted(msg);

	assert_int_equal(msg_decode_request(text, strlen(text), &req, &e), KR_OK);
	agent_handle(a, &req, on_reply, ans, &pending);
	request_free(&req);
	cJSON_free(text);
}

/* Send op for profile with the test's env; the answer lands in *ans (later, or at once). */
static void send(struct ctx *c, const char *op, const char *profile, struct answer *ans)
{
	cJSON *req = cJSON_CreateObject(), *env;

	ans->loop = c->loop;
	ans->reply = NULL;
	cJSON_AddNumberToObject(req, "v", KR_PROTO_VERSION);
	cJSON_AddStringToObject(req, "op", op);
	cJSON_AddStringToObject(req, "profile", profile);
	env = cJSON_AddObjectToObject(req, "env");
	cJSON_AddStringToObject(env, "HOME", c->dir);
	cJSON_AddStringToObject(env, "AWS_CONFIG_FILE", c->config);
	cJSON_AddStringToObject(env, "AWS_SHARED_CREDENTIALS_FILE", c->creds);
	cJSON_AddStringToObject(env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
	handle_json(c->agent, req, ans);
	cJSON_Delete(req);
}

static cJSON *wait_reply(struct ctx *c, struct answer *ans)
{
	for (int i = 0; !ans->reply && i < 1000; i++)
		loop_run_once(c->loop, 100000);
	assert_non_null(ans->reply);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(ans->reply, "ok")))
		print_message("# reply: %s: %s\n", msg_get_str(ans->reply, "error"),
		              msg_get_str(ans->reply, "message"));
	return ans->reply;
}

static cJSON *get(struct ctx *c, const char *profile)
{
	struct answer ans;

	send(c, "get", profile, &ans);
	return wait_reply(c, &ans);
}

static void forget(struct ctx *c, const char *profile)
{
	struct answer ans;

	send(c, "forget", profile, &ans);
	assert_non_null(ans.reply); /* answered at once */
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ans.reply, "ok")));
	cJSON_Delete(ans.reply);
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

static const struct agent_opts opts_memory = {.cache = "memory", .now = clock_now, .sts_ops = &ops};
static const struct agent_opts opts_keyring = {
    .now = clock_now, .sts_ops = &ops, .keyring_ops = &kr_ops};

static int setup_with(void **state, const struct agent_opts *o)
{
	struct ctx *c = calloc(1, sizeof(*c));

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
	kr_reset();
	assert_int_equal(agent_new(c->loop, o, &c->agent), 0);
	*state = c;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, &opts_memory);
}

/* The keyring front refuses to store what the real clock calls expired. */
static int setup_keyring(void **state)
{
	fake_now = time(NULL);
	return setup_with(state, &opts_keyring);
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	agent_free(c->agent);
	for (int i = 0; i < 8; i++)
		loop_timer_free(fake.p[i].t);
	loop_free(c->loop);
	kr_reset();
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

	/*
	 * So short that its threshold (2 s) is under the refresh's least lead:
	 * the refresh is due at once (1 s of real time; the wall clock stands
	 * still). A longer short session is renewed at half its life.
	 */
	fake.lifetime = 4;
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

/* Let n stores (write-through is asynchronous) reach the keyring. */
static void wait_stores(struct ctx *c, int n)
{
	for (int i = 0; kr_stores() < n && i < 200; i++)
		loop_run_once(c->loop, 10000);
	assert_int_equal(kr_stores(), n);
}

/* A daemon restart: a new agent over the same keyring. */
static void restart(struct ctx *c)
{
	agent_free(c->agent);
	c->agent = NULL;
	assert_int_equal(agent_new(c->loop, &opts_keyring, &c->agent), 0);
}

static void restart_serves_from_the_keyring_above_the_margin(void **state)
{
	struct ctx *c = *state;
	cJSON *r = get(c, "b");

	assert_int_equal(fake.calls, 2);
	cJSON_Delete(r);
	wait_stores(c, 2);
	restart(c);
	fake_now += 1800; /* 30 minutes left of an hour */
	r = get(c, "b");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "from"), "keyring");
	assert_int_equal(fake.calls, 2);
	cJSON_Delete(r);
}

/*
 * An hour-long session with 10 minutes left is below botocore's 15-minute
 * margin: before a restart it would be refreshed, and so it must be after
 * one (a threshold computed from the load time would serve it until 5
 * minutes were left, and botocore would run the helper on every call).
 */
static void restart_keeps_the_refresh_threshold(void **state)
{
	struct ctx *c = *state;
	cJSON *r = get(c, "b");

	cJSON_Delete(r);
	wait_stores(c, 2);
	restart(c);
	fake_now += 3600 - 10 * 60;
	r = get(c, "b");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "from"), "sts");
	assert_int_equal(fake.calls, 4);
	assert_true(reply_expiration(r) - fake_now > 15 * 60);
	cJSON_Delete(r);
}

/* Items stored without a lifetime stay readable, and are refreshed below the margin. */
static void items_without_a_lifetime_are_read_with_the_full_margin(void **state)
{
	struct ctx *c = *state;
	cJSON *r;

	kr.legacy = 1;
	r = get(c, "b");
	cJSON_Delete(r);
	wait_stores(c, 2);
	restart(c);
	fake_now += 1800; /* 30 minutes left: served */
	r = get(c, "b");
	assert_string_equal(msg_get_str(r, "from"), "keyring");
	assert_int_equal(fake.calls, 2);
	cJSON_Delete(r);
	restart(c);
	fake_now += 20 * 60; /* 10 minutes left: refreshed */
	r = get(c, "b");
	assert_string_equal(msg_get_str(r, "from"), "sts");
	assert_int_equal(fake.calls, 4);
	cJSON_Delete(r);
}

static int kr_items(void)
{
	int n;

	pthread_mutex_lock(&kr.mu);
	n = (int)kr.n;
	pthread_mutex_unlock(&kr.mu);
	return n;
}

/* Run the loop until n STS calls were made (they stay in flight while held). */
static void wait_calls(struct ctx *c, int n)
{
	for (int i = 0; fake.calls < n && i < 200; i++)
		loop_run_once(c->loop, 10000);
	assert_int_equal(fake.calls, n);
}

/* Let the keyring worker finish what is queued (removals have no callback). */
static void settle(struct ctx *c)
{
	for (int i = 0; i < 20; i++)
		loop_run_once(c->loop, 10000);
}

/* Hop 0 of b is profile a's hop, fetched for a: forget b drops it too. */
static void forget_drops_every_hop_of_the_chain(void **state)
{
	struct ctx *c = *state;

	cJSON_Delete(get(c, "a"));
	cJSON_Delete(get(c, "b"));
	assert_int_equal(fake.calls, 2);
	forget(c, "b");
	cJSON_Delete(get(c, "b"));
	assert_int_equal(fake.calls, 4);
}

/* After a restart only the keyring knows the hops: the intermediate one is stored as a's. */
static void forget_after_a_restart_drops_every_hop_from_the_keyring(void **state)
{
	struct ctx *c = *state;
	cJSON *r;

	cJSON_Delete(get(c, "b"));
	wait_stores(c, 2);
	restart(c);
	forget(c, "b");
	settle(c);
	assert_int_equal(kr_items(), 0);
	r = get(c, "b");
	assert_string_equal(msg_get_str(r, "from"), "sts");
	assert_int_equal(fake.calls, 4);
	cJSON_Delete(r);
}

/*
 * A fetch in flight during forget answers the request that was waiting,
 * and nothing of it (nor of the hop fetched with it) is kept.
 */
static void fetch_in_flight_during_forget_is_not_kept(void **state)
{
	struct ctx *c = *state;
	struct answer ans;
	cJSON *r;

	fake.hold = 1;
	send(c, "get", "b", &ans);
	wait_calls(c, 1); /* hop 0's call is in flight */
	forget(c, "b");
	fake_release();
	r = wait_reply(c, &ans);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_int_equal(fake.calls, 2);
	cJSON_Delete(r);
	settle(c);
	assert_int_equal(kr_stores(), 0);
	r = get(c, "b");
	assert_string_equal(msg_get_str(r, "from"), "sts");
	assert_int_equal(fake.calls, 4);
	cJSON_Delete(r);
}

/* A request made after the forget never takes what a fetch from before it brings. */
static void request_after_forget_does_not_take_a_fetch_from_before(void **state)
{
	struct ctx *c = *state;
	struct answer before, after;
	char first[64];
	cJSON *r;
	int calls;

	fake.hold = 1;
	send(c, "get", "b", &before);
	wait_calls(c, 1);
	forget(c, "b");
	send(c, "get", "b", &after); /* joins hop 0's call in flight */
	fake_release();
	r = wait_reply(c, &before);
	snprintf(first, sizeof(first), "%s", msg_get_str(r, "AccessKeyId"));
	cJSON_Delete(r);
	r = wait_reply(c, &after);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_not_equal(msg_get_str(r, "AccessKeyId"), first);
	calls = fake.calls;
	assert_true(calls >= 4); /* two hops each */
	cJSON_Delete(r);
	settle(c);
	assert_int_equal(kr_stores(), 2); /* only what the later request fetched is kept */
	r = get(c, "b");
	assert_string_not_equal(msg_get_str(r, "AccessKeyId"), first);
	assert_int_equal(fake.calls, calls);
	cJSON_Delete(r);
}

/* Expired keyring items are swept at start and then every sweep_interval, off the requests. */
static void keyring_is_swept_at_start_and_periodically(void **state)
{
	struct ctx *c = *state;
	struct agent_opts o = opts_keyring;
	int64_t until;
	int base;

	o.sweep_interval = 1;
	/* The setup's agent swept at its start too: count from once that sweep is in (on a
	 * busy machine it may still be queued, and keyring_free() lets it run). */
	for (int i = 0; kr_sweeps() < 1 && i < 500; i++)
		loop_run_once(c->loop, 10000);
	agent_free(c->agent);
	base = kr_sweeps();
	assert_int_equal(agent_new(c->loop, &o, &c->agent), 0);
	for (int i = 0; kr_sweeps() < base + 1 && i < 100; i++)
		loop_run_once(c->loop, 10000);
	assert_int_equal(kr_sweeps(), base + 1);
	until = (int64_t)time(NULL) + 4;
	while (kr_sweeps() < base + 3 && (int64_t)time(NULL) < until)
		loop_run_once(c->loop, 100000);
	assert_true(kr_sweeps() >= base + 3);
}

/* ---- the defects found when the agent was rebuilt ---- */

/* Send op with the test's env and a region of the caller's (NULL profile: none). */
static void send_region(struct ctx *c, const char *op, const char *profile, const char *region,
                        struct answer *ans)
{
	cJSON *req = cJSON_CreateObject(), *env;

	ans->loop = c->loop;
	ans->reply = NULL;
	cJSON_AddNumberToObject(req, "v", KR_PROTO_VERSION);
	cJSON_AddStringToObject(req, "op", op);
	if (profile)
		cJSON_AddStringToObject(req, "profile", profile);
	env = cJSON_AddObjectToObject(req, "env");
	cJSON_AddStringToObject(env, "HOME", c->dir);
	cJSON_AddStringToObject(env, "AWS_CONFIG_FILE", c->config);
	cJSON_AddStringToObject(env, "AWS_SHARED_CREDENTIALS_FILE", c->creds);
	if (region)
		cJSON_AddStringToObject(env, "AWS_REGION", region);
	cJSON_AddStringToObject(env, "AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
	handle_json(c->agent, req, ans);
	cJSON_Delete(req);
}

static cJSON *status(struct ctx *c)
{
	struct answer ans;

	send_region(c, "status", NULL, NULL, &ans);
	return wait_reply(c, &ans);
}

/* Plant long-term keys for profile in the fake keyring (as `keyrole add` would). */
static void plant_longterm(const char *profile)
{
	struct keyring_item *it = NULL;
	char key[128];

	snprintf(key, sizeof(key), "longterm:%s", profile);
	assert_int_equal(keyring_item_new(key, KEYRING_KIND_LONGTERM, profile, NULL, 0,
	                                  "{\"a\":\"AKIASTOREDSTORED0001\",\"s\":\"storedsecret\"}",
	                                  &it),
	                 0);
	assert_int_equal(kr_store(NULL, it), 0);
	keyring_item_free(it);
}

/*
 * Defect 1. With the cache at its cap, the keyring step's entry (long-term
 * keys: they are handed to the waiters, then dropped) was trimmed by the
 * very waiter it woke, which made room for its next step: a use after
 * free (ASan), reached here with a cache of 3 entries and a new region,
 * so a new role entry, on every request.
 */
static void a_full_cache_never_frees_the_entry_it_hands_on(void **state)
{
	struct ctx *c = *state;
	struct agent_opts o = opts_keyring;
	char region[32];

	o.max_entries = 3;
	agent_free(c->agent);
	assert_int_equal(agent_new(c->loop, &o, &c->agent), 0);
	plant_longterm("stored");
	write_file(c->config, "[profile stored]\nregion = us-east-1\n"
	                      "[profile r]\nrole_arn = arn:aws:iam::111111111111:role/r\n"
	                      "source_profile = stored\n");
	for (int i = 0; i < 40; i++) {
		struct answer ans;
		cJSON *r;

		fake_now += 61; /* older than a minute: idle entries may be trimmed */
		snprintf(region, sizeof(region), "us-east-%d", i + 1);
		send_region(c, "get", "r", region, &ans);
		r = wait_reply(c, &ans);
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
		cJSON_Delete(r);
	}
	assert_int_equal(fake.calls, 40);
}

/* Rewrite the "e" of every stored session item (the keyring is untrusted input). */
static void tamper_expiry(const char *e)
{
	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n; i++) {
		cJSON *o = cJSON_Parse(kr.items[i]->secret);
		cJSON *n = cJSON_Parse(e);

		assert_non_null(o);
		assert_non_null(n);
		cJSON_ReplaceItemInObjectCaseSensitive(o, "e", n);
		mem_free_str(kr.items[i]->secret);
		kr.items[i]->secret = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	pthread_mutex_unlock(&kr.mu);
}

/*
 * Defect 3. An expiry read back from the keyring is believed only when it
 * is a number no further away than any source can issue; a century away,
 * a huge double or a string is no session (fetched from STS again).
 */
static void keyring_expiries_out_of_range_are_not_believed(void **state)
{
	static const char *const bad[] = {"5000000000", "1e300", "-5", "\"1800003600\""};
	struct ctx *c = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int calls = fake.calls;
		cJSON *r;

		restart(c); /* the stores the last agent queued land first */
		kr_reset();
		cJSON_Delete(get(c, "a"));
		wait_stores(c, 1);
		tamper_expiry(bad[i]);
		restart(c);
		r = get(c, "a");
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
		if (strcmp(msg_get_str(r, "from"), "sts") != 0)
			fail_msg("an item with expiry %s was served from the keyring", bad[i]);
		assert_int_equal(fake.calls, calls + 2);
		cJSON_Delete(r);
	}
	/* And a sane one still is. */
	restart(c);
	kr_reset();
	cJSON_Delete(get(c, "a"));
	wait_stores(c, 1);
	restart(c);
	cJSON *r = get(c, "a");
	assert_string_equal(msg_get_str(r, "from"), "keyring");
	cJSON_Delete(r);
}

/*
 * Defect 9. Credentials that arrive already expired are refused, with
 * botocore's meaning; an Expiration centuries away is brought back to the
 * longest an AssumeRole can issue, so the entry is refreshed in time.
 */
static void expired_or_far_future_credentials_from_sts(void **state)
{
	struct ctx *c = *state;
	cJSON *r;

	fake.lifetime = -10;
	r = get(c, "a");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "error"), "expired");
	assert_non_null(strstr(msg_get_str(r, "message"), "still expired"));
	cJSON_Delete(r);
	fake.lifetime = 50 * 365 * 24 * 3600; /* half a century */
	r = get(c, "a");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_true(reply_expiration(r) <= fake_now + 43200);
	cJSON_Delete(r);
	fake_now += 43200 - 60; /* the clamped entry is due: refreshed, not served for ever */
	r = get(c, "a");
	assert_string_equal(msg_get_str(r, "from"), "sts");
	cJSON_Delete(r);
}

static size_t count_entries(cJSON *st, const char *profile)
{
	const cJSON *e;
	size_t n = 0;

	cJSON_ArrayForEach(e, cJSON_GetObjectItem(st, "entries")) n +=
	    strcmp(msg_get_str(e, "profile"), profile) == 0;
	return n;
}

/*
 * Defect 4. A background refresh of a profile that no longer resolves is
 * logged, shown by status next to the entry, and the entry still goes at
 * its end (its timer is armed again); it used to stay listed for ever.
 */
static void background_refresh_of_a_removed_profile_ends_with_the_entry(void **state)
{
	struct ctx *c = *state;
	const cJSON *e;
	int found = 0;
	cJSON *r, *st;

	fake.lifetime = 4; /* the refresh is due at once (1 s of real time) */
	r = get(c, "a");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	cJSON_Delete(r);
	write_file(c->config, "[profile dev]\nregion = us-east-1\n");
	run_for(c, 1500);
	assert_int_equal(fake.calls, 1);
	st = status(c);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(st, "entries"))
	{
		const char *err = msg_get_str(e, "refresh_error");

		if (strcmp(msg_get_str(e, "profile"), "a") == 0 && err && strstr(err, "not found"))
			found = 1;
	}
	assert_true(found);
	cJSON_Delete(st);
	fake_now +=
	    5; /* under its minimum left: the next firing (3 s after the refresh) drops it */
	run_for(c, 3500);
	st = status(c);
	assert_int_equal(count_entries(st, "a"), 0);
	cJSON_Delete(st);
}

/* ---- a source added through the table alone ---- */

static int tsrc_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	struct pmap_val v = {0};

	pmap_get(in->map, in->profile, PMAP_ANY, "test_value", &v);
	s->conf = strdup(v.v);
	return s->conf && step_set_where(s, v.file, v.line) == KR_OK ? KR_OK : KR_ERR_NOMEM;
}

static void tsrc_free(void *conf)
{
	free(conf);
}

static int tsrc_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	int r = ckey_step(out, "test");

	return r == KR_OK ? ckey_str(out, "v=", s->conf) : r;
}

static int tsrc_fetch(const struct source_fetch *f, struct source_result *res, void **ret_call)
{
	res->creds.access_key_id = strdup("AKIATESTSOURCE000001");
	res->creds.secret_access_key = strdup(f->step->conf);
	res->creds.expiration = fake_now + 3600;
	res->from = "test";
	return 1; /* at once */
}

static void tsrc_describe(const struct step *s, const struct chain *ch, struct step_report *out)
{
	out->kind = "source";
	out->type = "test";
}

static const struct source_ops test_source = {
    .name = "test",
    .flags = SOURCE_SESSION,
    .parse = tsrc_parse,
    .free = tsrc_free,
    .key = tsrc_key,
    .fetch = tsrc_fetch,
    .describe = tsrc_describe,
};

/* A new source is one struct source_ops and one row of the table: nothing else knows it. */
static void a_source_is_one_table_row(void **state)
{
	struct ctx *c = *state;
	struct source_row rows[32];
	struct source_table t = {rows, 1 + source_table_default.n};
	struct agent_opts o = opts_memory;
	cJSON *r;

	rows[0] =
	    (struct source_row){&test_source, "test_value", PMAP_ANY, NULL, "a test source", NULL};
	memcpy(rows + 1, source_table_default.rows,
	       source_table_default.n * sizeof(*source_table_default.rows));
	o.sources = &t;
	agent_free(c->agent);
	assert_int_equal(agent_new(c->loop, &o, &c->agent), 0);
	write_file(c->config, "[profile t]\ntest_value = secret-from-the-test-source\n"
	                      "[profile tr]\nrole_arn = arn:aws:iam::111111111111:role/tr\n"
	                      "source_profile = t\n");
	r = get(c, "t");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_string_equal(msg_get_str(r, "AccessKeyId"), "AKIATESTSOURCE000001");
	assert_string_equal(msg_get_str(r, "SecretAccessKey"), "secret-from-the-test-source");
	cJSON_Delete(r);
	r = get(c, "t"); /* a session: cached like any other */
	assert_string_equal(msg_get_str(r, "from"), "memory");
	cJSON_Delete(r);
	r = get(c, "tr"); /* and a source for a role */
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "ok")));
	assert_int_equal(fake.calls, 1);
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
	    cmocka_unit_test_setup_teardown(restart_serves_from_the_keyring_above_the_margin,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(restart_keeps_the_refresh_threshold, setup_keyring,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(items_without_a_lifetime_are_read_with_the_full_margin,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(forget_drops_every_hop_of_the_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(forget_after_a_restart_drops_every_hop_from_the_keyring,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(fetch_in_flight_during_forget_is_not_kept,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(request_after_forget_does_not_take_a_fetch_from_before,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(keyring_is_swept_at_start_and_periodically,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(a_full_cache_never_frees_the_entry_it_hands_on,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(keyring_expiries_out_of_range_are_not_believed,
	                                    setup_keyring, teardown),
	    cmocka_unit_test_setup_teardown(expired_or_far_future_credentials_from_sts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        background_refresh_of_a_removed_profile_ends_with_the_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_source_is_one_table_row, setup, teardown),
	};

	msg_install_json_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
