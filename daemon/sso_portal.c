/*
 * What is done with a session's token (sso.h): role credentials
 * (GetRoleCredentials), the accounts and roles of `keyrole sso profiles`
 * (ListAccounts, ListAccountRoles, every page), and logout.
 *
 * Invariants:
 * - A call waits on its session's token (sso_token.c: memory, keyring,
 *   the CLI's file, a refresh), then makes its own API calls with a copy
 *   of it (secret memory, wiped with the call).
 * - The portal refusing a token (401) drops it, so that the next caller
 *   is told to log in rather than sent with it again, and answers
 *   KR_ERR_LOGIN naming the session and `keyrole login`.
 * - No token reaches a callback: role credentials do, as the get reply's.
 */
#include "sso_impl.h"

#include "caps.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- calls: started from the loop, answered once ---- */

static void on_start(struct loop_timer *timer, void *userdata)
{
	struct sso_call *c = userdata;
	struct err_detail e;

	if (!c->t) {
		/* Its session went before it began (a logout). */
		err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login",
		        "IAM Identity Center: the session was logged out");
		sso_call_answer(c, KR_ERR_LOGIN, &e);
		return;
	}
	sso_tok_wait(c->t, c);
}

int sso_call_start(struct sso_call *c)
{
	struct loop *l = c->s->o.loop;

	return loop_timer_add(l, loop_now(l), on_start, c, &c->timer);
}

static void on_deferred(struct loop_timer *timer, void *userdata)
{
	struct sso_call *c = userdata;

	sso_call_answer(c, c->err, c->e.code ? &c->e : NULL);
}

void sso_call_defer(struct sso_call *c, int err, const struct err_detail *e)
{
	struct loop *l = c->s->o.loop;

	c->err = err;
	if (e)
		c->e = *e;
	else
		err_set_code(&c->e, err);
	loop_timer_free(c->timer);
	c->timer = NULL;
	if (loop_timer_add(l, loop_now(l), on_deferred, c, &c->timer) < 0)
		sso_call_answer(c, err, &c->e); /* out of memory: at once rather than never */
}

struct sso_call *sso_call_new(struct sso *s, struct sso_tok *t, enum sso_call_kind kind)
{
	struct sso_call *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->s = s;
	c->t = t;
	c->kind = kind;
	list_init(&c->link);
	list_push_back(&s->calls, &c->link);
	return c;
}

void sso_call_free(struct sso_call *c)
{
	if (!c)
		return;
	if (c->kind == SSO_CALL_WAIT)
		sso_login_call_gone(c);
	list_unlink(&c->link);
	sso_api_cancel(c->api);
	loop_timer_free(c->timer);
	free(c->account);
	free(c->role);
	mem_free_str(c->token);
	free(c->session);
	free(c->next_token);
	for (size_t i = 0; i < c->n_acc; i++) {
		free(c->acc[i].account_id);
		free(c->acc[i].account_name);
		free(c->acc[i].email);
		for (size_t k = 0; k < c->acc[i].n_roles; k++)
			free(c->acc[i].roles[k]);
		free(c->acc[i].roles);
	}
	free(c->acc);
	free(c);
}

void sso_call_cancel(struct sso_call *c)
{
	sso_call_free(c);
}

struct sso_call *sso_call_open(struct sso *s, const struct sso_where *w, enum sso_call_kind kind,
                               void *userdata)
{
	struct sso_tok *t = s && w ? sso_tok_get(s, w) : NULL;
	struct sso_call *c = t ? sso_call_new(s, t, kind) : NULL;

	if (c)
		c->userdata = userdata;
	return c;
}

int sso_call_go(struct sso_call *c, struct sso_call **ret)
{
	if (sso_call_start(c) < 0) {
		sso_call_free(c);
		return KR_ERR_NOMEM;
	}
	if (ret)
		*ret = c;
	return KR_OK;
}

void sso_call_answer(struct sso_call *c, int err, const struct err_detail *e)
{
	struct err_detail own;

	if (!e) {
		err_set_code(&own, err);
		e = &own;
	}
	list_unlink(&c->link);
	switch (c->kind) {
	case SSO_CALL_CREDS:
		c->creds_fn(c->userdata, err, NULL, e, NULL, NULL);
		break;
	case SSO_CALL_ACCOUNTS:
		c->accounts_fn(c->userdata, err, NULL, 0, e);
		break;
	case SSO_CALL_LOGOUT:
		c->logout_fn(c->userdata, err, c->removed, err == KR_OK ? NULL : e);
		break;
	case SSO_CALL_TOKEN:
	case SSO_CALL_LOADED:
		c->login_fn(c->userdata, err, NULL, e);
		break;
	case SSO_CALL_WAIT:
		c->wait_fn(c->userdata, err, c->session, c->expiration, err == KR_OK ? NULL : e);
		break;
	}
	sso_call_free(c);
}

/* The portal refused the token c sent: drop it, answer "log in". */
static void refused(struct sso_call *c, const char *sent, const char *what)
{
	struct err_detail e;
	char why[KR_ERR_MSG_MAX];

	snprintf(why, sizeof(why), "%s: the token was refused (expired or revoked)", what);
	if (c->t)
		sso_tok_refused(c->t, sent);
	if (c->t)
		sso_login_needed(&e, &c->t->where, why);
	else
		err_set(&e, KR_ERR_LOGIN, NULL, 0, "run keyrole login", "%s", why);
	sso_call_answer(c, KR_ERR_LOGIN, &e);
}

/* res's failure, said for the call: "IAM Identity Center WHAT: ...", the API's fix. */
static void failed(struct sso_call *c, const struct sso_api_result *res, const char *what)
{
	const char *msg = res->detail.msg;
	struct err_detail e = res->detail;

	/* The API's line starts with its operation, which what names already. */
	for (int op = SSO_GET_ROLE_CREDENTIALS; op <= SSO_CREATE_TOKEN; op++) {
		size_t n = strlen(sso_api_op_name(op));

		if (strncmp(msg, sso_api_op_name(op), n) == 0 && msg[n] == ':' && msg[n + 1] == ' ')
			msg += n + 2;
	}
	if (c->kind == SSO_CALL_CREDS) {
		/* The source says which step failed: the portal's words, and the fix. */
		err_set(&e, res->err, NULL, 0, res->detail.fix[0] ? res->detail.fix : NULL, "%s",
		        msg);
		list_unlink(&c->link);
		c->creds_fn(c->userdata, res->err, NULL, &e, res->code[0] ? res->code : NULL, NULL);
		sso_call_free(c);
		return;
	}
	err_set(&e, res->err, NULL, 0, res->detail.fix[0] ? res->detail.fix : NULL,
	        "IAM Identity Center %s: %s", what, msg);
	sso_call_answer(c, res->err, &e);
}

/* A failed API call ends c: 1 when res is a failure (answered), 0 to go on. */
static int answered_failure(struct sso_call *c, const struct sso_api_result *res, const char *what)
{
	if (res->err == KR_ERR_LOGIN)
		refused(c, c->token, what);
	else if (res->err != KR_OK)
		failed(c, res, what);
	return res->err != KR_OK;
}

/* Start op with t's token (copied into c->token while it runs). */
static int portal_call(struct sso_call *c, struct sso_api_params *p, sso_api_fn fn)
{
	struct sso_tok *t = c->t;

	mem_free_str(c->token);
	if (!t || !t->access || !(c->token = mem_secret_strdup(t->access, KR_SSO_TOKEN_MAX)))
		return KR_ERR_NOMEM;
	p->ep = (struct sso_api_endpoint){t->where.portal_url, t->where.ca_bundle,
	                                  t->where.portal_proxy, t->where.no_proxy};
	p->access_token = c->token;
	return sso_api_call(t->s->o.loop, t->s->o.http, p, fn, c, &c->api);
}

/* ---- role credentials ---- */

static void on_role_credentials(void *userdata, struct sso_api_result *res)
{
	struct sso_call *c = userdata;
	char what[KR_SSO_FIELD_MAX * 2 + 64];

	c->api = NULL;
	snprintf(what, sizeof(what), "GetRoleCredentials of %s/%s", c->account, c->role);
	if (answered_failure(c, res, what))
		return;
	list_unlink(&c->link);
	c->creds_fn(c->userdata, KR_OK, &res->creds, NULL, NULL, NULL);
	sso_call_free(c);
}

static void creds_resume(struct sso_call *c)
{
	struct sso_api_params p = {
	    .op = SSO_GET_ROLE_CREDENTIALS, .account_id = c->account, .role_name = c->role};
	int r = portal_call(c, &p, on_role_credentials);

	if (r < 0)
		sso_call_answer(c, r, NULL);
}

int sso_role_credentials(struct sso *s, const struct sso_where *w, const char *account_id,
                         const char *role_name, sso_creds_fn fn, void *userdata,
                         struct sso_call **ret)
{
	struct sso_call *c;

	if (!account_id || !role_name || !fn)
		return KR_ERR_INVAL;
	if (!(c = sso_call_open(s, w, SSO_CALL_CREDS, userdata)))
		return s && w ? KR_ERR_NOMEM : KR_ERR_INVAL;
	c->creds_fn = fn;
	if (!(c->account = strdup(account_id)) || !(c->role = strdup(role_name))) {
		sso_call_free(c);
		return KR_ERR_NOMEM;
	}
	return sso_call_go(c, ret);
}

/* ---- accounts and roles ---- */

static void accounts_next(struct sso_call *c);

static void accounts_done(struct sso_call *c)
{
	list_unlink(&c->link);
	c->accounts_fn(c->userdata, KR_OK, c->acc, c->n_acc, NULL);
	sso_call_free(c);
}

static void on_roles(void *userdata, struct sso_api_result *res)
{
	struct sso_call *c = userdata;
	struct sso_account_roles *a = &c->acc[c->next_acc];
	char **grown;

	c->api = NULL;
	if (answered_failure(c, res, "ListAccountRoles"))
		return;
	if (res->n_roles) {
		grown = realloc(a->roles, (a->n_roles + res->n_roles) * sizeof(*grown));
		if (!grown) {
			sso_call_answer(c, KR_ERR_NOMEM, NULL);
			return;
		}
		a->roles = grown;
		for (size_t i = 0; i < res->n_roles; i++) {
			a->roles[a->n_roles++] = res->roles[i];
			res->roles[i] = NULL;
		}
	}
	free(c->next_token);
	c->next_token = res->next_token;
	res->next_token = NULL;
	if (!c->next_token || a->n_roles >= KR_SSO_PAGE_MAX * 10)
		c->next_acc++;
	accounts_next(c);
}

static void on_accounts(void *userdata, struct sso_api_result *res)
{
	struct sso_call *c = userdata;
	struct sso_account_roles *grown;

	c->api = NULL;
	if (answered_failure(c, res, "ListAccounts"))
		return;
	if (res->n_accounts) {
		grown = realloc(c->acc, (c->n_acc + res->n_accounts) * sizeof(*grown));
		if (!grown) {
			sso_call_answer(c, KR_ERR_NOMEM, NULL);
			return;
		}
		c->acc = grown;
		for (size_t i = 0; i < res->n_accounts; i++) {
			struct sso_account *from = &res->accounts[i];

			c->acc[c->n_acc++] = (struct sso_account_roles){
			    .account_id = from->account_id,
			    .account_name = from->account_name,
			    .email = from->email,
			};
			memset(from, 0, sizeof(*from));
		}
	}
	free(c->next_token);
	c->next_token = res->next_token;
	res->next_token = NULL;
	if (!c->next_token || c->n_acc >= KR_SSO_ACCOUNTS_MAX) {
		free(c->next_token);
		c->next_token = NULL;
		c->listing_roles = 1;
	}
	accounts_next(c);
}

/* The next page: of accounts, then of each account's roles; done after the last. */
static void accounts_next(struct sso_call *c)
{
	struct sso_api_params p = {.next_token = c->next_token};
	int r;

	if (c->listing_roles && c->next_acc >= c->n_acc) {
		accounts_done(c);
		return;
	}
	p.op = c->listing_roles ? SSO_LIST_ACCOUNT_ROLES : SSO_LIST_ACCOUNTS;
	if (c->listing_roles)
		p.account_id = c->acc[c->next_acc].account_id;
	r = portal_call(c, &p, c->listing_roles ? on_roles : on_accounts);
	if (r < 0)
		sso_call_answer(c, r, NULL);
}

int sso_list_accounts(struct sso *s, const struct sso_where *w, sso_accounts_fn fn, void *userdata,
                      struct sso_call **ret)
{
	struct sso_call *c;

	if (!fn)
		return KR_ERR_INVAL;
	if (!(c = sso_call_open(s, w, SSO_CALL_ACCOUNTS, userdata)))
		return s && w ? KR_ERR_NOMEM : KR_ERR_INVAL;
	c->accounts_fn = fn;
	return sso_call_go(c, ret);
}

/* ---- logout ---- */

static void logout_finish(struct sso_call *c)
{
	c->removed = c->t ? sso_tok_drop(c->t) : 0;
	sso_call_answer(c, KR_OK, NULL);
}

static void on_logout(void *userdata, struct sso_api_result *res)
{
	struct sso_call *c = userdata;

	c->api = NULL;
	logout_finish(c); /* the portal's answer does not matter: the token goes anyway */
}

static void logout_resume(struct sso_call *c)
{
	struct sso_api_params p = {.op = SSO_LOGOUT};

	if (!c->t || !sso_tok_usable(c->t) || portal_call(c, &p, on_logout) < 0)
		logout_finish(c);
}

int sso_logout(struct sso *s, const struct sso_where *w, sso_logout_fn fn, void *userdata,
               struct sso_call **ret)
{
	struct sso_call *c;

	if (!fn)
		return KR_ERR_INVAL;
	if (!(c = sso_call_open(s, w, SSO_CALL_LOGOUT, userdata)))
		return s && w ? KR_ERR_NOMEM : KR_ERR_INVAL;
	c->logout_fn = fn;
	return sso_call_go(c, ret);
}

void sso_portal_resume(struct sso_call *c, int err, const struct err_detail *e)
{
	if (err != KR_OK && c->kind != SSO_CALL_LOGOUT) {
		sso_call_answer(c, err, e);
		return;
	}
	switch (c->kind) {
	case SSO_CALL_CREDS:
		creds_resume(c);
		break;
	case SSO_CALL_ACCOUNTS:
		accounts_next(c);
		break;
	case SSO_CALL_LOGOUT:
		logout_resume(c);
		break;
	default:
		sso_call_answer(c, KR_ERR_INTERNAL, NULL);
		break;
	}
}
