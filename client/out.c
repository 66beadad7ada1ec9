/*
 * Output: the one stderr line of a failure or warning, stdout text scrubbed
 * of control characters, and stdout written all at once. The contract is in
 * out.h.
 */
#include "out.h"

#include "buf.h"
#include "caps.h"
#include "err.h"
#include "proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Turn every control character of s (n bytes) into a space, byte for byte:
 * C0 and DEL, and the C1 controls in their UTF-8 form (0xc2 0x80..0x9f),
 * which some terminals obey as they do ESC [. Other bytes stay.
 */
static void scrub(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			s[i] = ' ';
		} else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
		           (unsigned char)s[i + 1] <= 0x9f) {
			s[i] = ' ';
			s[++i] = ' ';
		}
	}
}

/* Write one whole line to fd at once, scrubbed: prefix, then fmt. */
static void put_line(int fd, const char *prefix, const char *fmt, va_list ap)
{
	char line[KR_CLIENT_LINE_MAX];
	size_t n;
	int w;

	w = snprintf(line, sizeof(line), "%s", prefix);
	n = (w < 0 || (size_t)w >= sizeof(line)) ? 0 : (size_t)w;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	scrub(line, n);
	if (n + 1 < sizeof(line))
		line[n++] = '\n';
	else
		line[n - 1] = '\n';
	(void)proto_write_all(fd, line, n, 0);
}

/* Write one whole line to stderr at once, scrubbed. */
static void put_err_line(const char *prefix, const char *fmt, va_list ap)
{
	char head[KR_NAME_MAX + 32];

	snprintf(head, sizeof(head), "keyrole: %s", prefix);
	put_line(2, head, fmt, ap);
}

/* put_err_line() with the profile of x (if any) as the prefix. */
static void put_profile_line(const struct cmd_ctx *x, const char *fmt, va_list ap)
{
	char prefix[KR_NAME_MAX + 8] = "";

	if (x && x->profile)
		snprintf(prefix, sizeof(prefix), "%s: ", x->profile);
	put_err_line(prefix, fmt, ap);
}

int out_fail(const struct cmd_ctx *x, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_profile_line(x, fmt, ap);
	va_end(ap);
	return cmd_exit_code(err);
}

void out_warn(const struct cmd_ctx *x, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_profile_line(x, fmt, ap);
	va_end(ap);
}

void out_notice(int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	put_line(fd, "", fmt, ap);
	va_end(ap);
}

static int out_vprintf(struct cmd_ctx *x, const char *fmt, va_list ap)
{
	size_t start = x->out.len;
	int r = buf_vprintf(&x->out, fmt, ap);

	if (r == KR_OK && x->out.len > start)
		scrub(x->out.data + start, x->out.len - start);
	return r;
}

int out_printf(struct cmd_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = out_vprintf(x, fmt, ap);
	va_end(ap);
	return r;
}

int out_line(struct cmd_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = out_vprintf(x, fmt, ap);
	va_end(ap);
	return r == KR_OK ? out_eol(x) : r;
}

int out_eol(struct cmd_ctx *x)
{
	return buf_putc(&x->out, '\n');
}

int out_emit(struct cmd_ctx *x)
{
	int r;

	if (x->out.len == 0)
		return CMD_EXIT_OK;
	errno = 0;
	r = proto_write_all(1, x->out.data, x->out.len, 0);
	buf_reset(&x->out);
	if (r < 0)
		return out_fail(x, KR_ERR_IO, "cannot write to standard output: %s",
		                errno ? strerror(errno) : err_str(r));
	return CMD_EXIT_OK;
}

int out_json(struct cmd_ctx *x, const struct json *item)
{
	int r = json_print(item, JSON_PRETTY, &x->out);

	if (r == KR_OK)
		r = buf_putc(&x->out, '\n');
	if (r < 0)
		return out_fail(x, r, "%s", err_str(r));
	return out_emit(x);
}
