/*
 * Opening the IAM Identity Center verification page in a browser, the way
 * the AWS CLI's `aws sso login` does (Python's webbrowser module), without
 * a shell.
 *
 * Invariants:
 * - Only an http:// or https:// URL without blanks or control characters
 *   is ever handed to a program (browser_url_ok()): the URL comes from the
 *   daemon, and xdg-open would open a file:// URL or a path as well.
 * - The browser runs with stdin and stdout on /dev/null (stdout may be
 *   keyrole get's credential channel), stderr as ours, no other
 *   descriptor of ours or of our caller's, default signal state, in a
 *   session of its own, and detached: keyrole never waits for it to exit
 *   (a browser started with its first window may run for hours).
 */
#ifndef KR_BROWSER_H
#define KR_BROWSER_H

#include <stdint.h>

/* 1 if url may be opened: http:// or https://, then printable ASCII without blanks. */
int browser_url_ok(const char *url);

/*
 * The command that opens url: $BROWSER (browser, when non-empty) split into
 * words as shellquote_split() does, each "%s" in a word replaced by url, or
 * url appended as the last word when no word has "%s"; else "xdg-open URL"
 * when display (DISPLAY or WAYLAND_DISPLAY) is set. *ret_argv is
 * NULL-terminated, for shellquote_argv_free(). KR_ERR_UNSUPPORTED when
 * there is nothing to run (no $BROWSER, no display), KR_ERR_INVAL for a URL
 * browser_url_ok() refuses, KR_ERR_PARSE for a $BROWSER that does not
 * split into at least one word.
 */
int browser_argv(const char *browser, int display, const char *url, char ***ret_argv);

/*
 * Start argv (looked up on PATH) as described above. KR_OK once it was
 * exec'ed; KR_ERR_PROCESS if it could not be started (*ret_errno says why:
 * ENOENT when not found), KR_ERR_TIMEOUT if that was not known by
 * deadline_ms.
 */
int browser_start(char **argv, int64_t deadline_ms, int *ret_errno);

#endif
