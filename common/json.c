/*
 * JSON for the client (json.h): parser, tree, builders, printers.
 *
 * Invariants:
 * - Input is bounded before it is looked at: at most KR_JSON_MAX bytes,
 *   KR_JSON_DEPTH_MAX nested containers, KR_JSON_NUMBER_MAX characters in
 *   a number. Every read is checked against the end of the text, which
 *   need not be NUL-terminated.
 * - Only RFC 8259 JSON is accepted: one value, optional whitespace around
 *   it, nothing after it; raw control characters (NUL included) only as
 *   escapes inside strings. Two valid texts are refused on purpose:
 *   "\u0000" (every string is a C string, so no value can hide a NUL that
 *   would cut it short) and numbers beyond the range of a double. Escapes,
 *   surrogate pairs included, become UTF-8; an unpaired surrogate is
 *   refused. Other bytes are copied as they are (UTF-8 is not validated:
 *   the daemon passes file contents through, and a byte we cannot judge is
 *   no reason to fail a credential lookup).
 * - Recursion is bounded: parsing and printing recurse once per level of
 *   nesting, at most KR_JSON_DEPTH_MAX; json_free() does not recurse.
 * - Secrets leave nothing behind: every string, key and node is wiped
 *   before it is freed, on error paths too; text is printed only into a
 *   struct buf (which wipes itself), and a failed print wipes what it
 *   wrote.
 * - What json_print() writes, json_parse() reads back as an equal tree:
 *   every string byte is copied or escaped, and a number is printed with
 *   the fewest digits (%.15g to %.17g) that read back as the same double.
 *   Integers below 1e15 thus print without fraction or exponent.
 * - strtod() and snprintf() assume the "C" locale: the client never calls
 *   setlocale().
 */
#include "json.h"

#include "caps.h"
#include "err.h"
#include "mem.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct json {
	enum json_type type;
	char *key;                 /* member name when in an object, else NULL */
	char *str;                 /* JSON_STRING */
	double num;                /* JSON_NUMBER */
	struct json *child, *last; /* containers: first and last member */
	struct json *next;         /* next member of the same container */
	size_t count;              /* containers: number of members */
};

static struct json *node_new(enum json_type type)
{
	struct json *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

static void append(struct json *container, struct json *item)
{
	item->next = NULL;
	if (container->last)
		container->last->next = item;
	else
		container->child = item;
	container->last = item;
	container->count++;
}

void json_free(struct json *v)
{
	/* Iterative: a node's members are spliced in front of what follows it. */
	while (v) {
		struct json *next = v->next;

		if (v->child) {
			v->last->next = next;
			next = v->child;
		}
		mem_free_str(v->key);
		mem_free_str(v->str);
		mem_free_secret(v, sizeof(*v));
		v = next;
	}
}

/* ---- parsing ---- */

struct parser {
	const char *p;   /* next byte */
	const char *end; /* one past the last byte */
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

/* Four hex digits at p (at least 4 bytes before end) into *ret. */
static int hex4(const char *p, const char *end, unsigned *ret)
{
	unsigned u = 0;

	if (end - p < 4)
		return KR_ERR_PARSE;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		u <<= 4;
		if (c >= '0' && c <= '9')
			u |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			u |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			u |= (unsigned)(c - 'A' + 10);
		else
			return KR_ERR_PARSE;
	}
	*ret = u;
	return KR_OK;
}

int json_u_escape(const char **c, const char *end, unsigned *ret_cp)
{
	unsigned hi, lo;

	if (hex4(*c, end, &hi) < 0)
		return KR_ERR_PARSE;
	*c += 4;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return KR_ERR_PARSE;
	if (hi >= 0xD800 && hi <= 0xDBFF) {
		if (end - *c < 2 || (*c)[0] != '\\' || (*c)[1] != 'u' ||
		    hex4(*c + 2, end, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
			return KR_ERR_PARSE;
		*c += 6;
		hi = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
	}
	*ret_cp = hi;
	return KR_OK;
}

size_t json_put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The two-character escapes: the letter after the backslash, the byte it stands for. */
static const char escapes[][2] = {
    {'"', '"'},  {'\\', '\\'}, {'/', '/'},  {'b', '\b'},
    {'f', '\f'}, {'n', '\n'},  {'r', '\r'}, {'t', '\t'},
};

/* The escape whose letter (side 0) or byte (side 1) is c; NULL if none. */
static const char *find_escape(char c, int side)
{
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
		if (escapes[i][side] == c)
			return escapes[i];
	return NULL;
}

/*
 * The string at ps->p (its opening quote) into a new C string. The span is
 * found first; decoding never writes more bytes than it reads (an escape
 * of 2, 6 or 12 bytes becomes 1 to 4), so the span's size is enough.
 */
static int parse_string(struct parser *ps, char **ret_str)
{
	const char *s = ps->p + 1, *q, *c, *e;
	size_t size;
	char *out, *o;
	unsigned cp;

	for (q = s; q < ps->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20)
			return KR_ERR_PARSE;
		if (*q == '\\' && ++q == ps->end)
			break;
	}
	if (q >= ps->end)
		return KR_ERR_PARSE; /* unterminated */
	size = (size_t)(q - s) + 1;
	out = malloc(size);
	if (!out)
		return KR_ERR_NOMEM;
	for (c = s, o = out; c < q;) {
		if (*c != '\\') {
			*o++ = *c++;
			continue;
		}
		c++; /* the scan above saw a byte after every backslash before q */
		if (*c == 'u') {
			c++;
			if (json_u_escape(&c, q, &cp) < 0 || cp == 0) /* "\u0000" */
				goto fail;
			o += json_put_utf8(o, cp);
			continue;
		}
		e = find_escape(*c, 0);
		if (!e)
			goto fail;
		*o++ = e[1];
		c++;
	}
	*o = '\0';
	ps->p = q + 1;
	*ret_str = out;
	return KR_OK;
fail:
	mem_free_secret(out, size);
	return KR_ERR_PARSE;
}

static int parse_number(struct parser *ps, double *ret_num)
{
	const char *c = ps->p, *end = ps->end;
	char tmp[KR_JSON_NUMBER_MAX + 1], *stop;
	size_t n;
	double d;

	if (c < end && *c == '-')
		c++;
	if (c < end && *c == '0') {
		c++;
	} else if (c < end && is_digit(*c)) {
		while (c < end && is_digit(*c))
			c++;
	} else {
		return KR_ERR_PARSE;
	}
	if (c < end && *c == '.') {
		if (++c == end || !is_digit(*c))
			return KR_ERR_PARSE;
		while (c < end && is_digit(*c))
			c++;
	}
	if (c < end && (*c == 'e' || *c == 'E')) {
		c++;
		if (c < end && (*c == '+' || *c == '-'))
			c++;
		if (c == end || !is_digit(*c))
			return KR_ERR_PARSE;
		while (c < end && is_digit(*c))
			c++;
	}
	n = (size_t)(c - ps->p);
	if (n > KR_JSON_NUMBER_MAX)
		return KR_ERR_TOOBIG;
	/* strtod() needs a NUL after the number; the text may have none. */
	memcpy(tmp, ps->p, n);
	tmp[n] = '\0';
	d = strtod(tmp, &stop);
	if (stop != tmp + n || !isfinite(d))
		return KR_ERR_PARSE;
	ps->p = c;
	*ret_num = d;
	return KR_OK;
}

static int parse_value(struct parser *ps, int depth, struct json **ret_value);

/* An array or object at ps->p; depth counts the containers around it. */
static int parse_container(struct parser *ps, int depth, struct json **ret_value)
{
	int is_obj = *ps->p == '{';
	char close = is_obj ? '}' : ']';
	struct json *v, *item;
	char *key = NULL;
	int r;

	if (depth >= KR_JSON_DEPTH_MAX)
		return KR_ERR_TOOBIG;
	v = node_new(is_obj ? JSON_OBJECT : JSON_ARRAY);
	if (!v)
		return KR_ERR_NOMEM;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		*ret_value = v;
		return KR_OK;
	}
	for (;;) {
		if (is_obj) {
			skip_ws(ps);
			r = ps->p < ps->end && *ps->p == '"' ? parse_string(ps, &key)
			                                     : KR_ERR_PARSE;
			if (r < 0)
				goto fail;
			skip_ws(ps);
			if (ps->p == ps->end || *ps->p != ':') {
				r = KR_ERR_PARSE;
				goto fail;
			}
			ps->p++;
		}
		r = parse_value(ps, depth + 1, &item);
		if (r < 0)
			goto fail;
		item->key = key;
		key = NULL;
		append(v, item);
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		r = KR_ERR_PARSE;
		goto fail;
	}
	*ret_value = v;
	return KR_OK;
fail:
	mem_free_str(key);
	json_free(v);
	return r;
}

static int literal(struct parser *ps, const char *word, enum json_type type,
                   struct json **ret_value)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return KR_ERR_PARSE;
	*ret_value = node_new(type);
	if (!*ret_value)
		return KR_ERR_NOMEM;
	ps->p += n;
	return KR_OK;
}

static int parse_value(struct parser *ps, int depth, struct json **ret_value)
{
	struct json *v;
	char *s;
	double d;
	int r;

	skip_ws(ps);
	if (ps->p == ps->end)
		return KR_ERR_PARSE;
	switch (*ps->p) {
	case '{':
	case '[':
		return parse_container(ps, depth, ret_value);
	case '"':
		r = parse_string(ps, &s);
		if (r < 0)
			return r;
		v = node_new(JSON_STRING);
		if (!v) {
			mem_free_str(s);
			return KR_ERR_NOMEM;
		}
		v->str = s;
		*ret_value = v;
		return KR_OK;
	case 't':
		return literal(ps, "true", JSON_TRUE, ret_value);
	case 'f':
		return literal(ps, "false", JSON_FALSE, ret_value);
	case 'n':
		return literal(ps, "null", JSON_NULL, ret_value);
	default:
		r = parse_number(ps, &d);
		if (r < 0)
			return r;
		v = node_new(JSON_NUMBER);
		if (!v)
			return KR_ERR_NOMEM;
		v->num = d;
		*ret_value = v;
		return KR_OK;
	}
}

int json_parse(const char *text, size_t len, struct json **ret_value)
{
	struct parser ps;
	struct json *v = NULL;
	int r;

	if (!text)
		return KR_ERR_PARSE;
	if (len > KR_JSON_MAX)
		return KR_ERR_TOOBIG;
	ps.p = text;
	ps.end = text + len;
	r = parse_value(&ps, 0, &v);
	if (r == KR_OK) {
		skip_ws(&ps);
		if (ps.p != ps.end) {
			json_free(v);
			r = KR_ERR_PARSE; /* trailing garbage */
		}
	}
	if (r == KR_OK)
		*ret_value = v;
	return r;
}

/* ---- reading ---- */

enum json_type json_type(const struct json *v)
{
	return v ? v->type : JSON_NONE;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT || !key)
		return NULL;
	for (const struct json *it = obj->child; it; it = it->next)
		if (strcmp(it->key, key) == 0)
			return it;
	return NULL;
}

const char *json_str(const struct json *v)
{
	return v && v->type == JSON_STRING ? v->str : NULL;
}

const char *json_get_str(const struct json *obj, const char *key)
{
	return json_str(json_get(obj, key));
}

double json_num(const struct json *v)
{
	return v && v->type == JSON_NUMBER ? v->num : 0;
}

size_t json_count(const struct json *v)
{
	return v ? v->count : 0;
}

const struct json *json_first(const struct json *container)
{
	return container ? container->child : NULL;
}

const struct json *json_next(const struct json *item)
{
	return item ? item->next : NULL;
}

const char *json_key(const struct json *item)
{
	return item ? item->key : NULL;
}

/* ---- building ---- */

struct json *json_new_object(void)
{
	return node_new(JSON_OBJECT);
}

/* Append v (owned: freed on failure; NULL means allocation failed) as key. */
static int add_member(struct json *obj, const char *key, struct json *v)
{
	if (!v)
		return KR_ERR_NOMEM;
	if (!obj || obj->type != JSON_OBJECT || !key) {
		json_free(v);
		return KR_ERR_INVAL;
	}
	v->key = strdup(key);
	if (!v->key) {
		json_free(v);
		return KR_ERR_NOMEM;
	}
	append(obj, v);
	return KR_OK;
}

int json_add_str(struct json *obj, const char *key, const char *s)
{
	struct json *v;

	if (!s)
		return KR_ERR_INVAL;
	v = node_new(JSON_STRING);
	if (v) {
		v->str = strdup(s);
		if (!v->str) {
			json_free(v);
			v = NULL;
		}
	}
	return add_member(obj, key, v);
}

int json_add_num(struct json *obj, const char *key, double d)
{
	struct json *v;

	if (!isfinite(d))
		return KR_ERR_INVAL; /* JSON has no NaN or infinity */
	v = node_new(JSON_NUMBER);
	if (v)
		v->num = d;
	return add_member(obj, key, v);
}

int json_add_bool(struct json *obj, const char *key, int b)
{
	return add_member(obj, key, node_new(b ? JSON_TRUE : JSON_FALSE));
}

int json_add_object(struct json *obj, const char *key, struct json **ret_child)
{
	struct json *v = node_new(JSON_OBJECT);
	int r = add_member(obj, key, v);

	if (r == KR_OK)
		*ret_child = v;
	return r;
}

void json_remove(struct json *obj, const char *key)
{
	struct json *prev = NULL, *it, *next;

	if (!obj || obj->type != JSON_OBJECT || !key)
		return;
	for (it = obj->child; it; it = next) {
		next = it->next;
		if (strcmp(it->key, key) != 0) {
			prev = it;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			obj->child = next;
		if (obj->last == it)
			obj->last = prev;
		obj->count--;
		it->next = NULL;
		json_free(it);
	}
}

/* ---- printing ---- */

/*
 * The length of the run at s (len bytes) that needs no escape: up to '"',
 * '\\' or a control character. Eight bytes at a time while no byte of the
 * word can need one (the "has a byte less than n" test of a 64-bit word is
 * exact about whether one does), then byte by byte. strcspn() with the
 * 33-byte set was most of a daemon reply's cost.
 */
static size_t plain_run(const char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w, q, b;

		memcpy(&w, s + i, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
			break;
	}
	while (i < len && (unsigned char)s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

static int print_str(const char *s, struct buf *out)
{
	size_t len = strlen(s);
	int r = buf_putc(out, '"');

	while (r == KR_OK && *s) {
		const char *e;
		/* A run of bytes that need no escape goes in one append. */
		size_t n = plain_run(s, len);

		if (n) {
			r = buf_append(out, s, n);
			s += n;
			len -= n;
			continue;
		}
		/* '"', '\\' or a control character ('/' is never escaped). */
		e = find_escape(*s, 1);
		if (e)
			r = buf_printf(out, "\\%c", e[0]);
		else
			r = buf_printf(out, "\\u%04x", (unsigned char)*s);
		s++;
		len--;
	}
	if (r == KR_OK)
		r = buf_putc(out, '"');
	return r;
}

static int print_num(double d, struct buf *out)
{
	char tmp[32];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	return buf_puts(out, tmp);
}

static int newline_indent(int level, struct buf *out)
{
	int r = buf_putc(out, '\n');

	for (int i = 0; r == KR_OK && i < level; i++)
		r = buf_puts(out, "  ");
	return r;
}

/* depth counts the containers around v. */
static int print_value(const struct json *v, unsigned flags, int depth, struct buf *out)
{
	int pretty = (flags & JSON_PRETTY) != 0, r;

	switch (v->type) {
	case JSON_NULL:
		return buf_puts(out, "null");
	case JSON_FALSE:
		return buf_puts(out, "false");
	case JSON_TRUE:
		return buf_puts(out, "true");
	case JSON_NUMBER:
		return print_num(v->num, out);
	case JSON_STRING:
		return print_str(v->str, out);
	case JSON_ARRAY:
	case JSON_OBJECT:
		break;
	default:
		return KR_ERR_INTERNAL;
	}
	if (depth >= KR_JSON_DEPTH_MAX)
		return KR_ERR_TOOBIG; /* what we print, we can parse */
	r = buf_putc(out, v->type == JSON_OBJECT ? '{' : '[');
	for (const struct json *it = v->child; r == KR_OK && it; it = it->next) {
		if (it != v->child)
			r = buf_putc(out, ',');
		if (r == KR_OK && pretty)
			r = newline_indent(depth + 1, out);
		if (r == KR_OK && v->type == JSON_OBJECT) {
			r = print_str(it->key, out);
			if (r == KR_OK)
				r = buf_puts(out, pretty ? ": " : ":");
		}
		if (r == KR_OK)
			r = print_value(it, flags, depth + 1, out);
	}
	if (r == KR_OK && pretty && v->child)
		r = newline_indent(depth, out);
	if (r == KR_OK)
		r = buf_putc(out, v->type == JSON_OBJECT ? '}' : ']');
	return r;
}

int json_print(const struct json *v, unsigned flags, struct buf *out)
{
	size_t start = out->len;
	int r;

	if (!v)
		return KR_ERR_INVAL;
	r = print_value(v, flags, 0, out);
	if (r < 0)
		buf_truncate(out, start);
	return r;
}

/* ---- the streaming writer ---- */

void json_w_init(struct json_writer *w, struct buf *out)
{
	w->out = out;
	w->err = KR_OK;
	w->depth = 0;
	w->first[0] = 1;
}

/* The comma and "key": before a value at the current level. */
static void w_prefix(struct json_writer *w, const char *key)
{
	if (w->err)
		return;
	if (!w->first[w->depth])
		w->err = buf_putc(w->out, ',');
	w->first[w->depth] = 0;
	if (w->err == KR_OK && key) {
		w->err = print_str(key, w->out);
		if (w->err == KR_OK)
			w->err = buf_putc(w->out, ':');
	}
}

static void w_open(struct json_writer *w, const char *key, char c)
{
	w_prefix(w, key);
	if (w->err)
		return;
	if (w->depth >= KR_JSON_DEPTH_MAX) {
		w->err = KR_ERR_TOOBIG;
		return;
	}
	w->err = buf_putc(w->out, c);
	w->first[++w->depth] = 1;
}

static void w_close(struct json_writer *w, char c)
{
	if (w->err)
		return;
	if (w->depth == 0) {
		w->err = KR_ERR_INTERNAL;
		return;
	}
	w->depth--;
	w->err = buf_putc(w->out, c);
}

void json_w_begin_object(struct json_writer *w, const char *key)
{
	w_open(w, key, '{');
}

void json_w_end_object(struct json_writer *w)
{
	w_close(w, '}');
}

void json_w_begin_array(struct json_writer *w, const char *key)
{
	w_open(w, key, '[');
}

void json_w_end_array(struct json_writer *w)
{
	w_close(w, ']');
}

void json_w_str(struct json_writer *w, const char *key, const char *s)
{
	w_prefix(w, key);
	if (w->err == KR_OK)
		w->err = print_str(s ? s : "", w->out);
}

void json_w_str_opt(struct json_writer *w, const char *key, const char *s)
{
	if (s)
		json_w_str(w, key, s);
}

void json_w_int(struct json_writer *w, const char *key, long long v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	w_prefix(w, key);
	if (w->err)
		return;
	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) > 0);
	if (v < 0)
		*--p = '-';
	w->err = buf_append(w->out, p, (size_t)(tmp + sizeof(tmp) - p));
}

void json_w_bool(struct json_writer *w, const char *key, int b)
{
	w_prefix(w, key);
	if (w->err == KR_OK)
		w->err = buf_puts(w->out, b ? "true" : "false");
}

int json_w_end(struct json_writer *w)
{
	if (w->err == KR_OK && w->depth != 0)
		w->err = KR_ERR_INTERNAL;
	return w->err;
}
