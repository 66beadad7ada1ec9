/*
 * Shell words in both directions, without ever running a shell.
 *
 * shellquote_append() makes a string safe to paste into POSIX sh or bash
 * (`keyrole env` output is meant for eval): the value is wrapped in single
 * quotes, inside which nothing is special, and each ' becomes '\''.
 *
 * shellquote_split() turns a command line (credential_process,
 * mfa_process, a config section header) into words exactly as Python's
 * shlex.split() does in POSIX mode, which is what botocore applies to
 * credential_process: blanks are space, tab, CR and LF; '...' is literal;
 * inside "..." only \" and \\ are escapes; outside quotes a backslash makes
 * any next character literal. No expansion at all: no $VAR, no `cmd`, no ~,
 * no globbing, no operators (| ; & < > are ordinary characters).
 */
#ifndef KR_SHELLQUOTE_H
#define KR_SHELLQUOTE_H

#include "caps.h"

#include "buf.h"

#include <stddef.h>

/* Words in one command line, and bytes in the line itself. */

/* Append s, single-quoted, to out. KR_ERR_TOOBIG past out's cap. */
int shellquote_append(struct buf *out, const char *s);

/*
 * The same for fish ('...' in which \\ and \' are the only escapes) and
 * PowerShell ('...' in which a quote character, ' or one of the typographic
 * U+2018..U+201B PowerShell also takes for one, is doubled).
 */
int shellquote_append_fish(struct buf *out, const char *s);
int shellquote_append_pwsh(struct buf *out, const char *s);

/*
 * s as one word for a command line a person may paste, in out (n bytes):
 * as it is when it holds only [A-Za-z0-9._-+=@%:,/], else single-quoted;
 * "'...'" when that does not fit.
 */
void shellquote_word(const char *s, char *out, size_t n);

/*
 * Split line into words. On success *ret_argv is a NULL-terminated array
 * (free it with shellquote_argv_free()) and *ret_argc its length, which may
 * be 0 for a blank line.
 * Errors: KR_ERR_PARSE for an unterminated quote or a trailing backslash,
 * KR_ERR_TOOBIG past KR_SHELL_LINE_MAX bytes or max_words words,
 * KR_ERR_NOMEM.
 */
int shellquote_split(const char *line, size_t max_words, char ***ret_argv, size_t *ret_argc);

/* Free an argv from shellquote_split(); NULL is a no-op. */
void shellquote_argv_free(char **argv);

#endif
