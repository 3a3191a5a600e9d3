/* The QMP codec on hand-written input: command bytes, malformed lines, ids
 * and what the CPU query parsers refuse. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmp.h"

static void expect_build(const char *cmd, const json_t *args, uint64_t id, const char *want)
{
	char *out;
	size_t len;
	assert_int_equal(qmp_command_build(cmd, args, id, &out, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	assert_int_equal(out[len], '\0');
	free(out);
}

static void test_command_build(void **state)
{
	expect_build("qmp_capabilities", NULL, 1,
		     "{\"execute\":\"qmp_capabilities\",\"id\":1}\r\n");
	json_t *args = json_pack("{s:s, s:s, s:i, s:i, s:i}", "driver", "max-x86_64-cpu", "id",
				 "wcpu1", "socket-id", 0, "core-id", 1, "thread-id", 0);
	expect_build(
		"device_add", args, 3,
		"{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"max-x86_64-cpu\","
		"\"id\":\"wcpu1\",\"socket-id\":0,\"core-id\":1,\"thread-id\":0},\"id\":3}\r\n");
	/* args is borrowed, not stolen. */
	assert_int_equal(args->refcount, 1);
	json_decref(args);
	args = json_pack("{s:s}", "id", "wcpu1");
	expect_build("device_del", args, UINT64_MAX,
		     "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"wcpu1\"},"
		     "\"id\":18446744073709551615}\r\n");
	json_decref(args);
	expect_build("a\"b\\c", NULL, 7, "{\"execute\":\"a\\\"b\\\\c\",\"id\":7}\r\n");

	char *out = (char *)"untouched";
	size_t len = 42;
	json_t *arr = json_array();
	assert_int_equal(qmp_command_build("x", arr, 1, &out, &len), -EINVAL);
	assert_int_equal(qmp_command_build("\xff\xfe", NULL, 1, &out, &len), -EINVAL);
	assert_string_equal(out, "untouched");
	assert_int_equal(len, 42);
	json_decref(arr);
}

/* A built command reads back as the same JSON. */
static void test_command_round_trip(void **state)
{
	json_t *args = json_pack("{s:s, s:{s:b}}", "id", "x\n\ty\xc3\xa9", "opts", "on", 1);
	char *out;
	size_t len;
	assert_int_equal(qmp_command_build("query-cpus-fast", args, 99, &out, &len), 0);
	assert_memory_equal(out + len - 2, "\r\n", 2);
	assert_null(memchr(out, '\n', len - 1));
	json_t *back = json_loadb(out, len, 0, NULL);
	assert_non_null(back);
	assert_string_equal(json_string_value(json_object_get(back, "execute")), "query-cpus-fast");
	assert_int_equal(json_integer_value(json_object_get(back, "id")), 99);
	assert_true(json_equal(json_object_get(back, "arguments"), args));
	json_decref(back);
	json_decref(args);
	free(out);
}

static void expect_parse_error(const char *line, int want)
{
	struct qmp_msg m = { .kind = QMP_MSG_EVENT, .id = 77 };
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), want);
	/* Untouched on failure. */
	assert_int_equal(m.kind, QMP_MSG_EVENT);
	assert_int_equal(m.id, 77);
	assert_null(m.root);
}

static void test_malformed_lines(void **state)
{
	expect_parse_error("", -ENODATA);
	expect_parse_error(" \t\r", -ENODATA);
	expect_parse_error("not json", -EBADMSG);
	expect_parse_error("{\"return\": {}", -EBADMSG);
	expect_parse_error("{\"return\": {}} {}", -EBADMSG);
	expect_parse_error("[{\"return\": {}}]", -EBADMSG);
	expect_parse_error("\"return\"", -EBADMSG);
	expect_parse_error("42", -EBADMSG);
	expect_parse_error("{}", -EBADMSG);
	expect_parse_error("{\"id\": 3, \"foo\": 1}", -EBADMSG);
	expect_parse_error("{\"error\": \"bad\", \"id\": 3}", -EBADMSG);
	expect_parse_error("{\"error\": {\"class\": \"GenericError\"}, \"id\": 3}", -EBADMSG);
	expect_parse_error("{\"error\": {\"desc\": \"x\"}, \"id\": 3}", -EBADMSG);
	expect_parse_error("{\"event\": 5}", -EBADMSG);

	/* A NUL inside the line is not JSON text. */
	struct qmp_msg m;
	assert_int_equal(qmp_parse_line("{\"return\":{}}\0", 14, &m), -EBADMSG);
	/* The length bounds the line; what follows is not read. */
	assert_int_equal(qmp_parse_line("{\"return\":{}}garbage", 13, &m), 0);
	assert_int_equal(m.kind, QMP_MSG_RETURN);
	qmp_msg_clear(&m);
	assert_null(m.root);
	qmp_msg_clear(&m);
}

static void test_ids(void **state)
{
	struct qmp_msg m;
	const char *line = "{\"return\": 5, \"id\": \"abc\"}";
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
	assert_int_equal(m.kind, QMP_MSG_RETURN);
	assert_false(m.has_id);
	assert_int_equal(json_integer_value(m.value), 5);
	qmp_msg_clear(&m);

	line = "{\"return\": {}, \"id\": -4}";
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
	assert_false(m.has_id);
	qmp_msg_clear(&m);

	/* QEMU answers a request it could not read with an error without id. */
	line = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}";
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
	assert_int_equal(m.kind, QMP_MSG_ERROR);
	assert_false(m.has_id);
	qmp_msg_clear(&m);

	line = "{\"return\": [], \"id\": 9007199254740993}";
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
	assert_true(m.has_id);
	assert_int_equal(m.id, 9007199254740993ull);
	qmp_msg_clear(&m);

	/* An event's id-like member is not a reply id. */
	line = "{\"event\": \"X\", \"id\": 3}";
	assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
	assert_int_equal(m.kind, QMP_MSG_EVENT);
	assert_false(m.has_id);
	assert_null(m.value);
	assert_int_equal(m.ts_sec, 0);
	qmp_msg_clear(&m);
}
/* Parses @v (consumed; NULL is handed on as is) as query-hotpluggable-cpus. */
static int parse_slots(json_t *v, struct qmp_hotpluggable_cpu *slots)
{
	int r = qmp_parse_hotpluggable_cpus(v, slots, 2);
	json_decref(v);
	return r;
}

/* Parses @v (consumed) as query-cpus-fast. */
static int parse_cpus(json_t *v, struct qmp_cpu_info *cpus)
{
	int r = qmp_parse_cpus_fast(v, cpus, 2);
	json_decref(v);
	return r;
}

static json_t *load(const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	assert_non_null(v);
	return v;
}

static void test_cpu_parsers_reject(void **state)
{
	struct qmp_hotpluggable_cpu slots[2];
	struct qmp_cpu_info cpus[2];
	assert_int_equal(parse_slots(json_object(), slots), -EBADMSG);
	assert_int_equal(parse_cpus(json_object(), cpus), -EBADMSG);
	assert_int_equal(parse_slots(NULL, slots), -EBADMSG);

	assert_int_equal(parse_slots(load("[{\"type\": \"t\"}]"), slots), -EBADMSG);
	assert_int_equal(
		parse_slots(load("[{\"type\": \"t\", \"props\": {}, \"qom-path\": 3}]"), slots),
		-EBADMSG);
	/* Absent coordinates read as -1. */
	assert_int_equal(
		parse_slots(load("[{\"type\": \"t\", \"props\": {\"core-id\": 2}}]"), slots), 1);
	assert_int_equal(slots[0].core_id, 2);
	assert_int_equal(slots[0].socket_id, -1);
	assert_int_equal(slots[0].thread_id, -1);
	assert_false(slots[0].plugged);

	/* A type that does not fit is refused rather than cut. */
	char type[200];
	memset(type, 'a', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	assert_int_equal(parse_slots(json_pack("[{s:s, s:{}}]", "type", type, "props"), slots),
			 -EBADMSG);
	json_t *v = json_pack("[{s:i, s:i, s:s}]", "cpu-index", 0, "thread-id", 5, "qom-path",
			      type);
	assert_int_equal(parse_cpus(v, cpus), -EBADMSG);

	assert_int_equal(parse_cpus(load("[{\"cpu-index\": 0, \"qom-path\": \"/p\"}]"), cpus),
			 -EBADMSG);
	v = load("[{\"cpu-index\": 0, \"thread-id\": 7, \"qom-path\": \"/p\"}]");
	assert_int_equal(parse_cpus(v, cpus), 1);
	assert_int_equal(cpus[0].thread_id, 7);
	assert_int_equal(cpus[0].core_id, -1);
	assert_string_equal(cpus[0].qom_path, "/p");
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_command_build),
					    cmocka_unit_test(test_command_round_trip),
					    cmocka_unit_test(test_malformed_lines),
					    cmocka_unit_test(test_ids),
					    cmocka_unit_test(test_cpu_parsers_reject) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
