/*
 * The credential cache; see cache.h for the lifetimes.
 *
 * Invariants:
 * - One entry per key; lookups bisect nothing and scan no list: a hash
 *   table with about one entry per bucket (FNV-1a: keys come from our own
 *   resolver, not from an adversary).
 * - Credentials live in struct sts_creds and are wiped when dropped.
 * - An entry is freed only by cache_drop(), by a trim (idle, unpinned
 *   ones), or by cache_free(); its work in flight is cancelled first.
 */
#include "cache.h"

#include "cachekey.h"
#include "caps.h"
#include "err.h"
#include "loop.h"
#include "mem.h"
#include "source.h"
#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct cache {
	struct loop *loop;
	struct cache_opts o;
	struct list_node entries;     /* newest first */
	struct cache_entry **buckets; /* n_buckets, a power of two */
	size_t n_buckets;
	unsigned n;
};

time_t cache_now(const struct cache *c)
{
	return c->o.now ? c->o.now() : time(NULL);
}

void *cache_userdata(const struct cache *c)
{
	return c->o.userdata;
}

unsigned cache_count(const struct cache *c)
{
	return c->n;
}

struct list_node *cache_entries(struct cache *c)
{
	return &c->entries;
}

static void entry_free(struct cache_entry *e)
{
	struct cache *c = e->cache;

	if (e->call && e->ops && e->ops->cancel)
		e->ops->cancel(e->call);
	if (e->store_pending)
		store_cancel(c->o.store, e);
	loop_timer_free(e->timer);
	sts_creds_clear(&e->creds);
	free(e->key);
	free(e->profile);
	free(e->role_arn);
	free(e->mfa_serial);
	free(e->what);
	free(e->requested_by);
	free(e->last_error);
	caller_env_free(e->last_env);
	list_unlink(&e->link);
	for (struct cache_entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	}
	c->n--;
	free(e);
}

void cache_drop(struct cache_entry *e)
{
	if (e)
		entry_free(e);
}

struct cache_entry *cache_find(struct cache *c, const char *key, uint64_t h)
{
	for (struct cache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Keep about one entry per bucket; a failed resize leaves the old table working. */
static void buckets_grow(struct cache *c)
{
	size_t n = c->n_buckets * 2;
	struct cache_entry **b;
	struct list_node *it;

	if (c->n < c->n_buckets || !(b = calloc(n, sizeof(*b))))
		return;
	for (it = c->entries.next; it != &c->entries; it = it->next) {
		struct cache_entry *e = list_entry(it, struct cache_entry, link);

		e->hnext = b[e->hash & (n - 1)];
		b[e->hash & (n - 1)] = e;
	}
	free(c->buckets);
	c->buckets = b;
	c->n_buckets = n;
}

int cache_busy(const struct cache_entry *e)
{
	return e->call || e->store_pending;
}

int cache_idle(const struct cache_entry *e)
{
	return !cache_busy(e) && list_empty(&e->waiters) && e->pins == 0;
}

/* Make room: drop expired entries, then the idle one obtained longest ago. */
static void trim(struct cache *c)
{
	struct cache_entry *oldest = NULL;
	struct list_node *n, *t;
	time_t now = cache_now(c);

	list_for_each_safe(n, t, &c->entries)
	{
		struct cache_entry *e = list_entry(n, struct cache_entry, link);

		if (cache_idle(e) && (!e->has_creds || e->creds.expiration <= now))
			entry_free(e);
	}
	if (c->n < c->o.max_entries)
		return;
	list_for_each_safe(n, t, &c->entries)
	{
		struct cache_entry *e = list_entry(n, struct cache_entry, link);

		if (cache_idle(e) && e->obtained < now - 60 &&
		    (!oldest || e->obtained < oldest->obtained))
			oldest = e;
	}
	if (oldest)
		entry_free(oldest);
}

struct cache_entry *cache_get(struct cache *c, const char *key, uint64_t h)
{
	struct cache_entry *e = cache_find(c, key, h);

	if (e)
		return e;
	if (c->n >= c->o.max_entries)
		trim(c);
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key) {
		free(e);
		return NULL;
	}
	e->cache = c;
	e->role_index = -1;
	e->hash = h;
	list_init(&e->waiters);
	list_push_front(&c->entries, &e->link);
	e->hnext = c->buckets[e->hash & (c->n_buckets - 1)];
	c->buckets[e->hash & (c->n_buckets - 1)] = e;
	c->n++;
	buckets_grow(c);
	return e;
}

/* Replace *dst with a copy of src when they differ. */
static int relabel(char **dst, const char *src)
{
	char *n;

	if ((!*dst && !src) || (*dst && src && strcmp(*dst, src) == 0))
		return KR_OK;
	n = src ? strdup(src) : NULL;
	if (src && !n)
		return KR_ERR_NOMEM;
	free(*dst);
	*dst = n;
	return KR_OK;
}

int cache_label(struct cache_entry *e, const struct step *s)
{
	int r = relabel(&e->profile, s->profile);

	if (r == KR_OK)
		r = relabel(&e->role_arn, s->role_arn);
	if (r == KR_OK)
		r = relabel(&e->mfa_serial, s->mfa_serial);
	if (r == KR_OK)
		r = relabel(&e->what, s->what);
	e->source = s->ops->name;
	e->role_index = s->role_index;
	return r;
}

/*
 * The least an entry may have left when it is handed out: KR_MIN_LEFT_S,
 * or a quarter of its lifetime for a session shorter than four times that
 * (a 60 s session is served down to 15 s left, not never).
 */
time_t cache_min_left(const struct cache_entry *e)
{
	time_t life = e->creds.expiration - e->obtained;

	return life / 4 < KR_MIN_LEFT_S ? (life / 4 > 1 ? life / 4 : 1) : KR_MIN_LEFT_S;
}

/*
 * Below this it is renewed: the refresh margin, or half the lifetime when
 * that is shorter, never less than the minimum left. A session shorter
 * than twice the margin is so renewed once per session (at half its life),
 * not on every request.
 */
static time_t threshold(const struct cache_entry *e)
{
	time_t life = e->creds.expiration - e->obtained;
	time_t t = e->cache->o.refresh_margin, min = cache_min_left(e);

	if (life / 2 < t)
		t = life / 2;
	if (t < min)
		t = min;
	return t;
}

int cache_fresh(const struct cache_entry *e)
{
	return e->has_creds && e->creds.expiration - cache_now(e->cache) > threshold(e);
}

int cache_usable(const struct cache_entry *e)
{
	return e->has_creds && e->creds.expiration - cache_now(e->cache) > cache_min_left(e);
}

void cache_set_creds(struct cache_entry *e, struct sts_creds *creds, time_t obtained,
                     const char *from)
{
	sts_creds_clear(&e->creds);
	e->creds = *creds;
	memset(creds, 0, sizeof(*creds));
	e->has_creds = 1;
	e->obtained = obtained;
	e->from = from;
	e->served = 0;
}

void cache_clear_creds(struct cache_entry *e)
{
	sts_creds_clear(&e->creds);
	e->has_creds = 0;
}

time_t cache_loaded_obtained(const struct cache *c, time_t expiration, time_t lifetime)
{
	time_t now = cache_now(c);
	time_t o = lifetime > 0 ? expiration - lifetime : expiration - 2 * c->o.refresh_margin;

	return o < now ? o : now;
}

static void on_timer(struct loop_timer *t, void *userdata)
{
	struct cache_entry *e = userdata;

	e->cache->o.on_timer(e, e->cache->o.userdata);
}

void cache_arm_at(struct cache_entry *e, uint64_t at)
{
	if (!e->timer)
		loop_timer_add(e->cache->loop, at, on_timer, e, &e->timer);
	else
		loop_timer_set(e->timer, at);
}

void cache_arm(struct cache_entry *e, time_t when)
{
	time_t d = when - cache_now(e->cache);

	cache_arm_at(e, loop_now(e->cache->loop) + (uint64_t)(d < 0 ? 0 : d) * 1000000u);
}

static uint32_t rnd(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)rand();
	return v;
}

void cache_schedule(struct cache_entry *e)
{
	time_t lead = 30 + (time_t)(rnd() % 61); /* jitter: 30..90 s ahead */
	time_t room = (threshold(e) - cache_min_left(e)) / 2;
	time_t when, now = cache_now(e->cache);

	/*
	 * A short session (threshold close to its minimum left) is refreshed
	 * a little before its threshold instead, so that it is renewed once,
	 * before requests would wait for it, and never more than once.
	 */
	if (room > 0 && lead > room)
		lead = 1 + (time_t)(rnd() % (uint32_t)room);
	when = e->creds.expiration - threshold(e) - lead;

	cache_arm(e, when < now + 1 ? now + 1 : when);
}

void cache_pin(struct cache_entry *e)
{
	e->pins++;
}

void cache_unpin(struct cache_entry *e)
{
	e->pins--;
}

int cache_new(struct loop *l, const struct cache_opts *o, struct cache **ret)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (!c)
		return KR_ERR_NOMEM;
	c->loop = l;
	c->o = *o;
	if (c->o.max_entries == 0)
		c->o.max_entries = KR_CACHE_ENTRIES_MAX;
	if (c->o.refresh_margin <= 0)
		c->o.refresh_margin = KR_REFRESH_MARGIN_S;
	list_init(&c->entries);
	c->n_buckets = 64;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return KR_ERR_NOMEM;
	}
	*ret = c;
	return KR_OK;
}

void cache_set_refresh_margin(struct cache *c, int seconds)
{
	if (seconds > 0)
		c->o.refresh_margin = seconds;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	while (!list_empty(&c->entries))
		entry_free(list_entry(c->entries.next, struct cache_entry, link));
	free(c->buckets);
	free(c);
}
