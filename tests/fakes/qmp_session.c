#include "fakes/qmp_session.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakes/fake_loop.h"
#include "support/files.h"

static bool find_qemu(char *out, size_t size)
{
	const char *env = getenv("QEMU");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK) == 0;
	}
	const char *path = getenv("PATH");
	char *dirs = strdup(path ? path : "/usr/bin:/bin");
	assert_non_null(dirs);
	bool found = false;
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, size, "%s/qemu-system-x86_64", d);
		found = access(out, X_OK) == 0;
	}
	free(dirs);
	return found;
}

static bool flag_set(void *arg)
{
	return *(const bool *)arg;
}

void qmp_session_run_until(struct qmp_session *s, const bool *flag, const char *what)
{
	fake_run_until(&s->loop, flag_set, (void *)flag, what);
}

static void on_ready(struct qmp_client *c, int status, void *data)
{
	struct qmp_session *s = data;
	assert_false(s->ready);
	assert_false(s->closed);
	s->ready = true;
	s->ready_status = status;
}

static void on_event(struct qmp_client *c, const struct qmp_msg *ev, void *data)
{
	struct qmp_session *s = data;
	assert_int_equal(ev->kind, QMP_MSG_EVENT);
	assert_true(ev->ts_sec > 0);
	if (s->nevents < QMP_SESSION_MAX_EVENTS)
		snprintf(s->events[s->nevents++], sizeof(s->events[0]), "%s", ev->event);
}

static void on_closed(struct qmp_client *c, int reason, void *data)
{
	struct qmp_session *s = data;
	assert_false(s->closed);
	assert_true(s->ready);
	assert_int_equal(qmp_client_pending(c), 0);
	s->closed = true;
	s->closed_reason = reason;
	s->closed_execute = qmp_client_execute(c, "query-status", NULL, NULL, NULL);
	s->c = NULL;
}

static const struct qmp_client_ops ops = {
	.ready = on_ready,
	.event = on_event,
	.closed = on_closed,
};

static void on_connection(uv_stream_t *server, int status)
{
	struct qmp_session *s = server->data;
	assert_int_equal(status, 0);
	assert_null(s->c);
	uv_pipe_t *p = malloc(sizeof(*p));
	assert_non_null(p);
	assert_int_equal(uv_pipe_init(&s->loop, p, 0), 0);
	assert_int_equal(uv_accept(server, (uv_stream_t *)p), 0);
	assert_int_equal(qmp_client_open(&s->loop, p, &ops, s, &s->c), 0);
	if (s->on_open)
		s->on_open(s);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct qmp_session *s = p->data;
	s->exited = true;
	s->exit_status = status;
	s->term_signal = sig;
}

static void spawn_qemu(struct qmp_session *s)
{
	char chardev[256];
	snprintf(chardev, sizeof(chardev), "socket,id=qmp,path=%s,server=off", s->sock);
	char *args[] = {
		s->qemu,
		"-machine",
		"q35,accel=tcg",
		"-cpu",
		"max",
		"-m",
		"128",
		"-smp",
		"1,maxcpus=4",
		"-nodefaults",
		"-no-user-config",
		"-display",
		"none",
		"-S",
		"-chardev",
		chardev,
		"-mon",
		"chardev=qmp,mode=control",
		NULL,
	};
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_IGNORE },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t opts = {
		.file = s->qemu,
		.args = args,
		.exit_cb = on_exit_cb,
		.stdio = stdio,
		.stdio_count = 3,
	};
	s->proc.data = s;
	int r = uv_spawn(&s->loop, &s->proc, &opts);
	if (r < 0)
		fail_msg("cannot start %s: %s", s->qemu, uv_strerror(r));
	s->spawned = true;
}

bool qmp_session_start_qemu(struct qmp_session *s, void (*on_open)(struct qmp_session *s))
{
	if (!find_qemu(s->qemu, sizeof(s->qemu))) {
		print_message("qemu-system-x86_64 not found in PATH (or $QEMU): skipped\n");
		return false;
	}
	s->on_open = on_open;
	assert_int_equal(scratch_dir(s->dir, sizeof(s->dir), "qmp"), 0);
	snprintf(s->sock, sizeof(s->sock), "%s/qmp.sock", s->dir);
	assert_int_equal(uv_pipe_init(&s->loop, &s->server, 0), 0);
	s->server.data = s;
	s->listening = true;
	assert_int_equal(uv_pipe_bind(&s->server, s->sock), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&s->server, 1, on_connection), 0);
	spawn_qemu(s);
	qmp_session_run_until(s, &s->ready, "ready");
	assert_int_equal(s->ready_status, 0);
	return true;
}

void qmp_session_start_peer(struct qmp_session *s)
{
	fake_qmp_open(&s->peer, &s->loop, false, &ops, s, &s->c);
	s->peer_open = true;
}

int qmp_session_setup(void **state)
{
	struct qmp_session *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	assert_int_equal(uv_loop_init(&s->loop), 0);
	*state = s;
	return 0;
}

int qmp_session_teardown(void **state)
{
	struct qmp_session *s = *state;
	qmp_client_close(s->c);
	if (s->spawned && !s->exited) {
		uv_process_kill(&s->proc, SIGKILL);
		qmp_session_run_until(s, &s->exited, "QEMU to exit");
	}
	if (s->spawned)
		uv_close((uv_handle_t *)&s->proc, NULL);
	if (s->listening)
		uv_close((uv_handle_t *)&s->server, NULL);
	if (s->peer_open)
		fake_qmp_close(&s->peer);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	if (s->dir[0]) {
		unlink(s->sock);
		rmdir(s->dir);
	}
	/* Every handle, the client's pipe included, was closed and freed. */
	int r = uv_loop_close(&s->loop);
	free(s);
	assert_int_equal(r, 0);
	return 0;
}

void qmp_session_on_reply(struct qmp_client *c, int status, const struct qmp_msg *reply, void *data)
{
	struct qmp_result *res = data;
	assert_false(res->done);
	res->done = true;
	res->status = status;
	res->order = res->s->replies++;
	res->latency_ns = qmp_client_reply_latency_ns(c);
	res->ready_before = res->s->ready;
	if (status == 0 || status == -EREMOTEIO) {
		assert_non_null(reply);
		res->root = json_incref(reply->root);
		res->id = reply->id;
		res->has_id = reply->has_id;
		if (status == -EREMOTEIO)
			snprintf(res->err_class, sizeof(res->err_class), "%s", reply->err_class);
	} else {
		assert_null(reply);
		assert_int_equal(res->latency_ns, 0);
	}
}

void qmp_result_clear(struct qmp_result *res)
{
	json_decref(res->root);
	*res = (struct qmp_result){ 0 };
}

void qmp_session_exec(struct qmp_session *s, const char *cmd, json_t *args, struct qmp_result *res)
{
	*res = (struct qmp_result){ .s = s };
	assert_int_equal(qmp_client_execute(s->c, cmd, args, qmp_session_on_reply, res), 0);
	qmp_session_run_until(s, &res->done, cmd);
}

void qmp_session_exec_ok(struct qmp_session *s, const char *cmd, json_t *args)
{
	struct qmp_result res;
	qmp_session_exec(s, cmd, args, &res);
	assert_int_equal(res.status, 0);
	qmp_result_clear(&res);
}

const json_t *qmp_result_value(const struct qmp_result *res)
{
	return json_object_get(res->root, "return");
}

struct event_wait {
	struct qmp_session *s;
	const char *name;
};

static bool has_event(void *arg)
{
	struct event_wait *w = arg;
	for (size_t i = 0; i < w->s->nevents; i++)
		if (strcmp(w->s->events[i], w->name) == 0)
			return true;
	return false;
}

void qmp_session_wait_event(struct qmp_session *s, const char *name)
{
	struct event_wait w = { s, name };
	fake_run_until(&s->loop, has_event, &w, name);
}
