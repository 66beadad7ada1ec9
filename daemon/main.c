/*
 * keyroled: the per-user credential daemon.
 *
 * Hardening happens before any secret can exist: the process is made
 * non-dumpable (no core files, no ptrace by same-uid processes), core size
 * is 0 and the umask is 077. Then secret memory is set up (secmem.c) before
 * any OpenSSL call: secrets live in OpenSSL's secure heap (locked, left out
 * of core dumps), and every library's freed blocks are wiped.
 */
#include "err.h"
#include "caps.h"
#include "log.h"
#include "valid.h"
#include "ini.h"
#include "msg.h"
#include "pmap.h"
#include "resolve.h"
#include "secmem.h"
#include "server.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: keyroled [OPTIONS]\n"
	    "The keyrole credential daemon: answers keyrole clients on a Unix socket.\n"
	    "\n"
	    "  -s, --socket PATH        listen on PATH, relative to the current directory\n"
	    "                           (default: $KEYROLE_SOCKET, else\n"
	    "                           $XDG_RUNTIME_DIR/keyrole/agent.sock, else\n"
	    "                           /run/user/UID/keyrole/agent.sock if that directory\n"
	    "                           is ours, else $XDG_CACHE_HOME/keyrole/agent.sock,\n"
	    "                           else ~/.cache/keyrole/agent.sock); a socket passed\n"
	    "                           by systemd (LISTEN_FDS) takes precedence\n"
	    "  -c, --cache BACKEND      auto, secret-service, keyctl or memory (default auto)\n"
	    "      --refresh-margin SECONDS\n"
	    "                           refresh credentials this long before they expire\n"
	    "                           (default 900, botocore's own margin)\n"
	    "      --mfa-duration SECONDS\n"
	    "                           lifetime of MFA sessions (default 43200)\n"
	    "      --exec-server yes|no a plain 'keyrole exec' gets the container credentials\n"
	    "                           endpoint instead of keys (default no)\n"
	    "      --mfa-prompt HOW     how keyrole asks for an MFA code: auto, terminal,\n"
	    "                           askpass, zenity, kdialog or an askpass program's\n"
	    "                           absolute path (default auto)\n"
	    "      --sts-deadline SECONDS\n"
	    "                           how long a request's STS calls may take, every\n"
	    "                           hop and attempt included (default 60)\n"
	    "      --idle-exit SECONDS  exit after this long without clients (default 0: never)\n"
	    "      --max-entries N      cache at most N steps of chains (default 10000; the\n"
	    "                           expired, then the least recently fetched, go first)\n"
	    "  -l, --log-level LEVEL    error, warning, notice, info or debug (default info)\n"
	    "      --config FILE        settings file (default\n"
	    "                           $XDG_CONFIG_HOME/keyrole/keyroled.conf, else\n"
	    "                           ~/.config/keyrole/keyroled.conf)\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n");
}

struct settings {
	struct server_opts srv;
	int log_level;
	char cache[32];
};

static int parse_int(const char *s, long min, long max, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return KR_ERR_INVAL;
	*ret = (int)v;
	return KR_OK;
}

static int set_option(struct settings *st, const char *key, const char *val, const char *where)
{
	int r = KR_OK, lvl;

	if (strcmp(key, "cache") == 0) {
		if (strcmp(val, "auto") && strcmp(val, "secret-service") && strcmp(val, "keyctl") &&
		    strcmp(val, "memory"))
			r = KR_ERR_INVAL;
		else
			snprintf(st->cache, sizeof(st->cache), "%s", val);
	} else if (strcmp(key, "refresh-margin") == 0)
		r = parse_int(val, 60, 3600, &st->srv.agent.refresh_margin);
	else if (strcmp(key, "mfa-duration") == 0)
		r = parse_int(val, 900, 129600, &st->srv.agent.mfa_duration);
	else if (strcmp(key, "max-entries") == 0) {
		int n = 0;

		r = parse_int(val, 16, 1000000, &n);
		st->srv.agent.max_entries = (unsigned)n;
	} else if (strcmp(key, "exec-server") == 0) {
		if (strcmp(val, "yes") == 0 || strcmp(val, "true") == 0)
			st->srv.agent.exec_server = 1;
		else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0)
			st->srv.agent.exec_server = 0;
		else
			r = KR_ERR_INVAL;
	} else if (strcmp(key, "mfa-prompt") == 0) {
		if (!valid_mfa_prompt(val))
			r = KR_ERR_INVAL;
		else
			snprintf(st->srv.agent.mfa_prompt, sizeof(st->srv.agent.mfa_prompt), "%s",
			         val);
	} else if (strcmp(key, "sts-deadline") == 0)
		r = parse_int(val, 1, 100, &st->srv.agent.sts_deadline);
	else if (strcmp(key, "idle-exit") == 0)
		r = parse_int(val, 0, INT_MAX / 1000000, &st->srv.idle_exit);
	else if (strcmp(key, "log-level") == 0) {
		lvl = log_level_parse(val);
		if (lvl < 0)
			r = KR_ERR_INVAL;
		else
			st->log_level = lvl;
	} else {
		fprintf(stderr, "keyroled: %s: unknown setting '%s'\n", where, key);
		return KR_ERR_INVAL;
	}
	if (r < 0)
		fprintf(stderr, "keyroled: %s: invalid value '%s' for %s\n", where, val, key);
	return r;
}

/* ~/.config/keyrole/keyroled.conf: "key = value" lines, '#' comments. */
static int read_config(struct settings *st, const char *path, int required)
{
	char line[1024], where[KR_PATH_MAX + 32];
	FILE *f = fopen(path, "re");
	int lineno = 0, r = KR_OK;

	if (!f) {
		if (!required && errno == ENOENT)
			return KR_OK;
		fprintf(stderr, "keyroled: %s: %s\n", path, strerror(errno));
		return KR_ERR_IO;
	}
	while (r == KR_OK && fgets(line, sizeof(line), f)) {
		char *k = line, *v, *e;

		lineno++;
		k += strspn(k, " \t");
		if (*k == '#' || *k == '\n' || *k == '\0')
			continue;
		v = strchr(k, '=');
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (!v) {
			fprintf(stderr, "keyroled: %s: expected 'key = value'\n", where);
			r = KR_ERR_INVAL;
			break;
		}
		*v++ = '\0';
		for (e = v + strlen(v); e > v && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = '\0';
		v += strspn(v, " \t");
		for (e = k + strlen(k); e > k && strchr(" \t", e[-1]); e--)
			;
		*e = '\0';
		r = set_option(st, k, v, where);
	}
	fclose(f);
	return r;
}

static const struct option longopts[] = {
    {"socket", required_argument, NULL, 's'},
    {"cache", required_argument, NULL, 'c'},
    {"refresh-margin", required_argument, NULL, 'R'},
    {"mfa-duration", required_argument, NULL, 'M'},
    {"exec-server", required_argument, NULL, 'X'},
    {"sts-deadline", required_argument, NULL, 'D'},
    {"mfa-prompt", required_argument, NULL, 'P'},
    {"idle-exit", required_argument, NULL, 'I'},
    {"max-entries", required_argument, NULL, 'E'},
    {"log-level", required_argument, NULL, 'l'},
    {"config", required_argument, NULL, 'C'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {0},
};

struct args {
	int argc;
	char **argv;
};

/*
 * Settings = defaults, then the config file, then the flags (so flags win).
 * Returns -1 to go on, else the exit status (0 after --help/--version).
 */
static int load_settings(struct settings *st, const struct args *a, int quiet_help)
{
	char defconf[KR_PATH_MAX];
	const char *config = NULL;
	int c;

	*st = (struct settings){
	    .srv.agent.refresh_margin = KR_REFRESH_MARGIN_S,
	    .srv.agent.mfa_duration = 43200,
	    .log_level = LOG_LVL_INFO,
	    .cache = "auto",
	};
	opterr = 0;
	optind = 0; /* glibc: full re-initialisation, for SIGHUP */
	while ((c = getopt_long(a->argc, a->argv, "s:c:l:hV", longopts, NULL)) != -1) {
		if (c == 'C')
			config = optarg;
		else if (c == 'h' && !quiet_help) {
			usage(stdout);
			return 0;
		} else if (c == 'V' && !quiet_help) {
			printf("keyroled %s (protocol %d)\n", KR_VERSION, KR_PROTO_VERSION);
			return 0;
		}
	}
	if (config) {
		if (read_config(st, config, 1) < 0)
			return 2;
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		int n = -1;
		if (xdg && *xdg == '/')
			n = snprintf(defconf, sizeof(defconf), "%s/keyrole/keyroled.conf", xdg);
		else if (home && *home == '/')
			n = snprintf(defconf, sizeof(defconf), "%s/.config/keyrole/keyroled.conf",
			             home);
		if (n > 0 && (size_t)n < sizeof(defconf) && read_config(st, defconf, 0) < 0)
			return 2;
	}
	opterr = 1;
	optind = 0;
	while ((c = getopt_long(a->argc, a->argv, "s:c:l:hV", longopts, NULL)) != -1) {
		int r = KR_OK;
		switch (c) {
		case 's':
			st->srv.socket_path = optarg;
			break;
		case 'c':
			r = set_option(st, "cache", optarg, "--cache");
			break;
		case 'R':
			r = set_option(st, "refresh-margin", optarg, "--refresh-margin");
			break;
		case 'M':
			r = set_option(st, "mfa-duration", optarg, "--mfa-duration");
			break;
		case 'X':
			r = set_option(st, "exec-server", optarg, "--exec-server");
			break;
		case 'D':
			r = set_option(st, "sts-deadline", optarg, "--sts-deadline");
			break;
		case 'P':
			r = set_option(st, "mfa-prompt", optarg, "--mfa-prompt");
			break;
		case 'I':
			r = set_option(st, "idle-exit", optarg, "--idle-exit");
			break;
		case 'E':
			r = set_option(st, "max-entries", optarg, "--max-entries");
			break;
		case 'l':
			r = set_option(st, "log-level", optarg, "--log-level");
			break;
		case 'C':
		case 'h':
		case 'V':
			break;
		default:
			usage(stderr);
			return 2;
		}
		if (r < 0)
			return 2;
	}
	if (optind < a->argc) {
		fprintf(stderr, "keyroled: unexpected argument '%s'\n", a->argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* SIGHUP: the same sources again; only what can change at run time is taken. */
static int reload(void *userdata, struct server_opts *ret)
{
	struct settings st;

	if (load_settings(&st, userdata, 1) >= 0)
		return KR_ERR_CONFIG;
	log_init(st.log_level);
	ret->idle_exit = st.srv.idle_exit;
	ret->agent.refresh_margin = st.srv.agent.refresh_margin;
	ret->agent.mfa_duration = st.srv.agent.mfa_duration;
	ret->agent.exec_server = st.srv.agent.exec_server;
	ret->agent.sts_deadline = st.srv.agent.sts_deadline;
	memcpy(ret->agent.mfa_prompt, st.srv.agent.mfa_prompt, sizeof(ret->agent.mfa_prompt));
	return KR_OK;
}

int main(int argc, char **argv)
{
	struct args args = {argc, argv};
	struct settings st;
	struct secmem_info sm;
	struct rlimit rl = {0, 0};
	long left;
	int autostarted, r;

	/* Before anything else: no core dumps, no ptrace, private files. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &rl);
	umask(077);
	/* Before any OpenSSL call and any secret. */
	secmem_init(&sm);
	msg_install_json_hooks();

	/*
	 * Started by keyrole (conn.c): stderr is a pipe it reads until we are
	 * ready, then it goes away; a write after that must not kill us.
	 */
	autostarted =
	    getenv("KEYROLE_AUTOSTARTED") && strcmp(getenv("KEYROLE_AUTOSTARTED"), "1") == 0;
	unsetenv("KEYROLE_AUTOSTARTED");
	if (autostarted)
		signal(SIGPIPE, SIG_IGN);
	r = load_settings(&st, &args, 0);
	if (r >= 0)
		return r;
	st.srv.stderr_until_ready = autostarted;
	/* More connections than the default soft limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	log_init(st.log_level);
	if (sm.size && sm.locked)
		log_info("secure memory: %zu KiB, locked", sm.size / 1024);
	else if (sm.size)
		log_warning("secure memory: %zu KiB, not locked (%s, RLIMIT_MEMLOCK %zu KiB): "
		            "secrets stay out of core dumps but may be swapped out",
		            sm.size / 1024, sm.why, sm.memlock / 1024);
	else
		log_warning("no secure memory (%s): secrets are wiped after use, but may reach "
		            "core dumps and swap",
		            sm.why);
	if (!sm.hooks)
		log_warning("OpenSSL was initialised before keyroled could make it wipe what it "
		            "frees");
	st.srv.agent.cache = st.cache;
	st.srv.reload = reload;
	st.srv.reload_userdata = &args;
	r = server_run(&st.srv);
	/* Cached profile maps and files: freed so that leak checkers see only ours. */
	resolve_memo_clear();
	pmap_cache_clear();
	ini_cache_clear();
	/* Our secrets in the secure heap are invisible to leak checkers: count them. */
	left = secmem_outstanding();
	if (left)
		log_err("%ld blocks of secret memory still allocated at exit (a leak)", left);
	return r;
}
