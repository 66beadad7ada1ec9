/*
 * credential_process runner. Invariants: no shell (argv comes split); the
 * child gets stdin from /dev/null, its own stdout/stderr pipes (only our
 * ends are non-blocking) and no other descriptor of ours (everything above
 * 2 is closed in the child, whatever its close-on-exec flag: libcurl's
 * wake-up socketpair, or what keyroled itself inherited), its own process
 * group, an empty signal mask and default signal dispositions;
 * stdout is capped at KR_PROC_OUT_MAX (more is an error), kept in secret
 * memory and wiped, and so are the credentials parsed from it; stderr
 * is read to its end whatever its size, and only its last
 * KR_PROC_ERR_KEEP bytes are kept (wiped too) for the error message: a
 * helper is never killed for talking. A run past its deadline is killed
 * with SIGKILL, its whole process group with it; the child is always
 * reaped (pidfd on the loop).
 */
#include "proc.h"

#include "rfc3339.h"

#include "buf.h"
#include "err.h"
#include "caps.h"
#include "mem.h"
#include "sts_xml.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct proc {
	struct loop *loop;
	pid_t pid;
	int out_fd, err_fd, pid_fd;
	struct loop_io *out_io, *err_io, *pid_io;
	struct loop_timer *timer;
	struct buf out, err; /* err: the last KR_PROC_ERR_KEEP bytes of stderr */
	int status, exited;
	int out_toobig; /* stdout went over KR_PROC_OUT_MAX: killed, an error */
	int timeout_ms;
	proc_done_fn done;
	void *userdata;
	char prog[64];
};

static void proc_release(struct proc *p)
{
	loop_io_free(p->out_io);
	loop_io_free(p->err_io);
	loop_io_free(p->pid_io);
	loop_timer_free(p->timer);
	if (p->out_fd >= 0)
		close(p->out_fd);
	if (p->err_fd >= 0)
		close(p->err_fd);
	if (p->pid_fd >= 0)
		close(p->pid_fd);
	buf_free(&p->out);
	buf_free(&p->err);
	free(p);
}

/* The child leads its own process group: its own children go with it. */
static void kill_group(const struct proc *p)
{
	if (p->pid > 0 && !p->exited)
		kill(-p->pid, SIGKILL);
}

void proc_cancel(struct proc *p)
{
	if (!p)
		return;
	if (!p->exited && p->pid > 0) {
		kill_group(p);
		waitpid(p->pid, NULL, 0); /* SIGKILL: returns promptly */
	}
	proc_release(p);
}

/* A string member into *ret (NULL if absent); credentials go to secret memory. */
static int creds_str(const cJSON *o, const char *key, int secret, char **ret)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	*ret = NULL;
	if (!it)
		return KR_OK;
	if (!cJSON_IsString(it) || strlen(it->valuestring) > KR_VALUE_MAX)
		return KR_ERR_PROCESS;
	*ret = secret ? mem_secret_strdup(it->valuestring, KR_VALUE_MAX) : strdup(it->valuestring);
	return *ret ? KR_OK : KR_ERR_NOMEM;
}

/* What a credential_process must print (the fix for every bad output). */
#define CONTRACT                                                                                   \
	"a credential_process prints one JSON object: {\"Version\": 1, \"AccessKeyId\": ..., "     \
	"\"SecretAccessKey\": ...} with optional SessionToken and RFC 3339 Expiration"

int proc_parse_creds(const char *json, size_t len, struct sts_creds *ret, struct err_detail *e)
{
	struct sts_creds c = {0};
	const cJSON *v;
	char *exp = NULL;
	cJSON *o;
	int r = KR_ERR_PROCESS;

	o = cJSON_ParseWithLength(json, len);
	if (!o || !cJSON_IsObject(o)) {
		err_set(e, r, NULL, 0, CONTRACT, "output is not a JSON object");
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "Version");
	if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
		err_set(e, r, NULL, 0, CONTRACT, "output has no \"Version\": 1");
		goto out;
	}
	if (creds_str(o, "AccessKeyId", 1, &c.access_key_id) < 0 ||
	    creds_str(o, "SecretAccessKey", 1, &c.secret_access_key) < 0 ||
	    creds_str(o, "SessionToken", 1, &c.session_token) < 0 ||
	    creds_str(o, "Expiration", 0, &exp) < 0) {
		err_set(e, r, NULL, 0, CONTRACT, "output has a member of the wrong type or size");
		goto out;
	}
	if (!c.access_key_id || !*c.access_key_id || !c.secret_access_key ||
	    !*c.secret_access_key) {
		err_set(e, r, NULL, 0, CONTRACT, "output lacks AccessKeyId or SecretAccessKey");
		goto out;
	}
	if (exp && rfc3339_parse(exp, &c.expiration) < 0) {
		err_set(e, r, NULL, 0, CONTRACT,
		        "output has an Expiration that is not an RFC 3339 time");
		goto out;
	}
	*ret = c;
	memset(&c, 0, sizeof(c));
	r = KR_OK;
out:
	free(exp);
	sts_creds_clear(&c);
	cJSON_Delete(o);
	return r;
}

/*
 * The last non-empty line of what stderr kept (where tools say why they
 * failed, after any warnings), with control characters shown as '?'.
 */
static void last_line(const struct buf *b, char *out, size_t n)
{
	const char *s = b->data ? b->data : "", *end = s + b->len, *start;
	size_t len;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	len = (size_t)(end - start);
	if (len >= n)
		len = n - 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)start[i];
		out[i] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
	}
	out[len] = '\0';
}

/* A command that failed: its own words are on its stderr. */
#define RUN_FIX "run the command by hand to see why it fails"

static void proc_finish(struct proc *p)
{
	struct sts_creds c = {0};
	struct err_detail e, why;
	char line[256];
	int r = KR_ERR_PROCESS;

	if (!p->exited || p->out_fd >= 0 || p->err_fd >= 0)
		return; /* wait until the child is reaped and both pipes are drained */
	last_line(&p->err, line, sizeof(line));
	if (p->out_toobig) {
		err_set(&e, r, NULL, 0, NULL,
		        "%s printed more than %d KiB on standard output (a credential_process "
		        "prints one small JSON object); killed",
		        p->prog, KR_PROC_OUT_MAX / 1024);
	} else if (WIFEXITED(p->status) && WEXITSTATUS(p->status) != 0) {
		err_set(&e, r, NULL, 0, RUN_FIX, "%s exited with status %d%s%s", p->prog,
		        WEXITSTATUS(p->status), line[0] ? ": " : "", line);
	} else if (!WIFEXITED(p->status)) {
		err_set(&e, r, NULL, 0, RUN_FIX, "%s was killed by signal %d%s%s", p->prog,
		        WTERMSIG(p->status), line[0] ? ": " : "", line);
	} else {
		r = proc_parse_creds(p->out.data ? p->out.data : "", p->out.len, &c, &why);
		if (r < 0)
			err_set(&e, r, NULL, 0, why.fix, "%s: %s", p->prog, why.msg);
	}
	mem_wipe(line, sizeof(line));
	p->done(p->userdata, r, r == 0 ? &c : NULL, r == 0 ? NULL : &e);
	sts_creds_clear(&c);
	proc_release(p);
}

/* stderr: keep only the last b->max bytes of everything the child wrote. */
static void keep_tail(struct buf *b, const char *data, size_t n)
{
	if (n > b->max) {
		data += n - b->max;
		n = b->max;
	}
	if (b->len + n > b->max)
		buf_consume(b, b->len + n - b->max);
	(void)buf_append(b, data, n); /* out of memory: the message is shorter */
}

/*
 * Read what the pipe has. stdout (tail == 0) over its cap kills the child
 * and is an error; stderr (tail == 1) is read to its end, keeping its tail.
 */
static void drain(struct proc *p, int *fd, struct loop_io **io, struct buf *b, int tail)
{
	char tmp[4096];

	for (;;) {
		ssize_t n = read(*fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0 && tail)
			keep_tail(b, tmp, (size_t)n);
		if (n > 0 && (tail || buf_append(b, tmp, (size_t)n) == 0)) {
			mem_wipe(tmp, (size_t)n);
			continue;
		}
		/* EOF, error, or stdout over its cap: stop reading this pipe. */
		mem_wipe(tmp, sizeof(tmp));
		if (n > 0) {
			p->out_toobig = 1;
			kill_group(p);
		}
		loop_io_free(*io);
		*io = NULL;
		close(*fd);
		*fd = -1;
		return;
	}
}

static void on_out(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct proc *p = userdata;

	drain(p, &p->out_fd, &p->out_io, &p->out, 0);
	proc_finish(p);
}

static void on_err(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct proc *p = userdata;

	drain(p, &p->err_fd, &p->err_io, &p->err, 1);
	proc_finish(p);
}

static void on_exit_fd(struct loop_io *io, int fd, uint32_t revents, void *userdata)
{
	struct proc *p = userdata;

	if (waitpid(p->pid, &p->status, WNOHANG) != p->pid)
		return;
	p->exited = 1;
	loop_io_free(p->pid_io);
	p->pid_io = NULL;
	proc_finish(p);
}

static void on_timeout(struct loop_timer *t, void *userdata)
{
	struct proc *p = userdata;
	struct err_detail e;
	char line[256];

	if (p->err_fd >= 0)
		drain(p, &p->err_fd, &p->err_io, &p->err, 1);
	last_line(&p->err, line, sizeof(line));
	err_set(&e, KR_ERR_TIMEOUT, NULL, 0,
	        "run it by hand: it gets no input here (stdin is /dev/null), so it must not wait "
	        "for any",
	        "%s did not finish in %d ms; killed%s%s%s", p->prog, p->timeout_ms,
	        line[0] ? " (last on stderr: " : "", line, line[0] ? ")" : "");
	mem_wipe(line, sizeof(line));
	p->done(p->userdata, KR_ERR_TIMEOUT, NULL, &e);
	proc_cancel(p);
}

int proc_start(struct loop *l, char *const argv[], int timeout_ms, proc_done_fn done,
               void *userdata, struct proc **ret)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, r = KR_ERR_PROCESS, spawn_err = 0;
	struct proc *p;
	const char *base;

	if (!argv || !argv[0])
		return KR_ERR_INVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return KR_ERR_NOMEM;
	p->loop = l;
	p->out_fd = p->err_fd = p->pid_fd = -1;
	p->done = done;
	p->userdata = userdata;
	p->timeout_ms = timeout_ms;
	buf_init_secret(&p->out, KR_PROC_OUT_MAX); /* the credentials' JSON */
	buf_init(&p->err, KR_PROC_ERR_KEEP);
	base = strrchr(argv[0], '/');
	snprintf(p->prog, sizeof(p->prog), "%s", base ? base + 1 : argv[0]);
	/* Only our ends are non-blocking: a helper writing fast must block, not fail (EAGAIN). */
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    fcntl(out[0], F_SETFL, O_NONBLOCK) < 0 || fcntl(errp[0], F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	/* Not even a descriptor that lacks close-on-exec (glibc: close_range in the child). */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	/* Not the daemon's blocked signals or ignored SIGPIPE; a group to kill on timeout. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	                                    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	r = posix_spawnp(&p->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(errp[1]);
	out[1] = errp[1] = -1;
	if (r != 0) {
		spawn_err = r;
		r = KR_ERR_PROCESS;
		p->pid = 0;
		goto fail;
	}
	p->out_fd = out[0];
	p->err_fd = errp[0];
	out[0] = errp[0] = -1;
	p->pid_fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pid_fd < 0 || loop_io_add(l, p->out_fd, LOOP_IN, on_out, p, &p->out_io) < 0 ||
	    loop_io_add(l, p->err_fd, LOOP_IN, on_err, p, &p->err_io) < 0 ||
	    loop_io_add(l, p->pid_fd, LOOP_IN, on_exit_fd, p, &p->pid_io) < 0 ||
	    loop_timer_add(l, loop_now(l) + (uint64_t)timeout_ms * 1000, on_timeout, p, &p->timer) <
	        0) {
		proc_cancel(p);
		errno = EIO; /* it started: not a missing program */
		return KR_ERR_PROCESS;
	}
	*ret = p;
	return KR_OK;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (!spawn_err)
		spawn_err = errno;
	proc_release(p);
	errno = spawn_err;
	return r;
}
