/* The QMP client's session life with a real QEMU (fakes/qmp_session.h):
 * commands issued before the negotiation, quit, QEMU killed under a command,
 * and closing from the client's side. */
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

static void issue_early(struct qmp_session *f)
{
	for (int i = 0; i < 2; i++) {
		f->early[i] = (struct qmp_result){ .s = f };
		assert_int_equal(qmp_client_execute(f->c, "query-status", NULL,
						    qmp_session_on_reply, &f->early[i]),
				 0);
	}
}

/* Commands issued before the negotiation wait for it, then go out. */
static void test_before_ready(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, issue_early))
		skip();
	struct qmp_result *early = f->early;
	qmp_session_run_until(f, &early[1].done, "the early replies");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(early[i].status, 0);
		assert_true(early[i].ready_before);
		assert_int_equal(early[i].order, i);
		assert_int_equal(early[i].id, (uint64_t)i + 1);
		qmp_result_clear(&early[i]);
	}
}

static void test_quit(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();
	qmp_session_exec_ok(f, "quit", NULL);
	qmp_session_run_until(f, &f->closed, "the connection to close");
	assert_int_equal(f->closed_reason, -ECONNRESET);
	assert_int_equal(f->closed_execute, -ENOTCONN);
	qmp_session_run_until(f, &f->exited, "QEMU to exit");
	assert_int_equal(f->exit_status, 0);
	assert_int_equal(f->term_signal, 0);
}

/* A command in flight when QEMU dies is answered with -ECONNRESET. QEMU is
 * stopped first so that it cannot answer before it is killed. */
static void test_killed(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();
	assert_int_equal(uv_process_kill(&f->proc, SIGSTOP), 0);
	siginfo_t si = { 0 };
	assert_int_equal(waitid(P_PID, (id_t)f->proc.pid, &si, WSTOPPED), 0);
	assert_int_equal(si.si_code, CLD_STOPPED);

	struct qmp_result res[2] = { { .s = f }, { .s = f } };
	assert_int_equal(
		qmp_client_execute(f->c, "query-status", NULL, qmp_session_on_reply, &res[0]), 0);
	assert_int_equal(
		qmp_client_execute(f->c, "query-cpus-fast", NULL, qmp_session_on_reply, &res[1]),
		0);
	assert_int_equal(uv_process_kill(&f->proc, SIGKILL), 0);
	qmp_session_run_until(f, &f->closed, "the connection to close");
	for (int i = 0; i < 2; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].status, -ECONNRESET);
	}
	assert_int_equal(f->closed_reason, -ECONNRESET);
	qmp_session_run_until(f, &f->exited, "QEMU to exit");
	assert_int_equal(f->term_signal, SIGKILL);
}

static void close_from_reply(struct qmp_client *c, int status, const struct qmp_msg *reply,
			     void *data)
{
	qmp_session_on_reply(c, status, reply, data);
	qmp_client_close(c);
	qmp_client_close(c);
	struct qmp_result *res = data;
	assert_int_equal(qmp_client_reply_latency_ns(c), res->latency_ns);
}

/* Closing fails what is pending with -ECANCELED, also from a callback. */
static void test_close(void **state)
{
	struct qmp_session *f = *state;
	if (!qmp_session_start_qemu(f, NULL))
		skip();
	struct qmp_result first = { .s = f }, second = { .s = f }, third = { .s = f };
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, close_from_reply, &first),
			 0);
	assert_int_equal(
		qmp_client_execute(f->c, "query-status", NULL, qmp_session_on_reply, &second), 0);
	assert_int_equal(
		qmp_client_execute(f->c, "query-status", NULL, qmp_session_on_reply, &third), 0);
	qmp_session_run_until(f, &f->closed, "the client to close");
	assert_int_equal(first.status, 0);
	assert_true(first.latency_ns > 0);
	assert_int_equal(second.status, -ECANCELED);
	assert_int_equal(third.status, -ECANCELED);
	assert_true(first.order < second.order && second.order < third.order);
	assert_int_equal(f->closed_reason, -ECANCELED);
	assert_int_equal(f->closed_execute, -ENOTCONN);
	qmp_result_clear(&first);
	/* QEMU lives on without its monitor; teardown kills it. */
	assert_false(f->exited);
}

/* Each test gets a QMP session of its own. */
#define SESSION_TEST(f) cmocka_unit_test_setup_teardown(f, qmp_session_setup, qmp_session_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { SESSION_TEST(test_before_ready),
					    SESSION_TEST(test_quit), SESSION_TEST(test_killed),
					    SESSION_TEST(test_close) };
	return cmocka_run_group_tests_name("qmp_lifecycle", tests, NULL, NULL);
}
