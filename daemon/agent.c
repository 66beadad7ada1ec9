/*
 * The agent as a whole: it makes and frees the parts (STS, the keyring
 * store, the cache, the source services) and hands each request to its
 * operation (ops.c). See agent.h.
 */
#include "agent.h"

#include "caps.h"
#include "credsrv.h"
#include "err.h"
#include "fetch.h"
#include "log.h"
#include "ops.h"
#include "sso.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

time_t agent_now(const struct agent *a)
{
	return a->opts.now ? a->opts.now() : time(NULL);
}

int agent_new(struct loop *l, const struct agent_opts *opts, struct agent **ret)
{
	struct agent *a = calloc(1, sizeof(*a));
	struct store_opts so;
	struct cache_opts co;
	int r;

	if (!a)
		return KR_ERR_NOMEM;
	a->loop = l;
	a->opts = *opts;
	if (a->opts.refresh_margin <= 0)
		a->opts.refresh_margin = KR_REFRESH_MARGIN_S;
	if (a->opts.mfa_duration <= 0)
		a->opts.mfa_duration = 43200;
	a->started = time(NULL);
	list_init(&a->keyops);
	list_init(&a->ssoops);
	list_init(&a->conops);
	so = (struct store_opts){.cache = a->opts.cache,
	                         .keyring_ops = a->opts.keyring_ops,
	                         .sweep_interval = a->opts.sweep_interval,
	                         .now = a->opts.now};
	r = sts_new(l, a->opts.sts_ops, &a->sts);
	if (r == KR_OK && a->opts.sts_deadline > 0)
		sts_set_deadline(a->sts, (unsigned)a->opts.sts_deadline * 1000u);
	if (r == KR_OK)
		r = store_new(l, &so, &a->store);
	co = (struct cache_opts){.max_entries = a->opts.max_entries,
	                         .refresh_margin = a->opts.refresh_margin,
	                         .now = a->opts.now,
	                         .store = a->store,
	                         .on_timer = fetch_on_timer,
	                         .userdata = a};
	if (r == KR_OK)
		r = cache_new(l, &co, &a->cache);
	if (r == KR_OK)
		r = http_new(l, &a->http);
	if (r == KR_OK) {
		struct sso_opts oo = {
		    .loop = l, .http = a->http, .store = a->store, .now = a->opts.now};

		r = sso_new(&oo, &a->sso);
	}
	if (r == KR_OK)
		r = credsrv_new(l, a, &a->credsrv);
	if (r < 0) {
		agent_free(a);
		return r;
	}
	a->svc = (struct source_svc){.loop = l,
	                             .sts = a->sts,
	                             .store = a->store,
	                             .sso = a->sso,
	                             .mfa_duration = a->opts.mfa_duration,
	                             .now = a->opts.now};
	snprintf(a->svc.mfa_prompt, sizeof(a->svc.mfa_prompt), "%s", a->opts.mfa_prompt);
	a->ropts =
	    (struct resolve_opts){.sources = a->opts.sources, .mfa_duration = a->opts.mfa_duration};
	*ret = a;
	return KR_OK;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	/* Its connections' requests are jobs: cancelled before the jobs go. */
	credsrv_free(a->credsrv);
	/* Jobs hang off entries as waiters: answer nobody, free everything. */
	if (a->cache)
		fetch_drop_all(a);
	ops_drop_all(a);
	cache_free(a->cache); /* cancels the fetches in flight */
	sso_free(a->sso);     /* cancels the token calls and logins in flight */
	http_free(a->http);
	store_free(a->store); /* queued writes still reach the keyring */
	sts_free(a->sts);
	free(a);
}

void agent_handle(struct agent *a, const struct request *req, reply_fn fn, void *userdata,
                  struct agent_req **ret_pending)
{
	a->c.requests++;
	ops_handle(a, req, fn, userdata, ret_pending);
}

void agent_req_cancel(struct agent_req *r)
{
	if (r)
		r->cancel(r);
}

int agent_busy(const struct agent *a)
{
	return a->n_busy > 0;
}

void agent_reconfigure(struct agent *a, const struct agent_opts *opts)
{
	if (opts->refresh_margin > 0) {
		a->opts.refresh_margin = opts->refresh_margin;
		cache_set_refresh_margin(a->cache, opts->refresh_margin);
	}
	a->opts.exec_server = opts->exec_server;
	a->opts.sts_deadline = opts->sts_deadline;
	snprintf(a->svc.mfa_prompt, sizeof(a->svc.mfa_prompt), "%s", opts->mfa_prompt);
	sts_set_deadline(a->sts, opts->sts_deadline > 0 ? (unsigned)opts->sts_deadline * 1000u
	                                                : KR_STS_DEADLINE_MS);
	if (opts->mfa_duration > 0) {
		a->opts.mfa_duration = opts->mfa_duration;
		a->svc.mfa_duration = opts->mfa_duration;
		a->ropts.mfa_duration = opts->mfa_duration;
	}
}

void agent_status_line(const struct agent *a, char *out, size_t n)
{
	snprintf(out, n, "%u cached, %lu requests, %lu STS calls", cache_count(a->cache),
	         a->c.requests, a->c.sts_calls);
}
