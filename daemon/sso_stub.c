/*
 * STUB: removed when sso_token.c lands. A stand-in for the token store of
 * sso.h so that the IAM Identity Center source links and its login path can
 * be tested end to end before the store exists: it holds no token, so
 * every sso_role_credentials() answers KR_ERR_LOGIN, later, from the loop
 * (a timer due at once), never from inside the call, as the contract says.
 * sso_free() and sso_call_cancel() drop calls without their callback.
 */
#include "sso.h"

#include "err.h"
#include "list.h"
#include "loop.h"

#include <stdlib.h>
#include <string.h>

struct sso {
	struct loop *loop;
	struct list_node calls;
};

struct sso_call {
	struct list_node link;
	struct loop_timer *timer;
	sso_creds_fn fn;
	void *userdata;
};

int sso_new(const struct sso_opts *o, struct sso **ret)
{
	struct sso *s;

	if (!o || !o->loop || !ret)
		return KR_ERR_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return KR_ERR_NOMEM;
	s->loop = o->loop;
	list_init(&s->calls);
	*ret = s;
	return KR_OK;
}

static void stub_call_free(struct sso_call *c)
{
	list_unlink(&c->link);
	loop_timer_free(c->timer);
	free(c);
}

void sso_free(struct sso *s)
{
	struct list_node *n, *t;

	if (!s)
		return;
	list_for_each_safe(n, t, &s->calls) stub_call_free(list_entry(n, struct sso_call, link));
	free(s);
}

static void stub_on_timer(struct loop_timer *t, void *userdata)
{
	struct sso_call *c = userdata;
	sso_creds_fn fn = c->fn;
	void *ud = c->userdata;
	struct err_detail e;

	err_set(&e, KR_ERR_LOGIN, NULL, 0, NULL, "no access token is kept for it");
	stub_call_free(c);
	fn(ud, KR_ERR_LOGIN, NULL, &e, NULL, NULL);
}

int sso_role_credentials(struct sso *s, const struct sso_where *w, const char *account_id,
                         const char *role_name, sso_creds_fn fn, void *userdata,
                         struct sso_call **ret)
{
	struct sso_call *c;
	int r;

	if (!s || !w || !account_id || !role_name || !fn || !ret)
		return KR_ERR_INVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return KR_ERR_NOMEM;
	list_init(&c->link);
	c->fn = fn;
	c->userdata = userdata;
	r = loop_timer_add(s->loop, loop_now(s->loop), stub_on_timer, c, &c->timer);
	if (r < 0) {
		free(c);
		return r;
	}
	list_push_back(&s->calls, &c->link);
	*ret = c;
	return KR_OK;
}

void sso_call_cancel(struct sso_call *c)
{
	if (c)
		stub_call_free(c);
}
