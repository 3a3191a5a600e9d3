/* The agent's QMP client: lib/qmp.h over a libuv pipe to one QEMU monitor.
 * It reads the greeting, negotiates capabilities, matches replies to
 * commands by id and hands events over in the order QEMU sent them. */
#ifndef DITTO_QMP_CLIENT_H
#define DITTO_QMP_CLIENT_H

#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "qmp.h"

struct qmp_client;

/* A command's completion: status 0 with a RETURN reply, -EREMOTEIO with an
 * ERROR reply (err_class, err_desc), -ECONNRESET when the connection went
 * away first, -ECANCELED when qmp_client_close() was called first (reply is
 * NULL for the last two). reply is valid only during the call (take a
 * reference to reply->root to keep any of it). */
typedef void (*qmp_reply_fn)(struct qmp_client *c, int status, const struct qmp_msg *reply,
			     void *cb_data);

struct qmp_client_ops {
	/* Called exactly once, before closed: status 0 when the greeting was
	 * read and qmp_capabilities acknowledged, or <0 when that failed
	 * (-EPROTO for a bad greeting or a refused negotiation, otherwise the
	 * reason the client went down). */
	void (*ready)(struct qmp_client *c, int status, void *data);
	/* An asynchronous event (ev->kind == QMP_MSG_EVENT); valid only during
	 * the call. May be NULL. */
	void (*event)(struct qmp_client *c, const struct qmp_msg *ev, void *data);
	/* Called exactly once when the client goes down: -ECONNRESET when QEMU
	 * hung up, -ECANCELED after qmp_client_close(), -EPROTO or -EMSGSIZE
	 * when QEMU sent a line that is not QMP or too long, or a libuv error.
	 * Every pending command has had its callback by then. The client is
	 * freed after this returns, on a later loop iteration. */
	void (*closed)(struct qmp_client *c, int reason, void *data);
};

/* Takes ownership of a connected pipe (allocated with malloc; it is closed
 * and freed by the client, also when this fails) and starts the session:
 * ops->ready follows once capabilities are negotiated. ops must outlive the
 * client. Returns 0, or <0 (-ENOMEM, a libuv error) without calling any
 * callback. */
int qmp_client_open(uv_loop_t *loop, uv_pipe_t *pipe, const struct qmp_client_ops *ops, void *data,
		    struct qmp_client **ret);

/* Sends a command. Ids are integers that increase in the order commands are
 * issued (qmp_capabilities takes 0, user commands 1, 2, ...). args (an object, or NULL) is
 * stolen, also on failure. A command issued before ready is held back and
 * sent after the negotiation. Returns 0 and later calls cb exactly once (cb
 * may be NULL when the outcome does not matter), or returns <0 (-ENOTCONN
 * once the client is closing, -EINVAL for a bad command name or args,
 * -ENOMEM, a libuv error) and never calls cb. */
int qmp_client_execute(struct qmp_client *c, const char *cmd, json_t *args, qmp_reply_fn cb,
		       void *cb_data);

/* Inside a reply callback: nanoseconds from the command being written to
 * its reply being read (uv_hrtime), i.e. QEMU's time to handle it plus the
 * round trip. 0 outside a reply callback and for commands that got no reply. */
uint64_t qmp_client_reply_latency_ns(const struct qmp_client *c);

/* Number of commands sent or held back and not yet answered. */
size_t qmp_client_pending(const struct qmp_client *c);

/* Fails pending commands with -ECANCELED, calls ops->ready (if it was not
 * called yet) and ops->closed with -ECANCELED, then closes the pipe; the
 * client frees itself when libuv has closed it. Safe to call from any of the
 * client's callbacks; once the client is going down (also inside closed) it
 * does nothing. Accepts NULL. */
void qmp_client_close(struct qmp_client *c);

#endif
