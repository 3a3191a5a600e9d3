/* Unit tests for the QMP codec, mostly over traffic recorded from a real
 * QEMU 10 (tests/data/qmp/): line splitting at any chunk size, message kinds,
 * ids, events, the CPU query parsers, command bytes and malformed input. */
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

/* The recorded scenarios in the order they were recorded; command ids run
 * on from one file to the next. */
static const char *const scenarios[] = {
	"greeting", "hotplug", "unplug", "errors", "stop-cont", "quit",
};

struct recording {
	char *data;
	size_t len;
	struct qmp_msg *msgs;
	size_t n;
};

static char *read_file(const char *name, size_t *ret_len)
{
	const char *dir = getenv("DITTO_TESTDATA");
	char path[4096];
	snprintf(path, sizeof(path), "%s/qmp/%s.txt", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "rbe");
	if (!f)
		fail_msg("cannot open %s (run from the source root or set DITTO_TESTDATA)", path);
	char *data = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*ret_len = len;
	return data;
}

/* Feeds bytes through a reader in chunks of the given size, draining lines
 * after every feed, and parses each line; every recorded line must parse. */
static struct qmp_msg *split_and_parse(const char *data, size_t len, size_t chunk,
				       size_t *ret_n)
{
	struct qmp_reader r;
	qmp_reader_init(&r);
	struct qmp_msg *msgs = NULL;
	size_t n = 0;
	for (size_t off = 0; off < len; off += chunk) {
		size_t k = len - off < chunk ? len - off : chunk;
		assert_int_equal(qmp_reader_feed(&r, data + off, k), 0);
		char *line;
		int rc;
		while ((rc = qmp_reader_next_line(&r, &line)) == 1) {
			msgs = realloc(msgs, (n + 1) * sizeof(*msgs));
			assert_non_null(msgs);
			assert_int_equal(qmp_parse_line(line, strlen(line), &msgs[n]), 0);
			n++;
			free(line);
		}
		assert_int_equal(rc, 0);
	}
	qmp_reader_free(&r);
	*ret_n = n;
	return msgs;
}

static void recording_load(const char *name, struct recording *rec)
{
	rec->data = read_file(name, &rec->len);
	assert_true(rec->len > 0);
	rec->msgs = split_and_parse(rec->data, rec->len, rec->len, &rec->n);
}

static void recording_free(struct recording *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		qmp_msg_clear(&rec->msgs[i]);
	free(rec->msgs);
	free(rec->data);
}

static size_t count_lines(const char *data, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += data[i] == '\n';
	return n;
}

/* The i-th message of a given kind (0-based); fails when there is none. */
static const struct qmp_msg *nth_of_kind(const struct recording *rec, enum qmp_msg_kind kind,
					 size_t i)
{
	size_t left = i;
	for (size_t k = 0; k < rec->n; k++)
		if (rec->msgs[k].kind == kind && left-- == 0)
			return &rec->msgs[k];
	fail_msg("message %zu of kind %d not found", i, (int)kind);
	return NULL;
}

static size_t count_kind(const struct recording *rec, enum qmp_msg_kind kind)
{
	size_t n = 0;
	for (size_t k = 0; k < rec->n; k++)
		n += rec->msgs[k].kind == kind;
	return n;
}

static json_int_t ost_status(const struct qmp_msg *m)
{
	assert_int_equal(m->kind, QMP_MSG_EVENT);
	assert_string_equal(m->event, "ACPI_DEVICE_OST");
	json_t *status = json_object_get(json_object_get(m->value, "info"), "status");
	assert_true(json_is_integer(status));
	return json_integer_value(status);
}

/* Every chunk size, down to one byte at a time, yields the same messages. */
static void test_chunk_sizes(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 13, 64, 333, 1021, 4096 };
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		struct recording rec;
		recording_load(scenarios[s], &rec);
		assert_int_equal(rec.n, count_lines(rec.data, rec.len));
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			size_t n;
			struct qmp_msg *msgs = split_and_parse(rec.data, rec.len, chunks[c], &n);
			assert_int_equal(n, rec.n);
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(msgs[i].kind, rec.msgs[i].kind);
				assert_int_equal(msgs[i].id, rec.msgs[i].id);
				assert_true(json_equal(msgs[i].root, rec.msgs[i].root));
				qmp_msg_clear(&msgs[i]);
			}
			free(msgs);
		}
		recording_free(&rec);
	}
}

/* Each command got exactly one reply, and QEMU echoed the ids 1, 2, 3, ... */
static void test_reply_ids(void **state)
{
	uint64_t want = 1;
	for (size_t s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
		struct recording rec;
		recording_load(scenarios[s], &rec);
		for (size_t i = 0; i < rec.n; i++) {
			const struct qmp_msg *m = &rec.msgs[i];
			if (m->kind == QMP_MSG_RETURN || m->kind == QMP_MSG_ERROR) {
				assert_true(m->has_id);
				assert_int_equal(m->id, want);
				want++;
			} else {
				assert_false(m->has_id);
				assert_int_equal(m->id, 0);
			}
		}
		recording_free(&rec);
	}
	assert_true(want > 10);
}

static void test_greeting(void **state)
{
	struct recording rec;
	recording_load("greeting", &rec);
	assert_int_equal(rec.n, 2);
	const struct qmp_msg *g = &rec.msgs[0];
	assert_int_equal(g->kind, QMP_MSG_GREETING);
	json_t *qemu = json_object_get(json_object_get(g->value, "version"), "qemu");
	assert_int_equal(json_integer_value(json_object_get(qemu, "major")), 10);
	assert_true(json_is_array(json_object_get(g->value, "capabilities")));
	const struct qmp_msg *caps = &rec.msgs[1];
	assert_int_equal(caps->kind, QMP_MSG_RETURN);
	assert_true(caps->has_id);
	assert_int_equal(caps->id, 1);
	assert_true(json_is_object(caps->value));
	assert_int_equal(json_object_size(caps->value), 0);
	recording_free(&rec);
}

static void test_hotplug(void **state)
{
	struct recording rec;
	recording_load("hotplug", &rec);
	/* query-hotpluggable-cpus, device_add, query-hotpluggable-cpus,
	 * query-cpus-fast, and the guest's _OST for the insert. */
	assert_int_equal(count_kind(&rec, QMP_MSG_RETURN), 4);
	assert_int_equal(count_kind(&rec, QMP_MSG_EVENT), 1);

	struct qmp_hotpluggable_cpu slots[8];
	int n = qmp_parse_hotpluggable_cpus(nth_of_kind(&rec, QMP_MSG_RETURN, 0)->value, slots, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		assert_string_equal(slots[i].type, "max-x86_64-cpu");
		assert_int_equal(slots[i].socket_id, 0);
		assert_int_equal(slots[i].thread_id, 0);
		/* QEMU lists the slots from the highest core down. */
		assert_int_equal(slots[i].core_id, 3 - i);
		assert_int_equal(slots[i].plugged, slots[i].core_id == 0);
	}
	assert_string_equal(slots[3].qom_path, "/machine/unattached/device[0]");
	assert_string_equal(slots[0].qom_path, "");

	const struct qmp_msg *add = nth_of_kind(&rec, QMP_MSG_RETURN, 1);
	assert_int_equal(json_object_size(add->value), 0);
	const struct qmp_msg *ost = nth_of_kind(&rec, QMP_MSG_EVENT, 0);
	assert_int_equal(ost_status(ost), 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(ost->value, "info"), "device")),
			    "wcpu1");
	assert_true(ost->ts_sec > 1600000000);
	assert_true(ost->ts_usec >= 0 && ost->ts_usec < 1000000);

	n = qmp_parse_hotpluggable_cpus(nth_of_kind(&rec, QMP_MSG_RETURN, 2)->value, slots, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(slots[i].plugged, slots[i].core_id <= 1);
	assert_int_equal(slots[2].core_id, 1);
	assert_string_equal(slots[2].qom_path, "/machine/peripheral/wcpu1");

	struct qmp_cpu_info cpus[8];
	n = qmp_parse_cpus_fast(nth_of_kind(&rec, QMP_MSG_RETURN, 3)->value, cpus, 8);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_int_equal(cpus[i].cpu_index, i);
		assert_int_equal(cpus[i].core_id, i);
		assert_true(cpus[i].thread_id > 0);
	}
	assert_int_not_equal(cpus[0].thread_id, cpus[1].thread_id);
	assert_string_equal(cpus[0].qom_path, "/machine/unattached/device[0]");
	assert_string_equal(cpus[1].qom_path, "/machine/peripheral/wcpu1");

	/* A short output array takes the first entries only. */
	assert_int_equal(qmp_parse_cpus_fast(nth_of_kind(&rec, QMP_MSG_RETURN, 3)->value, cpus, 1),
			 1);
	assert_int_equal(cpus[0].cpu_index, 0);
	assert_int_equal(qmp_parse_hotpluggable_cpus(nth_of_kind(&rec, QMP_MSG_RETURN, 0)->value,
						     slots, 0),
			 0);
	recording_free(&rec);
}

static void test_unplug(void **state)
{
	struct recording rec;
	recording_load("unplug", &rec);
	/* The device_del reply comes first, then the guest's eject shows as
	 * _OST 132 (eject in progress), the lapic's DEVICE_DELETED and _OST 0,
	 * interleaved with the replies to the queries sent meanwhile. */
	const struct qmp_msg *del = &rec.msgs[0];
	assert_int_equal(del->kind, QMP_MSG_RETURN);
	assert_int_equal(json_object_size(del->value), 0);

	assert_int_equal(count_kind(&rec, QMP_MSG_EVENT), 3);
	const struct qmp_msg *e0 = nth_of_kind(&rec, QMP_MSG_EVENT, 0);
	const struct qmp_msg *e1 = nth_of_kind(&rec, QMP_MSG_EVENT, 1);
	const struct qmp_msg *e2 = nth_of_kind(&rec, QMP_MSG_EVENT, 2);
	assert_int_equal(ost_status(e0), 132);
	assert_string_equal(e1->event, "DEVICE_DELETED");
	assert_string_equal(json_string_value(json_object_get(e1->value, "path")),
			    "/machine/peripheral/wcpu1/lapic");
	assert_null(json_object_get(e1->value, "device"));
	assert_int_equal(ost_status(e2), 0);
	assert_true(e0->ts_sec * 1000000 + e0->ts_usec <= e1->ts_sec * 1000000 + e1->ts_usec);
	assert_true(e1->ts_sec * 1000000 + e1->ts_usec <= e2->ts_sec * 1000000 + e2->ts_usec);

	/* Events sit between replies, not only at the end. */
	assert_int_not_equal(rec.msgs[rec.n - 1].kind, QMP_MSG_EVENT);

	/* The last two replies: the slot is free again and one vCPU is left. */
	size_t returns = count_kind(&rec, QMP_MSG_RETURN);
	assert_true(returns >= 3);
	struct qmp_hotpluggable_cpu slots[8];
	int n = qmp_parse_hotpluggable_cpus(nth_of_kind(&rec, QMP_MSG_RETURN, returns - 2)->value,
					    slots, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(slots[i].plugged, slots[i].core_id == 0);
	struct qmp_cpu_info cpus[8];
	n = qmp_parse_cpus_fast(nth_of_kind(&rec, QMP_MSG_RETURN, returns - 1)->value, cpus, 8);
	assert_int_equal(n, 1);
	assert_int_equal(cpus[0].core_id, 0);
	recording_free(&rec);
}

static void test_errors(void **state)
{
	struct recording rec;
	recording_load("errors", &rec);
	assert_int_equal(rec.n, 3);
	static const char *const classes[] = { "GenericError", "CommandNotFound",
					       "DeviceNotFound" };
	for (size_t i = 0; i < 3; i++) {
		const struct qmp_msg *m = &rec.msgs[i];
		assert_int_equal(m->kind, QMP_MSG_ERROR);
		assert_true(m->has_id);
		assert_string_equal(m->err_class, classes[i]);
		assert_true(strlen(m->err_desc) > 0);
		assert_null(m->value);
	}
	assert_non_null(strstr(rec.msgs[0].err_desc, "core-id"));
	assert_non_null(strstr(rec.msgs[1].err_desc, "no-such-command"));
	assert_non_null(strstr(rec.msgs[2].err_desc, "no-such-device"));
	recording_free(&rec);
}

static void test_stop_cont_quit(void **state)
{
	struct recording rec;
	recording_load("stop-cont", &rec);
	assert_int_equal(count_kind(&rec, QMP_MSG_RETURN), 2);
	assert_int_equal(count_kind(&rec, QMP_MSG_EVENT), 2);
	const struct qmp_msg *stop = nth_of_kind(&rec, QMP_MSG_EVENT, 0);
	const struct qmp_msg *resume = nth_of_kind(&rec, QMP_MSG_EVENT, 1);
	assert_string_equal(stop->event, "STOP");
	assert_string_equal(resume->event, "RESUME");
	/* Neither carries data. */
	assert_null(stop->value);
	assert_null(resume->value);
	recording_free(&rec);

	recording_load("quit", &rec);
	const struct qmp_msg *shut = nth_of_kind(&rec, QMP_MSG_EVENT, 0);
	assert_string_equal(shut->event, "SHUTDOWN");
	assert_string_equal(json_string_value(json_object_get(shut->value, "reason")),
			    "host-qmp-quit");
	assert_true(json_is_false(json_object_get(shut->value, "guest")));
	assert_int_equal(count_kind(&rec, QMP_MSG_RETURN), 1);
	recording_free(&rec);
}

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
	expect_build("qmp_capabilities", NULL, 1, "{\"execute\":\"qmp_capabilities\",\"id\":1}\r\n");
	json_t *args = json_pack("{s:s, s:s, s:i, s:i, s:i}", "driver", "max-x86_64-cpu", "id",
				 "wcpu1", "socket-id", 0, "core-id", 1, "thread-id", 0);
	expect_build("device_add", args, 3,
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

/* Takes the next line out and compares it. */
static void expect_line(struct qmp_reader *r, const char *want)
{
	char *line = NULL;
	assert_int_equal(qmp_reader_next_line(r, &line), 1);
	assert_string_equal(line, want);
	free(line);
}

static void test_reader_lines(void **state)
{
	struct qmp_reader r;
	qmp_reader_init(&r);
	char *line = NULL;
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	const char *in = "\r\n\n{\"return\": {}}\r\nabc\ndef\r\n\r\npartial";
	assert_int_equal(qmp_reader_feed(&r, in, strlen(in)), 0);
	expect_line(&r, "");
	expect_line(&r, "");
	expect_line(&r, "{\"return\": {}}");
	expect_line(&r, "abc");
	expect_line(&r, "def");
	expect_line(&r, "");
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	assert_null(line);
	/* The unterminated tail waits for its end; a lone "\r" stays in it. */
	assert_int_equal(qmp_reader_feed(&r, "\r", 1), 0);
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	assert_int_equal(qmp_reader_feed(&r, "x\r\n", 3), 0);
	expect_line(&r, "partial\rx");
	assert_int_equal(qmp_reader_next_line(&r, &line), 0);
	qmp_reader_free(&r);
	/* Freeing twice, or a zeroed reader, is fine. */
	qmp_reader_free(&r);
}

/* Feeds a stream that holds an over-long line of huge bytes and a last byte
 * ("\r" or not) between two good ones. A "\r" is put at cr_at inside it
 * unless cr_at is SIZE_MAX. */
static void check_overflow(size_t huge, size_t chunk, bool cr, size_t cr_at)
{
	const char *head = "{\"event\": \"A\"}\r\n";
	const char *tail = "{\"return\": {}, \"id\": 7}\r\n";
	size_t len = strlen(head) + huge + 2 + strlen(tail);
	char *s = malloc(len);
	assert_non_null(s);
	size_t o = 0;
	memcpy(s, head, strlen(head));
	o += strlen(head);
	memset(s + o, 'x', huge);
	if (cr_at < huge)
		s[o + cr_at] = '\r';
	o += huge;
	if (cr)
		s[o++] = '\r';
	else
		s[o++] = 'y';
	s[o++] = '\n';
	memcpy(s + o, tail, strlen(tail));

	if (chunk > len)
		chunk = len;
	struct qmp_reader r;
	qmp_reader_init(&r);
	int got_big = 0, got_lines = 0;
	size_t max_cap = 0;
	for (size_t off = 0; off < len; off += chunk) {
		size_t k = len - off < chunk ? len - off : chunk;
		assert_int_equal(qmp_reader_feed(&r, s + off, k), 0);
		if (r.cap > max_cap)
			max_cap = r.cap;
		char *line;
		int rc;
		while ((rc = qmp_reader_next_line(&r, &line)) != 0) {
			if (rc == -EMSGSIZE) {
				assert_int_equal(got_lines, 1);
				got_big++;
				continue;
			}
			assert_int_equal(rc, 1);
			struct qmp_msg m;
			assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
			assert_int_equal(m.kind, got_lines == 0 ? QMP_MSG_EVENT : QMP_MSG_RETURN);
			if (got_lines == 1)
				assert_int_equal(got_big, 1);
			got_lines++;
			qmp_msg_clear(&m);
			free(line);
		}
	}
	assert_int_equal(got_big, 1);
	assert_int_equal(got_lines, 2);
	/* The discarded line was never held whole. */
	assert_true(max_cap <= 4 * (size_t)QMP_MAX_LINE);
	qmp_reader_free(&r);
	free(s);
}

static void test_reader_overflow(void **state)
{
	check_overflow(QMP_MAX_LINE + 10, 65536, true, SIZE_MAX);
	check_overflow(QMP_MAX_LINE * 3, 65536, true, SIZE_MAX);
	check_overflow(QMP_MAX_LINE * 3, SIZE_MAX, false, SIZE_MAX);
	check_overflow(QMP_MAX_LINE + 1, 1, true, SIZE_MAX);
	/* Content of exactly QMP_MAX_LINE + 1 bytes, the last one not "\r". */
	check_overflow(QMP_MAX_LINE, 4093, false, SIZE_MAX);
	/* A "\r" just past the limit inside a longer line is not its end. */
	check_overflow(QMP_MAX_LINE + 100, 65536, true, QMP_MAX_LINE);
	check_overflow(QMP_MAX_LINE + 100, 7, false, QMP_MAX_LINE + 1);
}

/* Lines right at the limit pass, with or without "\r". */
static void test_reader_limit(void **state)
{
	size_t len = QMP_MAX_LINE + 2;
	char *s = malloc(len);
	assert_non_null(s);
	memset(s, ' ', len);
	s[0] = '{';
	memcpy(s + QMP_MAX_LINE - 13, "\"return\":0}", 11);
	s[QMP_MAX_LINE - 2] = ' ';
	s[QMP_MAX_LINE - 1] = ' ';
	s[QMP_MAX_LINE] = '\r';
	s[QMP_MAX_LINE + 1] = '\n';
	for (int pass = 0; pass < 2; pass++) {
		struct qmp_reader r;
		qmp_reader_init(&r);
		/* The second pass drops the "\r" so the line ends in "\n" only. */
		if (pass == 0) {
			assert_int_equal(qmp_reader_feed(&r, s, len), 0);
		} else {
			assert_int_equal(qmp_reader_feed(&r, s, QMP_MAX_LINE), 0);
			assert_int_equal(qmp_reader_feed(&r, "\n", 1), 0);
		}
		char *line;
		assert_int_equal(qmp_reader_next_line(&r, &line), 1);
		assert_int_equal(strlen(line), QMP_MAX_LINE);
		struct qmp_msg m;
		assert_int_equal(qmp_parse_line(line, strlen(line), &m), 0);
		assert_int_equal(m.kind, QMP_MSG_RETURN);
		qmp_msg_clear(&m);
		free(line);
		assert_int_equal(qmp_reader_next_line(&r, &line), 0);
		qmp_reader_free(&r);
	}
	free(s);
}

static void test_cpu_parsers_reject(void **state)
{
	struct qmp_hotpluggable_cpu slots[2];
	struct qmp_cpu_info cpus[2];
	json_t *v = json_object();
	assert_int_equal(qmp_parse_hotpluggable_cpus(v, slots, 2), -EBADMSG);
	assert_int_equal(qmp_parse_cpus_fast(v, cpus, 2), -EBADMSG);
	assert_int_equal(qmp_parse_hotpluggable_cpus(NULL, slots, 2), -EBADMSG);
	json_decref(v);

	v = json_loads("[{\"type\": \"t\"}]", 0, NULL);
	assert_int_equal(qmp_parse_hotpluggable_cpus(v, slots, 2), -EBADMSG);
	json_decref(v);
	v = json_loads("[{\"type\": \"t\", \"props\": {}, \"qom-path\": 3}]", 0, NULL);
	assert_int_equal(qmp_parse_hotpluggable_cpus(v, slots, 2), -EBADMSG);
	json_decref(v);
	/* Absent coordinates read as -1. */
	v = json_loads("[{\"type\": \"t\", \"props\": {\"core-id\": 2}}]", 0, NULL);
	assert_int_equal(qmp_parse_hotpluggable_cpus(v, slots, 2), 1);
	assert_int_equal(slots[0].core_id, 2);
	assert_int_equal(slots[0].socket_id, -1);
	assert_int_equal(slots[0].thread_id, -1);
	assert_false(slots[0].plugged);
	json_decref(v);

	/* A type that does not fit is refused rather than cut. */
	char type[200];
	memset(type, 'a', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	v = json_pack("[{s:s, s:{}}]", "type", type, "props");
	assert_int_equal(qmp_parse_hotpluggable_cpus(v, slots, 2), -EBADMSG);
	json_decref(v);
	v = json_pack("[{s:i, s:i, s:s}]", "cpu-index", 0, "thread-id", 5, "qom-path", type);
	assert_int_equal(qmp_parse_cpus_fast(v, cpus, 2), -EBADMSG);
	json_decref(v);

	v = json_loads("[{\"cpu-index\": 0, \"qom-path\": \"/p\"}]", 0, NULL);
	assert_int_equal(qmp_parse_cpus_fast(v, cpus, 2), -EBADMSG);
	json_decref(v);
	v = json_loads("[{\"cpu-index\": 0, \"thread-id\": 7, \"qom-path\": \"/p\"}]", 0, NULL);
	assert_int_equal(qmp_parse_cpus_fast(v, cpus, 2), 1);
	assert_int_equal(cpus[0].thread_id, 7);
	assert_int_equal(cpus[0].core_id, -1);
	assert_string_equal(cpus[0].qom_path, "/p");
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_sizes),
		cmocka_unit_test(test_reply_ids),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_hotplug),
		cmocka_unit_test(test_unplug),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stop_cont_quit),
		cmocka_unit_test(test_command_build),
		cmocka_unit_test(test_command_round_trip),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_reader_lines),
		cmocka_unit_test(test_reader_overflow),
		cmocka_unit_test(test_reader_limit),
		cmocka_unit_test(test_cpu_parsers_reject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
