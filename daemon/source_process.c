/*
 * Another tool's credential_process: the command line run without a shell
 * (daemon/proc.c), in keyroled's environment on purpose: its result is
 * cached under the command line, so no caller's environment may decide
 * what another is served. One run at a time per command line (its cache
 * entry is single-flight); a result with an Expiration is a session and is
 * kept like any other.
 */
#include "source.h"

#include "cachekey.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "proc.h"
#include "shellquote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct src_process_conf {
	char *command;
};

struct src_process_call {
	struct proc *proc;
	source_done_fn done;
	void *userdata;
	char *profile;
};

static int src_process_parse(const struct source_parse *in, struct step *s, struct err_detail *e)
{
	struct pmap_val v = {0};
	struct src_process_conf *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return KR_ERR_NOMEM;
	s->conf = c;
	pmap_get(in->map, in->profile, PMAP_ANY, "credential_process", &v);
	r = step_set_where(s, v.file, v.line);
	if (r == KR_OK)
		r = pmap_take(&v, "credential_process", &c->command, e);
	if (r == KR_OK && c->command[0] == '\0') {
		err_set(e, KR_ERR_CONFIG, v.file, v.line,
		        "give the command to run, or remove the key",
		        "credential_process in profile \"%s\" is empty", pmap_name(in->profile));
		r = KR_ERR_CONFIG;
	}
	if (r == KR_OK && source_what(s, "credential_process of profile '%s'", s->profile) < 0)
		r = KR_ERR_NOMEM;
	return r;
}

static void src_process_conf_free(void *conf)
{
	struct src_process_conf *c = conf;

	if (!c)
		return;
	free(c->command);
	free(c);
}

static int src_process_key(const struct step *s, const struct chain *ch, struct buf *out)
{
	const struct src_process_conf *c = s->conf;
	int r = ckey_step(out, "process");

	if (r == KR_OK)
		r = ckey_str(out, "cmd=", c->command);
	return r;
}

static void src_process_call_free(struct src_process_call *c)
{
	if (!c)
		return;
	free(c->profile);
	free(c);
}

static void on_proc_done(void *userdata, int err, struct sts_creds *creds,
                         const struct err_detail *e)
{
	struct src_process_call *c = userdata;
	struct source_result res = {.err = err, .from = "process"};

	if (err == KR_OK) {
		res.creds = *creds;
		memset(creds, 0, sizeof(*creds));
	} else {
		err_set(&res.detail, err, NULL, 0, e->fix, "credential_process of profile '%s': %s",
		        c->profile, e->msg);
	}
	c->proc = NULL;
	c->done(c->userdata, &res);
	sts_creds_clear(&res.creds);
	src_process_call_free(c);
}

static int src_process_fetch(const struct source_fetch *f, struct source_result *res,
                             void **ret_call)
{
	const struct src_process_conf *conf = f->step->conf;
	struct src_process_call *c = calloc(1, sizeof(*c));
	char **argv = NULL;
	size_t argc = 0;
	int r = c ? KR_OK : KR_ERR_NOMEM;

	if (r == KR_OK && !(c->profile = strdup(f->step->profile)))
		r = KR_ERR_NOMEM;
	if (r == KR_OK)
		r = shellquote_split(conf->command, KR_PROFILE_ARGV_MAX, &argv, &argc);
	if (r == KR_OK && argc == 0)
		r = KR_ERR_CONFIG;
	if (r == KR_OK) {
		c->done = f->done;
		c->userdata = f->userdata;
		r = proc_start(f->svc->loop, argv, KR_PROC_TIMEOUT_MS, on_proc_done, c, &c->proc);
	}
	if (r == KR_ERR_PROCESS && errno == ENOENT) {
		err_set(&res->detail, KR_ERR_PROCESS, f->step->file, f->step->line,
		        "install it, or give its full path: keyroled looks it up in its own PATH",
		        "credential_process of profile '%s' cannot be started: '%s' not found",
		        f->step->profile, argv[0]);
		shellquote_argv_free(argv);
		src_process_call_free(c);
		return KR_ERR_PROCESS;
	}
	shellquote_argv_free(argv);
	if (r < 0) {
		err_set(&res->detail, KR_ERR_PROCESS, f->step->file, f->step->line,
		        r == KR_ERR_NOMEM ? NULL
		                          : "check the command: keyroled runs it without a shell, "
		                            "looked up in its own PATH",
		        "credential_process of profile '%s' cannot be started: %s",
		        f->step->profile, err_str(r));
		src_process_call_free(c);
		return KR_ERR_PROCESS;
	}
	*ret_call = c;
	return 0;
}

static void src_process_cancel(void *call)
{
	struct src_process_call *c = call;

	if (!c)
		return;
	proc_cancel(c->proc);
	src_process_call_free(c);
}

static void src_process_describe(const struct step *s, const struct chain *ch,
                                 struct step_report *out)
{
	const struct src_process_conf *c = s->conf;

	out->kind = "source";
	out->type = "process";
	out->command = c ? c->command : NULL;
}

const struct source_ops source_process = {
    .name = "process",
    .flags = SOURCE_SESSION,
    .max_lifetime = KR_SESSION_LIFETIME_MAX_S,
    .parse = src_process_parse,
    .free = src_process_conf_free,
    .key = src_process_key,
    .fetch = src_process_fetch,
    .cancel = src_process_cancel,
    .describe = src_process_describe,
};
