/* Unit tests for common/ (error codes, the wiping buffer, frames) and the daemon's messages. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "caps.h"
#include "mem.h"
#include "proto.h"
#include "sockpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static void err_every_code_has_a_name_and_text(void **state)
{
	for (int e = 0; e > KR_ERR__LAST; e--) {
		assert_non_null(err_str(e));
		assert_non_null(err_name(e));
		assert_int_equal(err_from_name(err_name(e)), e);
	}
}

static void err_out_of_range_codes_are_internal(void **state)
{
	assert_string_equal(err_name(5), "internal");
	assert_string_equal(err_name(-1000), "internal");
	assert_int_equal(err_from_name("no-such-name"), KR_ERR_INTERNAL);
	assert_int_equal(err_from_name(NULL), KR_ERR_INTERNAL);
}

static void buf_refuses_to_grow_past_its_cap(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_puts(&b, "0123456789"), KR_OK);
	assert_int_equal(buf_putc(&b, 'x'), KR_ERR_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	buf_free(&b);
	assert_null(b.data);
}

static void buf_huge_append_does_not_overflow(void **state)
{
	struct buf b;

	buf_init(&b, 100);
	assert_int_equal(buf_puts(&b, "abc"), KR_OK);
	assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), KR_ERR_TOOBIG);
	assert_int_equal(b.len, 3);
	buf_free(&b);
}

static void buf_printf_and_consume_keep_nul(void **state)
{
	struct buf b;

	buf_init(&b, 1024);
	for (int i = 0; i < 50; i++)
		assert_int_equal(buf_printf(&b, "%d,", i), KR_OK);
	assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
	buf_consume(&b, 2);
	assert_true(strncmp(b.data, "1,2,", 4) == 0);
	assert_int_equal(b.data[b.len], '\0');
	buf_consume(&b, b.len);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	buf_free(&b); /* twice is fine */
}

static void buf_steal_hands_over_a_string(void **state)
{
	struct buf b;
	size_t n;
	char *s;

	buf_init(&b, 64);
	s = buf_steal(&b, &n); /* empty buffer: still a string */
	assert_non_null(s);
	assert_int_equal(n, 0);
	assert_string_equal(s, "");
	free(s);
	buf_puts(&b, "secret");
	s = buf_steal(&b, &n);
	assert_string_equal(s, "secret");
	assert_null(b.data);
	mem_free_str(s);
}

static void mem_strdup_max_refuses_long_strings(void **state)
{
	char *s = mem_strdup_max("hello", 5);

	assert_string_equal(s, "hello");
	free(s);
	assert_null(mem_strdup_max("hello!", 5));
	assert_true(mem_equal_ct("abc", "abc", 3));
	assert_false(mem_equal_ct("abc", "abd", 3));
}

static void frame_length_zero_and_over_cap_are_rejected(void **state)
{
	const unsigned char zero[4] = {0, 0, 0, 0};
	const unsigned char big[4] = {0xff, 0xff, 0xff, 0xff};
	const unsigned char ok[4] = {0, 0, 1, 0};
	size_t n = 0;

	assert_int_equal(proto_frame_len(zero, KR_REQ_MAX, &n), KR_ERR_PROTO);
	assert_int_equal(proto_frame_len(big, KR_REQ_MAX, &n), KR_ERR_TOOBIG);
	assert_int_equal(n, 0);
	assert_int_equal(proto_frame_len(ok, KR_REQ_MAX, &n), KR_OK);
	assert_int_equal(n, 256);
}

static void frame_append_writes_the_length_and_refuses_what_does_not_fit(void **state)
{
	struct buf out;
	size_t n = 0;

	buf_init(&out, 10);
	assert_int_equal(buf_puts(&out, "x"), KR_OK);
	assert_int_equal(proto_frame_append(&out, "", 0), KR_ERR_PROTO);
	/* Header and body would be 11 bytes: out stays as it was. */
	assert_int_equal(proto_frame_append(&out, "123456", 6), KR_ERR_TOOBIG);
	assert_int_equal(out.len, 1);
	assert_int_equal(proto_frame_append(&out, "12345", 5), KR_OK);
	assert_int_equal(out.len, 10);
	assert_int_equal(proto_frame_len((const unsigned char *)out.data + 1, 5, &n), KR_OK);
	assert_int_equal(n, 5);
	assert_memory_equal(out.data + 5, "12345", 5);
	buf_free(&out);
}

static void frame_round_trips_through_a_socket(void **state)
{
	const char body[] = "{\"v\":1,\"op\":\"ping\"}";
	struct buf out, in;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&out, KR_FRAME_HDR + KR_REQ_MAX);
	buf_init(&in, KR_REQ_MAX);
	assert_int_equal(proto_frame_append(&out, body, strlen(body)), KR_OK);
	assert_int_equal(proto_write_all(sv[0], out.data, out.len, proto_now_ms() + 1000), KR_OK);
	assert_int_equal(proto_read_frame(sv[1], KR_REQ_MAX, proto_now_ms() + 1000, &in), KR_OK);
	assert_int_equal(in.len, strlen(body));
	assert_memory_equal(in.data, body, in.len);
	buf_free(&out);
	buf_free(&in);
	close(sv[0]);
	close(sv[1]);
}

static void frame_read_stops_at_the_cap_before_the_body(void **state)
{
	const unsigned char hdr[4] = {0, 0x10, 0, 0}; /* 1 MiB */
	struct buf in;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&in, KR_REQ_MAX);
	assert_int_equal(write(sv[0], hdr, 4), 4);
	assert_int_equal(proto_read_frame(sv[1], KR_REQ_MAX, proto_now_ms() + 1000, &in),
	                 KR_ERR_TOOBIG);
	assert_null(in.data); /* nothing was allocated for the body */
	buf_free(&in);
	close(sv[0]);
	close(sv[1]);
}

static void frame_read_times_out_on_half_a_frame(void **state)
{
	const unsigned char part[6] = {0, 0, 0, 10, '{', '"'};
	struct buf in;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&in, KR_REQ_MAX);
	assert_int_equal(write(sv[0], part, sizeof(part)), (ssize_t)sizeof(part));
	assert_int_equal(proto_read_frame(sv[1], KR_REQ_MAX, proto_now_ms() + 100, &in),
	                 KR_ERR_TIMEOUT);
	buf_free(&in);
	close(sv[0]);
	close(sv[1]);
}

static void unset_socket_env(void)
{
	unsetenv("KEYROLE_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
}

static void sockpath_prefers_keyrole_socket_then_runtime_dir(void **state)
{
	char p[108];

	unset_socket_env();
	setenv("HOME", "/home/u", 1);
	setenv("KEYROLE_SOCKET", "/tmp/x/y.sock", 1);
	assert_int_equal(sockpath_default(p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/tmp/x/y.sock");
	unsetenv("KEYROLE_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	assert_int_equal(sockpath_default(p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/run/user/1000/keyrole/agent.sock");
	unset_socket_env();
}

/*
 * Without XDG_RUNTIME_DIR: logind's /run/user/UID when it is ours, else a
 * place under our home. Never /tmp/keyrole-UID, which another user can make
 * first and so deny us the service.
 */
static void sockpath_without_runtime_dir_uses_run_user_then_home(void **state)
{
	char tmpl[] = "/tmp/kr-test-XXXXXX", mine[256], want[300], p[108];

	assert_non_null(mkdtemp(tmpl));
	snprintf(mine, sizeof(mine), "%s/%u", tmpl, (unsigned)getuid());
	unset_socket_env();
	setenv("HOME", "/home/u/", 1);
	/* No /run/user/UID: ~/.cache, or $XDG_CACHE_HOME. */
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/home/u/.cache/keyrole/agent.sock");
	setenv("XDG_CACHE_HOME", "/var/cache/u", 1);
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/var/cache/u/keyrole/agent.sock");
	unsetenv("XDG_CACHE_HOME");
	setenv("XDG_CACHE_HOME", "relative/cache", 1); /* not absolute: ignored, as XDG says */
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/home/u/.cache/keyrole/agent.sock");
	unsetenv("XDG_CACHE_HOME");
	/* Our runtime directory. */
	assert_int_equal(mkdir(mine, 0700), 0);
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_OK);
	snprintf(want, sizeof(want), "%s/keyrole/agent.sock", mine);
	assert_string_equal(p, want);
	/* One that others may write to is not ours to trust. */
	chmod(mine, 0777);
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/home/u/.cache/keyrole/agent.sock");
	rmdir(mine);
	/* Nowhere at all: a clear error, not a guess. */
	unsetenv("HOME");
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_ERR_INVAL);
	setenv("HOME", "relative/home", 1);
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_ERR_INVAL);
	assert_non_null(strstr(sockpath_why(KR_ERR_INVAL), "KEYROLE_SOCKET"));
	/* A home too deep for a socket address. */
	setenv("HOME",
	       "/home/a-very-long-user-name-that-goes-on-and-on/and-a-subdirectory-as-well/"
	       "and-one-more",
	       1);
	assert_int_equal(sockpath_default_at(tmpl, p, sizeof(p)), KR_ERR_TOOBIG);
	unset_socket_env();
	rmdir(tmpl);
}

/* A relative path is the current directory's, made absolute once. */
static void sockpath_relative_paths_are_made_absolute(void **state)
{
	char tmpl[] = "/tmp/kr-test-XXXXXX", cwd[4096], want[256], p[108];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(tmpl));
	assert_int_equal(chdir(tmpl), 0);
	unset_socket_env();
	setenv("KEYROLE_SOCKET", "run/agent.sock", 1);
	assert_int_equal(sockpath_default(p, sizeof(p)), KR_OK);
	snprintf(want, sizeof(want), "%s/run/agent.sock", tmpl);
	assert_string_equal(p, want);
	assert_int_equal(sockpath_absolute("./x.sock", p, sizeof(p)), KR_OK);
	snprintf(want, sizeof(want), "%s/x.sock", tmpl);
	assert_string_equal(p, want);
	assert_int_equal(sockpath_absolute("/abs/x.sock", p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/abs/x.sock");
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(sockpath_absolute("x.sock", p, sizeof(p)), KR_OK);
	assert_string_equal(p, "/x.sock");
	/* Too long once made absolute. */
	memset(want, 'a', 100);
	want[100] = '\0';
	assert_int_equal(chdir(tmpl), 0);
	assert_int_equal(sockpath_absolute(want, p, sizeof(p)), KR_ERR_TOOBIG);
	/* The directory is prepared where the absolute path says, never in the cwd. */
	assert_int_equal(sockpath_prepare_dir("run/agent.sock"), KR_ERR_INVAL);
	assert_int_equal(sockpath_prepare_dir("x.sock"), KR_ERR_INVAL);
	assert_int_equal(chdir(cwd), 0);
	unset_socket_env();
	rmdir(tmpl);
}

/* ~/.cache may not exist yet: it is made too, 0700. */
static void sockpath_makes_missing_parent_directories(void **state)
{
	char tmpl[] = "/tmp/kr-test-XXXXXX", path[256];
	struct stat st;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/home/.cache/keyrole/agent.sock", tmpl);
	assert_int_equal(sockpath_prepare_dir(path), KR_OK);
	snprintf(path, sizeof(path), "%s/home/.cache", tmpl);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/home/.cache/keyrole", tmpl);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/home/.cache", tmpl);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/home", tmpl);
	rmdir(path);
	rmdir(tmpl);
}

static void sockpath_makes_our_directory_0700(void **state)
{
	char tmpl[] = "/tmp/kr-test-XXXXXX", path[256];
	struct stat st;

	assert_non_null(mkdtemp(tmpl));
	snprintf(path, sizeof(path), "%s/keyrole/agent.sock", tmpl);
	assert_int_equal(sockpath_prepare_dir(path), KR_OK);
	snprintf(path, sizeof(path), "%s/keyrole", tmpl);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/keyrole/agent.sock", tmpl);
	assert_int_equal(sockpath_prepare_dir(path), KR_OK); /* repaired */
	snprintf(path, sizeof(path), "%s/keyrole", tmpl);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rmdir(path);
	rmdir(tmpl);
}

/* Someone else's directory, or one others may write to, could lose us the socket. */
static void sockpath_refuses_directories_others_control(void **state)
{
	char tmpl[] = "/tmp/kr-test-XXXXXX", dir[256], path[256];

	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s/mine", tmpl);
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(sockpath_prepare_dir(path), KR_OK); /* readable is fine */
	chmod(dir, 01777);
	assert_int_equal(sockpath_prepare_dir(path), KR_ERR_PERM); /* sticky, world-writable */
	chmod(dir, 0775);
	assert_int_equal(sockpath_prepare_dir(path), KR_ERR_PERM); /* group-writable */
	rmdir(dir);
	if (getuid() == 0) {
		/* Another user made /tmp/keyrole-UID first, sticky and open to all. */
		snprintf(dir, sizeof(dir), "%s/keyrole-0", tmpl);
		snprintf(path, sizeof(path), "%s/agent.sock", dir);
		assert_int_equal(mkdir(dir, 01777), 0);
		chmod(dir, 01777);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(sockpath_prepare_dir(path), KR_ERR_PERM);
		rmdir(dir);
	}
	rmdir(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(err_every_code_has_a_name_and_text),
	    cmocka_unit_test(err_out_of_range_codes_are_internal),
	    cmocka_unit_test(buf_refuses_to_grow_past_its_cap),
	    cmocka_unit_test(buf_huge_append_does_not_overflow),
	    cmocka_unit_test(buf_printf_and_consume_keep_nul),
	    cmocka_unit_test(buf_steal_hands_over_a_string),
	    cmocka_unit_test(mem_strdup_max_refuses_long_strings),
	    cmocka_unit_test(frame_length_zero_and_over_cap_are_rejected),
	    cmocka_unit_test(frame_append_writes_the_length_and_refuses_what_does_not_fit),
	    cmocka_unit_test(frame_round_trips_through_a_socket),
	    cmocka_unit_test(frame_read_stops_at_the_cap_before_the_body),
	    cmocka_unit_test(frame_read_times_out_on_half_a_frame),
	    cmocka_unit_test(sockpath_prefers_keyrole_socket_then_runtime_dir),
	    cmocka_unit_test(sockpath_without_runtime_dir_uses_run_user_then_home),
	    cmocka_unit_test(sockpath_relative_paths_are_made_absolute),
	    cmocka_unit_test(sockpath_makes_missing_parent_directories),
	    cmocka_unit_test(sockpath_makes_our_directory_0700),
	    cmocka_unit_test(sockpath_refuses_directories_others_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
