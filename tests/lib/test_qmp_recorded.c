/* The QMP codec over traffic recorded from a real QEMU 10 (tests/data/qmp/):
 * line splitting at any chunk size, message kinds, ids, events and the CPU
 * query parsers on what QEMU really sent. */
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
#include "util.h"

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
	void *data = NULL;
	if (file_read_all(path, &data, ret_len) < 0)
		fail_msg("cannot open %s (run from the source root or set DITTO_TESTDATA)", path);
	return data;
}

/* Feeds bytes through a reader in chunks of the given size, draining lines
 * after every feed, and parses each line; every recorded line must parse. */
static struct qmp_msg *split_and_parse(const char *data, size_t len, size_t chunk, size_t *ret_n)
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
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(ost->value, "info"), "device")),
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
	assert_int_equal(
		qmp_parse_hotpluggable_cpus(nth_of_kind(&rec, QMP_MSG_RETURN, 0)->value, slots, 0),
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunk_sizes),   cmocka_unit_test(test_reply_ids),
		cmocka_unit_test(test_greeting),      cmocka_unit_test(test_hotplug),
		cmocka_unit_test(test_unplug),        cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stop_cont_quit)
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
