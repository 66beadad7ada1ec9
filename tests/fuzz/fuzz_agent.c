/*
 * libFuzzer harness: the daemon's whole request handling behind the frame
 * layer. The input is up to KR_FUZZ_REQS request bodies separated by NUL
 * bytes (a NUL never belongs inside a JSON text), handled in order by one
 * agent, as a series of connections would be: so a "get" may be answered
 * from the cache a previous "get" filled, or follow an "add" or a "forget".
 * Each body goes through msg_decode_request() and agent_handle(), with STS
 * replaced by a fake transport that answers from the loop, and the keyring
 * by a fake persistent one (so sessions are written through and looked
 * up, and profile "stored" has long-term keys in it), in a cache of a few
 * entries (so that trimming happens while waiters are handed on).
 *
 * What the harness keeps fixed, and why:
 * - HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE in every request
 *   are forced to a private temp dir holding a small chain: a fuzzed path
 *   could name a config file elsewhere on the machine whose
 *   credential_process would then be run.
 * - The cache backend is the fake keyring: no D-Bus, no kernel keyring.
 *
 * Contracts checked, beyond "no crash, no leak, no UB":
 * - every request is answered exactly once (or is still pending after the
 *   bounded wait and is then cancelled), with {"v":1,"ok":BOOL}, and a
 *   failure names a known error and carries a message;
 * - no reply but a successful "get" contains a secret the harness planted
 *   (the static secret key, the STS secret key or session token), unless
 *   the input itself carries that text;
 * - every reply encodes into a frame within KR_RESP_MAX;
 * - after agent_free() no fake STS transfer is left open.
 */
#include "agent.h"
#include "buf.h"
#include "caps.h"
#include "err.h"
#include "http.h"
#include "keyring.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "msg.h"
#include "sts.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KR_FUZZ_REQS  4   /* requests per input */
#define KR_FUZZ_SLOTS 16  /* fake STS transfers open at once */
#define KR_FUZZ_SPINS 100 /* loop iterations waiting for one reply */

/* Planted secrets: none may show up in a reply other than a "get" answer. */
#define STATIC_SECRET "fuzzStaticSecretKey0000000000000000000000"
#define STS_SECRET    "fuzzStsSecretKey11111111111111111111111111"
#define STS_TOKEN     "fuzzStsSessionToken2222222222222222222222"

static char dir[64], config[96], creds[96];

/* ---- fake STS transport ------------------------------------------------- */

struct xfer {
	struct loop_timer *t;
	http_done_fn done;
	void *userdata;
	int kind; /* 0 AssumeRole/GetSessionToken, 1 GetCallerIdentity, 2 AccessDenied */
};

static struct {
	struct loop *loop;
	struct xfer x[KR_FUZZ_SLOTS];
} fake;

static void fill_body(struct buf *body, int kind, long *status)
{
	char exp[32];
	struct tm tm;
	time_t e = time(NULL) + 3600;

	gmtime_r(&e, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	*status = 200;
	if (kind == 2) {
		*status = 403;
		buf_puts(body, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
		               "<Message>not allowed</Message></Error></ErrorResponse>");
	} else if (kind == 1) {
		buf_puts(body,
		         "<GetCallerIdentityResponse><GetCallerIdentityResult>"
		         "<Arn>arn:aws:iam::123456789012:user/fuzz</Arn><UserId>AIDAFUZZ</UserId>"
		         "<Account>123456789012</Account></GetCallerIdentityResult>"
		         "</GetCallerIdentityResponse>");
	} else {
		buf_printf(body,
		           "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
		           "<AccessKeyId>ASIAFUZZFUZZFUZZFUZZ</AccessKeyId>"
		           "<SecretAccessKey>" STS_SECRET "</SecretAccessKey>"
		           "<SessionToken>" STS_TOKEN "</SessionToken>"
		           "<Expiration>%s</Expiration></Credentials><AssumedRoleUser>"
		           "<Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn></AssumedRoleUser>"
		           "</AssumeRoleResult></AssumeRoleResponse>",
		           exp);
	}
}

static void on_timer(struct loop_timer *t, void *userdata)
{
	struct xfer *x = userdata;
	http_done_fn done = x->done;
	void *ud = x->userdata;
	int kind = x->kind;
	struct buf body;
	long status;

	loop_timer_free(x->t);
	memset(x, 0, sizeof(*x));
	buf_init(&body, KR_HTTP_RESP_MAX);
	fill_body(&body, kind, &status);
	done(ud, KR_OK, status, &body, NULL);
	buf_free(&body);
}

static int fake_post(void *hu, const struct http_request *req, http_done_fn done, void *userdata,
                     struct http_xfer **ret)
{
	for (int i = 0; i < KR_FUZZ_SLOTS; i++) {
		struct xfer *x = &fake.x[i];
		if (x->done)
			continue;
		x->kind = 0;
		if (memmem(req->body, req->body_len, "GetCallerIdentity", 17))
			x->kind = 1;
		else if (memmem(req->body, req->body_len, "role%2Fdenied", 13))
			x->kind = 2;
		/*
		 * Due long ago (1 us after boot), so it fires on the next
		 * iteration: "now" with the loop's 1 ms timer slack would make
		 * every STS answer cost a millisecond of fuzzing time.
		 */
		if (loop_timer_add(fake.loop, 1, on_timer, x, &x->t) < 0)
			return KR_ERR_NOMEM;
		x->done = done;
		x->userdata = userdata;
		*ret = (struct http_xfer *)x;
		return KR_OK;
	}
	return KR_ERR_BUSY;
}

static void fake_cancel(void *hu, struct http_xfer *hx)
{
	struct xfer *x = (struct xfer *)hx;

	loop_timer_free(x->t);
	memset(x, 0, sizeof(*x));
}

static const struct sts_ops fake_ops = {
    .http_post = fake_post,
    .http_cancel = fake_cancel,
};

/* ---- fake persistent keyring (its calls run on the keyring's worker) ---- */

#define KR_FUZZ_ITEMS 64

static struct {
	pthread_mutex_t mu;
	struct keyring_item *items[KR_FUZZ_ITEMS];
	size_t n;
} kr = {.mu = PTHREAD_MUTEX_INITIALIZER};

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

	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; r == KR_OK && copy && i < kr.n; i++)
		if (strcmp(kr.items[i]->key, item->key) == 0) {
			keyring_item_free(kr.items[i]);
			kr.items[i] = copy;
			copy = NULL;
		}
	if (copy && kr.n < KR_FUZZ_ITEMS) {
		kr.items[kr.n++] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&kr.mu);
	keyring_item_free(copy);
	return r;
}

static int kr_lookup(void *state, const char *key, struct keyring_item **ret)
{
	int r = KR_ERR_NOCREDS;

	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n && r == KR_ERR_NOCREDS; i++)
		if (strcmp(kr.items[i]->key, key) == 0)
			r = keyring_item_dup(kr.items[i], ret);
	pthread_mutex_unlock(&kr.mu);
	return r;
}

/* Drop the items whose key is key, or (key NULL) of profile (NULL: all) and kind. */
static int kr_drop(const char *key, const char *profile, const char *kind)
{
	size_t k = 0;
	int count = 0;

	pthread_mutex_lock(&kr.mu);
	for (size_t i = 0; i < kr.n; i++) {
		struct keyring_item *it = kr.items[i];

		if (key ? strcmp(it->key, key) == 0
		        : (!profile || strcmp(it->profile, profile) == 0) &&
		              (!kind || strcmp(it->kind, kind) == 0)) {
			keyring_item_free(it);
			count++;
		} else {
			kr.items[k++] = it;
		}
	}
	kr.n = k;
	pthread_mutex_unlock(&kr.mu);
	return count;
}

static int kr_remove(void *state, const char *key)
{
	kr_drop(key, NULL, NULL);
	return KR_OK;
}

static int kr_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	*ret_count = kr_drop(NULL, profile, kind);
	return KR_OK;
}

static int kr_list(void *state, const char *kind, struct keyring_item ***ret_items, size_t *ret_n)
{
	*ret_items = NULL;
	*ret_n = 0;
	return KR_OK;
}

static const struct keyring_ops kr_ops = {
    .name = "fuzz",
    .persistent = 1,
    .open = kr_open,
    .close = kr_close,
    .store = kr_store,
    .lookup = kr_lookup,
    .remove = kr_remove,
    .remove_profile = kr_remove_profile,
    .list = kr_list,
};

/* Start each input from the same keyring: long-term keys for profile "stored". */
static void kr_reset(void)
{
	struct keyring_item *it = NULL;

	kr_drop(NULL, NULL, NULL);
	if (keyring_item_new("longterm:stored", KEYRING_KIND_LONGTERM, "stored", NULL, 0,
	                     "{\"a\":\"AKIAFUZZSTORED000000\",\"s\":\"" STATIC_SECRET "\"}",
	                     &it) < 0 ||
	    kr_store(NULL, it) < 0)
		abort();
	keyring_item_free(it);
}

/* ---- set-up ------------------------------------------------------------- */

static void cleanup(void)
{
	unlink(config);
	unlink(creds);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n)
		abort();
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	msg_install_json_hooks();
	log_init(LOG_LVL_ERR); /* the daemon's info lines would drown the fuzzer's output */
	snprintf(dir, sizeof(dir), "%s/kr-fuzz-agent-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(config, sizeof(config), "%s/config", dir);
	snprintf(creds, sizeof(creds), "%s/credentials", dir);
	write_file(config, "[profile dev]\nregion = us-east-1\n"
	                   "[profile a]\nrole_arn = arn:aws:iam::123456789012:role/a\n"
	                   "source_profile = dev\nregion = us-east-1\n"
	                   "[profile b]\nrole_arn = arn:aws:iam::123456789012:role/b\n"
	                   "source_profile = a\nrole_session_name = fz\nduration_seconds = 7200\n"
	                   "[profile m]\nrole_arn = arn:aws:iam::123456789012:role/m\n"
	                   "source_profile = dev\nmfa_serial = arn:aws:iam::123456789012:mfa/u\n"
	                   "[profile denied]\nrole_arn = arn:aws:iam::123456789012:role/denied\n"
	                   "source_profile = dev\n"
	                   "[profile stored]\nregion = eu-west-1\n"
	                   "[profile s]\nrole_arn = arn:aws:iam::123456789012:role/s\n"
	                   "source_profile = stored\nexternal_id = x\n"
	                   "[profile e]\nrole_arn = arn:aws:iam::123456789012:role/e\n"
	                   "credential_source = Environment\n"
	                   "[profile t]\nrole_arn = arn:aws:iam::123456789012:role/t\n"
	                   "source_profile = dev\nsession_tags = k=v,k2=v2\n"
	                   "transitive_session_tags = k\n");
	write_file(creds, "[dev]\naws_access_key_id = AKIAFUZZSTATIC000000\n"
	                  "aws_secret_access_key = " STATIC_SECRET "\n");
	/* A request without "env" must not read the real user's files either. */
	setenv("HOME", dir, 1);
	atexit(cleanup);
	return 0;
}

/* ---- one request -------------------------------------------------------- */

struct answer {
	cJSON *reply;
	int calls;
};

/* Every reply encodes into a frame within KR_RESP_MAX; it is read back as the client would. */
static void on_reply(void *userdata, const struct reply *reply)
{
	struct answer *ans = userdata;
	struct buf frame;

	if (ans->calls++ > 0)
		abort(); /* answered twice */
	buf_init(&frame, KR_RESP_MAX + KR_FRAME_HDR);
	if (msg_encode_reply(reply, &frame) < 0)
		abort();
	ans->reply = cJSON_ParseWithLength(frame.data + KR_FRAME_HDR, frame.len - KR_FRAME_HDR);
	if (!ans->reply)
		abort();
	buf_free(&frame);
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* Point the request's file locations at our private files. */
static void pin_env(cJSON *msg)
{
	static const char *const keys[] = {"HOME", "AWS_CONFIG_FILE",
	                                   "AWS_SHARED_CREDENTIALS_FILE"};
	const char *vals[] = {dir, config, creds};
	cJSON *env = cJSON_GetObjectItemCaseSensitive(msg, "env");

	if (!env)
		env = cJSON_AddObjectToObject(msg, "env");
	if (!cJSON_IsObject(env))
		return;
	for (size_t i = 0; i < 3; i++) {
		for (int guard = 0; guard < KR_ENV_MAX + 1; guard++) {
			if (!cJSON_GetObjectItemCaseSensitive(env, keys[i]))
				break;
			cJSON_DeleteItemFromObjectCaseSensitive(env, keys[i]);
		}
		cJSON_AddStringToObject(env, keys[i], vals[i]);
	}
}

static int known_error(const char *name)
{
	return name && (strcmp(name, "internal") == 0 || err_from_name(name) != KR_ERR_INTERNAL);
}

static void check_reply(const cJSON *reply, const char *op, const uint8_t *in, size_t in_len)
{
	static const char *const planted[] = {STATIC_SECRET, STS_SECRET, STS_TOKEN};
	const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(reply, "v");
	char *text;

	if (!cJSON_IsObject(reply) || !cJSON_IsBool(ok) || !cJSON_IsNumber(v) ||
	    v->valuedouble != KR_PROTO_VERSION)
		abort();
	if (!cJSON_IsTrue(ok) &&
	    (!known_error(get_str(reply, "error")) || !get_str(reply, "message")))
		abort();
	if (!(cJSON_IsTrue(ok) && op && strcmp(op, "get") == 0)) {
		text = cJSON_PrintUnformatted(reply);
		if (!text)
			abort();
		for (size_t i = 0; i < 3; i++)
			if (strstr(text, planted[i]) &&
			    !memmem(in, in_len, planted[i], strlen(planted[i])))
				abort(); /* a secret leaked into a reply */
		mem_free_str(text);
	}
}

static void handle_one(struct loop *l, struct agent *a, const uint8_t *body, size_t len,
                       const uint8_t *in, size_t in_len)
{
	struct answer ans = {NULL, 0};
	struct agent_req *pending = NULL;
	struct request req;
	struct err_detail e;
	cJSON *msg = NULL;
	char *op = NULL, *text;
	int r;

	if (len == 0 || len > KR_REQ_MAX || !(msg = cJSON_ParseWithLength((const char *)body, len)))
		return; /* the server answers these itself (fuzz_frame covers decoding) */
	if (cJSON_IsObject(msg))
		pin_env(msg);
	text = cJSON_PrintUnformatted(msg);
	cJSON_Delete(msg);
	if (!text)
		abort();
	r = msg_decode_request(text, strlen(text), &req, &e);
	mem_free_str(text);
	if (r < 0) {
		if (e.code != r || !e.msg[0])
			abort();
		return;
	}
	if (req.op_name)
		op = strdup(req.op_name);
	agent_handle(a, &req, on_reply, &ans, &pending);
	/* The agent must not keep pointers into the request: free it now. */
	request_free(&req);
	for (int i = 0; i < KR_FUZZ_SPINS && pending && !ans.calls; i++)
		loop_run_once(l, 1000);
	if (ans.calls) {
		check_reply(ans.reply, op, in, in_len);
		cJSON_Delete(ans.reply);
	} else if (pending) {
		agent_req_cancel(pending); /* a client that gave up */
	} else {
		abort(); /* neither answered nor pending */
	}
	free(op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_opts opts = {.sts_ops = &fake_ops, .keyring_ops = &kr_ops, .max_entries = 4};
	struct loop *l = NULL;
	struct agent *a = NULL;
	size_t off = 0;

	if (loop_new(&l) < 0)
		abort();
	fake.loop = l;
	kr_reset();
	if (agent_new(l, &opts, &a) < 0)
		abort();
	for (int n = 0; n < KR_FUZZ_REQS && off < size; n++) {
		const uint8_t *nul = memchr(data + off, '\0', size - off);
		size_t len = nul ? (size_t)(nul - (data + off)) : size - off;
		handle_one(l, a, data + off, len, data, size);
		off += len + 1;
	}
	/* Keyring calls still queued finish here, on the worker. */
	agent_free(a);
	for (int i = 0; i < KR_FUZZ_SLOTS; i++)
		if (fake.x[i].done)
			abort(); /* an STS transfer outlived its agent */
	loop_free(l);
	return 0;
}
