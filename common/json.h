/*
 * A small JSON module, libc only: a bounded parser, a tree of values,
 * builders for request objects, a compact and a pretty printer (the
 * client's JSON, and the daemon's keyring items), and a streaming writer
 * that puts compact JSON straight into a buffer (the daemon's replies).
 * Contracts and invariants are at the top of json.c.
 *
 * Ownership: json_parse() and json_new_object() return a tree the caller
 * frees with json_free(); everything else borrows. A value added to an
 * object belongs to that object. Strings and keys are copied in.
 */
#ifndef KR_JSON_H
#define KR_JSON_H

#include "buf.h"
#include "caps.h"

#include <stddef.h>

enum json_type {
	JSON_NONE = 0, /* json_type(NULL): e.g. a member that is not there */
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json;

/*
 * Parse exactly len bytes of text (no NUL needed after them) as one JSON
 * value. KR_ERR_PARSE for anything that is not one valid JSON text
 * (trailing garbage, a NUL byte, "\u0000", an unpaired surrogate, a number
 * beyond a double), KR_ERR_TOOBIG past KR_JSON_MAX bytes or
 * KR_JSON_DEPTH_MAX nested containers, KR_ERR_NOMEM.
 */
int json_parse(const char *text, size_t len, struct json **ret_value);

/*
 * For readers of their own (the daemon's request reader): the code point
 * of a \u escape whose hex digits start at *c (the "\u" consumed), a
 * surrogate pair taken whole, *c advanced past it; KR_ERR_PARSE for bad
 * digits or an unpaired surrogate. 0 ("\u0000") is the caller's to refuse.
 */
int json_u_escape(const char **c, const char *end, unsigned *ret_cp);
/* Write code point cp (at most 0x10FFFF) as UTF-8 into o (4 bytes room); returns its length. */
size_t json_put_utf8(char *o, unsigned cp);

/* Wipe and free v and everything in it. NULL is a no-op. */
void json_free(struct json *v);

/* Reading. Every function accepts NULL (and answers "nothing"). */
enum json_type json_type(const struct json *v);
/* The first member of object obj named exactly key; NULL if none. */
const struct json *json_get(const struct json *obj, const char *key);
/* A string's text (NUL-terminated, no NUL inside); NULL for other types. */
const char *json_str(const struct json *v);
/* json_str(json_get(obj, key)). */
const char *json_get_str(const struct json *obj, const char *key);
/* A number's value; 0 for other types. */
double json_num(const struct json *v);
/* Members of an object or elements of an array, in order; 0 otherwise. */
size_t json_count(const struct json *v);
const struct json *json_first(const struct json *container);
const struct json *json_next(const struct json *item);
/* The name of an object member; NULL for an array element or a root. */
const char *json_key(const struct json *item);

#define json_for_each(it, container) for ((it) = json_first(container); (it); (it) = json_next(it))

/*
 * Building. Members are appended in order; a key already present is not
 * replaced (json_get() finds the first). KR_ERR_INVAL if obj is not an
 * object (or the number not finite), KR_ERR_NOMEM.
 */
struct json *json_new_object(void);
int json_add_str(struct json *obj, const char *key, const char *s);
int json_add_num(struct json *obj, const char *key, double d);
int json_add_bool(struct json *obj, const char *key, int b);
/* A new empty object as member key; *ret_child is borrowed from obj. */
int json_add_object(struct json *obj, const char *key, struct json **ret_child);
/* Remove (and wipe) every member of obj named key. */
void json_remove(struct json *obj, const char *key);

/*
 * Append v as JSON text to out: compact, or with JSON_PRETTY one member
 * or element per line, indented by two spaces. No newline at the end.
 * KR_ERR_TOOBIG past out's cap or deeper than KR_JSON_DEPTH_MAX; on any
 * failure out is as it was (the partial text is wiped).
 */
enum { JSON_PRETTY = 1 << 0 };
int json_print(const struct json *v, unsigned flags, struct buf *out);

/*
 * The streaming writer: members and elements are written as they come,
 * compact, into out (a struct buf: secrets written here are wiped with
 * it). key is a member's name inside an object, NULL inside an array (or
 * for the top value). The first failure sticks: json_w_end() returns it
 * (KR_ERR_TOOBIG past out's cap or KR_JSON_DEPTH_MAX levels).
 */
struct json_writer {
	struct buf *out;
	int err;
	int depth;
	unsigned char first[KR_JSON_DEPTH_MAX + 1]; /* nothing written yet at this level */
};

void json_w_init(struct json_writer *w, struct buf *out);
void json_w_begin_object(struct json_writer *w, const char *key);
void json_w_end_object(struct json_writer *w);
void json_w_begin_array(struct json_writer *w, const char *key);
void json_w_end_array(struct json_writer *w);
void json_w_str(struct json_writer *w, const char *key, const char *s);
/* A string member only when s is not NULL. */
void json_w_str_opt(struct json_writer *w, const char *key, const char *s);
void json_w_int(struct json_writer *w, const char *key, long long v);
void json_w_bool(struct json_writer *w, const char *key, int b);
int json_w_end(struct json_writer *w);

#endif
