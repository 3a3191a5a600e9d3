/* The guest's runtime module (runtime.h: launcher command lines, input
 * lines, reply lines) and the detection of a usable cgroup v2
 * hierarchy (cgroup.h), without processes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "support/files.h"

#include "cgroup.h"
#include "runtime.h"
#include "util.h"

static int tmpdir_setup(void **state)
{
	char *dir = malloc(64);
	assert_non_null(dir);
	assert_int_equal(scratch_dir(dir, 64, "runtime-test"), 0);
	*state = dir;
	return 0;
}

static int tmpdir_teardown(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

static void put(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	assert_int_equal(file_replace_text(path, text, mode, false), 0);
}

static void test_command(void **state)
{
	const char *dir = *state;
	char bin[256], launchers[256], path_list[600];
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(launchers, sizeof(launchers), "%s/ditto", dir);
	snprintf(path_list, sizeof(path_list), "/nonexistent::%s", bin);
	struct runtime_cmd c;
	/* Nothing installed, then only the interpreter, then both. */
	assert_int_equal(
		runtime_command(FN_RUNTIME_PYTHON3, launchers, path_list, "/a/f", "main", 0, &c),
		-ENOENT);
	put(dir, "bin/python3", "#!/bin/sh\n", 0755);
	put(dir, "bin/node", "not executable\n", 0644);
	assert_int_equal(
		runtime_command(FN_RUNTIME_PYTHON3, launchers, path_list, "/a/f", "main", 0, &c),
		-ENOENT);
	put(dir, "ditto/python/launcher.py", "", 0644);
	put(dir, "ditto/nodejs/launcher.js", "", 0644);
	assert_int_equal(
		runtime_command(FN_RUNTIME_PYTHON3, launchers, path_list, "/a/f", "m.fn", 64, &c),
		0);
	char want[PATH_MAX];
	snprintf(want, sizeof(want), "%s/python3", bin);
	assert_string_equal(c.argv[0], want);
	snprintf(want, sizeof(want), "%s/python/launcher.py", launchers);
	assert_string_equal(c.argv[1], want);
	assert_string_equal(c.argv[2], "/a/f");
	assert_string_equal(c.argv[3], "m.fn");
	assert_null(c.argv[4]);
	/* node is there but not executable. */
	assert_int_equal(
		runtime_command(FN_RUNTIME_NODEJS, launchers, path_list, "/a/f", "main", 0, &c),
		-ENOENT);
	put(dir, "bin/node", "#!/bin/sh\n", 0755);
	assert_int_equal(
		runtime_command(FN_RUNTIME_NODEJS, launchers, path_list, "/a/f", "main", 128, &c),
		0);
	assert_string_equal(c.argv[1], "--max-old-space-size=96");
	assert_string_equal(c.argv[3], "/a/f");
	assert_null(c.argv[5]);
	assert_int_equal(
		runtime_command(FN_RUNTIME_NODEJS, launchers, path_list, "/a/f", "main", 0, &c), 0);
	assert_string_equal(c.argv[2], "/a/f"); /* no heap flag without a limit */
	assert_int_equal(
		runtime_command(FN_RUNTIME_BINARY, launchers, path_list, "/a/f", "main", 0, &c),
		-EINVAL);
}

static void test_input_flatten(void **state)
{
	uint8_t in[] = "{\"a\":\r\n1,\n\"b\":2}";
	runtime_input_flatten(in, sizeof(in) - 1);
	assert_string_equal((char *)in, "{\"a\":  1, \"b\":2}");
}

static void want_value(const char *line, bool truncated, const char *want)
{
	struct runtime_reply r;
	assert_int_equal(runtime_reply_read((const uint8_t *)line, strlen(line), truncated, &r), 0);
	assert_false(r.raised);
	assert_int_equal(r.value_len, strlen(want));
	assert_memory_equal(line + r.value_off, want, r.value_len);
}

static void test_reply_result(void **state)
{
	want_value("{\"result\":{\"a\":[1,2]}}", false, "{\"a\":[1,2]}");
	want_value("{\"result\":null}", false, "null");
	want_value("{\"result\":\"x}\"}", false, "\"x}\"");
	/* Cut at the output cap: the value's bytes up to the cut. */
	want_value("{\"result\":[1,2,3", true, "[1,2,3");
	static const char *const bad[] = { "",
					   "{}",
					   "{\"result\":}",
					   "{\"result\":1",
					   "hello",
					   "{\"error\":1}",
					   "{\"error\":{\"type\":" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct runtime_reply r;
		assert_int_equal(
			runtime_reply_read((const uint8_t *)bad[i], strlen(bad[i]), false, &r),
			-EBADMSG);
	}
}

static void test_reply_error(void **state)
{
	const char *line = "{\"error\":{\"type\":\"KeyError\",\"message\":\"'k'\","
			   "\"traceback\":\"Traceback...\\nKeyError: 'k'\\n\"}}";
	struct runtime_reply r;
	assert_int_equal(runtime_reply_read((const uint8_t *)line, strlen(line), false, &r), 0);
	assert_true(r.raised);
	assert_string_equal(json_string_value(json_object_get(r.exception, "type")), "KeyError");
	assert_string_equal(json_string_value(json_object_get(r.exception, "traceback")),
			    "Traceback...\nKeyError: 'k'\n");
	char text[256];
	runtime_exception_text(r.exception, text, sizeof(text));
	assert_string_equal(text, "KeyError: 'k'");
	json_decref(r.exception);

	/* A long traceback is cut to RUNTIME_TRACEBACK_MAX, whole characters
	 * only; the error text is cut to fit, whole characters only. */
	struct buf b = { 0 };
	assert_int_equal(
		buf_printf(&b, "{\"error\":{\"type\":\"E\",\"message\":\"%s\",\"traceback\":\"x",
			   "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
		0);
	for (int i = 0; i < RUNTIME_TRACEBACK_MAX; i++)
		assert_int_equal(buf_append(&b, "\xc3\xa9", 2), 0);
	assert_int_equal(buf_append(&b, "\"}}", 3), 0);
	assert_int_equal(runtime_reply_read(b.data, b.len, false, &r), 0);
	const char *tb = json_string_value(json_object_get(r.exception, "traceback"));
	assert_non_null(tb);
	assert_int_equal(strlen(tb), RUNTIME_TRACEBACK_MAX - 1); /* "x", then whole é */
	char small[8];
	runtime_exception_text(r.exception, small, sizeof(small));
	assert_string_equal(small, "E: \xc3\xa9\xc3\xa9"); /* 7 bytes would split the third */
	json_decref(r.exception);
	/* Escapes count: newlines take two bytes each, control bytes six. */
	buf_reset(&b);
	assert_int_equal(buf_printf(&b, "{\"error\":{\"type\":\"E\",\"message\":\""), 0);
	for (int i = 0; i < RUNTIME_MESSAGE_MAX; i++)
		assert_int_equal(buf_append(&b, "\\u0001", 6), 0);
	assert_int_equal(buf_printf(&b, "\",\"traceback\":\""), 0);
	for (int i = 0; i < RUNTIME_TRACEBACK_MAX; i++)
		assert_int_equal(buf_append(&b, "\\n", 2), 0);
	assert_int_equal(buf_append(&b, "\"}}", 3), 0);
	assert_int_equal(runtime_reply_read(b.data, b.len, false, &r), 0);
	size_t n = strlen(json_string_value(json_object_get(r.exception, "traceback")));
	assert_int_equal(n, RUNTIME_TRACEBACK_MAX / 2);
	n = strlen(json_string_value(json_object_get(r.exception, "message")));
	assert_int_equal(n, RUNTIME_MESSAGE_MAX / 6);
	char *dump = json_dumps(r.exception, JSON_COMPACT);
	assert_true(strlen(dump) < RUNTIME_TRACEBACK_MAX + RUNTIME_MESSAGE_MAX + 64);
	free(dump);
	json_decref(r.exception);
	buf_free(&b);
	/* No message: the type alone. */
	line = "{\"error\":{\"type\":\"StopIteration\",\"message\":\"\",\"traceback\":\"\"}}";
	assert_int_equal(runtime_reply_read((const uint8_t *)line, strlen(line), false, &r), 0);
	runtime_exception_text(r.exception, text, sizeof(text));
	assert_string_equal(text, "StopIteration");
	json_decref(r.exception);
}

/* Only a cgroup v2 file system is used: not a missing folder, nor a plain
 * folder that looks like one (test_invoke_cgroup.c uses a real one). */
static void test_cgroups_detect(void **state)
{
	const char *dir = *state;
	struct cgroups cs;
	assert_int_equal(cgroups_init(&cs, "/nonexistent/cgroup"), 0);
	assert_false(cgroups_enabled(&cs));
	assert_false(cgroups_have_memory(&cs));
	struct cgroup cg = { .fd = -1 };
	assert_int_equal(cgroup_create(&cs, 64, &cg), -EOPNOTSUPP);
	assert_int_equal(cgroup_create(&cs, 0, &cg), -EOPNOTSUPP);
	assert_false(cgroup_is_set(&cg));
	assert_int_equal(cgroup_kill(&cg), -EBADF);
	cgroup_remove(&cs, &cg); /* an empty one is fine */
	cgroups_fini(&cs);
	put(dir, "cg/cgroup.controllers", "cpu memory pids\n", 0644);
	put(dir, "cg/cgroup.subtree_control", "", 0644);
	char root[256];
	snprintf(root, sizeof(root), "%s/cg", dir);
	assert_int_equal(cgroups_init(&cs, root), 0);
	assert_false(cgroups_enabled(&cs));
	cgroups_fini(&cs);
	char *text;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	size_t n;
	assert_int_equal(file_read_all(path, (void **)&text, &n), 0);
	assert_int_equal(n, 0); /* nothing written to it */
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_command, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_input_flatten),
		cmocka_unit_test(test_reply_result),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test_setup_teardown(test_cgroups_detect, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
