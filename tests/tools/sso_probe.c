/*
 * sso_probe: drive keyroled's IAM Identity Center parts (sso_token.c,
 * sso_portal.c, sso_login.c over sso_api.c and http.c) on the daemon's
 * loop, with a keyring store, against a portal and an OIDC service (the
 * tests' tests/lib/fake_sso.py). A driver for tests/scenario/test_sso_token.py.
 *
 * usage: sso_probe --portal URL --oidc URL --start-url URL --region R
 *          --cache-key HEX [--session NAME] [--cli-file PATH]
 *          [--cache memory|keyctl|secret-service]
 *          [--scope S ...] [--ca-bundle PATH]
 * Commands come on stdin, one a line; each prints one JSON line per
 * answer on stdout once its answers are all in:
 *   creds ACCOUNT ROLE [N]   N concurrent sso_role_credentials
 *   accounts                 sso_list_accounts
 *   login [force] [N]        N concurrent sso_login_start (the last login_id is kept)
 *   wait [N]                 N concurrent sso_login_wait of the last login_id
 *   logout                   sso_logout
 *   status                   sso_sessions
 *   sleep SECONDS            run the loop that long
 *   restart                  free the token store and the keyring, make them again
 * Nothing printed is secret: access key ids, expirations, codes and URLs.
 */
#include "buf.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "rfc3339.h"
#include "sso.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 256

struct probe {
	struct loop *l;
	struct http *h;
	struct store *st;
	struct sso *s;
	const char *cache;
	struct sso_where w;
	char login_id[64];
	int pending;
};

static void out(struct buf *b)
{
	fwrite(b->data, 1, b->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	buf_free(b);
}

static void begin(struct json_writer *w, struct buf *b, const char *op, int err,
                  const struct err_detail *e)
{
	char line[KR_ERR_LINE_MAX];

	buf_init(b, 1 << 20);
	json_w_init(w, b);
	json_w_begin_object(w, NULL);
	json_w_str(w, "op", op);
	json_w_bool(w, "ok", err == KR_OK);
	json_w_str(w, "error", err == KR_OK ? "" : err_name(err));
	if (err != KR_OK && e) {
		err_format(e, line, sizeof(line));
		json_w_str(w, "message", line);
		json_w_str(w, "fix", e->fix);
	}
}

static void end(struct probe *p, struct json_writer *w, struct buf *b)
{
	json_w_end_object(w);
	json_w_end(w);
	out(b);
	p->pending--;
}

static void on_creds(void *userdata, int err, struct sts_creds *c, const struct err_detail *e,
                     const char *aws_code, const char *aws_message)
{
	struct probe *p = userdata;
	struct json_writer w;
	struct buf b;

	begin(&w, &b, "creds", err, e);
	json_w_str_opt(&w, "aws_code", aws_code);
	if (c) {
		json_w_str(&w, "access_key_id", c->access_key_id);
		json_w_int(&w, "expiration", (long long)c->expiration);
		json_w_bool(&w, "has_secret", c->secret_access_key && *c->secret_access_key);
		json_w_bool(&w, "has_token", c->session_token && *c->session_token);
	}
	end(p, &w, &b);
}

static void on_accounts(void *userdata, int err, const struct sso_account_roles *a, size_t n,
                        const struct err_detail *e)
{
	struct probe *p = userdata;
	struct json_writer w;
	struct buf b;

	begin(&w, &b, "accounts", err, e);
	json_w_begin_array(&w, "accounts");
	for (size_t i = 0; i < n; i++) {
		json_w_begin_object(&w, NULL);
		json_w_str(&w, "account_id", a[i].account_id);
		json_w_str_opt(&w, "account_name", a[i].account_name);
		json_w_str_opt(&w, "email", a[i].email);
		json_w_begin_array(&w, "roles");
		for (size_t k = 0; k < a[i].n_roles; k++)
			json_w_str(&w, NULL, a[i].roles[k]);
		json_w_end_array(&w);
		json_w_end_object(&w);
	}
	json_w_end_array(&w);
	end(p, &w, &b);
}

static void on_login(void *userdata, int err, const struct sso_login_info *info,
                     const struct err_detail *e)
{
	struct probe *p = userdata;
	struct json_writer w;
	struct buf b;

	begin(&w, &b, "login", err, e);
	if (info && info->logged_in) {
		json_w_bool(&w, "logged_in", 1);
		json_w_int(&w, "expiration", (long long)info->expiration);
	} else if (info) {
		snprintf(p->login_id, sizeof(p->login_id), "%s", info->login_id);
		json_w_str(&w, "login_id", info->login_id);
		json_w_str_opt(&w, "verification_uri", info->verification_uri);
		json_w_str_opt(&w, "verification_uri_complete", info->verification_uri_complete);
		json_w_str(&w, "user_code", info->user_code);
		json_w_int(&w, "expires_in", info->expires_in);
		json_w_bool(&w, "joined", info->joined);
	}
	end(p, &w, &b);
}

static void on_wait(void *userdata, int err, const char *session, time_t expiration,
                    const struct err_detail *e)
{
	struct probe *p = userdata;
	struct json_writer w;
	struct buf b;

	begin(&w, &b, "wait", err, e);
	json_w_str_opt(&w, "session", session);
	if (err == KR_OK)
		json_w_int(&w, "expiration", (long long)expiration);
	end(p, &w, &b);
}

static void on_logout(void *userdata, int err, int removed, const struct err_detail *e)
{
	struct probe *p = userdata;
	struct json_writer w;
	struct buf b;

	begin(&w, &b, "logout", err, e);
	json_w_int(&w, "removed", removed);
	end(p, &w, &b);
}

static void status(struct probe *p)
{
	struct sso_session_info info[16];
	size_t n = sso_sessions(p->s, info, 16);
	struct json_writer w;
	struct buf b;

	p->pending++;
	begin(&w, &b, "status", KR_OK, NULL);
	json_w_int(&w, "count", (long long)sso_session_count(p->s));
	json_w_begin_array(&w, "sessions");
	for (size_t i = 0; i < n; i++) {
		json_w_begin_object(&w, NULL);
		json_w_str(&w, "session", info[i].session);
		json_w_str(&w, "start_url", info[i].start_url);
		json_w_str(&w, "region", info[i].region);
		json_w_int(&w, "expiration", (long long)info[i].expiration);
		json_w_bool(&w, "refresh_token", info[i].refresh_token);
		json_w_str(&w, "from", info[i].from);
		json_w_bool(&w, "refreshing", info[i].refreshing);
		json_w_end_object(&w);
	}
	json_w_end_array(&w);
	end(p, &w, &b);
}

static int open_store(struct probe *p)
{
	struct store_opts so = {.cache = p->cache};
	struct sso_opts o;

	if (store_new(p->l, &so, &p->st) < 0)
		return -1;
	o = (struct sso_opts){.loop = p->l, .http = p->h, .store = p->st};
	return sso_new(&o, &p->s);
}

static void run_until_done(struct probe *p)
{
	while (p->pending > 0)
		loop_run_once(p->l, 100000);
}

static void run_for(struct probe *p, double secs)
{
	uint64_t end = loop_now(p->l) + (uint64_t)(secs * 1e6);

	while (loop_now(p->l) < end)
		loop_run_once(p->l, 50000);
}

static void started(struct probe *p, int r)
{
	if (r == KR_OK) {
		p->pending++;
		return;
	}
	printf("{\"op\":\"start\",\"ok\":false,\"error\":\"%s\"}\n", err_name(r));
	fflush(stdout);
}

static int command(struct probe *p, char *line)
{
	char *words[8] = {0};
	int n = 0, count;

	for (char *t = strtok(line, " \t\n"); t && n < 8; t = strtok(NULL, " \t\n"))
		words[n++] = t;
	if (n == 0)
		return 0;
	count = 1;
	if (strcmp(words[0], "creds") == 0 && n >= 3) {
		count = n >= 4 ? atoi(words[3]) : 1;
		for (int i = 0; i < count && i < MAX_N; i++)
			started(p, sso_role_credentials(p->s, &p->w, words[1], words[2], on_creds,
			                                p, NULL));
	} else if (strcmp(words[0], "accounts") == 0) {
		started(p, sso_list_accounts(p->s, &p->w, on_accounts, p, NULL));
	} else if (strcmp(words[0], "login") == 0) {
		int force = n >= 2 && strcmp(words[1], "force") == 0;
		count = n >= 2 + force ? atoi(words[1 + force]) : 1;
		for (int i = 0; i < count && i < MAX_N; i++)
			started(p, sso_login_start(p->s, &p->w, force, on_login, p, NULL));
	} else if (strcmp(words[0], "wait") == 0) {
		count = n >= 2 ? atoi(words[1]) : 1;
		for (int i = 0; i < count && i < MAX_N; i++)
			started(p, sso_login_wait(p->s, p->login_id, on_wait, p, NULL));
	} else if (strcmp(words[0], "logout") == 0) {
		started(p, sso_logout(p->s, &p->w, on_logout, p, NULL));
	} else if (strcmp(words[0], "status") == 0) {
		status(p);
	} else if (strcmp(words[0], "sleep") == 0 && n == 2) {
		run_for(p, atof(words[1]));
	} else if (strcmp(words[0], "restart") == 0) {
		sso_free(p->s);
		store_free(p->st);
		p->s = NULL;
		p->st = NULL;
		if (open_store(p) < 0)
			return -1;
		printf("{\"op\":\"restart\",\"ok\":true}\n");
		fflush(stdout);
	} else {
		fprintf(stderr, "sso_probe: unknown command: %s\n", words[0]);
		return -1;
	}
	run_until_done(p);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: sso_probe --portal URL --oidc URL --start-url URL --region R\n"
	        "  --cache-key HEX [--session NAME] [--cli-file PATH] [--cache C] [--scope S ...]\n"
	        "  [--ca-bundle PATH]   (commands on stdin)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct probe p = {.cache = "memory"};
	char *scopes[16], line[1024];
	size_t n_scopes = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage();
		i++;
		if (strcmp(a, "--portal") == 0)
			p.w.portal_url = (char *)v;
		else if (strcmp(a, "--oidc") == 0)
			p.w.oidc_url = (char *)v;
		else if (strcmp(a, "--start-url") == 0)
			p.w.start_url = (char *)v;
		else if (strcmp(a, "--region") == 0)
			p.w.region = (char *)v;
		else if (strcmp(a, "--session") == 0)
			p.w.session = (char *)v;
		else if (strcmp(a, "--cli-file") == 0)
			p.w.cli_cache_file = (char *)v;
		else if (strcmp(a, "--cache") == 0)
			p.cache = v;
		else if (strcmp(a, "--cache-key") == 0 && strlen(v) == 40)
			memcpy(p.w.cache_key, v, 41);
		else if (strcmp(a, "--ca-bundle") == 0)
			p.w.ca_bundle = (char *)v;
		else if (strcmp(a, "--scope") == 0 && n_scopes < 16)
			scopes[n_scopes++] = (char *)v;
		else
			usage();
	}
	if (!p.w.portal_url || !p.w.oidc_url || !p.w.start_url || !p.w.region || !p.w.cache_key[0])
		usage();
	p.w.scopes = n_scopes ? scopes : NULL;
	p.w.n_scopes = n_scopes;
	p.w.profile = (char *)"probe";
	if (loop_new(&p.l) < 0 || http_new(p.l, &p.h) < 0 || open_store(&p) < 0) {
		fprintf(stderr, "sso_probe: cannot start\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin))
		if (command(&p, line) < 0) {
			rc = 2;
			break;
		}
	sso_free(p.s);
	store_free(p.st);
	http_free(p.h);
	loop_free(p.l);
	return rc;
}
