/*
 * The keyring front: an asynchronous layer that runs every call to one
 * backend on one worker thread and hands results back to the event loop
 * through an eventfd. (Items are keyring_item.c's; choosing the backend,
 * keyring_open.c's.)
 *
 * Invariants:
 * - The loop thread never calls a backend (except the in-memory no-op
 *   after a failover, which cannot block).
 * - Every call has a deadline. A call still waiting at its deadline ends in
 *   KR_ERR_TIMEOUT. A backend call that runs longer than the timeout makes
 *   the front give up on the backend: it switches to memory with one
 *   warning, and every later call is answered at once.
 * - Each callback runs exactly once, on the loop thread, never from inside
 *   the call that queued it; or never, after keyring_cancel()/keyring_free().
 * - Jobs that carried secrets (stores, lookup results) are wiped when freed;
 *   an item's secret lives in secret memory (mem_secret_strdup()).
 *
 * Each call is a job (struct kjob). Ownership: a job is freed by the front
 * thread (after delivery, or when a sync caller is done with it), or by the
 * worker once the front is gone.
 * The state shared by both (struct shared) is reference-counted, so a
 * worker detached while stuck in D-Bus can still finish safely; its queue
 * and done list (common/list.h) are touched only under its mutex.
 */
#include "keyring.h"

#include "err.h"
#include "caps.h"
#include "list.h"
#include "loop.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

enum kjob_op {
	KJOB_OPEN,
	KJOB_LOOKUP,
	KJOB_STORE,
	KJOB_REMOVE,
	KJOB_REMOVE_PROFILE,
	KJOB_LIST,
	KJOB_SWEEP,
};

struct kjob {
	struct list_node link; /* on the queue, the done list, or a list of the front's own */
	enum kjob_op op;
	char *key;                 /* lookup, remove */
	char *profile;             /* remove_profile (NULL = all) */
	char *kind;                /* remove_profile, list (NULL = all) */
	struct keyring_item *item; /* store: our copy; lookup: the result (secret) */
	struct keyring_item **items;
	size_t n;
	int count; /* remove_profile, sweep */
	int err;
	keyring_done_fn done;
	keyring_count_fn count_done;
	keyring_list_fn list_done;
	void *userdata;
	uint64_t deadline; /* CLOCK_BOOTTIME microseconds */
	bool sync;
	bool finished;            /* sync: the worker is done with it */
	bool abandoned;           /* sync: the caller stopped waiting */
	bool delivered;           /* async: callback ran or was cancelled */
	struct err_detail detail; /* why it failed, when the backend said */
};

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t work;     /* the worker waits for jobs */
	pthread_cond_t finished; /* sync callers wait for their job */
	int refs;
	const struct keyring_ops *ops;
	void *state;            /* touched by the worker only */
	struct list_node queue; /* waiting for the worker, in order */
	size_t q_len;           /* jobs on the queue */
	struct kjob *current;   /* running on the worker (on no list) */
	uint64_t current_started;
	struct list_node done; /* finished, for the front */
	int efd;
	bool stop;       /* worker: finish the queue, then exit */
	bool front_gone; /* worker frees what it finishes */
};

struct keyring {
	struct shared *sh;
	pthread_t thread;
	bool thread_running;
	struct loop *loop;
	struct loop_io *io;
	struct loop_timer *timer;
	uint64_t timeout_us;
	bool failed; /* switched to memory */
	char warning[320];
	struct err_detail last_error; /* code 0 until a call fails */
	keyring_warn_fn warn;
	void *warn_ud;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- jobs ---- */

static void kjob_free(struct kjob *j)
{
	if (!j)
		return;
	free(j->key);
	free(j->profile);
	free(j->kind);
	keyring_item_free(j->item);
	keyring_items_free(j->items, j->n);
	free(j);
}

/* Free every job on a list (the head is left empty). */
static void kjobs_free(struct list_node *head)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, head)
	{
		list_unlink(n);
		kjob_free(list_entry(n, struct kjob, link));
	}
}

static int kjob_new(enum kjob_op op, const char *key, const char *profile, const char *kind,
                    struct kjob **ret)
{
	struct kjob *j = calloc(1, sizeof(*j));
	int r = KR_ERR_NOMEM;

	if (!j)
		goto out;
	list_init(&j->link);
	j->op = op;
	r = KR_ERR_INVAL;
	if (key && keyring_item_check_field(key, KR_KEYRING_KEY_MAX, 1) < 0)
		goto out;
	if (profile && keyring_item_check_field(profile, KR_NAME_MAX, 1) < 0)
		goto out;
	if (kind && strcmp(kind, KEYRING_KIND_SESSION) != 0 &&
	    strcmp(kind, KEYRING_KIND_LONGTERM) != 0 && strcmp(kind, KEYRING_KIND_SSO) != 0)
		goto out;
	r = KR_ERR_NOMEM;
	if ((key && !(j->key = strdup(key))) || (profile && !(j->profile = strdup(profile))) ||
	    (kind && !(j->kind = strdup(kind))))
		goto out;
	*ret = j;
	j = NULL;
	r = KR_OK;
out:
	kjob_free(j);
	return r;
}

/* Run one job on a backend. Results stay in the job. */
static void kjob_run(const struct keyring_ops *ops, void *state, struct kjob *j)
{
	struct keyring_item *it = NULL;
	struct keyring_item **items = NULL;
	size_t n = 0, kept = 0;
	int count = 0;

	switch (j->op) {
	case KJOB_OPEN:
		j->err = KR_ERR_INTERNAL; /* handled by the worker itself */
		break;
	case KJOB_LOOKUP:
		j->err = ops->lookup(state, j->key, &it);
		if (j->err == KR_OK &&
		    (keyring_item_check(it, 1) < 0 || strcmp(it->key, j->key) != 0)) {
			/* What a backend hands back is untrusted: never pass on junk. */
			keyring_item_free(it);
			it = NULL;
			j->err = KR_ERR_KEYRING;
		}
		if (j->err == KR_OK)
			j->item = it;
		break;
	case KJOB_STORE:
		j->err = ops->store(state, j->item);
		break;
	case KJOB_REMOVE:
		j->err = ops->remove(state, j->key);
		break;
	case KJOB_REMOVE_PROFILE:
		j->err = ops->remove_profile(state, j->profile, j->kind, &count);
		if (j->err == KR_OK)
			j->count = count;
		break;
	case KJOB_SWEEP:
		j->err = ops->sweep ? ops->sweep(state, &count) : KR_OK;
		j->count = j->err == KR_OK ? count : 0;
		break;
	case KJOB_LIST:
		j->err = ops->list(state, j->kind, &items, &n);
		if (j->err != KR_OK)
			break;
		/* Keep only well-formed items, metadata only, at most the cap. */
		for (size_t i = 0; i < n; i++) {
			if (kept < KR_KEYRING_ITEMS_MAX && keyring_item_check(items[i], 0) == 0) {
				mem_free_str(items[i]->secret);
				items[i]->secret = NULL;
				items[kept++] = items[i];
			} else {
				keyring_item_free(items[i]);
			}
		}
		j->items = items;
		j->n = kept;
		break;
	}
}

/* ---- shared state and the worker ---- */

static void shared_unref(struct shared *sh)
{
	bool last;

	if (!sh)
		return;
	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	kjobs_free(&sh->queue);
	kjobs_free(&sh->done);
	if (sh->efd >= 0)
		close(sh->efd);
	pthread_cond_destroy(&sh->work);
	pthread_cond_destroy(&sh->finished);
	pthread_mutex_destroy(&sh->mu);
	free(sh);
}

static int shared_new(const struct keyring_ops *ops, struct shared **ret)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	pthread_condattr_t ca;
	int r = KR_ERR_NOMEM;

	if (!sh)
		goto out;
	list_init(&sh->queue);
	list_init(&sh->done);
	sh->efd = -1;
	sh->refs = 1;
	sh->ops = ops;
	pthread_mutex_init(&sh->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->work, NULL);
	pthread_cond_init(&sh->finished, &ca);
	pthread_condattr_destroy(&ca);
	sh->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sh->efd < 0) {
		r = KR_ERR_IO;
		goto out;
	}
	*ret = sh;
	sh = NULL;
	r = KR_OK;
out:
	shared_unref(sh);
	return r;
}

/* Under sh->mu. */
static void done_push(struct shared *sh, struct kjob *j)
{
	uint64_t one = 1;

	list_push_back(&sh->done, &j->link);
	/* The eventfd cannot fill up (its counter is 64 bits); EAGAIN is harmless. */
	if (write(sh->efd, &one, sizeof(one)) < 0) {
		/* nothing to do: the loop is already woken */
	}
}

/* Under sh->mu: take a queued job off the queue. */
static void queue_unlink(struct shared *sh, struct kjob *j)
{
	list_unlink(&j->link);
	sh->q_len--;
}

static void *worker_main(void *arg)
{
	struct shared *sh = arg;
	struct kjob *j;

	pthread_mutex_lock(&sh->mu);
	for (;;) {
		while (list_empty(&sh->queue) && !sh->stop)
			pthread_cond_wait(&sh->work, &sh->mu);
		if (list_empty(&sh->queue))
			break;
		j = list_entry(sh->queue.next, struct kjob, link);
		queue_unlink(sh, j);
		sh->current = j;
		sh->current_started = now_us();
		pthread_mutex_unlock(&sh->mu);

		if (j->op == KJOB_OPEN) {
			void *state = NULL;
			j->err = sh->ops->open(&state, &j->detail);
			if (j->err == KR_OK)
				sh->state = state;
		} else if (sh->state) {
			const struct err_detail *why;
			kjob_run(sh->ops, sh->state, j);
			if (j->err < 0 && sh->ops->last_error &&
			    (why = sh->ops->last_error(sh->state)))
				j->detail = *why;
		} else {
			j->err = KR_ERR_KEYRING; /* not opened */
		}

		pthread_mutex_lock(&sh->mu);
		sh->current = NULL;
		if (sh->front_gone) {
			kjob_free(j);
		} else if (j->sync && !j->abandoned) {
			j->finished = true;
			pthread_cond_broadcast(&sh->finished);
		} else {
			done_push(sh, j);
		}
	}
	pthread_mutex_unlock(&sh->mu);
	if (sh->state)
		sh->ops->close(sh->state);
	sh->state = NULL;
	shared_unref(sh);
	return NULL;
}

/* Under sh->mu. */
static void queue_push(struct shared *sh, struct kjob *j)
{
	list_push_back(&sh->queue, &j->link);
	sh->q_len++;
	pthread_cond_signal(&sh->work);
}

/* Under sh->mu: take j out of the queue; false if it is not queued. */
static bool queue_remove(struct shared *sh, struct kjob *j)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, &sh->queue)
	{
		if (n != &j->link)
			continue;
		queue_unlink(sh, j);
		return true;
	}
	return false;
}

/* ---- delivery on the loop thread ---- */

static void note_error(struct keyring *k, const struct kjob *j)
{
	if (j->err < 0 && j->err != KR_ERR_NOCREDS)
		err_set(&k->last_error, j->err, NULL, 0, j->detail.fix, "%s: %s", k->sh->ops->name,
		        j->detail.msg[0] ? j->detail.msg : err_str(j->err));
}

static void deliver(struct keyring *k, struct kjob *j)
{
	struct keyring_item *it;
	struct keyring_item **items;
	size_t n;

	if (j->delivered)
		return;
	j->delivered = true;
	note_error(k, j);
	switch (j->op) {
	case KJOB_LOOKUP:
	case KJOB_STORE:
	case KJOB_REMOVE:
		if (!j->done)
			break;
		/* A lookup's item passes to the callee; a store's copy stays ours. */
		it = j->op == KJOB_LOOKUP ? j->item : NULL;
		if (j->op == KJOB_LOOKUP)
			j->item = NULL;
		j->done(j->userdata, j->err, it);
		break;
	case KJOB_REMOVE_PROFILE:
	case KJOB_SWEEP:
		if (j->count_done)
			j->count_done(j->userdata, j->err, j->err == KR_OK ? j->count : 0);
		break;
	case KJOB_LIST:
		if (!j->list_done)
			break;
		items = j->err == KR_OK ? j->items : NULL;
		n = j->err == KR_OK ? j->n : 0;
		if (j->err == KR_OK) {
			j->items = NULL;
			j->n = 0;
		}
		j->list_done(j->userdata, j->err, items, n);
		break;
	case KJOB_OPEN:
		break;
	}
}

static void rearm(struct keyring *k);
static void failover(struct keyring *k, const char *why);

/*
 * Deliver everything the worker (or a failover) finished, one job at a
 * time: a keyring_cancel() made by one callback reaches the jobs still
 * waiting on the done list (their userdata may be gone by then).
 */
static void drain_done(struct keyring *k, bool run_callbacks)
{
	for (;;) {
		struct kjob *j = NULL;

		pthread_mutex_lock(&k->sh->mu);
		if (!list_empty(&k->sh->done)) {
			j = list_entry(k->sh->done.next, struct kjob, link);
			list_unlink(&j->link);
		}
		pthread_mutex_unlock(&k->sh->mu);
		if (!j)
			return;
		if (run_callbacks && !j->sync)
			deliver(k, j);
		kjob_free(j);
	}
}

static void on_eventfd(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct keyring *k = userdata;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: a previous read already took the count */
	}
	drain_done(k, true);
	rearm(k);
}

/* Give a timed-out or failed-over async job its answer. */
static void on_deadline_timer(struct loop_timer *t, void *userdata)
{
	struct keyring *k = userdata;
	struct shared *sh = k->sh;
	struct list_node expired, *n, *tmp;
	struct kjob *j;
	keyring_done_fn cur_done = NULL;
	keyring_count_fn cur_count = NULL;
	keyring_list_fn cur_list = NULL;
	void *cur_ud = NULL;
	bool stuck = false;
	uint64_t now = now_us();

	list_init(&expired);
	pthread_mutex_lock(&sh->mu);
	list_for_each_safe(n, tmp, &sh->queue)
	{
		j = list_entry(n, struct kjob, link);
		if (j->sync || j->deadline > now)
			continue;
		queue_unlink(sh, j);
		j->err = KR_ERR_TIMEOUT;
		list_push_back(&expired, &j->link);
	}
	j = sh->current;
	if (j && !j->sync && !j->delivered && j->deadline <= now) {
		/* The worker still owns the job: take the callback out of it. */
		j->delivered = true;
		cur_done = j->done;
		cur_count = j->count_done;
		cur_list = j->list_done;
		cur_ud = j->userdata;
	}
	if (j && now - sh->current_started >= k->timeout_us)
		stuck = true;
	pthread_mutex_unlock(&sh->mu);

	list_for_each_safe(n, tmp, &expired)
	{
		j = list_entry(n, struct kjob, link);
		list_unlink(n);
		deliver(k, j);
		kjob_free(j);
	}
	if (cur_done)
		cur_done(cur_ud, KR_ERR_TIMEOUT, NULL);
	if (cur_count)
		cur_count(cur_ud, KR_ERR_TIMEOUT, 0);
	if (cur_list)
		cur_list(cur_ud, KR_ERR_TIMEOUT, NULL, 0);
	if (stuck && !k->failed)
		failover(k, "did not answer in time");
	rearm(k);
}

/* Arm the timer for the next deadline of an async job (loop thread only). */
static void rearm(struct keyring *k)
{
	struct shared *sh = k->sh;
	struct list_node *n, *t;
	uint64_t at = UINT64_MAX;

	if (!k->loop)
		return;
	pthread_mutex_lock(&sh->mu);
	list_for_each_safe(n, t, &sh->queue)
	{
		const struct kjob *j = list_entry(n, struct kjob, link);

		if (!j->sync && j->deadline < at)
			at = j->deadline;
	}
	if (sh->current && !k->failed) {
		uint64_t stuck_at = sh->current_started + k->timeout_us;
		if (!sh->current->sync && !sh->current->delivered && sh->current->deadline < at)
			at = sh->current->deadline;
		if (stuck_at < at)
			at = stuck_at;
	}
	pthread_mutex_unlock(&sh->mu);
	if (at == UINT64_MAX)
		return; /* a fired one-shot timer stays off; a pending one fires harmlessly */
	/*
	 * loop_now() and now_us() read the same clock (CLOCK_BOOTTIME); the
	 * handler re-checks every deadline, so an early wake-up costs nothing.
	 */
	if (!k->timer) {
		if (loop_timer_add(k->loop, at, on_deadline_timer, k, &k->timer) < 0)
			k->timer = NULL; /* deadlines are then enforced on the next event */
	} else {
		loop_timer_set(k->timer, at);
	}
}

/*
 * Give up on the backend: from now on every call is answered by the
 * memory backend on this thread. Queued async jobs get memory answers.
 */
static void failover(struct keyring *k, const char *why)
{
	struct shared *sh = k->sh;
	struct list_node stolen, *n, *t;

	pthread_mutex_lock(&sh->mu);
	k->failed = true;
	list_take_all(&stolen, &sh->queue);
	sh->q_len = 0;
	pthread_mutex_unlock(&sh->mu);

	snprintf(k->warning, sizeof(k->warning),
	         "keyring backend %s %s; using memory only (nothing persists)", sh->ops->name, why);
	list_for_each_safe(n, t, &stolen)
	{
		struct kjob *j = list_entry(n, struct kjob, link);

		list_unlink(n);
		if (j->sync) {
			/* Only the caller of this very failover can be waiting on it. */
			j->err = KR_ERR_TIMEOUT;
			j->abandoned = true;
			kjob_free(j);
			continue;
		}
		kjob_run(&keyring_memory_ops, NULL, j);
		pthread_mutex_lock(&sh->mu);
		done_push(sh, j);
		pthread_mutex_unlock(&sh->mu);
	}
	if (k->warn)
		k->warn(k->warn_ud, k->warning);
}

/* ---- open / free ---- */

static void wait_thread(struct keyring *k)
{
	struct timespec ts;

	if (!k->thread_running)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += KR_KEYRING_JOIN_MS / 1000;
	ts.tv_nsec += (long)(KR_KEYRING_JOIN_MS % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	/* A worker stuck in D-Bus must not hang shutdown: detach it. */
	if (pthread_timedjoin_np(k->thread, NULL, &ts) != 0)
		pthread_detach(k->thread);
	k->thread_running = false;
}

void keyring_free(struct keyring *k)
{
	struct shared *sh;
	struct list_node *n, *t;

	if (!k)
		return;
	sh = k->sh;
	loop_io_free(k->io);
	loop_timer_free(k->timer);
	if (!sh) {
		free(k);
		return;
	}
	pthread_mutex_lock(&sh->mu);
	/*
	 * Queued writes still reach the backend, in order: stores, and removals
	 * (a `forget` just before a shutdown must not come back after the
	 * restart). Nothing else is worth doing.
	 */
	list_for_each_safe(n, t, &sh->queue)
	{
		struct kjob *j = list_entry(n, struct kjob, link);

		j->delivered = true;
		if ((j->op == KJOB_STORE || j->op == KJOB_REMOVE || j->op == KJOB_REMOVE_PROFILE) &&
		    !k->failed)
			continue;
		queue_unlink(sh, j);
		kjob_free(j);
	}
	sh->front_gone = true;
	sh->stop = true;
	pthread_cond_broadcast(&sh->work);
	pthread_mutex_unlock(&sh->mu);
	drain_done(k, false);
	if (k->failed && k->thread_running) {
		/* The worker overran a call: do not wait for it at all. */
		pthread_detach(k->thread);
		k->thread_running = false;
	}
	wait_thread(k);
	shared_unref(sh);
	mem_wipe(k->warning, sizeof(k->warning));
	free(k);
}

static int start_worker(struct keyring *k)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	pthread_attr_init(&attr);
	/* Signals belong to the loop thread (sd-event signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&k->sh->mu);
	k->sh->refs++; /* the worker's reference */
	pthread_mutex_unlock(&k->sh->mu);
	r = pthread_create(&k->thread, &attr, worker_main, k->sh);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		pthread_mutex_lock(&k->sh->mu);
		k->sh->refs--;
		pthread_mutex_unlock(&k->sh->mu);
		return KR_ERR_NOMEM;
	}
	k->thread_running = true;
	return KR_OK;
}

/*
 * Queue a sync job and wait for it: until its deadline while queued, and
 * until the backend call has run for the timeout once it started. On a
 * timeout the job is left to the worker, and a call that overran makes
 * the front fail over. On return *j is still ours, or NULL if abandoned.
 */
static int run_sync(struct keyring *k, struct kjob **jp, uint64_t timeout_us)
{
	struct shared *sh = k->sh;
	struct kjob *j = *jp;
	int r = KR_OK;
	bool stuck = false, abandoned = false;

	j->sync = true;
	j->deadline = now_us() + timeout_us;
	pthread_mutex_lock(&sh->mu);
	if (sh->q_len >= KR_KEYRING_QUEUE_MAX)
		r = KR_ERR_BUSY;
	else
		queue_push(sh, j);
	while (r == KR_OK && !j->finished) {
		uint64_t now = now_us(), until = j->deadline;
		struct timespec ts;

		if (sh->current == j && sh->current_started + timeout_us > until)
			until = sh->current_started + timeout_us;
		if (now >= until) {
			if (!queue_remove(sh, j))
				abandoned = j->abandoned = true; /* the worker hands it back */
			stuck = sh->current && now - sh->current_started >= timeout_us;
			r = KR_ERR_TIMEOUT;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		until -= now;
		ts.tv_sec += (time_t)(until / 1000000u);
		ts.tv_nsec += (long)(until % 1000000u) * 1000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sh->finished, &sh->mu, &ts);
	}
	pthread_mutex_unlock(&sh->mu);
	if (r == KR_ERR_TIMEOUT) {
		if (abandoned)
			*jp = NULL; /* no longer ours: freed from the done list */
		if (stuck && !k->failed)
			failover(k, "did not answer in time");
	}
	return r;
}

int keyring_open_ops(const struct keyring_ops *ops, struct loop *l, unsigned timeout_ms,
                     struct keyring **ret, struct err_detail *e)
{
	struct keyring *k = NULL;
	struct kjob *j = NULL;
	bool said = false; /* e holds the backend's own reason */
	int r = KR_ERR_INVAL;

	if (!ops || !ops->open || !ops->close || !ops->store || !ops->lookup || !ops->remove ||
	    !ops->remove_profile || !ops->list || !ops->name)
		goto out;
	r = KR_ERR_NOMEM;
	if (!(k = calloc(1, sizeof(*k))))
		goto out;
	if ((r = kjob_new(KJOB_OPEN, NULL, NULL, NULL, &j)) < 0)
		goto out;
	k->loop = l;
	k->timeout_us = (uint64_t)(timeout_ms ? timeout_ms : KR_KEYRING_TIMEOUT_MS) * 1000u;
	if ((r = shared_new(ops, &k->sh)) < 0)
		goto out;
	if ((r = start_worker(k)) < 0)
		goto out;
	r = run_sync(k, &j, (uint64_t)KR_KEYRING_OPEN_MS * 1000u);
	if (r == KR_ERR_TIMEOUT) {
		if (e)
			err_set(e, r, NULL, 0, NULL, "%s: no answer within %d ms", ops->name,
			        KR_KEYRING_OPEN_MS);
		said = true;
		goto out;
	}
	if ((r = j->err) < 0) {
		if (e)
			err_set(e, r, NULL, 0, j->detail.fix, "%s: %s", ops->name,
			        j->detail.msg[0] ? j->detail.msg : err_str(r));
		said = true;
		goto out;
	}
	if (l) {
		r = loop_io_add(l, k->sh->efd, LOOP_IN, on_eventfd, k, &k->io);
		if (r < 0)
			goto out;
	}
	*ret = k;
	k = NULL;
	r = KR_OK;
out:
	if (r < 0 && e && !said)
		err_set(e, r, NULL, 0, NULL, "%s: %s", ops && ops->name ? ops->name : "keyring",
		        err_str(r));
	kjob_free(j);
	keyring_free(k);
	return r;
}

const char *keyring_backend_name(const struct keyring *k)
{
	return k->failed ? keyring_memory_ops.name : k->sh->ops->name;
}

int keyring_persistent(const struct keyring *k)
{
	return k->failed ? keyring_memory_ops.persistent : k->sh->ops->persistent;
}

const struct err_detail *keyring_last_error(const struct keyring *k)
{
	return k->last_error.code < 0 ? &k->last_error : NULL;
}

size_t keyring_queued(const struct keyring *k)
{
	size_t n;

	if (k->failed)
		return 0;
	pthread_mutex_lock(&k->sh->mu);
	n = k->sh->q_len + (k->sh->current ? 1 : 0);
	pthread_mutex_unlock(&k->sh->mu);
	return n;
}

const char *keyring_warning(const struct keyring *k)
{
	return k->failed ? k->warning : NULL;
}

void keyring_set_warn_fn(struct keyring *k, keyring_warn_fn fn, void *userdata)
{
	k->warn = fn;
	k->warn_ud = userdata;
}

/* ---- calls ---- */

/* Hand an async job to the worker, or answer it from memory after a failover. */
static int submit(struct keyring *k, struct kjob *j)
{
	struct shared *sh = k->sh;
	int r = KR_ERR_INVAL;

	if (!k->loop)
		goto out;
	j->deadline = now_us() + k->timeout_us;
	if (k->failed)
		kjob_run(&keyring_memory_ops, NULL, j); /* cannot block */
	pthread_mutex_lock(&sh->mu);
	if (k->failed) {
		done_push(sh, j); /* delivered on the next loop iteration */
		r = KR_OK;
	} else if (sh->q_len >= KR_KEYRING_QUEUE_MAX) {
		r = KR_ERR_BUSY;
	} else {
		queue_push(sh, j);
		r = KR_OK;
	}
	pthread_mutex_unlock(&sh->mu);
	if (r == KR_OK && !k->failed)
		rearm(k);
out:
	return r;
}

static int kjob_new_store(const struct keyring_item *item, struct kjob **ret)
{
	struct kjob *j = NULL;
	int r;

	if ((r = keyring_item_check(item, 1)) < 0)
		goto out;
	/* Never persist what is already dead: keyctl could not even time it out. */
	if (item->expiration != 0 && item->expiration <= (int64_t)time(NULL)) {
		r = KR_ERR_EXPIRED;
		goto out;
	}
	if ((r = kjob_new(KJOB_STORE, NULL, NULL, NULL, &j)) < 0)
		goto out;
	if ((r = keyring_item_dup(item, &j->item)) < 0)
		goto out;
	*ret = j;
	j = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_lookup_async(struct keyring *k, const char *key, keyring_done_fn done, void *userdata)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !key || !done)
		goto out;
	if ((r = kjob_new(KJOB_LOOKUP, key, NULL, NULL, &j)) < 0)
		goto out;
	j->done = done;
	j->userdata = userdata;
	if ((r = submit(k, j)) == KR_OK)
		j = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_store_async(struct keyring *k, const struct keyring_item *item,
                        keyring_done_fn done_or_null, void *userdata)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k)
		goto out;
	if ((r = kjob_new_store(item, &j)) < 0)
		goto out;
	j->done = done_or_null;
	j->userdata = userdata;
	if ((r = submit(k, j)) == KR_OK)
		j = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_remove_async(struct keyring *k, const char *key, keyring_done_fn done_or_null,
                         void *userdata)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !key)
		goto out;
	if ((r = kjob_new(KJOB_REMOVE, key, NULL, NULL, &j)) < 0)
		goto out;
	j->done = done_or_null;
	j->userdata = userdata;
	if ((r = submit(k, j)) == KR_OK)
		j = NULL;
out:
	kjob_free(j);
	return r;
}

/* An async call answered with a count (remove_profile, sweep). */
static int submit_count(struct keyring *k, enum kjob_op op, const char *profile, const char *kind,
                        keyring_count_fn done_or_null, void *userdata)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k)
		goto out;
	if ((r = kjob_new(op, NULL, profile, kind, &j)) < 0)
		goto out;
	j->count_done = done_or_null;
	j->userdata = userdata;
	if ((r = submit(k, j)) == KR_OK)
		j = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_remove_profile_async(struct keyring *k, const char *profile_or_null,
                                 const char *kind_or_null, keyring_count_fn done_or_null,
                                 void *userdata)
{
	return submit_count(k, KJOB_REMOVE_PROFILE, profile_or_null, kind_or_null, done_or_null,
	                    userdata);
}

int keyring_list_async(struct keyring *k, const char *kind_or_null, keyring_list_fn done,
                       void *userdata)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !done)
		goto out;
	if ((r = kjob_new(KJOB_LIST, NULL, NULL, kind_or_null, &j)) < 0)
		goto out;
	j->list_done = done;
	j->userdata = userdata;
	if ((r = submit(k, j)) == KR_OK)
		j = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_sweep_async(struct keyring *k, keyring_count_fn done_or_null, void *userdata)
{
	return submit_count(k, KJOB_SWEEP, NULL, NULL, done_or_null, userdata);
}

/* Under sh->mu: drop the callbacks of the async jobs of userdata on a list. */
static void cancel_on(struct list_node *head, void *userdata)
{
	struct list_node *n, *t;

	list_for_each_safe(n, t, head)
	{
		struct kjob *j = list_entry(n, struct kjob, link);

		if (!j->sync && j->userdata == userdata)
			j->delivered = true;
	}
}

void keyring_cancel(struct keyring *k, void *userdata)
{
	struct shared *sh;

	if (!k)
		return;
	sh = k->sh;
	pthread_mutex_lock(&sh->mu);
	cancel_on(&sh->queue, userdata);
	if (sh->current && !sh->current->sync && sh->current->userdata == userdata)
		sh->current->delivered = true;
	cancel_on(&sh->done, userdata);
	pthread_mutex_unlock(&sh->mu);
}

/* Run a job synchronously: on the worker, or in memory after a failover. */
static int sync_call(struct keyring *k, struct kjob **jp)
{
	int r;

	if (k->loop == NULL)
		drain_done(k, false); /* only abandoned sync jobs can be there */
	if (k->failed) {
		kjob_run(&keyring_memory_ops, NULL, *jp);
		return (*jp)->err;
	}
	r = run_sync(k, jp, k->timeout_us);
	if (r == KR_OK) {
		r = (*jp)->err;
		note_error(k, *jp);
	}
	return r;
}

int keyring_lookup_sync(struct keyring *k, const char *key, struct keyring_item **ret)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !key)
		goto out;
	if ((r = kjob_new(KJOB_LOOKUP, key, NULL, NULL, &j)) < 0)
		goto out;
	if ((r = sync_call(k, &j)) < 0)
		goto out;
	*ret = j->item;
	j->item = NULL;
out:
	kjob_free(j);
	return r;
}

int keyring_store_sync(struct keyring *k, const struct keyring_item *item)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k)
		goto out;
	if ((r = kjob_new_store(item, &j)) < 0)
		goto out;
	r = sync_call(k, &j);
out:
	kjob_free(j);
	return r;
}

int keyring_remove_sync(struct keyring *k, const char *key)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !key)
		goto out;
	if ((r = kjob_new(KJOB_REMOVE, key, NULL, NULL, &j)) < 0)
		goto out;
	r = sync_call(k, &j);
out:
	kjob_free(j);
	return r;
}

/* A sync call answered with a count (remove_profile, sweep); ret_count may be NULL. */
static int sync_count(struct keyring *k, enum kjob_op op, const char *profile, const char *kind,
                      int *ret_count)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k)
		goto out;
	if ((r = kjob_new(op, NULL, profile, kind, &j)) < 0)
		goto out;
	if ((r = sync_call(k, &j)) < 0)
		goto out;
	if (ret_count)
		*ret_count = j->count;
out:
	kjob_free(j);
	return r;
}

int keyring_remove_profile_sync(struct keyring *k, const char *profile_or_null,
                                const char *kind_or_null, int *ret_count)
{
	return sync_count(k, KJOB_REMOVE_PROFILE, profile_or_null, kind_or_null, ret_count);
}

int keyring_list_sync(struct keyring *k, const char *kind_or_null, struct keyring_item ***ret_items,
                      size_t *ret_n)
{
	struct kjob *j = NULL;
	int r = KR_ERR_INVAL;

	if (!k || !ret_items || !ret_n)
		goto out;
	if ((r = kjob_new(KJOB_LIST, NULL, NULL, kind_or_null, &j)) < 0)
		goto out;
	if ((r = sync_call(k, &j)) < 0)
		goto out;
	*ret_items = j->items;
	*ret_n = j->n;
	j->items = NULL;
	j->n = 0;
out:
	kjob_free(j);
	return r;
}

int keyring_sweep_sync(struct keyring *k, int *ret_count)
{
	return sync_count(k, KJOB_SWEEP, NULL, NULL, ret_count);
}
