/* The QMP client against a real QEMU (fakes/qmp_session.h): capabilities,
 * CPU queries, CPU device_add, errors, run state events and many commands
 * in flight. test_qmp_lifecycle.c covers how sessions end,
 * test_qmp_peer.c what QEMU never does. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakes/qmp_session.h"

/* The vCPU threads QEMU reports are real threads of its process. */
static int check_cpus(struct qmp_session *f, struct qmp_cpu_info *cpus, size_t n)
{
	struct qmp_result res;
	qmp_session_exec(f, "query-cpus-fast", NULL, &res);
	assert_int_equal(res.status, 0);
	int count = qmp_parse_cpus_fast(qmp_result_value(&res), cpus, n);
	assert_true(count > 0);
	for (int i = 0; i < count; i++) {
		char path[64];
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%d/task/%lld", f->proc.pid,
			 (long long)cpus[i].thread_id);
		assert_int_equal(stat(path, &st), 0);
		assert_int_not_equal(cpus[i].thread_id, f->proc.pid);
	}
	qmp_result_clear(&res);
	return count;
}

static void test_queries_and_hotplug(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();

	struct qmp_result res;
	qmp_session_exec(f, "query-hotpluggable-cpus", NULL, &res);
	assert_int_equal(res.status, 0);
	assert_true(res.has_id);
	assert_int_equal(res.id, 1); /* the first user command */
	assert_true(res.latency_ns > 0);
	struct qmp_hotpluggable_cpu slots[8];
	int n = qmp_parse_hotpluggable_cpus(qmp_result_value(&res), slots, 8);
	assert_int_equal(n, 4);
	const struct qmp_hotpluggable_cpu *free_slot = NULL;
	for (int i = 0; i < n; i++) {
		assert_string_equal(slots[i].type, "max-x86_64-cpu");
		assert_int_equal(slots[i].plugged, slots[i].core_id == 0);
		if (slots[i].core_id == 1)
			free_slot = &slots[i];
	}
	assert_non_null(free_slot);
	uint64_t last_id = res.id;
	qmp_result_clear(&res);

	struct qmp_cpu_info cpus[8];
	assert_int_equal(check_cpus(f, cpus, 8), 1);
	assert_int_equal(cpus[0].core_id, 0);

	/* A CPU outside the topology is refused by QEMU. */
	qmp_session_exec(f, "device_add",
			 json_pack("{s:s, s:s, s:i, s:i, s:i}", "driver", free_slot->type, "id",
				   "bad", "socket-id", 0, "core-id", 9, "thread-id", 0),
			 &res);
	assert_int_equal(res.status, -EREMOTEIO);
	assert_string_equal(res.err_class, "GenericError");
	assert_true(res.id > last_id);
	last_id = res.id;
	qmp_result_clear(&res);

	/* Plugging works at the QEMU level even with no guest running. */
	qmp_session_exec(f, "device_add",
			 json_pack("{s:s, s:s, s:I, s:I, s:I}", "driver", free_slot->type, "id",
				   "wcpu1", "socket-id", (json_int_t)free_slot->socket_id,
				   "core-id", (json_int_t)free_slot->core_id, "thread-id",
				   (json_int_t)free_slot->thread_id),
			 &res);
	assert_int_equal(res.status, 0);
	assert_true(res.id > last_id);
	print_message("device_add latency (TCG, paused VM): %.3f ms\n", res.latency_ns / 1e6);
	qmp_result_clear(&res);

	assert_int_equal(check_cpus(f, cpus, 8), 2);
	assert_int_equal(cpus[1].core_id, 1);
	assert_string_equal(cpus[1].qom_path, "/machine/peripheral/wcpu1");
	assert_int_not_equal(cpus[0].thread_id, cpus[1].thread_id);

	qmp_session_exec(f, "query-hotpluggable-cpus", NULL, &res);
	n = qmp_parse_hotpluggable_cpus(qmp_result_value(&res), slots, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(slots[i].plugged, slots[i].core_id <= 1);
	qmp_result_clear(&res);

	/* Synchronous failures never call back. */
	struct qmp_result never = { .s = f };
	assert_int_equal(
		qmp_client_execute(f->c, "device_add", json_array(), qmp_session_on_reply, &never),
		-EINVAL);
	assert_int_equal(qmp_client_execute(f->c, "\xff", NULL, qmp_session_on_reply, &never),
			 -EINVAL);
	assert_int_equal(qmp_client_pending(f->c), 0);

	/* A command QEMU does not know. */
	qmp_session_exec(f, "no-such-command", NULL, &res);
	assert_int_equal(res.status, -EREMOTEIO);
	assert_string_equal(res.err_class, "CommandNotFound");
	qmp_result_clear(&res);
	assert_false(never.done);
}

static void test_run_state_events(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();
	qmp_session_exec_ok(f, "cont", NULL);
	qmp_session_wait_event(f, "RESUME");
	qmp_session_exec_ok(f, "stop", NULL);
	qmp_session_wait_event(f, "STOP");
	/* In the order QEMU sent them. */
	assert_int_equal(f->nevents, 2);
	assert_string_equal(f->events[0], "RESUME");
	assert_string_equal(f->events[1], "STOP");

	struct qmp_result res;
	qmp_session_exec(f, "query-status", NULL, &res);
	assert_string_equal(json_string_value(json_object_get(qmp_result_value(&res), "status")),
			    "paused");
	qmp_result_clear(&res);
}

/* Many commands in flight at once complete in order, each exactly once. */
static void test_pipelined(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();
	enum { N = 50 };
	struct qmp_result res[N];
	for (int i = 0; i < N; i++) {
		res[i] = (struct qmp_result){ .s = f };
		const char *cmd = i % 5 == 4 ? "no-such-command" : "query-status";
		assert_int_equal(qmp_client_execute(f->c, cmd, NULL, qmp_session_on_reply, &res[i]),
				 0);
	}
	assert_int_equal(qmp_client_pending(f->c), N);
	qmp_session_run_until(f, &res[N - 1].done, "the last reply");
	for (int i = 0; i < N; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].order, i);
		assert_int_equal(res[i].status, i % 5 == 4 ? -EREMOTEIO : 0);
		if (i > 0)
			assert_int_equal(res[i].id, res[0].id + (uint64_t)i);
	}
	for (int i = 0; i < N; i++)
		qmp_result_clear(&res[i]);
	assert_int_equal(qmp_client_pending(f->c), 0);
}

/* Each test gets a QMP session of its own. */
#define SESSION_TEST(f) cmocka_unit_test_setup_teardown(f, qmp_session_setup, qmp_session_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { SESSION_TEST(test_queries_and_hotplug),
					    SESSION_TEST(test_run_state_events),
					    SESSION_TEST(test_pipelined) };
	return cmocka_run_group_tests_name("qmp_client", tests, NULL, NULL);
}
