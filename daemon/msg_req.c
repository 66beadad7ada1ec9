/*
 * Requests off the wire: one pass over the body's JSON, no tree. A
 * request is a flat object (doc/protocol.txt); the strings it keeps are
 * located in the first pass (their text between the quotes, escapes still
 * in) and decoded straight into the request's one block in the second.
 * Everything else in the object is checked as JSON and skipped, so newer
 * clients may send members this daemon does not know.
 *
 * This replaced cJSON on the request path: building and wiping a tree of
 * a dozen nodes was half of the daemon's work per cached answer.
 *
 * Rules (RFC 8259, strictly): one object and nothing after it but white
 * space; strings with valid escapes, no raw control characters and no
 * lone surrogate; nesting at most KR_JSON_DEPTH_MAX. For duplicate
 * members the first one counts. A NUL byte, raw or "\u0000", anywhere is
 * refused (C would see only the start of the string).
 */
#include "msg.h"

#include "caps.h"
#include "err.h"
#include "json.h"
#include "mem.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A string's text between its quotes, escapes not yet undone. */
struct span {
	const char *raw; /* NULL: absent */
	size_t len;
	int esc; /* it has escapes */
};

struct reader {
	const char *p, *end;
	int nul; /* a "\u0000" was seen */
};

/* The top-level strings a request keeps, and where they go. */
static const struct {
	const char *key;
	size_t offset; /* of a const char * in struct request */
} str_fields[] = {
    {"op", offsetof(struct request, op_name)},
    {"profile", offsetof(struct request, profile)},
    {"mfa_code", offsetof(struct request, mfa_code)},
    {"access_key_id", offsetof(struct request, access_key_id)},
    {"secret_access_key", offsetof(struct request, secret_access_key)},
    {"session", offsetof(struct request, session)},
    {"login_id", offsetof(struct request, login_id)},
    {"destination", offsetof(struct request, destination)},
    {"as", offsetof(struct request, as)},
    {"keyrole", offsetof(struct request, keyrole)},
};
#define N_STR (sizeof(str_fields) / sizeof(str_fields[0]))

/* The flags: true sets them, anything else leaves them 0. */
static const struct {
	const char *key;
	size_t offset; /* of an int in struct request */
} bool_fields[] = {
    {"all", offsetof(struct request, all)},     {"verify", offsetof(struct request, verify)},
    {"force", offsetof(struct request, force)}, {"exec", offsetof(struct request, exec)},
    {"move", offsetof(struct request, move)},
};
#define N_BOOL (sizeof(bool_fields) / sizeof(bool_fields[0]))

static void skip_ws(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int peek(struct reader *r)
{
	skip_ws(r);
	return r->p < r->end ? (unsigned char)*r->p : -1;
}

static int expect(struct reader *r, char c)
{
	if (peek(r) != (unsigned char)c)
		return -1;
	r->p++;
	return 0;
}

/* A "\uXXXX" at p (after the backslash, at the 'u'): the code point and the text it took. */
static int read_u(const char *p, const char *end, unsigned *ret_cp, size_t *ret_n)
{
	const char *c = p + 1;

	if (json_u_escape(&c, end, ret_cp) < 0)
		return -1;
	*ret_n = (size_t)(c - p);
	return 0;
}

/* The string at r->p (its opening quote): checked, its span in out. */
static int read_string(struct reader *r, struct span *out)
{
	const char *p, *end = r->end, *start;
	int esc = 0;

	if (peek(r) != '"')
		return -1;
	start = p = r->p + 1; /* a local cursor: r->p would be reloaded after every char store */
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		unsigned cp;
		size_t n;

		if (c >= 0x20 && c != '"' && c != '\\') {
			p++;
			continue;
		}
		if (c == '"') {
			out->raw = start;
			out->len = (size_t)(p - start);
			out->esc = esc;
			r->p = p + 1;
			return 0;
		}
		if (c < 0x20 || end - p < 2)
			return -1;
		esc = 1;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			p += 2;
			break;
		case 'u':
			if (read_u(p + 1, end, &cp, &n) < 0)
				return -1;
			r->nul |= cp == 0;
			p += 1 + n;
			break;
		default:
			return -1;
		}
	}
	return -1;
}

/* Put c at dst[n] (dst NULL: only count). */
static void put_byte(char *dst, size_t *n, unsigned c)
{
	if (dst)
		dst[*n] = (char)c;
	(*n)++;
}

/*
 * Undo a checked span's escapes into dst (room for s->len bytes: an escape
 * only shortens), or only count with dst NULL. Returns the length.
 */
static size_t unescape(const struct span *s, char *dst)
{
	const char *p = s->raw, *end = s->raw + s->len;
	size_t n = 0;

	if (!s->esc) {
		if (dst)
			memcpy(dst, s->raw, s->len);
		return s->len;
	}
	while (p < end) {
		static const char from[] = "bfnrt", to[] = "\b\f\n\r\t";
		const char *esc;
		char u8[4];
		unsigned cp = 0;
		size_t used = 6, u8len;

		if (*p != '\\') {
			put_byte(dst, &n, (unsigned char)*p++);
			continue;
		}
		if (p[1] != 'u') {
			esc = strchr(from, p[1]);
			put_byte(dst, &n,
			         esc ? (unsigned char)to[esc - from] : (unsigned char)p[1]);
			p += 2;
			continue;
		}
		(void)read_u(p + 1, end, &cp, &used); /* checked by read_string */
		p += 1 + used;
		u8len = json_put_utf8(u8, cp);
		for (size_t i = 0; i < u8len; i++)
			put_byte(dst, &n, (unsigned char)u8[i]);
	}
	return n;
}

/* A member's name, its escapes undone (a long one is left empty: it names nothing of ours). */
struct key {
	const char *s;
	size_t n;
	char tmp[64];
};

static void key_of(const struct span *sp, struct key *k)
{
	k->s = sp->raw;
	k->n = sp->len;
	if (!sp->esc)
		return;
	k->s = k->tmp;
	k->n = unescape(sp, NULL) <= sizeof(k->tmp) ? unescape(sp, k->tmp) : 0;
}

static int key_is(const struct key *k, const char *name)
{
	return k->n == strlen(name) && memcmp(k->s, name, k->n) == 0;
}

static int read_literal(struct reader *r, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return -1;
	r->p += n;
	return 0;
}

static int skip_digits(struct reader *r)
{
	const char *s = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > s ? 0 : -1;
}

/* A number (RFC 8259's grammar): its text in *ret_s, *ret_n. */
static int read_number(struct reader *r, const char **ret_s, size_t *ret_n)
{
	const char *s = r->p;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (skip_digits(r) < 0)
		return -1;
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (skip_digits(r) < 0)
			return -1;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (skip_digits(r) < 0)
			return -1;
	}
	*ret_s = s;
	*ret_n = (size_t)(r->p - s);
	return 0;
}

static int skip_value(struct reader *r, int depth)
{
	struct span s;
	const char *ns;
	size_t nn;
	int c = peek(r), close;

	switch (c) {
	case '"':
		return read_string(r, &s);
	case 't':
		return read_literal(r, "true");
	case 'f':
		return read_literal(r, "false");
	case 'n':
		return read_literal(r, "null");
	case '{':
	case '[':
		break;
	default:
		return read_number(r, &ns, &nn);
	}
	if (depth >= KR_JSON_DEPTH_MAX)
		return -1;
	close = c == '{' ? '}' : ']';
	r->p++;
	if (peek(r) == close) {
		r->p++;
		return 0;
	}
	for (;;) {
		if (c == '{' && (read_string(r, &s) < 0 || expect(r, ':') < 0))
			return -1;
		if (skip_value(r, depth + 1) < 0)
			return -1;
		if (peek(r) == ',') {
			r->p++;
			continue;
		}
		return expect(r, (char)close);
	}
}

/* What the first pass found. */
struct found {
	struct span str[N_STR];
	struct span env[KR_ENV_MAX];
	unsigned char str_seen[N_STR], bool_seen[N_BOOL];
	int v_seen, v_ok; /* "v" came, and the first one is our version */
	int env_seen, duration_seen;
	int env_bad; /* "env" is not an object of at most KR_ENV_MAX strings */
	size_t n_env;
};

/* "v": a number equal to KR_PROTO_VERSION, however it is written ("1", "1.0", "1e0"). */
static int read_version(struct reader *r, struct found *f)
{
	const char *s;
	size_t n;
	char tmp[32];

	if (read_number(r, &s, &n) < 0)
		return -1;
	if (n < sizeof(tmp)) {
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		f->v_ok = strtod(tmp, NULL) == KR_PROTO_VERSION;
	}
	return 0;
}

/* "duration": a whole number of seconds, 1 .. KR_DURATION_MAX; anything else is -1 (refused). */
static int read_duration(struct reader *r, struct request *req)
{
	const char *s;
	size_t n;
	long v = 0;

	if (peek(r) != '-' && (peek(r) < '0' || peek(r) > '9')) {
		req->duration = -1;
		return skip_value(r, 1);
	}
	if (read_number(r, &s, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > KR_DURATION_MAX) {
			req->duration = -1;
			return 0;
		}
		v = v * 10 + (s[i] - '0');
	}
	req->duration = v >= 1 && v <= KR_DURATION_MAX ? v : -1;
	return 0;
}

static int read_env(struct reader *r, struct found *f)
{
	struct span ks, v;
	struct key k;

	if (peek(r) != '{') {
		f->env_bad = 1;
		return skip_value(r, 1);
	}
	r->p++;
	if (peek(r) == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		if (read_string(r, &ks) < 0 || expect(r, ':') < 0)
			return -1;
		if (peek(r) == '"') {
			if (read_string(r, &v) < 0)
				return -1;
			key_of(&ks, &k);
			/* Only the honoured variables; the first of a name counts. */
			for (size_t i = 0; i < caller_env_n_fields && i < KR_ENV_MAX; i++)
				if (key_is(&k, caller_env_fields[i].name)) {
					if (!f->env[i].raw)
						f->env[i] = v;
					break;
				}
			f->env_bad |= v.len > KR_VALUE_MAX && unescape(&v, NULL) > KR_VALUE_MAX;
		} else {
			f->env_bad = 1;
			if (skip_value(r, 2) < 0)
				return -1;
		}
		f->env_bad |= ++f->n_env > KR_ENV_MAX;
		if (peek(r) == ',') {
			r->p++;
			continue;
		}
		return expect(r, '}');
	}
}

/* One member of the request object: kept, or checked and skipped. */
static int read_member(struct reader *r, const struct key *k, struct request *req, struct found *f)
{
	int c = peek(r);

	for (size_t i = 0; i < N_STR; i++) {
		if (!key_is(k, str_fields[i].key))
			continue;
		if (f->str_seen[i]++ || c != '"') /* the first counts; not a string: absent */
			return skip_value(r, 1);
		return read_string(r, &f->str[i]);
	}
	for (size_t i = 0; i < N_BOOL; i++) {
		if (!key_is(k, bool_fields[i].key))
			continue;
		if (f->bool_seen[i]++ || c != 't')
			return skip_value(r, 1);
		*(int *)((char *)req + bool_fields[i].offset) = 1;
		return read_literal(r, "true");
	}
	if (key_is(k, "v") && !f->v_seen++ && (c == '-' || (c >= '0' && c <= '9')))
		return read_version(r, f);
	if (key_is(k, "duration") && !f->duration_seen++)
		return read_duration(r, req);
	if (key_is(k, "env"))
		return f->env_seen++ ? skip_value(r, 1) : read_env(r, f);
	return skip_value(r, 1);
}

/* The first pass: the whole body, one object; spans of what is kept. */
static int scan(struct reader *r, struct request *req, struct found *f)
{
	struct span ks;
	struct key k;

	if (expect(r, '{') < 0)
		return -1;
	if (peek(r) == '}') {
		r->p++;
	} else {
		for (;;) {
			if (read_string(r, &ks) < 0 || expect(r, ':') < 0)
				return -1;
			key_of(&ks, &k);
			if (read_member(r, &k, req, f) < 0)
				return -1;
			if (peek(r) != ',')
				break;
			r->p++;
		}
		if (expect(r, '}') < 0)
			return -1;
	}
	skip_ws(r);
	return r->p == r->end ? 0 : -1;
}

static const char *put(char **p, const struct span *s)
{
	char *start = *p;

	*p += unescape(s, start);
	*(*p)++ = '\0';
	return start;
}

int msg_decode_request(const char *body, size_t len, struct request *ret, struct err_detail *e)
{
	struct reader rd = {.p = body, .end = body + len};
	struct found f;
	struct request r;
	size_t total = 0;
	char *p;
	int bad;

	memset(ret, 0, sizeof(*ret));
	memset(&r, 0, sizeof(r));
	memset(&f, 0, sizeof(f));
	bad = memchr(body, '\0', len) != NULL;
	if (!bad && scan(&rd, &r, &f) < 0) {
		if (!rd.nul) {
			err_set(e, KR_ERR_PROTO, NULL, 0, NULL, "request is not a JSON object");
			return KR_ERR_PROTO;
		}
	}
	if (bad || rd.nul) {
		err_set(e, KR_ERR_INVAL, NULL, 0, NULL, "a string in the request holds a NUL byte");
		return KR_ERR_INVAL;
	}
	if (!f.v_ok) {
		err_set(e, KR_ERR_VERSION, NULL, 0, NULL,
		        "unsupported protocol version (upgrade keyrole and keyroled together)");
		return KR_ERR_VERSION;
	}
	if (f.env_bad) {
		err_set(
		    e, KR_ERR_INVAL, NULL, 0, NULL,
		    "bad \"env\" in request (an object of at most %d strings of at most %d bytes)",
		    KR_ENV_MAX, KR_VALUE_MAX);
		return KR_ERR_INVAL;
	}
	for (size_t i = 0; i < N_STR; i++)
		total += f.str[i].raw ? f.str[i].len + 1 : 0;
	for (size_t i = 0; i < caller_env_n_fields && i < KR_ENV_MAX; i++)
		total += f.env[i].raw ? f.env[i].len + 1 : 0;
	r.strings_len = total ? total : 1;
	r.strings = mem_secret_alloc(r.strings_len);
	if (!r.strings) {
		err_set_code(e, KR_ERR_NOMEM);
		return KR_ERR_NOMEM;
	}
	p = r.strings;
	for (size_t i = 0; i < N_STR; i++)
		if (f.str[i].raw)
			*(const char **)((char *)&r + str_fields[i].offset) = put(&p, &f.str[i]);
	for (size_t i = 0; i < caller_env_n_fields && i < KR_ENV_MAX; i++)
		if (f.env[i].raw)
			*(const char **)((char *)&r.env + caller_env_fields[i].offset) =
			    put(&p, &f.env[i]);
	r.op = msg_op_from_name(r.op_name);
	*ret = r;
	return KR_OK;
}
