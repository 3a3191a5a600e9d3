/* A QMP client session under test: a client whose callbacks record what
 * they saw, connected either to a real QEMU, the way the agent runs it (the
 * test listens on a unix socket and QEMU connects: -chardev
 * socket,server=off -mon mode=control; paused with -S, no guest), or to the
 * scripted fake in raw mode (fake_qmp.h) for what QEMU never does.
 * Failures are test failures (cmocka). */
#ifndef DITTO_TESTS_QMP_SESSION_H
#define DITTO_TESTS_QMP_SESSION_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "fakes/fake_qmp.h"
#include "qmp_client.h"

#define QMP_SESSION_MAX_EVENTS 32

struct qmp_session;

/* One command's outcome, filled by qmp_session_on_reply. */
struct qmp_result {
	struct qmp_session *s;
	bool done;
	int status;
	json_t *root;
	uint64_t id;
	bool has_id;
	char err_class[64];
	uint64_t latency_ns;
	bool ready_before; /* the session was ready when the reply came */
	int order;         /* position among all replies of the test */
};

struct qmp_session {
	uv_loop_t loop;
	struct qmp_client *c;
	bool ready;
	int ready_status;
	bool closed;
	int closed_reason;
	int closed_execute; /* what qmp_client_execute() said inside closed */
	char events[QMP_SESSION_MAX_EVENTS][32];
	size_t nevents;
	int replies; /* reply callbacks so far */
	/* The real QEMU. */
	uv_pipe_t server;
	uv_process_t proc;
	char qemu[PATH_MAX];
	char dir[64];
	char sock[128];
	bool spawned, listening, exited;
	int64_t exit_status;
	int term_signal;
	/* Called as soon as QEMU's connection is accepted. */
	void (*on_open)(struct qmp_session *s);
	struct qmp_result early[2];
	/* The scripted peer. */
	struct fake_qmp peer;
	bool peer_open;
};

/* cmocka setup and teardown: a session with its loop, and its end (QEMU
 * killed, every handle closed, the loop closed clean). */
int qmp_session_setup(void **state);
int qmp_session_teardown(void **state);

/* Starts QEMU and waits for the session to be ready. Returns false (and the
 * test should skip) when there is no QEMU in $QEMU or PATH. */
bool qmp_session_start_qemu(struct qmp_session *s, void (*on_open)(struct qmp_session *s));

/* Connects the client to the scripted peer in raw mode (s->peer). */
void qmp_session_start_peer(struct qmp_session *s);

/* Runs the loop until *flag is true. */
void qmp_session_run_until(struct qmp_session *s, const bool *flag, const char *what);

/* The reply callback; data is a struct qmp_result whose s is set. */
void qmp_session_on_reply(struct qmp_client *c, int status, const struct qmp_msg *reply,
			  void *data);

/* Sends a command and waits for its reply in *res. */
void qmp_session_exec(struct qmp_session *s, const char *cmd, json_t *args, struct qmp_result *res);

/* Sends a command that must succeed and waits for its reply, dropping it. */
void qmp_session_exec_ok(struct qmp_session *s, const char *cmd, json_t *args);

/* The reply's "return", and dropping what a result holds. */
const json_t *qmp_result_value(const struct qmp_result *res);
void qmp_result_clear(struct qmp_result *res);

/* Runs the loop until QEMU has sent the event name. */
void qmp_session_wait_event(struct qmp_session *s, const char *name);

#endif
