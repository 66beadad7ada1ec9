/*
 * The client's IAM Identity Center logic that needs no daemon: the browser
 * command (client/browser.c), profile names and the sections of `keyrole
 * sso profiles` (client/sso.c), the login text, exit status 8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "browser.h"
#include "caps.h"
#include "cmd.h"
#include "err.h"
#include "json.h"
#include "login.h"
#include "proto.h"
#include "shellquote.h"
#include "../../client/sso.h" /* not daemon/sso.h, which -iquote finds first */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define URL "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH"

/* argv as one string, words joined by '|'. */
static void joined(char **argv, char *out, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; argv[i] && len < n; i++)
		len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "|" : "", argv[i]);
}

static void assert_argv(const char *browser, int display, const char *want)
{
	char **argv = NULL, got[1024];

	assert_int_equal(browser_argv(browser, display, URL, &argv), KR_OK);
	joined(argv, got, sizeof(got));
	assert_string_equal(got, want);
	shellquote_argv_free(argv);
}

static void test_browser_is_split_without_a_shell_and_gets_the_url_last(void **state)
{
	assert_argv("firefox", 0, "firefox|" URL);
	assert_argv("/opt/my browser/run 'a b' $HOME `id` ;", 1,
	            "/opt/my|browser/run|a b|$HOME|`id`|;|" URL);
}

static void test_browser_words_with_percent_s_take_the_url_instead(void **state)
{
	assert_argv("chromium --app=%s --new-window", 0, "chromium|--app=" URL "|--new-window");
	assert_argv("open %s%s", 0, "open|" URL URL);
}

static void test_browser_falls_back_to_xdg_open_only_on_a_display(void **state)
{
	char **argv = NULL;

	assert_argv(NULL, 1, "xdg-open|" URL);
	assert_argv("", 1, "xdg-open|" URL);
	assert_int_equal(browser_argv(NULL, 0, URL, &argv), KR_ERR_UNSUPPORTED);
	assert_int_equal(browser_argv("", 0, URL, &argv), KR_ERR_UNSUPPORTED);
	assert_null(argv);
}

static void test_browser_refuses_a_bad_browser_variable(void **state)
{
	char **argv = NULL;

	assert_int_equal(browser_argv("firefox 'unterminated", 1, URL, &argv), KR_ERR_PARSE);
	assert_int_equal(browser_argv("   ", 1, URL, &argv), KR_ERR_PARSE);
	assert_null(argv);
}

static void test_browser_only_opens_http_urls(void **state)
{
	char **argv = NULL;

	assert_true(browser_url_ok("https://x"));
	assert_true(browser_url_ok("http://127.0.0.1:8080/device?user_code=A"));
	assert_false(browser_url_ok(NULL));
	assert_false(browser_url_ok(""));
	assert_false(browser_url_ok("https://"));
	assert_false(browser_url_ok("file:///etc/passwd"));
	assert_false(browser_url_ok("-x"));
	assert_false(browser_url_ok("javascript:alert(1)"));
	assert_false(browser_url_ok("https://x/ y"));
	assert_false(browser_url_ok("https://x/\ny"));
	assert_false(browser_url_ok("https://x/\x1b[2J"));
	assert_false(browser_url_ok("https://x/\xc2\x9b"));
	assert_int_equal(browser_argv("firefox", 1, "file:///etc/passwd", &argv), KR_ERR_INVAL);
	assert_null(argv);
}

static void test_browser_start_reports_a_missing_program(void **state)
{
	char *argv[] = {(char *)"/nonexistent/keyrole-browser", (char *)URL, NULL};
	int e = 0;

	assert_int_equal(browser_start(argv, proto_now_ms() + 5000, &e), KR_ERR_PROCESS);
	assert_int_equal(e, ENOENT);
}

static void test_browser_start_returns_without_waiting_for_the_browser(void **state)
{
	char *argv[] = {(char *)"sleep", (char *)"1", NULL};
	int64_t t0 = proto_now_ms();
	int e = -1;

	assert_int_equal(browser_start(argv, t0 + 5000, &e), KR_OK);
	assert_int_equal(e, 0);
	assert_true(proto_now_ms() - t0 < 2000);
}

static void assert_name(const char *account, const char *id, const char *role, const char *want)
{
	char out[KR_NAME_MAX + 1];

	sso_profile_name(account, id, role, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_profile_name_is_account_and_role_sanitized(void **state)
{
	assert_name("Acme Prod", "111111111111", "Developer", "Acme-Prod-Developer");
	assert_name("acme/prod  (EU)", "1", "AWSAdministratorAccess",
	            "acme-prod-EU-AWSAdministratorAccess");
	assert_name("a.b_c", "1", "r.x", "a.b_c-r.x");
	/* Nothing that could start an option, break a header or a shell word. */
	assert_name("-lead", "1", "--role--", "lead-role");
	assert_name("..dots..", "1", "R", "dots-R");
	assert_name("[profile x]\n", "1", "a'b\"c", "profile-x-a-b-c");
	assert_name("caf\xc3\xa9 ", "1", "R", "caf-R");
}

static void test_profile_name_falls_back_to_the_account_id(void **state)
{
	assert_name(NULL, "111111111111", "Dev", "111111111111-Dev");
	assert_name("", "111111111111", "Dev", "111111111111-Dev");
	assert_name("***", "111111111111", "Dev", "111111111111-Dev");
	assert_name("***", "", "", "account-role");
}

static void test_profile_name_is_bounded(void **state)
{
	char account[1000], role[1000], out[KR_NAME_MAX + 1];

	memset(account, 'a', sizeof(account) - 1);
	account[sizeof(account) - 1] = '\0';
	memset(role, 'r', sizeof(role) - 1);
	role[sizeof(role) - 1] = '\0';
	sso_profile_name(account, "1", role, out, sizeof(out));
	assert_true(strlen(out) <= SSO_NAME_MAX);
	assert_true(strlen(out) + strlen("-chain") + 13 <= KR_NAME_MAX);
	assert_int_equal(out[0], 'a');
	assert_int_equal(out[strlen(out) - 1], 'r');
	assert_non_null(strstr(out, "a-r"));
}

static void ctx_init(struct cmd_ctx *x)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->out, KR_CLIENT_OUT_MAX);
}

static const char *sections(struct cmd_ctx *x, const char *reply_json, int *ret)
{
	struct json *reply = NULL;

	assert_int_equal(json_parse(reply_json, strlen(reply_json), &reply), KR_OK);
	*ret = sso_sections(x, reply, "/usr/bin/keyrole");
	json_free(reply);
	return x->out.data ? x->out.data : "";
}

static void test_sections_pair_an_sso_profile_with_a_tool_profile(void **state)
{
	struct cmd_ctx x;
	int r;
	const char *out;

	ctx_init(&x);
	out = sections(
	    &x,
	    "{\"session\":\"corp\",\"start_url\":\"https://c/start\",\"region\":\"eu-west-1\","
	    "\"accounts\":[{\"account_id\":\"111111111111\",\"account_name\":\"Prod\","
	    "\"roles\":[\"Dev\"]}]}",
	    &r);
	assert_int_equal(r, KR_OK);
	assert_string_equal(
	    out, "# IAM Identity Center session corp (https://c/start): 1 account, 1 role.\n"
	         "# For ~/.aws/config: tools use [profile NAME] (AWS_PROFILE=NAME), keyrole "
	         "resolves NAME-chain.\n\n"
	         "# Prod (111111111111)\n"
	         "[profile Prod-Dev-chain]\n"
	         "sso_session = corp\n"
	         "sso_account_id = 111111111111\n"
	         "sso_role_name = Dev\n"
	         "region = eu-west-1\n\n"
	         "[profile Prod-Dev]\n"
	         "credential_process = /usr/bin/keyrole get Prod-Dev-chain\n"
	         "region = eu-west-1\n\n");
	buf_free(&x.out);
}

static void test_sections_of_a_legacy_session_name_the_start_url(void **state)
{
	struct cmd_ctx x;
	int r;
	const char *out;

	ctx_init(&x);
	out = sections(&x,
	               "{\"session\":\"https://c/start\",\"start_url\":\"https://c/start\","
	               "\"region\":\"us-east-1\",\"accounts\":[{\"account_id\":\"1\","
	               "\"account_name\":\"P\",\"roles\":[\"R\"]}]}",
	               &r);
	assert_int_equal(r, KR_OK);
	assert_non_null(strstr(out, "[profile P-R-chain]\nsso_start_url = https://c/start\n"
	                            "sso_region = us-east-1\nsso_account_id = 1\n"));
	assert_null(strstr(out, "sso_session"));
	buf_free(&x.out);
}

static void test_sections_without_a_region_have_no_region_line(void **state)
{
	struct cmd_ctx x;
	int r;
	const char *out;

	ctx_init(&x);
	out = sections(
	    &x, "{\"session\":\"s\",\"accounts\":[{\"account_id\":\"1\",\"roles\":[\"R\"]}]}", &r);
	assert_int_equal(r, KR_OK);
	assert_null(strstr(out, "region ="));
	assert_non_null(strstr(out, "[profile 1-R]\n"));
	buf_free(&x.out);
}

static void test_sections_keep_names_unique(void **state)
{
	struct cmd_ctx x;
	int r;
	const char *out;

	ctx_init(&x);
	out = sections(&x,
	               "{\"session\":\"s\",\"accounts\":["
	               "{\"account_id\":\"1\",\"account_name\":\"A B\",\"roles\":[\"R\",\"R\"]},"
	               "{\"account_id\":\"2\",\"account_name\":\"A/B\",\"roles\":[\"R\"]}]}",
	               &r);
	assert_int_equal(r, KR_OK);
	assert_non_null(strstr(out, "[profile A-B-R]\n"));
	assert_non_null(strstr(out, "[profile A-B-R-2]\n"));
	/* The same account and role listed twice: one pair. */
	assert_null(strstr(strstr(out, "[profile A-B-R]\n") + 1, "[profile A-B-R]\n"));
	buf_free(&x.out);
}

static void test_sections_quote_a_keyrole_path_with_blanks(void **state)
{
	struct cmd_ctx x;
	struct json *reply = NULL;
	const char *j =
	    "{\"session\":\"s\",\"accounts\":[{\"account_id\":\"1\",\"roles\":[\"R\"]}]}";

	ctx_init(&x);
	assert_int_equal(json_parse(j, strlen(j), &reply), KR_OK);
	assert_int_equal(sso_sections(&x, reply, "/opt/my tools/keyrole"), KR_OK);
	assert_non_null(
	    strstr(x.out.data, "credential_process = '/opt/my tools/keyrole' get 1-R-chain\n"));
	json_free(reply);
	buf_free(&x.out);
}

static void test_sections_need_an_accounts_list(void **state)
{
	struct cmd_ctx x;
	int r;

	ctx_init(&x);
	sections(&x, "{\"session\":\"s\"}", &r);
	assert_int_equal(r, KR_ERR_PROTO);
	assert_int_equal(x.out.len, 0);
	buf_free(&x.out);
}

static void test_login_text_and_exit_status(void **state)
{
	struct login_result r = {.session = "corp",
	                         .start_url = "https://c/start",
	                         .expiration = "2030-01-01T00:00:00Z"};
	char out[512];

	login_done_text(&r, out, sizeof(out));
	assert_string_equal(out, "logged in to corp (https://c/start) until 2030-01-01T00:00:00Z");
	assert_int_equal(cmd_exit_code(KR_ERR_LOGIN), CMD_EXIT_LOGIN);
	assert_int_equal(CMD_EXIT_LOGIN, 8);
	assert_string_equal(err_name(KR_ERR_LOGIN), "login");
	assert_int_equal(err_from_name("login"), KR_ERR_LOGIN);
}

static void test_default_profile_is_botocores(void **state)
{
	unsetenv("AWS_DEFAULT_PROFILE");
	unsetenv("AWS_PROFILE");
	assert_string_equal(cmd_default_profile(), "default");
	setenv("AWS_PROFILE", "work", 1);
	assert_string_equal(cmd_default_profile(), "work");
	setenv("AWS_DEFAULT_PROFILE", "", 1);
	assert_string_equal(cmd_default_profile(), "work");
	setenv("AWS_DEFAULT_PROFILE", "first", 1);
	assert_string_equal(cmd_default_profile(), "first");
	unsetenv("AWS_DEFAULT_PROFILE");
	unsetenv("AWS_PROFILE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_browser_is_split_without_a_shell_and_gets_the_url_last),
	    cmocka_unit_test(test_browser_words_with_percent_s_take_the_url_instead),
	    cmocka_unit_test(test_browser_falls_back_to_xdg_open_only_on_a_display),
	    cmocka_unit_test(test_browser_refuses_a_bad_browser_variable),
	    cmocka_unit_test(test_browser_only_opens_http_urls),
	    cmocka_unit_test(test_browser_start_reports_a_missing_program),
	    cmocka_unit_test(test_browser_start_returns_without_waiting_for_the_browser),
	    cmocka_unit_test(test_profile_name_is_account_and_role_sanitized),
	    cmocka_unit_test(test_profile_name_falls_back_to_the_account_id),
	    cmocka_unit_test(test_profile_name_is_bounded),
	    cmocka_unit_test(test_sections_pair_an_sso_profile_with_a_tool_profile),
	    cmocka_unit_test(test_sections_of_a_legacy_session_name_the_start_url),
	    cmocka_unit_test(test_sections_without_a_region_have_no_region_line),
	    cmocka_unit_test(test_sections_keep_names_unique),
	    cmocka_unit_test(test_sections_quote_a_keyrole_path_with_blanks),
	    cmocka_unit_test(test_sections_need_an_accounts_list),
	    cmocka_unit_test(test_login_text_and_exit_status),
	    cmocka_unit_test(test_default_profile_is_botocores),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
