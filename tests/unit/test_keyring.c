/*
 * The keyring front (daemon/keyring.c) with fake backends and a real event
 * loop: completions on the loop thread, deadlines, failover to memory,
 * cancellation, bounded shutdown; plus the memory backend and item checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "keyring.h"
#include "loop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_A  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SECRET "{\"a\":\"ASIAEXAMPLE\",\"s\":\"not-a-real-secret\",\"t\":\"tok\",\"e\":1}"

/* ---- a fake backend: a small in-memory store with fault modes ---- */

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool hang; /* lookups block until released */
	bool released;
	int delay_ms;          /* every call sleeps this long */
	bool open_fail;        /* open() fails with "no bus" */
	bool full;             /* store() fails with "Disk quota exceeded" */
	struct err_detail err; /* the last failure, for last_error() */
	bool junk;             /* lookup answers with another key's item */
	int stores;
	int closes;
	int sweeps;
	struct keyring_item *items[16];
	size_t n;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static char fake_state_token;

static void fake_reset(void)
{
	pthread_mutex_lock(&fake.mu);
	for (size_t i = 0; i < fake.n; i++)
		keyring_item_free(fake.items[i]);
	fake.n = 0;
	fake.hang = fake.released = fake.open_fail = fake.junk = fake.full = false;
	memset(&fake.err, 0, sizeof(fake.err));
	fake.delay_ms = 0;
	fake.stores = fake.closes = fake.sweeps = 0;
	pthread_mutex_unlock(&fake.mu);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fake_delay(void)
{
	if (fake.delay_ms)
		sleep_ms(fake.delay_ms);
}

static int fake_closes(void)
{
	int n;

	pthread_mutex_lock(&fake.mu);
	n = fake.closes;
	pthread_mutex_unlock(&fake.mu);
	return n;
}

/* A detached worker closes its backend on its own: wait for that (bounded). */
static void wait_closed(int n)
{
	for (int i = 0; i < 200 && fake_closes() < n; i++)
		sleep_ms(10);
}

static void fake_release(void)
{
	pthread_mutex_lock(&fake.mu);
	fake.released = true;
	pthread_cond_broadcast(&fake.cond);
	pthread_mutex_unlock(&fake.mu);
}

static int fake_open(void **ret_state, struct err_detail *e)
{
	if (fake.open_fail) {
		err_set(e, KR_ERR_KEYRING, NULL, 0, "start a bus", "no bus");
		return KR_ERR_KEYRING;
	}
	*ret_state = &fake_state_token;
	return KR_OK;
}

static void fake_close(void *state)
{
	pthread_mutex_lock(&fake.mu);
	fake.closes++;
	pthread_mutex_unlock(&fake.mu);
}

static int fake_store(void *state, const struct keyring_item *item)
{
	struct keyring_item *copy = NULL;
	int r;

	fake_delay();
	if (fake.full) {
		err_set(&fake.err, KR_ERR_KEYRING, NULL, 0, "raise the quota",
		        "add_key: Disk quota exceeded");
		return KR_ERR_KEYRING;
	}
	if ((r = keyring_item_dup(item, &copy)) < 0)
		return r;
	pthread_mutex_lock(&fake.mu);
	fake.stores++;
	for (size_t i = 0; i < fake.n; i++) {
		if (strcmp(fake.items[i]->key, item->key) == 0) {
			keyring_item_free(fake.items[i]);
			fake.items[i] = copy;
			copy = NULL;
		}
	}
	if (copy && fake.n < 16)
		fake.items[fake.n++] = copy;
	else
		keyring_item_free(copy);
	pthread_mutex_unlock(&fake.mu);
	return KR_OK;
}

static int fake_lookup(void *state, const char *key, struct keyring_item **ret)
{
	int r = KR_ERR_NOCREDS;

	fake_delay();
	pthread_mutex_lock(&fake.mu);
	while (fake.hang && !fake.released)
		pthread_cond_wait(&fake.cond, &fake.mu);
	if (fake.junk) {
		r = keyring_item_new(KEY_B, KEYRING_KIND_SESSION, "other", NULL,
		                     (int64_t)time(NULL) + 3600, SECRET, ret);
		goto out;
	}
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.items[i]->key, key) == 0) {
			r = keyring_item_dup(fake.items[i], ret);
			break;
		}
out:
	pthread_mutex_unlock(&fake.mu);
	return r;
}

static int fake_remove(void *state, const char *key)
{
	fake_delay();
	return KR_OK;
}

/* Drop the items drop() picks; -> how many. */
static int fake_drop(bool (*drop)(const struct keyring_item *it, const char *profile),
                     const char *profile)
{
	int count = 0;
	size_t k = 0;

	pthread_mutex_lock(&fake.mu);
	for (size_t i = 0; i < fake.n; i++) {
		if (drop(fake.items[i], profile)) {
			keyring_item_free(fake.items[i]);
			count++;
		} else {
			fake.items[k++] = fake.items[i];
		}
	}
	fake.n = k;
	pthread_mutex_unlock(&fake.mu);
	return count;
}

static bool of_profile(const struct keyring_item *it, const char *profile)
{
	return !profile || strcmp(it->profile, profile) == 0;
}

static bool expired(const struct keyring_item *it, const char *unused)
{
	return it->expiration != 0 && it->expiration <= (int64_t)time(NULL);
}

static int fake_remove_profile(void *state, const char *profile, const char *kind, int *ret_count)
{
	*ret_count = fake_drop(of_profile, profile);
	return KR_OK;
}

/* Hands out secrets on purpose: the front must strip them. */
static int fake_list(void *state, const char *kind, struct keyring_item ***ret_items, size_t *ret_n)
{
	struct keyring_item **items = calloc(16, sizeof(*items));
	size_t n = 0;

	if (!items)
		return KR_ERR_NOMEM;
	pthread_mutex_lock(&fake.mu);
	for (size_t i = 0; i < fake.n; i++)
		if (keyring_item_dup(fake.items[i], &items[n]) == KR_OK)
			n++;
	pthread_mutex_unlock(&fake.mu);
	*ret_items = items;
	*ret_n = n;
	return KR_OK;
}

/* Deletes expired items, as a backend's sweep must. */
static int fake_sweep(void *state, int *ret_count)
{
	pthread_mutex_lock(&fake.mu);
	fake.sweeps++;
	pthread_mutex_unlock(&fake.mu);
	*ret_count = fake_drop(expired, NULL);
	return KR_OK;
}

/* Written by store() on the worker, read there right after the call. */
static const struct err_detail *fake_last_error(void *state)
{
	return fake.err.code < 0 ? &fake.err : NULL;
}

static const struct keyring_ops fake_ops = {
    .name = "fake",
    .persistent = 1,
    .open = fake_open,
    .close = fake_close,
    .store = fake_store,
    .lookup = fake_lookup,
    .remove = fake_remove,
    .remove_profile = fake_remove_profile,
    .list = fake_list,
    .sweep = fake_sweep,
    .last_error = fake_last_error,
};

/* ---- loop harness ---- */

struct ctx {
	struct loop *loop;
	struct keyring *k;
	struct loop_timer *guard;
	pthread_t main_thread;
	bool in_call; /* set while a keyring_*_async call runs */
	int calls;
	int expect;
	int errs[8];
	bool on_loop_thread;
	bool reentered;
	struct keyring_item *item;
	struct keyring_item **items;
	size_t n;
	int count;
	int warnings;
	int64_t t0, t_first, t_second;
};

static void on_guard(struct loop_timer *t, void *userdata)
{
	struct ctx *c = userdata;

	loop_exit(c->loop, 1); /* the test took too long: fail below */
}

static void ctx_init(struct ctx *c, unsigned guard_ms)
{
	memset(c, 0, sizeof(*c));
	c->main_thread = pthread_self();
	assert_int_equal(loop_new(&c->loop), KR_OK);
	assert_int_equal(
	    loop_timer_add(c->loop, loop_now(c->loop) + guard_ms * 1000ull, on_guard, c, &c->guard),
	    KR_OK);
	c->t0 = mono_ms();
}

static void ctx_done(struct ctx *c)
{
	keyring_free(c->k);
	keyring_item_free(c->item);
	keyring_items_free(c->items, c->n);
	loop_timer_free(c->guard);
	loop_free(c->loop);
}

static void note(struct ctx *c, int err)
{
	if (c->calls < 8)
		c->errs[c->calls] = err;
	c->calls++;
	if (c->in_call)
		c->reentered = true;
	c->on_loop_thread = pthread_equal(pthread_self(), c->main_thread);
	if (c->calls == c->expect)
		loop_exit(c->loop, 0);
}

static void on_done(void *userdata, int err, struct keyring_item *item)
{
	struct ctx *c = userdata;

	if (item) {
		keyring_item_free(c->item);
		c->item = item;
	}
	note(c, err);
}

static void on_count(void *userdata, int err, int count)
{
	struct ctx *c = userdata;

	c->count = count;
	note(c, err);
}

static void on_list(void *userdata, int err, struct keyring_item **items, size_t n)
{
	struct ctx *c = userdata;

	keyring_items_free(c->items, c->n);
	c->items = items;
	c->n = n;
	note(c, err);
}

static void on_warn(void *userdata, const char *message)
{
	struct ctx *c = userdata;

	c->warnings++;
}

static struct keyring_item *item_a(void)
{
	struct keyring_item *it = NULL;

	assert_int_equal(keyring_item_new(KEY_A, KEYRING_KIND_SESSION, "prod",
	                                  "arn:aws:iam::123456789012:role/prod",
	                                  (int64_t)time(NULL) + 3600, SECRET, &it),
	                 KR_OK);
	return it;
}

static int setup(void **state)
{
	fake_reset();
	return 0;
}

static int teardown(void **state)
{
	fake_release();
	fake_reset();
	return 0;
}

/* ---- tests ---- */

static void test_completion_runs_later_on_loop_thread(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	c.expect = 2;
	c.in_call = true;
	assert_int_equal(keyring_store_async(c.k, it, on_done, &c), KR_OK);
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &c), KR_OK);
	c.in_call = false;
	keyring_item_free(it);
	assert_int_equal(c.calls, 0); /* never from inside the call */
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_OK);
	assert_int_equal(c.errs[1], KR_OK);
	assert_true(c.on_loop_thread);
	assert_false(c.reentered);
	assert_non_null(c.item);
	assert_string_equal(c.item->key, KEY_A);
	assert_string_equal(c.item->secret, SECRET);
	assert_string_equal(keyring_backend_name(c.k), "fake");
	ctx_done(&c);
}

/* keyring_queued() counts the calls queued or running until the backend has done them. */
static void test_queued_counts_calls_until_the_backend_did_them(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 3000, &c.k, NULL), KR_OK);
	assert_int_equal(keyring_queued(c.k), 0);
	fake.hang = true; /* the lookup holds the worker: the store waits behind it */
	c.expect = 2;
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &c), KR_OK);
	assert_int_equal(keyring_store_async(c.k, it, on_done, &c), KR_OK);
	keyring_item_free(it);
	assert_int_equal(keyring_queued(c.k), 2);
	sleep_ms(100);
	assert_int_equal(keyring_queued(c.k), 2); /* one running, one queued */
	fake_release();
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.calls, 2);
	assert_int_equal(keyring_queued(c.k), 0);
	ctx_done(&c);
}

static void timeout_cb(void *userdata, int err, struct keyring_item *item)
{
	struct ctx *c = userdata;

	keyring_item_free(item);
	note(c, err);
	if (c->calls == 1) {
		c->t_first = mono_ms();
		/* After the failover the next call is answered at once, from memory. */
		assert_int_equal(keyring_lookup_async(c->k, KEY_A, timeout_cb, c), KR_OK);
	} else {
		c->t_second = mono_ms();
	}
}

static void test_hanging_backend_times_out_and_falls_back_to_memory(void **state)
{
	struct ctx c;

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 200, &c.k, NULL), KR_OK);
	keyring_set_warn_fn(c.k, on_warn, &c);
	fake.hang = true;
	c.expect = 2;
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, timeout_cb, &c), KR_OK);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_ERR_TIMEOUT);
	assert_int_equal(c.errs[1], KR_ERR_NOCREDS);
	assert_true(c.t_first - c.t0 >= 150 && c.t_first - c.t0 < 2000);
	assert_true(c.t_second - c.t_first < 500); /* answered at once, not after a timeout */
	assert_int_equal(c.warnings, 1);
	assert_string_equal(keyring_backend_name(c.k), "memory");
	assert_int_equal(keyring_persistent(c.k), 0);
	assert_non_null(keyring_warning(c.k));
	assert_non_null(strstr(keyring_warning(c.k), "fake"));
	fake_release();
	ctx_done(&c);
	wait_closed(1);
	assert_int_equal(fake_closes(), 1);
}

static void test_queued_call_times_out_without_failover(void **state)
{
	struct ctx c;

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	keyring_set_warn_fn(c.k, on_warn, &c);
	/* Slow, but every call finishes within the timeout: the second and third
	 * wait too long behind the first, yet the backend is not stuck. */
	fake.delay_ms = 600;
	c.expect = 3;
	for (int i = 0; i < 3; i++)
		assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &c), KR_OK);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_ERR_NOCREDS);
	assert_int_equal(c.errs[1], KR_ERR_TIMEOUT);
	assert_int_equal(c.errs[2], KR_ERR_TIMEOUT);
	assert_int_equal(c.warnings, 0);
	assert_string_equal(keyring_backend_name(c.k), "fake");
	ctx_done(&c);
}

static void test_cancel_drops_the_callback(void **state)
{
	struct ctx c, other;

	ctx_init(&c, 5000);
	memset(&other, 0, sizeof(other));
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	fake.delay_ms = 50;
	c.expect = 1;
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &other), KR_OK);
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &other), KR_OK);
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &c), KR_OK);
	keyring_cancel(c.k, &other);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(other.calls, 0);
	assert_int_equal(c.calls, 1);
	ctx_done(&c);
}

/* A callback that cancels another caller's calls (as store.c does when it frees one). */
struct canceller {
	struct ctx *c;
	void *victim;
};

static void on_done_cancel(void *userdata, int err, struct keyring_item *item)
{
	struct canceller *x = userdata;

	keyring_item_free(item);
	keyring_cancel(x->c->k, x->victim);
	note(x->c, err);
}

/*
 * Calls finished together are delivered one by one: a cancel made by one
 * callback reaches the calls delivered after it in the same batch (their
 * userdata may be freed by then).
 */
static void test_cancel_from_a_callback_reaches_the_same_batch(void **state)
{
	struct ctx c, victim;
	struct canceller x = {&c, &victim};

	ctx_init(&c, 5000);
	memset(&victim, 0, sizeof(victim));
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	c.expect = 1;
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done_cancel, &x), KR_OK);
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &victim), KR_OK);
	sleep_ms(300); /* both finish on the worker before the loop delivers either */
	assert_int_equal(loop_run(c.loop), 0);
	for (int i = 0; i < 10; i++)
		loop_run_once(c.loop, 10000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(victim.calls, 0);
	ctx_done(&c);
}

static void test_list_hands_out_metadata_only(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	c.expect = 2;
	assert_int_equal(keyring_store_async(c.k, it, NULL, NULL), KR_OK);
	assert_int_equal(keyring_list_async(c.k, NULL, on_list, &c), KR_OK);
	assert_int_equal(keyring_remove_profile_async(c.k, "prod", NULL, on_count, &c), KR_OK);
	keyring_item_free(it);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.items[0]->profile, "prod");
	assert_null(c.items[0]->secret);
	assert_int_equal(c.errs[1], KR_OK);
	assert_int_equal(c.count, 1);
	ctx_done(&c);
}

/* A backend's sweep runs on the worker; one without a sweep answers 0 at once. */
static void test_sweep_deletes_expired_items_only(void **state)
{
	struct ctx c;
	struct keyring_item *dead = item_a(), *live = NULL;
	struct keyring *mem = NULL;
	int count = -1;

	/* Expired items cannot be stored through the front: put one in directly. */
	dead->expiration = (int64_t)time(NULL) - 10;
	fake.items[fake.n++] = dead;
	assert_int_equal(keyring_item_new(KEY_B, KEYRING_KIND_SESSION, "prod", NULL,
	                                  (int64_t)time(NULL) + 3600, SECRET, &live),
	                 KR_OK);
	fake.items[fake.n++] = live;
	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	c.expect = 1;
	c.in_call = true;
	assert_int_equal(keyring_sweep_async(c.k, on_count, &c), KR_OK);
	c.in_call = false;
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_OK);
	assert_int_equal(c.count, 1);
	assert_false(c.reentered);
	assert_int_equal(fake.sweeps, 1);
	assert_int_equal(fake.n, 1);
	assert_string_equal(fake.items[0]->key, KEY_B);
	ctx_done(&c);
	assert_int_equal(keyring_open("memory", NULL, &mem, NULL), KR_OK);
	assert_int_equal(keyring_sweep_sync(mem, &count), KR_OK);
	assert_int_equal(count, 0);
	keyring_free(mem);
}

static void test_backend_junk_is_not_passed_on(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *it = NULL;

	fake.junk = true;
	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 1000, &k, NULL), KR_OK);
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &it), KR_ERR_KEYRING);
	assert_null(it);
	keyring_free(k);
}

static void test_memory_backend_stores_nothing(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();
	struct err_detail err;

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open("memory", c.loop, &c.k, &err), KR_OK);
	assert_string_equal(keyring_backend_name(c.k), "memory");
	assert_int_equal(keyring_persistent(c.k), 0);
	c.expect = 2;
	assert_int_equal(keyring_store_async(c.k, it, on_done, &c), KR_OK);
	assert_int_equal(keyring_lookup_async(c.k, KEY_A, on_done, &c), KR_OK);
	keyring_item_free(it);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.errs[0], KR_OK);
	assert_int_equal(c.errs[1], KR_ERR_NOCREDS);
	assert_null(c.item);
	ctx_done(&c);
}

static void test_sync_calls_work_without_a_loop(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *it = item_a(), *got = NULL, **items = NULL;
	size_t n = 0;
	int count = -1;

	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 1000, &k, NULL), KR_OK);
	assert_int_equal(keyring_lookup_async(k, KEY_A, on_done, NULL), KR_ERR_INVAL);
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &got), KR_ERR_NOCREDS);
	assert_int_equal(keyring_store_sync(k, it), KR_OK);
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &got), KR_OK);
	assert_string_equal(got->secret, SECRET);
	assert_int_equal(keyring_list_sync(k, NULL, &items, &n), KR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(keyring_remove_sync(k, KEY_A), KR_OK);
	assert_int_equal(keyring_remove_profile_sync(k, NULL, NULL, &count), KR_OK);
	assert_int_equal(count, 1);
	keyring_items_free(items, n);
	keyring_item_free(got);
	keyring_item_free(it);
	keyring_free(k);
	assert_int_equal(fake_closes(), 1);
}

static void test_sync_call_on_hanging_backend_is_bounded(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *got = NULL;
	int64_t t0;

	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 200, &k, NULL), KR_OK);
	fake.hang = true;
	t0 = mono_ms();
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &got), KR_ERR_TIMEOUT);
	assert_true(mono_ms() - t0 < 1500);
	assert_string_equal(keyring_backend_name(k), "memory");
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &got), KR_ERR_NOCREDS);
	fake_release();
	keyring_free(k);
	wait_closed(1);
	assert_int_equal(fake_closes(), 1);
}

static void test_free_does_not_wait_for_a_stuck_worker(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *got = NULL;
	int64_t t0;

	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 100, &k, NULL), KR_OK);
	fake.hang = true;
	assert_int_equal(keyring_lookup_sync(k, KEY_A, &got), KR_ERR_TIMEOUT);
	t0 = mono_ms();
	keyring_free(k);
	assert_true(mono_ms() - t0 < KR_KEYRING_JOIN_MS + 500);
	/* The detached worker finishes on its own once the backend answers. */
	fake_release();
	wait_closed(1);
	assert_int_equal(fake_closes(), 1);
}

static void test_queued_stores_are_written_before_free_returns(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	fake.delay_ms = 20;
	for (int i = 0; i < 3; i++)
		assert_int_equal(keyring_store_async(c.k, it, on_done, &c), KR_OK);
	keyring_item_free(it);
	keyring_free(c.k);
	c.k = NULL;
	assert_int_equal(fake.stores, 3);
	assert_int_equal(c.calls, 0); /* no callback after free */
	ctx_done(&c);
}

/* A forget just before a shutdown: its removals are not dropped with the queue. */
static void test_queued_removals_reach_the_backend_before_free_returns(void **state)
{
	struct ctx c;
	struct keyring_item *it = item_a();

	ctx_init(&c, 5000);
	assert_int_equal(keyring_open_ops(&fake_ops, c.loop, 1000, &c.k, NULL), KR_OK);
	fake.delay_ms = 20;
	assert_int_equal(keyring_store_async(c.k, it, on_done, &c), KR_OK);
	assert_int_equal(keyring_remove_profile_async(c.k, "prod", NULL, on_count, &c), KR_OK);
	keyring_item_free(it);
	keyring_free(c.k);
	c.k = NULL;
	assert_int_equal(fake.stores, 1);
	assert_int_equal(fake.n, 0);  /* stored, then removed */
	assert_int_equal(c.calls, 0); /* no callback after free */
	ctx_done(&c);
}

static void test_open_failure_says_why(void **state)
{
	struct keyring *k = NULL;
	struct err_detail err;

	fake.open_fail = true;
	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 0, &k, &err), KR_ERR_KEYRING);
	assert_null(k);
	assert_int_equal(err.code, KR_ERR_KEYRING);
	assert_string_equal(err.msg, "fake: no bus");
	assert_string_equal(err.fix, "start a bus");
}

static void test_failed_call_keeps_the_backends_reason_and_fix(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *it = item_a();
	const struct err_detail *e;

	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 1000, &k, NULL), KR_OK);
	assert_null(keyring_last_error(k));
	fake.full = true;
	assert_int_equal(keyring_store_sync(k, it), KR_ERR_KEYRING);
	e = keyring_last_error(k);
	assert_non_null(e);
	assert_int_equal(e->code, KR_ERR_KEYRING);
	assert_string_equal(e->msg, "fake: add_key: Disk quota exceeded");
	assert_string_equal(e->fix, "raise the quota");
	keyring_item_free(it);
	keyring_free(k);
}

static void test_open_first_takes_the_first_usable_backend(void **state)
{
	static const struct keyring_ops failing = {
	    .name = "failing",
	    .open = fake_open,
	    .close = fake_close,
	    .store = fake_store,
	    .lookup = fake_lookup,
	    .remove = fake_remove,
	    .remove_profile = fake_remove_profile,
	    .list = fake_list,
	};
	const struct keyring_ops *const order[] = {&failing, &keyring_memory_ops};
	const struct keyring_ops *const both_fail[] = {&failing, &fake_ops};
	struct keyring *k = NULL;
	struct err_detail err;

	fake.open_fail = true;
	assert_int_equal(keyring_open_first(order, 2, NULL, 0, &k, &err), KR_OK);
	assert_string_equal(keyring_backend_name(k), "memory");
	assert_non_null(strstr(err.msg, "failing: no bus"));
	keyring_free(k);
	k = NULL;
	/* Every candidate failing: each one's reason, in order. */
	assert_int_equal(keyring_open_first(both_fail, 2, NULL, 0, &k, &err), KR_ERR_KEYRING);
	assert_null(k);
	assert_int_equal(err.code, KR_ERR_KEYRING);
	assert_string_equal(err.msg, "failing: no bus; fake: no bus");
	assert_string_equal(err.fix, "start a bus");
	keyring_free(k);
}

static void test_unknown_backend_name_is_refused(void **state)
{
	struct keyring *k = NULL;
	struct err_detail err;

	assert_int_equal(keyring_open("floppy", NULL, &k, &err), KR_ERR_INVAL);
	assert_null(k);
	assert_int_equal(err.code, KR_ERR_INVAL);
	assert_non_null(strstr(err.msg, "floppy"));
	assert_non_null(strstr(err.fix, "keyctl"));
}

static void test_store_refuses_expired_and_malformed_items(void **state)
{
	struct keyring *k = NULL;
	struct keyring_item *it = NULL;
	char big[KR_KEYRING_SECRET_MAX + 2];

	assert_int_equal(keyring_open_ops(&fake_ops, NULL, 1000, &k, NULL), KR_OK);
	assert_int_equal(keyring_item_new(KEY_A, KEYRING_KIND_SESSION, "prod", NULL,
	                                  (int64_t)time(NULL) - 1, SECRET, &it),
	                 KR_OK);
	assert_int_equal(keyring_store_sync(k, it), KR_ERR_EXPIRED);
	keyring_item_free(it);
	it = NULL;
	assert_int_equal(keyring_item_new(KEY_A, KEYRING_KIND_SESSION, "pr\nod", NULL,
	                                  (int64_t)time(NULL) + 60, SECRET, &it),
	                 KR_ERR_INVAL);
	assert_int_equal(keyring_item_new(KEY_A, "weird", "prod", NULL, 0, SECRET, &it),
	                 KR_ERR_INVAL);
	assert_int_equal(
	    keyring_item_new(KEY_A, KEYRING_KIND_SESSION, "prod", NULL, 0, SECRET, &it),
	    KR_ERR_INVAL); /* a session without an expiration */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(keyring_item_new(KEY_A, KEYRING_KIND_LONGTERM, "prod", NULL, 0, big, &it),
	                 KR_ERR_TOOBIG);
	assert_null(it);
	assert_int_equal(fake.stores, 0);
	keyring_free(k);
}

static void test_label_reads_well_in_seahorse(void **state)
{
	struct keyring_item *it = NULL;
	char label[512];

	assert_int_equal(keyring_item_new(KEY_A, KEYRING_KIND_SESSION, "prod",
	                                  "arn:aws:iam::123:role/prod", 1795456800, SECRET, &it),
	                 KR_OK);
	assert_int_equal(keyring_item_label(it, label, sizeof(label)), KR_OK);
	assert_string_equal(label,
	                    "keyrole: prod session (arn:aws:iam::123:role/prod) until 2026-11-23 "
	                    "18:00 UTC");
	keyring_item_free(it);
	assert_int_equal(
	    keyring_item_new("longterm:dev", KEYRING_KIND_LONGTERM, "dev", NULL, 0, SECRET, &it),
	    KR_OK);
	assert_int_equal(keyring_item_label(it, label, sizeof(label)), KR_OK);
	assert_string_equal(label, "keyrole: long-term keys for dev");
	keyring_item_free(it);
	assert_int_equal(keyring_item_new("sso-token:0123", KEYRING_KIND_SSO, "corp",
	                                  "https://corp.awsapps.com/start", 1795456800, SECRET,
	                                  &it),
	                 KR_OK);
	assert_int_equal(keyring_item_label(it, label, sizeof(label)), KR_OK);
	assert_string_equal(label, "keyrole: IAM Identity Center session corp "
	                           "(https://corp.awsapps.com/start) until 2026-11-23 18:00 UTC");
	keyring_item_free(it);
}

/* An IAM Identity Center token's item always expires, as a session's does. */
static void test_sso_items_need_an_expiry(void **state)
{
	struct keyring_item *it = NULL;

	assert_int_equal(
	    keyring_item_new("sso-token:0123", KEYRING_KIND_SSO, "corp", NULL, 0, SECRET, &it),
	    KR_ERR_INVAL);
	assert_null(it);
	assert_int_equal(keyring_item_new("sso-token:0123", KEYRING_KIND_SSO, "corp", NULL,
	                                  1795456800, SECRET, &it),
	                 KR_OK);
	assert_int_equal(keyring_item_check(it, 1), KR_OK);
	keyring_item_free(it);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_completion_runs_later_on_loop_thread, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_queued_counts_calls_until_the_backend_did_them,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hanging_backend_times_out_and_falls_back_to_memory,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queued_call_times_out_without_failover, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_from_a_callback_reaches_the_same_batch,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_drops_the_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_hands_out_metadata_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_deletes_expired_items_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backend_junk_is_not_passed_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_backend_stores_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_calls_work_without_a_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sync_call_on_hanging_backend_is_bounded, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_free_does_not_wait_for_a_stuck_worker, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_queued_stores_are_written_before_free_returns,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_queued_removals_reach_the_backend_before_free_returns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_failure_says_why, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_call_keeps_the_backends_reason_and_fix,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_first_takes_the_first_usable_backend, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_backend_name_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_refuses_expired_and_malformed_items, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_label_reads_well_in_seahorse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sso_items_need_an_expiry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
