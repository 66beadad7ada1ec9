/*
 * Output: the one stderr line of a failure, and stdout written all at once.
 * The contract is in out.h.
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

/* Write the whole line to stderr at once; control characters become spaces. */
static void put_err_line(const char *prefix, const char *fmt, va_list ap)
{
	char line[KR_CLIENT_LINE_MAX];
	size_t n;
	int w;

	w = snprintf(line, sizeof(line), "keyrole: %s", prefix);
	n = (w < 0 || (size_t)w >= sizeof(line)) ? 0 : (size_t)w;
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = strlen(line);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = ' ';
	if (n + 1 < sizeof(line))
		line[n++] = '\n';
	else
		line[n - 1] = '\n';
	(void)proto_write_all(2, line, n, 0);
}

int out_fail(const struct cmd_ctx *x, int err, const char *fmt, ...)
{
	char prefix[KR_NAME_MAX + 8] = "";
	va_list ap;

	if (x && x->profile)
		snprintf(prefix, sizeof(prefix), "%s: ", x->profile);
	va_start(ap, fmt);
	put_err_line(prefix, fmt, ap);
	va_end(ap);
	return cmd_exit_code(err);
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
