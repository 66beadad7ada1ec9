#include "shellquote.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int shellquote_append(struct buf *out, const char *s)
{
	int r;

	r = buf_putc(out, '\'');
	for (const char *p = s; r == KR_OK && *p; p++) {
		if (*p == '\'')
			r = buf_puts(out, "'\\''"); /* close, escaped quote, reopen */
		else
			r = buf_putc(out, *p);
	}
	if (r == KR_OK)
		r = buf_putc(out, '\'');
	return r;
}

int shellquote_append_fish(struct buf *out, const char *s)
{
	int r;

	r = buf_putc(out, '\'');
	for (const char *p = s; r == KR_OK && *p; p++) {
		if (*p == '\'' || *p == '\\')
			r = buf_putc(out, '\\'); /* fish: only \' and \\ are escapes in '...' */
		if (r == KR_OK)
			r = buf_putc(out, *p);
	}
	if (r == KR_OK)
		r = buf_putc(out, '\'');
	return r;
}

/* PowerShell's single quotes: ' and the typographic U+2018..U+201B. */
static size_t pwsh_quote_len(const char *p)
{
	if (*p == '\'')
		return 1;
	if ((unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
	    (unsigned char)p[2] >= 0x98 && (unsigned char)p[2] <= 0x9b)
		return 3;
	return 0;
}

int shellquote_append_pwsh(struct buf *out, const char *s)
{
	int r;

	r = buf_putc(out, '\'');
	for (const char *p = s; r == KR_OK && *p;) {
		size_t q = pwsh_quote_len(p);

		if (q) {
			/* A quote character inside '...' is written twice. */
			r = buf_append(out, p, q);
			if (r == KR_OK)
				r = buf_append(out, p, q);
			p += q;
		} else {
			r = buf_putc(out, *p++);
		}
	}
	if (r == KR_OK)
		r = buf_putc(out, '\'');
	return r;
}

void shellquote_word(const char *s, char *out, size_t n)
{
	struct buf b;

	if (n == 0)
		return;
	if (s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	                "._-+=@%:,/")] == '\0') {
		snprintf(out, n, "%s", s);
		return;
	}
	buf_init(&b, n);
	if (shellquote_append(&b, s) == KR_OK && b.data)
		snprintf(out, n, "%s", b.data);
	else
		snprintf(out, n, "'...'");
	buf_free(&b);
}

void shellquote_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finish the word in cur: move it into argv[*argc]. */
static int push_word(struct buf *cur, char **argv, size_t max_words, size_t *argc)
{
	char *w;

	if (*argc >= max_words)
		return KR_ERR_TOOBIG;
	w = buf_steal(cur, NULL); /* "" for an empty quoted word ('') */
	if (!w)
		return KR_ERR_NOMEM;
	argv[(*argc)++] = w;
	return KR_OK;
}

int shellquote_split(const char *line, size_t max_words, char ***ret_argv, size_t *ret_argc)
{
	enum { OUT, WORD, SQ, DQ } st = OUT;
	struct buf cur;
	char **argv = NULL;
	size_t argc = 0, len, slots;
	int r = KR_OK;

	buf_init(&cur, KR_SHELL_LINE_MAX);
	len = strnlen(line, KR_SHELL_LINE_MAX + 1);
	if (len > KR_SHELL_LINE_MAX || max_words > KR_SHELL_WORDS_MAX) {
		r = KR_ERR_TOOBIG;
		goto out;
	}
	/* A line of len bytes has at most len/2+1 words: no bigger array than that. */
	slots = max_words < len / 2 + 1 ? max_words : len / 2 + 1;
	argv = calloc(slots + 1, sizeof(*argv));
	if (!argv) {
		r = KR_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < len && r == KR_OK; i++) {
		char c = line[i];

		switch (st) {
		case OUT:
		case WORD:
			if (is_blank(c)) {
				if (st == WORD)
					r = push_word(&cur, argv, slots, &argc);
				st = OUT;
			} else if (c == '\'') {
				st = SQ;
			} else if (c == '"') {
				st = DQ;
			} else if (c == '\\') {
				/* shlex: any next character, newline included, is literal */
				if (i + 1 >= len) {
					r = KR_ERR_PARSE;
				} else {
					r = buf_putc(&cur, line[++i]);
					st = WORD;
				}
			} else {
				r = buf_putc(&cur, c);
				st = WORD;
			}
			break;
		case SQ:
			/* Nothing is special inside single quotes. */
			if (c == '\'')
				st = WORD;
			else
				r = buf_putc(&cur, c);
			break;
		case DQ:
			if (c == '"') {
				st = WORD;
			} else if (c == '\\' && i + 1 < len &&
			           (line[i + 1] == '"' || line[i + 1] == '\\')) {
				/* shlex: inside "..." only \" and \\ are escapes */
				r = buf_putc(&cur, line[++i]);
			} else {
				r = buf_putc(&cur, c);
			}
			break;
		}
	}
	if (r == KR_OK && (st == SQ || st == DQ))
		r = KR_ERR_PARSE;
	if (r == KR_OK && st == WORD)
		r = push_word(&cur, argv, slots, &argc);
	if (r == KR_OK) {
		*ret_argv = argv;
		*ret_argc = argc;
		argv = NULL;
	}
out:
	shellquote_argv_free(argv);
	buf_free(&cur);
	return r;
}
