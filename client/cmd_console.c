/*
 * keyrole console PROFILE [--print] [--destination URL] [--duration SECONDS]
 *
 * Invariants:
 * - The sign-in URL is a credential for 15 minutes: it lives only in the
 *   reply's JSON tree, x->out (--print) and the browser's argv, each wiped
 *   when freed; it is never in an error line (out_fail()).
 * - With --print, stdout has the URL and a newline and nothing else.
 *   Without it the URL goes to $BROWSER or xdg-open (browser.h: detached,
 *   stdin and stdout on /dev/null), never to the terminal, and stderr has
 *   one short line.
 */
#include "cmd_console.h"

#include "browser.h"
#include "caps.h"
#include "err.h"
#include "json.h"
#include "mem.h"
#include "out.h"
#include "proto.h"
#include "request.h"
#include "shellquote.h"

#include <stdlib.h>
#include <string.h>

/* shellquote_argv_free() with every word wiped first: one of them is the URL. */
static void argv_wipe_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		mem_wipe(*a, strlen(*a));
	shellquote_argv_free(argv);
}

static int open_browser(struct cmd_ctx *x, const char *url)
{
	const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
	char **argv = NULL;
	int r, e = 0, rc;

	r = browser_argv(getenv("BROWSER"), (d && *d) || (w && *w), url, &argv);
	if (r == KR_ERR_UNSUPPORTED)
		return out_fail(x, KR_ERR_UNSUPPORTED,
		                "no browser to open the sign-in URL (set BROWSER, or use --print)");
	if (r < 0)
		return out_fail(x, r, "cannot open the sign-in URL: BROWSER is not a command: %s",
		                err_str(r));
	r = browser_start(argv, proto_now_ms() + KR_BROWSER_START_MS, &e);
	if (r == KR_OK) {
		out_notice(2,
		           "Opened the AWS console for %s in the browser (%s); the sign-in link "
		           "works for 15 minutes.",
		           x->profile, argv[0]);
		rc = CMD_EXIT_OK;
	} else if (r == KR_ERR_PROCESS) {
		rc = out_fail(x, r, "cannot start %s: %s (or use --print)", argv[0], strerror(e));
	} else {
		rc = out_fail(x, r, "cannot start %s: %s (or use --print)", argv[0], err_str(r));
	}
	argv_wipe_free(argv);
	return rc;
}

int cmd_console_run(struct cmd_ctx *x)
{
	struct json *reply = NULL;
	const char *url;
	int rc, r;

	rc = request_console(x, x->destination, x->duration, &reply);
	if (rc != CMD_EXIT_OK)
		goto out;
	url = json_get_str(reply, "url");
	if (!browser_url_ok(url)) {
		rc = out_fail(x, KR_ERR_PROTO, "keyroled's sign-in URL is not an http(s) URL");
		goto out;
	}
	if (!(x->opts & CMD_OPT_PRINT)) {
		rc = open_browser(x, url);
		goto out;
	}
	r = buf_puts(&x->out, url);
	if (r == KR_OK)
		r = buf_putc(&x->out, '\n');
	rc = r < 0 ? out_fail(x, r, "%s", err_str(r)) : out_emit(x);
out:
	json_free(reply); /* held the URL: json_free() wipes */
	return rc;
}
