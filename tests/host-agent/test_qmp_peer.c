/* The QMP client against the scripted peer (fakes/fake_qmp.h in raw mode),
 * for what QEMU never does: a bad greeting, a refused negotiation, replies
 * out of the usual shape, over-long lines and junk. */
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

/* Greets as QEMU does and waits for the client's negotiation. */
static void greet(struct qmp_session *f)
{
	fake_qmp_send(&f->peer, fake_qmp_greeting);
	fake_qmp_wait_lines(&f->peer, 1);
}

/* Runs until the client gives up on the peer, and checks that the session
 * became ready with ready_status and closed with closed_reason. */
static void expect_given_up(struct qmp_session *f, int ready_status, int closed_reason)
{
	qmp_session_run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->ready_status, ready_status);
	assert_int_equal(f->closed_reason, closed_reason);
}

static void test_peer_bad_greeting(void **state)
{
	struct qmp_session *f = *state;
	qmp_session_start_peer(f);
	fake_qmp_send(&f->peer, "{\"return\": {}, \"id\": 0}\r\n");
	expect_given_up(f, -EPROTO, -EPROTO);
	assert_int_equal(f->peer.len, 0);
}

static void test_peer_refuses_capabilities(void **state)
{
	struct qmp_session *f = *state;
	qmp_session_start_peer(f);
	struct qmp_result res = { .s = f };
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, qmp_session_on_reply, &res),
			 0);
	greet(f);
	/* Only the negotiation went out; the user command waits for it. */
	const char want[] = "{\"execute\":\"qmp_capabilities\",\"id\":0}\r\n";
	assert_int_equal(f->peer.len, strlen(want));
	assert_memory_equal(f->peer.in, want, f->peer.len);
	fake_qmp_send(
		&f->peer,
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 0}\r\n");
	expect_given_up(f, -EPROTO, -EPROTO);
	assert_int_equal(res.status, -ECONNRESET);
}

/* Replies are matched by id whatever comes between them; a reply without an
 * id answers the oldest command; an over-long line ends the session. */
static void test_peer_quirks(void **state)
{
	struct qmp_session *f = *state;
	qmp_session_start_peer(f);
	greet(f);
	fake_qmp_send(&f->peer, "{\"return\": {}, \"id\": 0}\r\n");
	qmp_session_run_until(f, &f->ready, "ready");
	assert_int_equal(f->ready_status, 0);

	struct qmp_result res[3] = { { .s = f }, { .s = f }, { .s = f } };
	for (int i = 0; i < 3; i++)
		assert_int_equal(qmp_client_execute(f->c, "query-status", NULL,
						    qmp_session_on_reply, &res[i]),
				 0);
	fake_qmp_wait_lines(&f->peer, 4);
	fake_qmp_send(
		&f->peer,
		"\r\n{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}"
		"\r\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}"
		"\r\n{\"return\": {}, \"id\": 99}\r\n{\"return\": {\"ok\": 1}, \"id\": 2}\r\n");
	qmp_session_run_until(f, &res[1].done, "the second reply");
	assert_int_equal(res[0].status, -EREMOTEIO);
	assert_string_equal(res[0].err_class, "GenericError");
	assert_false(res[0].has_id);
	assert_int_equal(res[1].status, 0);
	assert_int_equal(res[1].id, 2);
	assert_false(res[2].done);
	assert_int_equal(f->nevents, 1);
	assert_string_equal(f->events[0], "STOP");
	assert_int_equal(qmp_client_pending(f->c), 1);

	size_t len = QMP_MAX_LINE + 16;
	char *huge = malloc(len);
	assert_non_null(huge);
	memset(huge, ' ', len);
	huge[len - 1] = '\n';
	size_t off = 0;
	/* The socket takes it in pieces while the client reads. */
	while (off < len && !f->closed) {
		uv_buf_t b = uv_buf_init(huge + off, (unsigned)(len - off));
		int r = uv_try_write((uv_stream_t *)&f->peer.pipe, &b, 1);
		if (r > 0)
			off += (size_t)r;
		else
			assert_int_equal(r, UV_EAGAIN);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	free(huge);
	qmp_session_run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->closed_reason, -EMSGSIZE);
	assert_int_equal(res[2].status, -ECONNRESET);
	for (int i = 0; i < 3; i++)
		qmp_result_clear(&res[i]);
}

static void test_peer_not_json(void **state)
{
	struct qmp_session *f = *state;
	qmp_session_start_peer(f);
	greet(f);
	fake_qmp_send(&f->peer, "{\"return\": {}, \"id\": 0}\r\n[1, 2]\r\n");
	expect_given_up(f, 0, -EPROTO);
}

/* Each test gets a QMP session of its own. */
#define SESSION_TEST(f) cmocka_unit_test_setup_teardown(f, qmp_session_setup, qmp_session_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { SESSION_TEST(test_peer_bad_greeting),
					    SESSION_TEST(test_peer_refuses_capabilities),
					    SESSION_TEST(test_peer_quirks),
					    SESSION_TEST(test_peer_not_json) };
	return cmocka_run_group_tests_name("qmp_peer", tests, NULL, NULL);
}
