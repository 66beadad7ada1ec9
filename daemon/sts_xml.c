/*
 * STS XML response parser (the only expat user).
 *
 * Invariants:
 * - The body is untrusted. We refuse DTDs (so no entity expansion at all),
 *   cap nesting at KR_STS_XML_DEPTH and every captured text at
 *   KR_STS_XML_TEXT_MAX, and stop the parser at the first problem.
 * - Only the text of elements we want is collected, in a secret struct buf
 *   (secure heap in keyroled); the access key id, secret key and session
 *   token are copied into secret memory (mem_secret_alloc()), every value
 *   is freed with mem_free_str().
 * - expat's own blocks (its copy of the body among them) are wiped when it
 *   frees them: the parser is made with mem.c's wiping allocators.
 * - Error messages never quote the body (it may hold a secret).
 */
#include "sts_xml.h"

#include "rfc3339.h"

#include "buf.h"
#include "err.h"
#include "mem.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Which field an element's text goes to. */
enum field {
	F_NONE = 0,
	F_AKID,
	F_SECRET,
	F_TOKEN,
	F_EXPIRATION,
	F_ARN,
	F_ACCOUNT,
	F_USER_ID,
	F_CODE,
	F_MESSAGE,
};

struct pstate {
	XML_Parser p;
	int depth;                        /* open elements */
	char names[KR_STS_XML_DEPTH][64]; /* local names of open elements */
	enum field capture;               /* field of the innermost element, if any */
	int child_seen;                   /* the captured element had a child element */
	struct buf text;
	struct sts_xml_result r;
	int err;
	struct err_detail *e; /* the caller's, NULL for none */
};

static void set_msg(struct err_detail *e, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* e (may be NULL) = code, the formatted message and fix. */
static void set_msg(struct err_detail *e, int code, const char *fix, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	err_vset(e, code, NULL, 0, fix, fmt, ap);
	va_end(ap);
}

/* The first problem wins; the parse stops there. */
static void fail(struct pstate *st, int err, const char *msg)
{
	if (st->err == KR_OK) {
		st->err = err;
		set_msg(st->e, err, NULL, "%s", msg);
	}
	XML_StopParser(st->p, XML_FALSE);
}

/* Local part of a possibly prefixed name ("sts:Code" -> "Code"). */
static const char *local_name(const char *name)
{
	const char *c = strrchr(name, ':');

	return c ? c + 1 : name;
}

static const char *parent_name(const struct pstate *st)
{
	return st->depth > 0 ? st->names[st->depth - 1] : "";
}

static enum field field_for(const struct pstate *st, const char *name)
{
	const char *parent = parent_name(st);

	if (strcmp(parent, "Credentials") == 0) {
		if (strcmp(name, "AccessKeyId") == 0)
			return F_AKID;
		if (strcmp(name, "SecretAccessKey") == 0)
			return F_SECRET;
		if (strcmp(name, "SessionToken") == 0)
			return F_TOKEN;
		if (strcmp(name, "Expiration") == 0)
			return F_EXPIRATION;
		return F_NONE;
	}
	if ((strcmp(parent, "AssumedRoleUser") == 0 || strcmp(parent, "FederatedUser") == 0) &&
	    strcmp(name, "Arn") == 0)
		return F_ARN;
	if (strcmp(parent, "GetCallerIdentityResult") == 0) {
		if (strcmp(name, "Arn") == 0)
			return F_ARN;
		if (strcmp(name, "Account") == 0)
			return F_ACCOUNT;
		if (strcmp(name, "UserId") == 0)
			return F_USER_ID;
		return F_NONE;
	}
	/* Error codes: ErrorResponse/Error/Code, a bare <Error>, or anywhere. */
	if (strcmp(name, "Code") == 0)
		return F_CODE;
	if (strcmp(name, "Message") == 0)
		return F_MESSAGE;
	return F_NONE;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct pstate *st = ud;
	const char *ln = local_name(name);

	if (st->depth >= KR_STS_XML_DEPTH) {
		fail(st, KR_ERR_PARSE, "XML nested too deeply");
		return;
	}
	if (strlen(ln) >= sizeof(st->names[0])) {
		fail(st, KR_ERR_PARSE, "XML element name too long");
		return;
	}
	if (st->capture != F_NONE)
		st->child_seen = 1;
	if (st->depth == 0)
		snprintf(st->r.root, sizeof(st->r.root), "%s", ln);
	st->capture = field_for(st, ln);
	st->child_seen = 0;
	buf_reset(&st->text);
	memcpy(st->names[st->depth], ln, strlen(ln) + 1);
	st->depth++;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct pstate *st = ud;

	if (st->capture == F_NONE || len <= 0)
		return;
	if (buf_append(&st->text, s, (size_t)len) < 0)
		fail(st, KR_ERR_TOOBIG, "XML element text over its size cap");
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The captured text without leading/trailing whitespace, as a new string. */
static char *trimmed_copy(const struct buf *b, int secret)
{
	const char *s = b->data ? b->data : "";
	size_t n = b->len, i = 0;
	char *r;

	while (i < n && is_space(s[i]))
		i++;
	while (n > i && is_space(s[n - 1]))
		n--;
	r = secret ? mem_secret_alloc(n - i + 1) : malloc(n - i + 1);
	if (!r)
		return NULL;
	memcpy(r, s + i, n - i);
	r[n - i] = '\0';
	return r;
}

static char **slot_for(struct pstate *st, enum field f)
{
	switch (f) {
	case F_AKID:
		return &st->r.access_key_id;
	case F_SECRET:
		return &st->r.secret_access_key;
	case F_TOKEN:
		return &st->r.session_token;
	case F_ARN:
		return &st->r.arn;
	case F_ACCOUNT:
		return &st->r.account;
	case F_USER_ID:
		return &st->r.user_id;
	case F_CODE:
		return &st->r.error_code;
	case F_MESSAGE:
		return &st->r.error_message;
	default:
		return NULL;
	}
}

static void store(struct pstate *st, enum field f)
{
	char *v = trimmed_copy(&st->text, f == F_AKID || f == F_SECRET || f == F_TOKEN);
	char **slot;

	if (!v) {
		fail(st, KR_ERR_NOMEM, "out of memory parsing XML");
		return;
	}
	if (f == F_EXPIRATION) {
		if (st->r.has_expiration) {
			fail(st, KR_ERR_PARSE, "duplicate Expiration in STS response");
		} else if (rfc3339_parse(v, &st->r.expiration) < 0) {
			fail(st, KR_ERR_PARSE,
			     "Expiration in STS response is not an ISO 8601 UTC time");
		} else {
			st->r.has_expiration = 1;
		}
		mem_free_str(v);
		return;
	}
	slot = slot_for(st, f);
	if (*slot) {
		/* Codes/messages: keep the first (the Error element's own). */
		if (f != F_CODE && f != F_MESSAGE)
			fail(st, KR_ERR_PARSE, "duplicate credential element in STS response");
		mem_free_str(v);
		return;
	}
	*slot = v;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct pstate *st = ud;

	(void)name;
	if (st->capture != F_NONE && !st->child_seen && st->err == KR_OK)
		store(st, st->capture);
	st->capture = F_NONE;
	buf_reset(&st->text);
	if (st->depth > 0)
		st->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
	fail(ud, KR_ERR_PARSE, "XML with a DTD is not accepted");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
	fail(ud, KR_ERR_PARSE, "XML entity declarations are not accepted");
}

void sts_xml_result_clear(struct sts_xml_result *r)
{
	if (!r)
		return;
	mem_free_str(r->access_key_id);
	mem_free_str(r->secret_access_key);
	mem_free_str(r->session_token);
	mem_free_str(r->arn);
	mem_free_str(r->account);
	mem_free_str(r->user_id);
	mem_free_str(r->error_code);
	mem_free_str(r->error_message);
	mem_wipe(r, sizeof(*r));
}

/* Does the start of body look like markup at all (after whitespace/BOM)? */
static int looks_like_xml(const char *body, size_t len)
{
	size_t i = 0;

	if (len >= 3 && (unsigned char)body[0] == 0xEF && (unsigned char)body[1] == 0xBB &&
	    (unsigned char)body[2] == 0xBF)
		i = 3;
	while (i < len && is_space(body[i]))
		i++;
	return i < len && body[i] == '<';
}

static int looks_like_html(const char *body, size_t len)
{
	static const char *const marks[] = {"<!DOCTYPE html", "<!doctype html", "<html", "<HTML"};
	size_t i = 0;

	while (i < len && is_space(body[i]))
		i++;
	for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		size_t m = strlen(marks[k]);
		if (len - i >= m && strncasecmp(body + i, marks[k], m) == 0)
			return 1;
	}
	return 0;
}

/* A web page instead of STS: something between us and STS answered. */
#define HTML_FIX "check the endpoint URL and proxy settings: a proxy or captive portal answers"

static const XML_Memory_Handling_Suite wiping_mm = {malloc, mem_wiping_realloc, mem_wiping_free};

int sts_xml_parse(const char *body, size_t len, struct sts_xml_result *ret, struct err_detail *e)
{
	struct pstate *st = NULL;
	int r;

	if (!body || len == 0) {
		set_msg(e, KR_ERR_PARSE, NULL, "empty response body from STS");
		r = KR_ERR_PARSE;
		goto out;
	}
	if (len > (size_t)1 << 30) {
		set_msg(e, KR_ERR_TOOBIG, NULL, "STS response too large");
		r = KR_ERR_TOOBIG;
		goto out;
	}
	if (looks_like_html(body, len)) {
		set_msg(e, KR_ERR_PARSE, HTML_FIX, "STS answered with an HTML page, not XML");
		r = KR_ERR_PARSE;
		goto out;
	}
	if (!looks_like_xml(body, len)) {
		set_msg(e, KR_ERR_PARSE, NULL, "STS response is not XML");
		r = KR_ERR_PARSE;
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		r = KR_ERR_NOMEM;
		set_msg(e, KR_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	st->e = e;
	buf_init_secret(&st->text, KR_STS_XML_TEXT_MAX);
	st->p = XML_ParserCreate_MM(NULL, &wiping_mm, NULL);
	if (!st->p) {
		r = KR_ERR_NOMEM;
		set_msg(e, KR_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	XML_SetUserData(st->p, st);
	XML_SetElementHandler(st->p, on_start, on_end);
	XML_SetCharacterDataHandler(st->p, on_text);
	XML_SetStartDoctypeDeclHandler(st->p, on_doctype);
	XML_SetEntityDeclHandler(st->p, on_entity_decl);
	XML_SetParamEntityParsing(st->p, XML_PARAM_ENTITY_PARSING_NEVER);

	if (XML_Parse(st->p, body, (int)len, XML_TRUE) == XML_STATUS_ERROR && st->err == KR_OK) {
		st->err = KR_ERR_PARSE;
		set_msg(e, KR_ERR_PARSE, NULL, "malformed XML from STS (line %lu: %s)",
		        (unsigned long)XML_GetCurrentLineNumber(st->p),
		        XML_ErrorString(XML_GetErrorCode(st->p)));
	}
	if (st->err == KR_OK && st->r.root[0] == '\0')
		fail(st, KR_ERR_PARSE, "STS response has no root element");
	if (st->err != KR_OK) {
		r = st->err;
		goto out;
	}
	*ret = st->r;
	memset(&st->r, 0, sizeof(st->r));
	r = KR_OK;
out:
	if (st) {
		if (st->p)
			XML_ParserFree(st->p);
		buf_free(&st->text);
		sts_xml_result_clear(&st->r);
		mem_free_secret(st, sizeof(*st));
	}
	return r;
}
