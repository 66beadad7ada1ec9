/*
 * SigV4 signer against the AWS test suite (tests/data/sigv4, see its
 * README.md), plus the signer's own contracts. The cases are found at run
 * time, so a new case is a new folder; each one is its own cmocka test,
 * named after its folder. A missing data dir fails the count tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "err.h"
#include "sigv4.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define SUITE_AKID   "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_TIME   ((time_t)1440938160) /* 2015-08-30T12:36:00Z */
#define SUITE_DATE   "20150830T123600Z"
#define MAX_HDRS     64
#define FILE_MAX     (1024 * 1024)

enum kind { KIND_V4, KIND_CLASSIC };

struct tcase {
	enum kind kind;
	char *name; /* "v4/get-vanilla", shown in the TAP output */
	char *dir;  /* folder holding the files */
	char *base; /* classic: file base name (= folder name) */
};

static char g_data[PATH_MAX];
static struct tcase *g_cases;
static size_t g_ncases, g_nv4, g_nclassic;

/* --- small helpers ------------------------------------------------------ */

static char *xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);

	assert_non_null(r);
	return r;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	assert_non_null(p);
	snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* Read a whole file, dropping any "\r" (the runners do the same). NULL if absent. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	char *s;
	size_t n, w = 0;

	if (!f)
		return NULL;
	s = malloc(FILE_MAX + 1);
	assert_non_null(s);
	n = fread(s, 1, FILE_MAX, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if (s[i] != '\r')
			s[w++] = s[i];
	s[w] = '\0';
	if (ret_len)
		*ret_len = w;
	return s;
}

static char *must_read(const char *dir, const char *file)
{
	char *p = path_join(dir, file);
	char *s = read_file(p, NULL);

	if (!s)
		fail_msg("cannot read %s", p);
	free(p);
	return s;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* --- request.txt / .req parsing (grammar in tests/data/sigv4/README.md) --- */

struct preq {
	char *method;
	char *target;
	char *names[MAX_HDRS];
	char *values[MAX_HDRS];
	struct sigv4_header hdrs[MAX_HDRS];
	size_t n;
	char *lines[MAX_HDRS]; /* raw header lines, for the signed-request check */
	size_t nlines;
	char *body;
	size_t body_len;
};

static void preq_free(struct preq *r)
{
	free(r->method);
	free(r->target);
	for (size_t i = 0; i < r->n; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	for (size_t i = 0; i < r->nlines; i++)
		free(r->lines[i]);
	free(r->body);
}

static void preq_parse(const char *text, struct preq *r)
{
	const char *p = text, *nl, *sp, *ver;

	memset(r, 0, sizeof(*r));
	nl = strchr(p, '\n');
	if (!nl)
		nl = p + strlen(p);
	sp = memchr(p, ' ', (size_t)(nl - p));
	assert_non_null(sp);
	/* The path is everything up to the final " HTTP/1.1": it may hold spaces. */
	ver = NULL;
	for (const char *q = sp; q + 9 <= nl; q++)
		if (memcmp(q, " HTTP/1.1", 9) == 0)
			ver = q;
	assert_non_null(ver);
	r->method = xstrndup(p, (size_t)(sp - p));
	r->target = xstrndup(sp + 1, (size_t)(ver - sp - 1));
	p = *nl ? nl + 1 : nl;
	while (*p) {
		const char *colon;
		size_t len;

		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == 0) { /* end of headers: the rest is the body */
			r->body_len = strlen(p + 1);
			r->body = xstrndup(p + 1, r->body_len);
			return;
		}
		assert_true(r->nlines < MAX_HDRS);
		r->lines[r->nlines++] = xstrndup(p, len);
		if (*p == ' ' || *p == '\t') {
			/* Folded continuation: the signer collapses the whitespace. */
			size_t ol;
			char *v;

			assert_true(r->n > 0);
			ol = strlen(r->values[r->n - 1]);
			v = malloc(ol + 1 + len + 1);
			assert_non_null(v);
			memcpy(v, r->values[r->n - 1], ol);
			v[ol] = ' ';
			memcpy(v + ol + 1, p, len);
			v[ol + 1 + len] = '\0';
			free(r->values[r->n - 1]);
			r->values[r->n - 1] = v;
		} else {
			colon = memchr(p, ':', len);
			assert_non_null(colon);
			assert_true(r->n < MAX_HDRS);
			r->names[r->n] = xstrndup(p, (size_t)(colon - p));
			r->values[r->n] = xstrndup(colon + 1, len - (size_t)(colon - p) - 1);
			r->n++;
		}
		p = nl ? nl + 1 : p + len;
	}
}

static void preq_fill(struct preq *r, struct sigv4_request *out)
{
	for (size_t i = 0; i < r->n; i++) {
		r->hdrs[i].name = r->names[i];
		r->hdrs[i].value = r->values[i];
	}
	memset(out, 0, sizeof(*out));
	out->method = r->method;
	out->target = r->target;
	out->headers = r->hdrs;
	out->n_headers = r->n;
	out->body = r->body;
	out->body_len = r->body_len;
}

/* Remove header i (classic .req files carry X-Amz-Date; the signer adds it). */
static void preq_remove(struct preq *r, size_t i)
{
	free(r->names[i]);
	free(r->values[i]);
	memmove(&r->names[i], &r->names[i + 1], (r->n - i - 1) * sizeof(r->names[0]));
	memmove(&r->values[i], &r->values[i + 1], (r->n - i - 1) * sizeof(r->values[0]));
	r->n--;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The value after "prefix" on the line of text that starts with it; NULL if none. */
static char *line_value(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len >= pl && strncmp(p, prefix, pl) == 0)
			return xstrndup(p + pl, len - pl);
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

/* --- v4/ cases --------------------------------------------------------- */

struct ctx {
	struct sigv4_creds creds;
	char *akid, *secret, *token;
	char *region, *service;
	time_t when;
	int normalize, sign_body, omit_token;
};

static char *json_str(const cJSON *o, const char *key, int required)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsString(it)) {
		if (required)
			fail_msg("context.json: \"%s\" missing", key);
		return NULL;
	}
	return xstrndup(it->valuestring, strlen(it->valuestring));
}

static void ctx_load(const char *dir, struct ctx *c)
{
	char *text = must_read(dir, "context.json");
	cJSON *j = cJSON_Parse(text);
	const cJSON *cr;
	char *ts;
	struct tm tm;
	const char *end;

	memset(c, 0, sizeof(*c));
	assert_non_null(j);
	cr = cJSON_GetObjectItemCaseSensitive(j, "credentials");
	assert_true(cJSON_IsObject(cr));
	c->akid = json_str(cr, "access_key_id", 1);
	c->secret = json_str(cr, "secret_access_key", 1);
	c->token = json_str(cr, "token", 0);
	c->region = json_str(j, "region", 1);
	c->service = json_str(j, "service", 1);
	ts = json_str(j, "timestamp", 1);
	memset(&tm, 0, sizeof(tm));
	end = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_true(end && *end == '\0');
	c->when = timegm(&tm);
	c->normalize = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "normalize"));
	c->sign_body = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "sign_body"));
	c->omit_token = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "omit_session_token"));
	c->creds.access_key_id = c->akid;
	c->creds.secret_access_key = c->secret;
	c->creds.session_token = c->token;
	free(ts);
	cJSON_Delete(j);
	free(text);
}

static void ctx_free(struct ctx *c)
{
	free(c->akid);
	free(c->secret);
	free(c->token);
	free(c->region);
	free(c->service);
}

/*
 * header-signed-request.txt must be the request plus exactly the headers
 * in add[], as "Name:value" lines (compared as a multiset: the suite's
 * order of added headers is not meaningful), then the same body.
 */
static void check_signed_request(const char *dir, const struct preq *in,
                                 const struct sigv4_result *res)
{
	char *text = must_read(dir, "header-signed-request.txt");
	struct preq out;
	char *want[MAX_HDRS + SIGV4_ADD_MAX];
	size_t nw = 0;

	preq_parse(text, &out);
	assert_string_equal(out.method, in->method);
	assert_string_equal(out.target, in->target);
	for (size_t i = 0; i < in->nlines; i++)
		want[nw++] = xstrndup(in->lines[i], strlen(in->lines[i]));
	for (size_t i = 0; i < res->n_add; i++) {
		size_t n = strlen(res->add[i].name) + strlen(res->add[i].value) + 2;

		want[nw] = malloc(n);
		assert_non_null(want[nw]);
		snprintf(want[nw], n, "%s:%s", res->add[i].name, res->add[i].value);
		nw++;
	}
	assert_int_equal(out.nlines, nw);
	qsort(want, nw, sizeof(want[0]), str_cmp);
	qsort(out.lines, out.nlines, sizeof(out.lines[0]), str_cmp);
	for (size_t i = 0; i < nw; i++) {
		assert_string_equal(out.lines[i], want[i]);
		free(want[i]);
	}
	assert_int_equal(out.body_len, in->body_len);
	if (in->body_len)
		assert_memory_equal(out.body, in->body, in->body_len);
	preq_free(&out);
	free(text);
}

static void run_v4_case(void **state)
{
	const struct tcase *tc = *state;
	struct ctx c;
	struct preq pr;
	struct sigv4_request req;
	struct sigv4_result res;
	char *text, *creq, *sts, *sig;

	ctx_load(tc->dir, &c);
	text = must_read(tc->dir, "request.txt");
	preq_parse(text, &pr);
	preq_fill(&pr, &req);
	req.normalize_path = c.normalize;
	req.sign_body = c.sign_body;
	req.omit_session_token = c.omit_token;

	assert_int_equal(sigv4_sign(&req, &c.creds, c.region, c.service, c.when, &res), KR_OK);
	creq = must_read(tc->dir, "header-canonical-request.txt");
	sts = must_read(tc->dir, "header-string-to-sign.txt");
	sig = must_read(tc->dir, "header-signature.txt");
	assert_string_equal(res.canonical_request, creq);
	assert_string_equal(res.string_to_sign, sts);
	assert_string_equal(res.signature, sig);
	check_signed_request(tc->dir, &pr, &res);

	sigv4_result_free(&res);
	free(creq);
	free(sts);
	free(sig);
	free(text);
	preq_free(&pr);
	ctx_free(&c);
}

/* --- aws4_testsuite/ (classic) cases ------------------------------------ */

static char *classic_read(const struct tcase *tc, const char *ext)
{
	size_t n = strlen(tc->base) + strlen(ext) + 1;
	char *f = malloc(n), *s;

	assert_non_null(f);
	snprintf(f, n, "%s%s", tc->base, ext);
	s = must_read(tc->dir, f);
	free(f);
	return s;
}

static void run_classic_case(void **state)
{
	const struct tcase *tc = *state;
	struct preq pr;
	struct sigv4_request req;
	struct sigv4_result res;
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, NULL};
	char *text, *creq, *sts, *authz, *sreq, *token = NULL, *sreq_authz;
	int omit = 0, saw_date = 0;

	text = classic_read(tc, ".req");
	creq = classic_read(tc, ".creq");
	sts = classic_read(tc, ".sts");
	authz = classic_read(tc, ".authz");
	sreq = classic_read(tc, ".sreq");
	preq_parse(text, &pr);
	/* The .req already has X-Amz-Date; the signer makes its own, which must match. */
	for (size_t i = 0; i < pr.n; i++) {
		if (strcasecmp(pr.names[i], "x-amz-date") == 0) {
			assert_string_equal(pr.values[i], SUITE_DATE);
			preq_remove(&pr, i);
			saw_date = 1;
			break;
		}
	}
	assert_true(saw_date);
	/* Quirks listed in tests/data/sigv4/README.md. */
	if (strcmp(tc->base, "get-vanilla-with-session-token") == 0) {
		token = line_value(creq, "x-amz-security-token:");
		assert_non_null(token);
	} else if (strcmp(tc->base, "post-sts-header-after") == 0) {
		token = line_value(sreq, "X-Amz-Security-Token:");
		assert_non_null(token);
		omit = 1;
	}
	creds.session_token = token;
	preq_fill(&pr, &req);
	req.normalize_path = 1;
	req.omit_session_token = omit;

	assert_int_equal(sigv4_sign(&req, &creds, "us-east-1", "service", SUITE_TIME, &res), KR_OK);
	assert_string_equal(res.amz_date, SUITE_DATE);
	assert_string_equal(res.canonical_request, creq);
	assert_string_equal(res.string_to_sign, sts);
	assert_string_equal(res.authorization, authz);
	sreq_authz = line_value(sreq, "Authorization: ");
	assert_non_null(sreq_authz);
	/* Upstream's get-vanilla-with-session-token.sreq carries get-vanilla's
	 * signature (its .authz and .sts are right), so only .authz counts there. */
	if (strcmp(tc->base, "get-vanilla-with-session-token") != 0)
		assert_string_equal(sreq_authz, res.authorization);

	sigv4_result_free(&res);
	free(sreq_authz);
	free(token);
	free(text);
	free(creq);
	free(sts);
	free(authz);
	free(sreq);
	preq_free(&pr);
}

/* --- discovery ---------------------------------------------------------- */

static void add_case(enum kind k, const char *name, const char *dir, const char *base)
{
	struct tcase *n = realloc(g_cases, (g_ncases + 1) * sizeof(*g_cases));

	assert_non_null(n);
	g_cases = n;
	g_cases[g_ncases].kind = k;
	g_cases[g_ncases].name = xstrndup(name, strlen(name));
	g_cases[g_ncases].dir = xstrndup(dir, strlen(dir));
	g_cases[g_ncases].base = base ? xstrndup(base, strlen(base)) : NULL;
	g_ncases++;
	if (k == KIND_V4)
		g_nv4++;
	else
		g_nclassic++;
}

/* Sorted subdirectory names of dir (NULL-terminated); NULL if dir is unreadable. */
static char **list_dirs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = path_join(dir, e->d_name);
		if (is_dir(p)) {
			v = realloc(v, (n + 2) * sizeof(*v));
			assert_non_null(v);
			v[n++] = xstrndup(e->d_name, strlen(e->d_name));
		}
		free(p);
	}
	closedir(d);
	if (!v) {
		v = calloc(1, sizeof(*v));
		assert_non_null(v);
	}
	v[n] = NULL;
	qsort(v, n, sizeof(*v), str_cmp);
	return v;
}

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* A classic case is <dir>/<name>/<name>.req; other folders are groups, one level deeper. */
static void scan_classic(const char *dir, const char *label, int depth)
{
	char **v = list_dirs(dir);

	for (size_t i = 0; v && v[i]; i++) {
		char *sub = path_join(dir, v[i]);
		char *lab = path_join(label, v[i]);
		size_t n = strlen(v[i]) + 5;
		char *req = malloc(n), *reqp;

		assert_non_null(req);
		snprintf(req, n, "%s.req", v[i]);
		reqp = path_join(sub, req);
		if (is_file(reqp))
			add_case(KIND_CLASSIC, lab, sub, v[i]);
		else if (depth == 0)
			scan_classic(sub, lab, 1);
		free(reqp);
		free(req);
		free(lab);
		free(sub);
	}
	free_list(v);
}

static void discover(void)
{
	const char *src = getenv("KR_SRC");
	char *v4, **v;

	if (src && *src)
		snprintf(g_data, sizeof(g_data), "%s/tests/data/sigv4", src);
	else
		snprintf(g_data, sizeof(g_data), "tests/data/sigv4");
	v4 = path_join(g_data, "v4");
	v = list_dirs(v4);
	for (size_t i = 0; v && v[i]; i++) {
		char *sub = path_join(v4, v[i]);
		char *lab = path_join("v4", v[i]);
		char *rq = path_join(sub, "request.txt");

		if (is_file(rq))
			add_case(KIND_V4, lab, sub, NULL);
		free(rq);
		free(lab);
		free(sub);
	}
	free_list(v);
	free(v4);
	v4 = path_join(g_data, "aws4_testsuite");
	scan_classic(v4, "aws4_testsuite", 0);
	free(v4);
}

/* --- contract tests ----------------------------------------------------- */

static void test_v4_cases_found(void **state)
{
	if (g_nv4 < 38)
		fail_msg("found %zu v4 cases under %s/v4, expected >= 38", g_nv4, g_data);
}

static void test_classic_cases_found(void **state)
{
	if (g_nclassic < 34)
		fail_msg("found %zu classic cases under %s/aws4_testsuite, expected >= 34",
		         g_nclassic, g_data);
}

static const struct sigv4_header vanilla_hdrs[] = {{"Host", "example.amazonaws.com"}};

static struct sigv4_request vanilla(void)
{
	struct sigv4_request r = {.method = "GET",
	                          .target = "/",
	                          .headers = vanilla_hdrs,
	                          .n_headers = 1,
	                          .normalize_path = 1};
	return r;
}

static const struct sigv4_creds suite_creds = {SUITE_AKID, SUITE_SECRET, NULL};

static void test_vanilla_signature_matches_suite(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "service", SUITE_TIME, &res),
	                 KR_OK);
	assert_string_equal(res.signature,
	                    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	sigv4_result_free(&res);
}

static void test_wrong_secret_changes_signature(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_creds bad = {SUITE_AKID, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEz", NULL};
	struct sigv4_result a, b;

	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "service", SUITE_TIME, &a),
	                 KR_OK);
	assert_int_equal(sigv4_sign(&req, &bad, "us-east-1", "service", SUITE_TIME, &b), KR_OK);
	assert_string_equal(a.canonical_request, b.canonical_request);
	assert_string_not_equal(a.signature, b.signature);
	assert_string_not_equal(a.authorization, b.authorization);
	sigv4_result_free(&a);
	sigv4_result_free(&b);
}

static void test_other_scope_changes_signature(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_result a, b, c;

	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "sts", SUITE_TIME, &a), KR_OK);
	assert_int_equal(sigv4_sign(&req, &suite_creds, "eu-west-1", "sts", SUITE_TIME, &b), KR_OK);
	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "sts", SUITE_TIME + 86400, &c),
	                 KR_OK);
	assert_string_not_equal(a.signature, b.signature);
	assert_string_not_equal(a.signature, c.signature);
	assert_non_null(strstr(b.authorization, "/eu-west-1/sts/aws4_request"));
	assert_string_equal(c.amz_date, "20150831T123600Z");
	sigv4_result_free(&a);
	sigv4_result_free(&b);
	sigv4_result_free(&c);
}

static void test_result_free_zeroes_and_accepts_null(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_result res;
	static const struct sigv4_result zero;

	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "service", SUITE_TIME, &res),
	                 KR_OK);
	sigv4_result_free(&res);
	/* Everything (signature, pointers, add[]) is cleared; ASan checks the frees. */
	assert_memory_equal(&res, &zero, sizeof(res));
	sigv4_result_free(&res); /* freeing twice is harmless once cleared */
	sigv4_result_free(NULL);
}

static void test_failure_leaves_result_untouched(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_result res, before;

	memset(&res, 0xa5, sizeof(res));
	before = res;
	req.target = "no-slash";
	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "service", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
	assert_memory_equal(&res, &before, sizeof(res));
}

static void test_add_headers_list_what_to_send(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, "TOKEN"};
	struct sigv4_result res;

	req.method = "POST";
	req.body = "Action=GetCallerIdentity&Version=2011-06-15";
	req.body_len = strlen(req.body);
	req.sign_body = 1;
	assert_int_equal(sigv4_sign(&req, &creds, "us-east-1", "sts", SUITE_TIME, &res), KR_OK);
	assert_int_equal(res.n_add, 4);
	assert_string_equal(res.add[0].name, "X-Amz-Date");
	assert_ptr_equal(res.add[0].value, res.amz_date);
	assert_string_equal(res.add[1].name, "X-Amz-Security-Token");
	assert_string_equal(res.add[1].value, "TOKEN");
	assert_string_equal(res.add[2].name, "x-amz-content-sha256");
	assert_ptr_equal(res.add[2].value, res.content_sha256);
	assert_string_equal(res.add[3].name, "Authorization");
	assert_ptr_equal(res.add[3].value, res.authorization);
	assert_non_null(strstr(res.authorization,
	                       "SignedHeaders=host;x-amz-content-sha256;x-amz-date;"
	                       "x-amz-security-token, Signature="));
	sigv4_result_free(&res);
}

static void test_omitted_token_is_sent_but_not_signed(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, "TOKEN"};
	struct sigv4_result res;

	req.omit_session_token = 1;
	assert_int_equal(sigv4_sign(&req, &creds, "us-east-1", "service", SUITE_TIME, &res), KR_OK);
	assert_null(strstr(res.canonical_request, "TOKEN"));
	assert_int_equal(res.n_add, 3);
	assert_string_equal(res.add[1].value, "TOKEN");
	assert_string_equal(res.signature,
	                    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	sigv4_result_free(&res);
}

static int sign_with_headers(const struct sigv4_header *h, size_t n, const char *token)
{
	struct sigv4_request req = vanilla();
	struct sigv4_creds creds = {SUITE_AKID, SUITE_SECRET, token};
	struct sigv4_result res;
	int r;

	req.headers = h;
	req.n_headers = n;
	r = sigv4_sign(&req, &creds, "us-east-1", "service", SUITE_TIME, &res);
	if (r == KR_OK)
		sigv4_result_free(&res);
	return r;
}

static void test_rejects_header_injection(void **state)
{
	const struct sigv4_header crlf[] = {{"Host", "example.amazonaws.com"},
	                                    {"X-Foo", "a\r\nX-Evil: 1"}};
	const struct sigv4_header lf[] = {{"Host", "example.amazonaws.com\nX-Evil: 1"}};
	const struct sigv4_header badname[] = {{"Host", "example.amazonaws.com"}, {"X Foo", "a"}};
	const struct sigv4_header colon[] = {{"Host", "example.amazonaws.com"}, {"X-Foo:", "a"}};

	assert_int_equal(sign_with_headers(crlf, 2, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(lf, 1, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(badname, 2, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(colon, 2, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(vanilla_hdrs, 1, "tok\r\nX-Evil: 1"), KR_ERR_INVAL);
}

static void test_rejects_headers_the_signer_makes(void **state)
{
	const struct sigv4_header date[] = {{"Host", "example.amazonaws.com"},
	                                    {"X-Amz-Date", SUITE_DATE}};
	const struct sigv4_header authz[] = {{"Host", "example.amazonaws.com"},
	                                     {"authorization", "x"}};
	const struct sigv4_header token[] = {{"Host", "example.amazonaws.com"},
	                                     {"X-Amz-Security-Token", "TOKEN"}};

	assert_int_equal(sign_with_headers(date, 2, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(authz, 2, NULL), KR_ERR_INVAL);
	/* A token header is the caller's business only when creds has none. */
	assert_int_equal(sign_with_headers(token, 2, "TOKEN"), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(token, 2, NULL), KR_OK);
}

static void test_requires_host_header(void **state)
{
	const struct sigv4_header h[] = {{"X-Foo", "a"}};

	assert_int_equal(sign_with_headers(h, 1, NULL), KR_ERR_INVAL);
	assert_int_equal(sign_with_headers(NULL, 0, NULL), KR_ERR_INVAL);
}

static int sign_target(const char *target, struct sigv4_result *res)
{
	struct sigv4_request req = vanilla();

	req.target = target;
	return sigv4_sign(&req, &suite_creds, "us-east-1", "service", SUITE_TIME, res);
}

static void test_rejects_bad_target(void **state)
{
	struct sigv4_result res;
	char *big = malloc(KR_SIGV4_TARGET_MAX + 2);

	assert_int_equal(sign_target("/?a=%zz", &res), KR_ERR_INVAL);
	assert_int_equal(sign_target("/?a=%4", &res), KR_ERR_INVAL);
	assert_int_equal(sign_target("/?a=%", &res), KR_ERR_INVAL);
	assert_int_equal(sign_target("/a\r\nb", &res), KR_ERR_INVAL);
	assert_int_equal(sign_target("", &res), KR_ERR_INVAL);
	assert_non_null(big);
	memset(big, 'a', KR_SIGV4_TARGET_MAX + 1);
	big[0] = '/';
	big[KR_SIGV4_TARGET_MAX + 1] = '\0';
	assert_int_equal(sign_target(big, &res), KR_ERR_TOOBIG);
	free(big);
}

static void test_query_edge_cases_are_canonical(void **state)
{
	struct sigv4_result res;

	/* Value-less and empty keys, skipped empty pieces, "+" and "%" encoded. */
	assert_int_equal(sign_target("/?b&=x&&a=1+2&c=%2f%41", &res), KR_OK);
	assert_non_null(strstr(res.canonical_request, "\n=x&a=1%2B2&b=&c=%2FA\n"));
	sigv4_result_free(&res);
	assert_int_equal(sign_target("/?", &res), KR_OK);
	assert_non_null(strstr(res.canonical_request, "GET\n/\n\nhost:"));
	sigv4_result_free(&res);
}

static void test_path_normalization_edge_cases(void **state)
{
	struct sigv4_result res;

	assert_int_equal(sign_target("/a/b/..", &res), KR_OK);
	assert_non_null(strstr(res.canonical_request, "GET\n/a/\n"));
	sigv4_result_free(&res);
	assert_int_equal(sign_target("/../../x/./y%2F", &res), KR_OK);
	assert_non_null(strstr(res.canonical_request, "GET\n/x/y%252F\n"));
	sigv4_result_free(&res);
}

static void test_sha256_hex_known_values(void **state)
{
	char hex[65];

	assert_int_equal(sigv4_sha256_hex(NULL, 0, hex), KR_OK);
	assert_string_equal(hex,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(sigv4_sha256_hex("abc", 3, hex), KR_OK);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(sigv4_sha256_hex(NULL, 1, hex), KR_ERR_INVAL);
}

/* The AWS CLI names its IAM Identity Center cache files by these. */
static void test_sha1_hex_known_values(void **state)
{
	char hex[41];

	assert_int_equal(sigv4_sha1_hex("abc", 3, hex), KR_OK);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	assert_int_equal(sigv4_sha1_hex("corp", 4, hex), KR_OK);
	assert_string_equal(hex, "ee0bfd2552fbd840c02cc48b6e823320543c450f");
	assert_int_equal(sigv4_sha1_hex(NULL, 1, hex), KR_ERR_INVAL);
}

static void test_rejects_bad_scope_and_creds(void **state)
{
	struct sigv4_request req = vanilla();
	struct sigv4_creds nokey = {"", SUITE_SECRET, NULL};
	struct sigv4_creds slash = {"AKID/X", SUITE_SECRET, NULL};
	struct sigv4_result res;

	assert_int_equal(sigv4_sign(&req, &suite_creds, "us/east", "sts", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
	assert_int_equal(sigv4_sign(&req, &suite_creds, "us-east-1", "", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
	assert_int_equal(sigv4_sign(&req, &nokey, "us-east-1", "sts", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
	assert_int_equal(sigv4_sign(&req, &slash, "us-east-1", "sts", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
	assert_int_equal(sigv4_sign(&req, NULL, "us-east-1", "sts", SUITE_TIME, &res),
	                 KR_ERR_INVAL);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_v4_cases_found),
	    cmocka_unit_test(test_classic_cases_found),
	    cmocka_unit_test(test_vanilla_signature_matches_suite),
	    cmocka_unit_test(test_wrong_secret_changes_signature),
	    cmocka_unit_test(test_other_scope_changes_signature),
	    cmocka_unit_test(test_result_free_zeroes_and_accepts_null),
	    cmocka_unit_test(test_failure_leaves_result_untouched),
	    cmocka_unit_test(test_add_headers_list_what_to_send),
	    cmocka_unit_test(test_omitted_token_is_sent_but_not_signed),
	    cmocka_unit_test(test_rejects_header_injection),
	    cmocka_unit_test(test_rejects_headers_the_signer_makes),
	    cmocka_unit_test(test_requires_host_header),
	    cmocka_unit_test(test_rejects_bad_target),
	    cmocka_unit_test(test_query_edge_cases_are_canonical),
	    cmocka_unit_test(test_path_normalization_edge_cases),
	    cmocka_unit_test(test_sha256_hex_known_values),
	    cmocka_unit_test(test_sha1_hex_known_values),
	    cmocka_unit_test(test_rejects_bad_scope_and_creds),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *all;
	int rc;

	discover();
	all = calloc(nfixed + g_ncases, sizeof(*all));
	if (!all)
		return 1;
	memcpy(all, fixed, sizeof(fixed));
	for (size_t i = 0; i < g_ncases; i++) {
		all[nfixed + i].name = g_cases[i].name;
		all[nfixed + i].test_func =
		    g_cases[i].kind == KIND_V4 ? run_v4_case : run_classic_case;
		all[nfixed + i].initial_state = &g_cases[i];
	}
	rc = _cmocka_run_group_tests("sigv4", all, nfixed + g_ncases, NULL, NULL);
	for (size_t i = 0; i < g_ncases; i++) {
		free(g_cases[i].name);
		free(g_cases[i].dir);
		free(g_cases[i].base);
	}
	free(g_cases);
	free(all);
	return rc;
}
