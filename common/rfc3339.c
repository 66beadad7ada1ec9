/* RFC 3339 UTC times, read and written; see rfc3339.h. */
#include "rfc3339.h"

#include "err.h"

#include <string.h>

/* Exactly n decimal digits at s into *ret. */
static int digits(const char *s, int n, int *ret)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int rfc3339_parse(const char *s, time_t *ret)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h, m, sec;
	struct tm tm;
	const char *p;
	time_t t;

	if (!s || strnlen(s, 64) < 20 || strnlen(s, 64) >= 64)
		return KR_ERR_PARSE;
	if (digits(s, 4, &Y) < 0 || s[4] != '-' || digits(s + 5, 2, &M) < 0 || s[7] != '-' ||
	    digits(s + 8, 2, &D) < 0 || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) < 0 || s[13] != ':' || digits(s + 14, 2, &m) < 0 ||
	    s[16] != ':' || digits(s + 17, 2, &sec) < 0)
		return KR_ERR_PARSE;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 ||
	    sec > 60)
		return KR_ERR_PARSE;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return KR_ERR_PARSE;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
		return KR_ERR_PARSE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != D) /* 29 Feb of a common year rolls over */
		return KR_ERR_PARSE;
	*ret = t;
	return KR_OK;
}

int rfc3339_format(time_t t, char out[RFC3339_LEN + 1])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    strftime(out, RFC3339_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != RFC3339_LEN)
		return KR_ERR_INVAL;
	return KR_OK;
}
