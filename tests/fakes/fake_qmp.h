/* A scripted QMP peer for the agent's QMP client, on the other end of a
 * socket pair, on the test's own libuv loop.
 *
 * Raw mode: it only records the bytes the client sends; the test writes
 * whatever it wants QEMU to have said (fake_qmp_send).
 * Auto mode: it behaves like a well-mannered QEMU: greets, accepts
 * qmp_capabilities, records each command and answers it at once with the
 * reply set for that command (fake_qmp_on), {"return": {}} by default, or
 * holds it for the test to answer (fake_qmp_answer).
 *
 * Failures are test failures (cmocka). */
#ifndef DITTO_TESTS_FAKE_QMP_H
#define DITTO_TESTS_FAKE_QMP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "qmp_client.h"

#define FAKE_QMP_IN_MAX 65536

struct fake_qmp {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	bool open;
	bool autoreply;
	char in[FAKE_QMP_IN_MAX]; /* every byte the client sent */
	size_t len;
	size_t parsed;    /* auto mode: bytes of in handled as commands */
	json_t *commands; /* auto mode: the commands received, qmp_capabilities excepted */
	json_t *replies;  /* auto mode: command name -> reply object, or null to hold */
};

/* What QEMU 10.0.2 greets with, "\r\n" included. */
extern const char fake_qmp_greeting[];

/* Connects a new client (ops, data as for qmp_client_open) to the fake and
 * returns it in *ret. In auto mode the greeting is on its way. */
void fake_qmp_open(struct fake_qmp *q, uv_loop_t *loop, bool autoreply,
		   const struct qmp_client_ops *ops, void *data, struct qmp_client **ret);

/* Closes the fake's end (the client sees QEMU hang up) and frees what it
 * holds; the pipe is closed by the next turns of the loop. */
void fake_qmp_close(struct fake_qmp *q);

/* Writes text to the client as it is. */
void fake_qmp_send(struct fake_qmp *q, const char *text);

/* Lines the client has sent so far (the negotiation included). */
size_t fake_qmp_lines(const struct fake_qmp *q);

/* Runs the loop until the client has sent n lines. */
void fake_qmp_wait_lines(struct fake_qmp *q, size_t n);

/* Auto mode: how to answer cmd from now on: reply is the JSON of the reply
 * without its id ({"return": ...} or {"error": {"class", "desc"}}), or NULL
 * to hold the command until fake_qmp_answer. */
void fake_qmp_on(struct fake_qmp *q, const char *cmd, const char *reply);

/* Auto mode: the commands received so far, their count by name, the i-th
 * one's name and arguments (NULL when it had none). */
size_t fake_qmp_count(const struct fake_qmp *q, const char *cmd);
size_t fake_qmp_ncommands(const struct fake_qmp *q);
const char *fake_qmp_command(const struct fake_qmp *q, size_t i);
json_t *fake_qmp_args(const struct fake_qmp *q, size_t i);

/* Runs the loop until cmd has been received n times in all. */
void fake_qmp_wait_command(struct fake_qmp *q, const char *cmd, size_t n);

/* Answers the i-th command (a held one) with reply, as for fake_qmp_on. */
void fake_qmp_answer(struct fake_qmp *q, size_t i, const char *reply);

/* Sends an event; data is a JSON object or NULL. */
void fake_qmp_event(struct fake_qmp *q, const char *name, const char *data);

#endif
