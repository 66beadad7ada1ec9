/*
 * daemon/sts.c: retries, deadline, cancellation and result handling, with
 * a fake HTTP function (answers scripted per attempt, delivered from the
 * real loop), a fake monotonic clock and a fake random source.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "caps.h"
#include "loop.h"
#include "sts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 16

static const char *const creds_xml =
    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleResult><Credentials><AccessKeyId>ASIAFAKE</AccessKeyId>"
    "<SecretAccessKey>fakesecret</SecretAccessKey><SessionToken>faketoken</SessionToken>"
    "<Expiration>2030-01-02T03:04:05.123456Z</Expiration></Credentials>"
    "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
    "</AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>";

static const char *const throttle_xml =
    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    "<Message>Rate exceeded</Message></Error></ErrorResponse>";

static const char *const denied_xml =
    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
    "<Message>not authorized to perform sts:AssumeRole</Message></Error></ErrorResponse>";

static const char *const html_503 = "<html><body><h1>503 Service Unavailable</h1></body></html>";

struct step {
	int err;     /* transport outcome */
	long status; /* HTTP status */
	const char *body;
};

struct fake {
	struct loop *l;
	struct step steps[MAX_STEPS];
	int n_steps;
	int posts; /* http_post calls */
	int cancels;
	uint64_t clock_ms;   /* fake monotonic clock */
	uint64_t advance_ms; /* added to the clock by every post */
	uint32_t rnd;
	uint64_t post_at_us[MAX_STEPS]; /* loop_now() at each post */
	long total_ms[MAX_STEPS];
	char *last_headers[8];
	size_t n_last_headers;
	char *last_body;
	int n_pending; /* transfers posted, neither delivered nor cancelled */
	/* outcome */
	int done_calls;
	struct sts_result res;
	char *res_akid, *res_secret, *res_token, *res_arn, *res_code, *res_account;
};

struct fake_xfer {
	struct fake *f;
	struct loop_timer *t;
	struct step st;
	http_done_fn done;
	void *userdata;
};

static void fake_deliver(struct loop_timer *t, void *userdata)
{
	struct fake_xfer *x = userdata;
	struct err_detail e;
	struct buf b;

	buf_init(&b, KR_HTTP_RESP_MAX);
	if (x->st.body)
		assert_int_equal(buf_puts(&b, x->st.body), KR_OK);
	x->f->n_pending--;
	loop_timer_free(x->t);
	if (x->st.err)
		err_set(&e, x->st.err, NULL, 0, NULL, "Connection refused (fake)");
	x->done(x->userdata, x->st.err, x->st.status, &b, x->st.err ? &e : NULL);
	buf_free(&b);
	free(x);
}

static int fake_post(void *ud, const struct http_request *req, http_done_fn done, void *userdata,
                     struct http_xfer **ret)
{
	struct fake *f = ud;
	struct fake_xfer *x;
	int i = f->posts;

	assert_true(i < f->n_steps);
	f->post_at_us[i] = loop_now(f->l);
	f->total_ms[i] = req->total_ms;
	for (size_t k = 0; k < f->n_last_headers; k++)
		free(f->last_headers[k]);
	assert_true(req->n_headers <= 8);
	for (size_t k = 0; k < req->n_headers; k++)
		f->last_headers[k] = strdup(req->headers[k]);
	f->n_last_headers = req->n_headers;
	free(f->last_body);
	f->last_body = strndup(req->body, req->body_len);
	f->posts++;
	f->clock_ms += f->advance_ms;
	x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->f = f;
	x->st = f->steps[i];
	x->done = done;
	x->userdata = userdata;
	/* Deliver from the loop, never from inside http_post. */
	assert_int_equal(loop_timer_add(f->l, loop_now(f->l), fake_deliver, x, &x->t), KR_OK);
	f->n_pending++;
	*ret = (struct http_xfer *)x;
	return KR_OK;
}

static void fake_cancel(void *ud, struct http_xfer *hx)
{
	struct fake *f = ud;
	struct fake_xfer *x = (struct fake_xfer *)hx;

	f->cancels++;
	f->n_pending--;
	loop_timer_free(x->t);
	free(x);
}

static uint64_t fake_now_ms(void *ud)
{
	return ((struct fake *)ud)->clock_ms;
}

static time_t fake_wall(void *ud)
{
	return 1440938160; /* 2015-08-30T12:36:00Z */
}

static uint32_t fake_random(void *ud)
{
	return ((struct fake *)ud)->rnd;
}

static char *dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void on_done(void *userdata, struct sts_result *res)
{
	struct fake *f = userdata;

	f->done_calls++;
	f->res.err = res->err;
	f->res.http_status = res->http_status;
	f->res.attempts = res->attempts;
	f->res.detail = res->detail;
	f->res.creds.expiration = res->creds.expiration;
	f->res_akid = dup0(res->creds.access_key_id);
	f->res_secret = dup0(res->creds.secret_access_key);
	f->res_token = dup0(res->creds.session_token);
	f->res_arn = dup0(res->creds.arn);
	f->res_code = dup0(res->aws_code);
	f->res_account = dup0(res->account);
	loop_exit(f->l, 0);
}

static void on_watchdog(struct loop_timer *t, void *userdata)
{
	loop_exit(userdata, 99);
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(loop_new(&f->l), KR_OK);
	f->clock_ms = 1000000;
}

static void fake_fini(struct fake *f)
{
	for (size_t k = 0; k < f->n_last_headers; k++)
		free(f->last_headers[k]);
	free(f->last_body);
	free(f->res_akid);
	free(f->res_secret);
	free(f->res_token);
	free(f->res_arn);
	free(f->res_code);
	free(f->res_account);
	loop_free(f->l);
}

static void add_step(struct fake *f, int err, long status, const char *body)
{
	assert_true(f->n_steps < MAX_STEPS);
	f->steps[f->n_steps++] = (struct step){err, status, body};
}

static struct sts *new_sts(struct fake *f)
{
	struct sts_ops ops = {
	    .http_post = fake_post,
	    .http_cancel = fake_cancel,
	    .http_userdata = f,
	    .now_ms = fake_now_ms,
	    .wall_now = fake_wall,
	    .clock_userdata = f,
	    .random = fake_random,
	    .random_userdata = f,
	};
	struct sts *s = NULL;

	assert_int_equal(sts_new(f->l, &ops, &s), KR_OK);
	return s;
}

static void assume_params(struct sts_params *p)
{
	memset(p, 0, sizeof(*p));
	p->op = STS_ASSUME_ROLE;
	p->endpoint = "http://127.0.0.1:5000";
	p->region = "us-east-1";
	p->source.access_key_id = "AKIDEXAMPLE";
	p->source.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	p->role_arn = "arn:aws:iam::123456789012:role/r";
	p->session_name = "s";
}

/* Start one call with p and run the loop until done (or a 10 s watchdog). */
static void run_call(struct fake *f, const struct sts_params *p)
{
	struct sts *s = new_sts(f);
	struct loop_timer *wd = NULL;
	struct sts_call *c = NULL;

	assert_int_equal(sts_call(s, p, on_done, f, &c), KR_OK);
	assert_non_null(c);
	assert_int_equal(f->done_calls, 0); /* never from inside sts_call */
	assert_int_equal(loop_timer_add(f->l, loop_now(f->l) + 10000000u, on_watchdog, f->l, &wd),
	                 KR_OK);
	assert_int_equal(loop_run(f->l), 0);
	loop_timer_free(wd);
	sts_free(s);
	assert_int_equal(f->done_calls, 1);
}

static void throttling_twice_then_success_succeeds_on_third_attempt(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_OK, 400, throttle_xml);
	add_step(&f, KR_OK, 400, throttle_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_int_equal(f.res.attempts, 3);
	assert_int_equal(f.posts, 3);
	assert_int_equal(f.res.http_status, 200);
	assert_string_equal(f.res_akid, "ASIAFAKE");
	assert_string_equal(f.res_secret, "fakesecret");
	assert_string_equal(f.res_token, "faketoken");
	assert_string_equal(f.res_arn, "arn:aws:sts::123456789012:assumed-role/r/s");
	assert_int_equal(f.res.creds.expiration, 1893553445);
	assert_null(f.res_code);
	fake_fini(&f);
}

static void service_unavailable_then_success_succeeds(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_OK, 503, html_503);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_int_equal(f.res.attempts, 2);
	fake_fini(&f);
}

static void network_error_then_success_succeeds(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_ERR_NETWORK, 0, NULL);
	add_step(&f, KR_ERR_TIMEOUT, 0, NULL);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_int_equal(f.res.attempts, 3);
	fake_fini(&f);
}

static void access_denied_is_not_retried(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_OK, 403, denied_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_ERR_AWS);
	assert_int_equal(f.res.attempts, 1);
	assert_int_equal(f.posts, 1);
	assert_int_equal(f.res.http_status, 403);
	assert_string_equal(f.res_code, "AccessDenied");
	assert_null(f.res_akid);
	assert_int_equal(f.res.detail.code, KR_ERR_AWS);
	assert_non_null(strstr(f.res.detail.msg, "AccessDenied"));
	assert_non_null(strstr(f.res.detail.msg, "AssumeRole"));
	fake_fini(&f);
}

static void retries_stop_after_the_retry_limit(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	for (int i = 0; i < KR_STS_RETRIES + 2; i++)
		add_step(&f, KR_OK, 503, html_503);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_ERR_AWS);
	assert_int_equal(f.res.attempts, 1 + KR_STS_RETRIES);
	assert_int_equal(f.posts, 1 + KR_STS_RETRIES);
	assert_int_equal(f.res.http_status, 503);
	assert_non_null(strstr(f.res.detail.msg, "503"));
	fake_fini(&f);
}

static void deadline_cuts_retries_and_attempt_timeouts(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	f.advance_ms = 25000; /* every attempt "takes" 25 s on the fake clock */
	for (int i = 0; i < KR_STS_RETRIES + 1; i++)
		add_step(&f, KR_OK, 400, throttle_xml);
	assume_params(&p);
	run_call(&f, &p);
	/* 0 s, 25 s, 50 s: a fourth attempt would start at 75 s > 60 s. */
	assert_int_equal(f.res.attempts, 3);
	assert_int_equal(f.res.err, KR_ERR_AWS);
	assert_string_equal(f.res_code, "Throttling");
	assert_int_equal(f.total_ms[0], KR_HTTP_TOTAL_MS);
	assert_int_equal(f.total_ms[1], KR_HTTP_TOTAL_MS);
	assert_int_equal(f.total_ms[2], KR_STS_DEADLINE_MS - 50000); /* cut to the time left */
	fake_fini(&f);
}

static void backoff_waits_for_the_jittered_delay(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	f.rnd = 150; /* 150 % (200 + 1) = 150 ms, then 150 % (400 + 1) = 150 ms */
	add_step(&f, KR_OK, 400, throttle_xml);
	add_step(&f, KR_OK, 400, throttle_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_true(f.post_at_us[1] - f.post_at_us[0] >= 149000);
	assert_true(f.post_at_us[2] - f.post_at_us[1] >= 149000);
	assert_true(f.post_at_us[2] - f.post_at_us[0] < 5000000);
	fake_fini(&f);
}

static void ok_status_with_garbage_body_is_a_parse_error_not_retried(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_OK, 200, "<html><body>captive portal</body></html>");
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_ERR_PARSE);
	assert_int_equal(f.res.attempts, 1);
	assert_int_equal(f.res.detail.code, KR_ERR_PARSE);
	assert_non_null(strstr(f.res.detail.msg, "HTML"));
	assert_non_null(strstr(f.res.detail.fix, "proxy")); /* from sts_xml.c */
	fake_fini(&f);
}

static void ok_status_without_credentials_is_a_parse_error(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(
	    &f, KR_OK, 200,
	    "<AssumeRoleResponse><AssumeRoleResult><Credentials>"
	    "<AccessKeyId>A</AccessKeyId></Credentials></AssumeRoleResult></AssumeRoleResponse>");
	assume_params(&p);
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_ERR_PARSE);
	assert_null(f.res_akid);
	fake_fini(&f);
}

static void caller_identity_returns_arn_and_account(void **state)
{
	struct fake f;
	struct sts_params p;

	fake_init(&f);
	add_step(&f, KR_OK, 200,
	         "<GetCallerIdentityResponse><GetCallerIdentityResult>"
	         "<Arn>arn:aws:iam::123456789012:user/Alice</Arn><UserId>AIDA</UserId>"
	         "<Account>123456789012</Account></GetCallerIdentityResult>"
	         "</GetCallerIdentityResponse>");
	assume_params(&p);
	p.op = STS_GET_CALLER_IDENTITY;
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_string_equal(f.res_arn, "arn:aws:iam::123456789012:user/Alice");
	assert_string_equal(f.res_account, "123456789012");
	assert_string_equal(f.last_body, "Action=GetCallerIdentity&Version=2011-06-15");
	fake_fini(&f);
}

static const char *find_header(struct fake *f, const char *prefix)
{
	for (size_t i = 0; i < f->n_last_headers; i++)
		if (strncmp(f->last_headers[i], prefix, strlen(prefix)) == 0)
			return f->last_headers[i];
	return NULL;
}

static void request_is_signed_with_session_token(void **state)
{
	struct fake f;
	struct sts_params p;
	const char *a;

	fake_init(&f);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	p.source.session_token = "sessiontoken/=+";
	p.region = "eu-west-1";
	run_call(&f, &p);
	assert_int_equal(f.res.err, KR_OK);
	assert_non_null(find_header(&f, "Host: 127.0.0.1:5000"));
	assert_non_null(
	    find_header(&f, "Content-Type: application/x-www-form-urlencoded; charset=utf-8"));
	assert_non_null(find_header(&f, "X-Amz-Date: 20150830T123600Z"));
	assert_non_null(find_header(&f, "X-Amz-Security-Token: sessiontoken/=+"));
	a = find_header(&f, "Authorization: ");
	assert_non_null(a);
	{
		static const char want[] =
		    "Authorization: AWS4-HMAC-SHA256 "
		    "Credential=AKIDEXAMPLE/20150830/eu-west-1/sts/aws4_request, ";
		assert_memory_equal(a, want, sizeof(want) - 1);
	}
	assert_non_null(strstr(a, "x-amz-security-token"));
	assert_string_equal(f.last_body, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%"
	                                 "3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=s");
	fake_fini(&f);
}

static void cancelled_call_never_reports(void **state)
{
	struct fake f;
	struct sts_params p;
	struct sts *s;
	struct sts_call *c = NULL;

	fake_init(&f);
	add_step(&f, KR_OK, 200, creds_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	s = new_sts(&f);
	assert_int_equal(sts_call(s, &p, on_done, &f, &c), KR_OK);
	sts_call_cancel(c);
	assert_int_equal(f.cancels, 1);
	assert_int_equal(f.n_pending, 0);
	/* A second call left in flight is cancelled by sts_free. */
	assert_int_equal(sts_call(s, &p, on_done, &f, NULL), KR_OK);
	sts_free(s);
	assert_int_equal(f.cancels, 2);
	assert_int_equal(f.done_calls, 0);
	sts_call_cancel(NULL);
	sts_free(NULL);
	fake_fini(&f);
}

static void cancel_during_backoff_stops_retries(void **state)
{
	struct fake f;
	struct sts_params p;
	struct sts *s;
	struct sts_call *c = NULL;
	struct loop_timer *t = NULL;

	fake_init(&f);
	f.rnd = 200; /* first backoff: 200 ms */
	add_step(&f, KR_OK, 400, throttle_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	s = new_sts(&f);
	assert_int_equal(sts_call(s, &p, on_done, &f, &c), KR_OK);
	/* Stop the loop 50 ms in: the first answer was delivered, backoff pending. */
	assert_int_equal(loop_timer_add(f.l, loop_now(f.l) + 50000, on_watchdog, f.l, &t), KR_OK);
	assert_int_equal(loop_run(f.l), 99);
	assert_int_equal(f.posts, 1);
	assert_int_equal(f.n_pending, 0);
	sts_call_cancel(c);
	loop_timer_free(t);
	sts_free(s);
	assert_int_equal(f.done_calls, 0);
	assert_int_equal(f.posts, 1);
	fake_fini(&f);
}

static struct sts *free_me;

static void on_done_free_sts(void *userdata, struct sts_result *res)
{
	struct fake *f = userdata;

	f->done_calls++;
	f->res.err = res->err;
	sts_free(free_me); /* allowed from inside done */
	free_me = NULL;
	loop_exit(f->l, 0);
}

static void sts_free_inside_done_is_safe(void **state)
{
	struct fake f;
	struct sts_params p;
	struct loop_timer *wd = NULL;

	fake_init(&f);
	add_step(&f, KR_OK, 200, creds_xml);
	add_step(&f, KR_OK, 200, creds_xml);
	assume_params(&p);
	free_me = new_sts(&f);
	assert_int_equal(sts_call(free_me, &p, on_done_free_sts, &f, NULL), KR_OK);
	assert_int_equal(sts_call(free_me, &p, on_done_free_sts, &f, NULL), KR_OK);
	assert_int_equal(loop_timer_add(f.l, loop_now(f.l) + 10000000u, on_watchdog, f.l, &wd),
	                 KR_OK);
	assert_int_equal(loop_run(f.l), 0);
	loop_timer_free(wd);
	/* The first done freed everything; the second call was cancelled. */
	assert_int_equal(f.done_calls, 1);
	assert_int_equal(f.res.err, KR_OK);
	assert_null(free_me);
	fake_fini(&f);
}

static void invalid_parameters_fail_at_once_without_done(void **state)
{
	struct fake f;
	struct sts_params p;
	struct sts *s;

	fake_init(&f);
	s = new_sts(&f);
	assume_params(&p);
	p.role_arn = NULL;
	assert_int_equal(sts_call(s, &p, on_done, &f, NULL), KR_ERR_INVAL);
	assume_params(&p);
	p.endpoint = "ftp://sts.amazonaws.com";
	assert_int_equal(sts_call(s, &p, on_done, &f, NULL), KR_ERR_INVAL);
	assume_params(&p);
	p.source.secret_access_key = NULL;
	assert_int_equal(sts_call(s, &p, on_done, &f, NULL), KR_ERR_INVAL);
	assume_params(&p);
	p.region = NULL;
	assert_int_equal(sts_call(s, &p, on_done, &f, NULL), KR_ERR_INVAL);
	assert_int_equal(f.posts, 0);
	sts_free(s);
	assert_int_equal(f.done_calls, 0);
	fake_fini(&f);
}

static void creds_clear_wipes_and_accepts_null(void **state)
{
	struct sts_creds c = {strdup("a"), strdup("b"), strdup("c"), 5, strdup("d")};

	sts_creds_clear(&c);
	assert_null(c.access_key_id);
	assert_null(c.secret_access_key);
	assert_null(c.session_token);
	assert_null(c.arn);
	assert_int_equal(c.expiration, 0);
	sts_creds_clear(NULL);
	assert_string_equal(sts_op_name(STS_ASSUME_ROLE), "AssumeRole");
	assert_string_equal(sts_op_name(42), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(throttling_twice_then_success_succeeds_on_third_attempt),
	    cmocka_unit_test(service_unavailable_then_success_succeeds),
	    cmocka_unit_test(network_error_then_success_succeeds),
	    cmocka_unit_test(access_denied_is_not_retried),
	    cmocka_unit_test(retries_stop_after_the_retry_limit),
	    cmocka_unit_test(deadline_cuts_retries_and_attempt_timeouts),
	    cmocka_unit_test(backoff_waits_for_the_jittered_delay),
	    cmocka_unit_test(ok_status_with_garbage_body_is_a_parse_error_not_retried),
	    cmocka_unit_test(ok_status_without_credentials_is_a_parse_error),
	    cmocka_unit_test(caller_identity_returns_arn_and_account),
	    cmocka_unit_test(request_is_signed_with_session_token),
	    cmocka_unit_test(cancelled_call_never_reports),
	    cmocka_unit_test(cancel_during_backoff_stops_retries),
	    cmocka_unit_test(sts_free_inside_done_is_safe),
	    cmocka_unit_test(invalid_parameters_fail_at_once_without_done),
	    cmocka_unit_test(creds_clear_wipes_and_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
