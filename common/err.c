#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	const char *text;
} table[] = {
    [0] = {"ok", "success"},
    [1] = {"nomem", "out of memory"},
    [2] = {"inval", "invalid argument"},
    [3] = {"io", "input/output error"},
    [4] = {"toobig", "message too large"},
    [5] = {"proto", "protocol error"},
    [6] = {"version", "unsupported protocol version"},
    [7] = {"timeout", "timed out"},
    [8] = {"nodaemon", "keyroled is not running"},
    [9] = {"perm", "permission denied"},
    [10] = {"busy", "too many connections"},
    [11] = {"unknown_op", "unknown operation"},
    [12] = {"noprofile", "profile not found"},
    [13] = {"config", "configuration error"},
    [14] = {"mfa", "MFA code required"},
    [15] = {"aws", "AWS returned an error"},
    [16] = {"network", "cannot reach STS"},
    [17] = {"parse", "cannot parse response"},
    [18] = {"keyring", "keyring error"},
    [19] = {"process", "external process failed"},
    [20] = {"unsupported", "not supported"},
    [21] = {"nocreds", "no credentials found"},
    [22] = {"internal", "internal error"},
    [23] = {"expired", "credentials expired"},
    [24] = {"tls", "TLS certificate or handshake failure"},
    [25] = {"login", "an IAM Identity Center login is needed"},
};

_Static_assert(sizeof(table) / sizeof(table[0]) == (unsigned)-KR_ERR__LAST,
               "err table out of step with enum");

static int index_of(int err)
{
	if (err > 0 || err <= KR_ERR__LAST)
		return -KR_ERR_INTERNAL;
	return -err;
}

const char *err_str(int err)
{
	return table[index_of(err)].text;
}

const char *err_name(int err)
{
	return table[index_of(err)].name;
}

int err_from_name(const char *name)
{
	if (!name)
		return KR_ERR_INTERNAL;
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0)
			return -(int)i;
	return KR_ERR_INTERNAL;
}

void err_vset(struct err_detail *e, int code, const char *file, int line, const char *fix,
              const char *fmt, va_list ap)
{
	e->code = code;
	e->line = line;
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	snprintf(e->fix, sizeof(e->fix), "%s", fix ? fix : "");
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

void err_set(struct err_detail *e, int code, const char *file, int line, const char *fix,
             const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, code, file, line, fix, fmt, ap);
	va_end(ap);
}

void err_set_code(struct err_detail *e, int code)
{
	err_set(e, code, NULL, 0, NULL, "%s", err_str(code));
}

void err_format(const struct err_detail *e, char *out, size_t n)
{
	const char *msg = e->msg[0] ? e->msg : err_str(e->code);
	const char *open = e->fix[0] ? " (" : "", *close = e->fix[0] ? ")" : "";

	if (e->file[0] && e->line > 0)
		snprintf(out, n, "%s:%d: %s%s%s%s", e->file, e->line, msg, open, e->fix, close);
	else if (e->file[0])
		snprintf(out, n, "%s: %s%s%s%s", e->file, msg, open, e->fix, close);
	else
		snprintf(out, n, "%s%s%s%s", msg, open, e->fix, close);
}
