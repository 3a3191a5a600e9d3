/* Tests for the QMP client against a real QEMU, connected the way the agent
 * runs it: the test listens on a unix socket and QEMU connects to it
 * (-chardev socket,server=off -mon mode=control). QEMU starts paused (-S)
 * with no guest, which is enough for capabilities, CPU queries, CPU
 * device_add, errors, run state events and quit. What QEMU never does (a bad
 * greeting, a refused negotiation, junk) comes from a scripted peer. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "qmp_client.h"

#define DEADLINE_MS 30000
#define MAX_EVENTS 32

struct fixture;

/* One command's outcome, filled by on_reply(). */
struct result {
	bool done;
	int status;
	json_t *root;
	uint64_t id;
	bool has_id;
	char err_class[64];
	uint64_t latency_ns;
	bool ready_before; /* the session was ready when the reply came */
	int order;         /* position among all replies of the test */
	struct fixture *f;
};

struct fixture {
	uv_loop_t loop;
	uv_pipe_t server;
	uv_process_t proc;
	uv_timer_t deadline;
	char qemu[PATH_MAX];
	char dir[64];
	char sock[128];
	struct qmp_client *c;
	bool timed_out;
	bool ready;
	int ready_status;
	bool closed;
	int closed_reason;
	int closed_execute; /* what qmp_client_execute() said inside closed */
	bool exited;
	int64_t exit_status;
	int term_signal;
	char events[MAX_EVENTS][32];
	size_t nevents;
	bool spawned;
	bool listening;
	/* A scripted peer in place of QEMU, for what QEMU never does. */
	uv_pipe_t peer;
	bool peer_open;
	char peer_in[4096]; /* what the client sent */
	size_t peer_len;
	int replies; /* reply callbacks so far */
	/* Commands to issue as soon as the connection is accepted. */
	void (*on_open)(struct fixture *f);
	struct result early[2];
};

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

static void on_deadline(uv_timer_t *t)
{
	struct fixture *f = t->data;
	f->timed_out = true;
	uv_stop(&f->loop);
}

/* Runs the loop until *flag is true; fails after DEADLINE_MS. */
static void run_until(struct fixture *f, const bool *flag, const char *what)
{
	uv_timer_start(&f->deadline, on_deadline, DEADLINE_MS, 0);
	while (!*flag && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	if (f->timed_out)
		fail_msg("timed out waiting for %s", what);
}

static void on_ready(struct qmp_client *c, int status, void *data)
{
	struct fixture *f = data;
	assert_false(f->ready);
	assert_false(f->closed);
	f->ready = true;
	f->ready_status = status;
}

static void on_event(struct qmp_client *c, const struct qmp_msg *ev, void *data)
{
	struct fixture *f = data;
	assert_int_equal(ev->kind, QMP_MSG_EVENT);
	assert_true(ev->ts_sec > 0);
	if (f->nevents < MAX_EVENTS)
		snprintf(f->events[f->nevents++], sizeof(f->events[0]), "%s", ev->event);
}

static void on_closed(struct qmp_client *c, int reason, void *data)
{
	struct fixture *f = data;
	assert_false(f->closed);
	assert_true(f->ready);
	assert_int_equal(qmp_client_pending(c), 0);
	f->closed = true;
	f->closed_reason = reason;
	f->closed_execute = qmp_client_execute(c, "query-status", NULL, NULL, NULL);
	f->c = NULL;
}

static const struct qmp_client_ops ops = {
	.ready = on_ready,
	.event = on_event,
	.closed = on_closed,
};

static void on_connection(uv_stream_t *server, int status)
{
	struct fixture *f = server->data;
	assert_int_equal(status, 0);
	assert_null(f->c);
	uv_pipe_t *p = malloc(sizeof(*p));
	assert_non_null(p);
	assert_int_equal(uv_pipe_init(&f->loop, p, 0), 0);
	assert_int_equal(uv_accept(server, (uv_stream_t *)p), 0);
	assert_int_equal(qmp_client_open(&f->loop, p, &ops, f, &f->c), 0);
	if (f->on_open)
		f->on_open(f);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct fixture *f = p->data;
	f->exited = true;
	f->exit_status = status;
	f->term_signal = sig;
}

/* Starts QEMU and waits for the session to be ready. Returns false (and the
 * test should skip) when there is no QEMU. */
static bool start(struct fixture *f, void (*on_open)(struct fixture *f))
{
	if (!find_qemu(f->qemu, sizeof(f->qemu))) {
		print_message("qemu-system-x86_64 not found in PATH (or $QEMU): skipped\n");
		return false;
	}
	f->on_open = on_open;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ditto-qmp-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/qmp.sock", f->dir);
	assert_int_equal(uv_pipe_init(&f->loop, &f->server, 0), 0);
	f->server.data = f;
	f->listening = true;
	assert_int_equal(uv_pipe_bind(&f->server, f->sock), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->server, 1, on_connection), 0);

	char chardev[256];
	snprintf(chardev, sizeof(chardev), "socket,id=qmp,path=%s,server=off", f->sock);
	char *args[] = {
		f->qemu, "-machine", "q35,accel=tcg", "-cpu", "max", "-m", "128",
		"-smp", "1,maxcpus=4", "-nodefaults", "-no-user-config", "-display", "none",
		"-S", "-chardev", chardev, "-mon", "chardev=qmp,mode=control", NULL,
	};
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_IGNORE },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t opts = {
		.file = f->qemu, .args = args, .exit_cb = on_exit_cb,
		.stdio = stdio, .stdio_count = 3,
	};
	f->proc.data = f;
	int r = uv_spawn(&f->loop, &f->proc, &opts);
	if (r < 0)
		fail_msg("cannot start %s: %s", f->qemu, uv_strerror(r));
	f->spawned = true;
	run_until(f, &f->ready, "ready");
	assert_int_equal(f->ready_status, 0);
	return true;
}

static void on_handle_closed(uv_handle_t *h)
{
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	qmp_client_close(f->c);
	if (f->spawned && !f->exited) {
		uv_process_kill(&f->proc, SIGKILL);
		f->timed_out = false;
		run_until(f, &f->exited, "QEMU to exit");
	}
	if (f->spawned)
		uv_close((uv_handle_t *)&f->proc, on_handle_closed);
	if (f->listening)
		uv_close((uv_handle_t *)&f->server, on_handle_closed);
	if (f->peer_open)
		uv_close((uv_handle_t *)&f->peer, on_handle_closed);
	uv_close((uv_handle_t *)&f->deadline, on_handle_closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	if (f->dir[0]) {
		unlink(f->sock);
		rmdir(f->dir);
	}
	/* Every handle, the client's pipe included, was closed and freed. */
	int r = uv_loop_close(&f->loop);
	free(f);
	assert_int_equal(r, 0);
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->deadline), 0);
	f->deadline.data = f;
	*state = f;
	return 0;
}

static void on_reply(struct qmp_client *c, int status, const struct qmp_msg *reply, void *data)
{
	struct result *res = data;
	assert_false(res->done);
	res->done = true;
	res->status = status;
	res->order = res->f->replies++;
	res->latency_ns = qmp_client_reply_latency_ns(c);
	res->ready_before = res->f->ready;
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

static void result_clear(struct result *res)
{
	json_decref(res->root);
	*res = (struct result){ 0 };
}

/* Sends a command and waits for its reply. */
static void exec_wait(struct fixture *f, const char *cmd, json_t *args, struct result *res)
{
	*res = (struct result){ .f = f };
	assert_int_equal(qmp_client_execute(f->c, cmd, args, on_reply, res), 0);
	run_until(f, &res->done, cmd);
}

static const json_t *ret_value(const struct result *res)
{
	return json_object_get(res->root, "return");
}

static bool has_event(const struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->nevents; i++)
		if (strcmp(f->events[i], name) == 0)
			return true;
	return false;
}

static void wait_event(struct fixture *f, const char *name)
{
	uv_timer_start(&f->deadline, on_deadline, DEADLINE_MS, 0);
	while (!has_event(f, name) && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	if (f->timed_out)
		fail_msg("timed out waiting for event %s", name);
}

/* The vCPU threads QEMU reports are real threads of its process. */
static int check_cpus(struct fixture *f, struct qmp_cpu_info *cpus, size_t n)
{
	struct result res;
	exec_wait(f, "query-cpus-fast", NULL, &res);
	assert_int_equal(res.status, 0);
	int count = qmp_parse_cpus_fast(ret_value(&res), cpus, n);
	assert_true(count > 0);
	for (int i = 0; i < count; i++) {
		char path[64];
		struct stat st;
		snprintf(path, sizeof(path), "/proc/%d/task/%lld", f->proc.pid,
			 (long long)cpus[i].thread_id);
		assert_int_equal(stat(path, &st), 0);
		assert_int_not_equal(cpus[i].thread_id, f->proc.pid);
	}
	result_clear(&res);
	return count;
}

static void test_queries_and_hotplug(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();

	struct result res;
	exec_wait(f, "query-hotpluggable-cpus", NULL, &res);
	assert_int_equal(res.status, 0);
	assert_true(res.has_id);
	assert_int_equal(res.id, 1); /* the first user command */
	assert_true(res.latency_ns > 0);
	struct qmp_hotpluggable_cpu slots[8];
	int n = qmp_parse_hotpluggable_cpus(ret_value(&res), slots, 8);
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
	result_clear(&res);

	struct qmp_cpu_info cpus[8];
	assert_int_equal(check_cpus(f, cpus, 8), 1);
	assert_int_equal(cpus[0].core_id, 0);

	/* A CPU outside the topology is refused by QEMU. */
	exec_wait(f, "device_add",
		  json_pack("{s:s, s:s, s:i, s:i, s:i}", "driver", free_slot->type, "id", "bad",
			    "socket-id", 0, "core-id", 9, "thread-id", 0),
		  &res);
	assert_int_equal(res.status, -EREMOTEIO);
	assert_string_equal(res.err_class, "GenericError");
	assert_true(res.id > last_id);
	last_id = res.id;
	result_clear(&res);

	/* Plugging works at the QEMU level even with no guest running. */
	exec_wait(f, "device_add",
		  json_pack("{s:s, s:s, s:I, s:I, s:I}", "driver", free_slot->type, "id", "wcpu1",
			    "socket-id", (json_int_t)free_slot->socket_id, "core-id",
			    (json_int_t)free_slot->core_id, "thread-id",
			    (json_int_t)free_slot->thread_id),
		  &res);
	assert_int_equal(res.status, 0);
	assert_true(res.id > last_id);
	print_message("device_add latency (TCG, paused VM): %.3f ms\n", res.latency_ns / 1e6);
	result_clear(&res);

	assert_int_equal(check_cpus(f, cpus, 8), 2);
	assert_int_equal(cpus[1].core_id, 1);
	assert_string_equal(cpus[1].qom_path, "/machine/peripheral/wcpu1");
	assert_int_not_equal(cpus[0].thread_id, cpus[1].thread_id);

	exec_wait(f, "query-hotpluggable-cpus", NULL, &res);
	n = qmp_parse_hotpluggable_cpus(ret_value(&res), slots, 8);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(slots[i].plugged, slots[i].core_id <= 1);
	result_clear(&res);

	/* Synchronous failures never call back. */
	struct result never = { .f = f };
	assert_int_equal(qmp_client_execute(f->c, "device_add", json_array(), on_reply, &never),
			 -EINVAL);
	assert_int_equal(qmp_client_execute(f->c, "\xff", NULL, on_reply, &never), -EINVAL);
	assert_int_equal(qmp_client_pending(f->c), 0);

	/* A command QEMU does not know. */
	exec_wait(f, "no-such-command", NULL, &res);
	assert_int_equal(res.status, -EREMOTEIO);
	assert_string_equal(res.err_class, "CommandNotFound");
	result_clear(&res);
	assert_false(never.done);
}

static void test_run_state_events(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();
	struct result res;
	exec_wait(f, "cont", NULL, &res);
	assert_int_equal(res.status, 0);
	result_clear(&res);
	wait_event(f, "RESUME");
	exec_wait(f, "stop", NULL, &res);
	assert_int_equal(res.status, 0);
	result_clear(&res);
	wait_event(f, "STOP");
	/* In the order QEMU sent them. */
	assert_int_equal(f->nevents, 2);
	assert_string_equal(f->events[0], "RESUME");
	assert_string_equal(f->events[1], "STOP");

	exec_wait(f, "query-status", NULL, &res);
	assert_string_equal(json_string_value(json_object_get(ret_value(&res), "status")),
			    "paused");
	result_clear(&res);
}

/* Many commands in flight at once complete in order, each exactly once. */
static void test_pipelined(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();
	enum { N = 50 };
	struct result res[N];
	for (int i = 0; i < N; i++) {
		res[i] = (struct result){ .f = f };
		const char *cmd = i % 5 == 4 ? "no-such-command" : "query-status";
		assert_int_equal(qmp_client_execute(f->c, cmd, NULL, on_reply, &res[i]), 0);
	}
	assert_int_equal(qmp_client_pending(f->c), N);
	run_until(f, &res[N - 1].done, "the last reply");
	for (int i = 0; i < N; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].order, i);
		assert_int_equal(res[i].status, i % 5 == 4 ? -EREMOTEIO : 0);
		if (i > 0)
			assert_int_equal(res[i].id, res[0].id + (uint64_t)i);
	}
	for (int i = 0; i < N; i++)
		result_clear(&res[i]);
	assert_int_equal(qmp_client_pending(f->c), 0);
}

static void issue_early(struct fixture *f)
{
	for (int i = 0; i < 2; i++) {
		f->early[i] = (struct result){ .f = f };
		assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply,
						    &f->early[i]),
				 0);
	}
}

/* Commands issued before the negotiation wait for it, then go out. */
static void test_before_ready(void **state)
{
	struct fixture *f = *state;
	if (!start(f, issue_early))
		skip();
	struct result *early = f->early;
	run_until(f, &early[1].done, "the early replies");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(early[i].status, 0);
		assert_true(early[i].ready_before);
		assert_int_equal(early[i].order, i);
		assert_int_equal(early[i].id, (uint64_t)i + 1);
		result_clear(&early[i]);
	}
}

static void test_quit(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();
	struct result res;
	exec_wait(f, "quit", NULL, &res);
	assert_int_equal(res.status, 0);
	result_clear(&res);
	run_until(f, &f->closed, "the connection to close");
	assert_int_equal(f->closed_reason, -ECONNRESET);
	assert_int_equal(f->closed_execute, -ENOTCONN);
	run_until(f, &f->exited, "QEMU to exit");
	assert_int_equal(f->exit_status, 0);
	assert_int_equal(f->term_signal, 0);
}

/* A command in flight when QEMU dies is answered with -ECONNRESET. QEMU is
 * stopped first so that it cannot answer before it is killed. */
static void test_killed(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();
	assert_int_equal(uv_process_kill(&f->proc, SIGSTOP), 0);
	siginfo_t si = { 0 };
	assert_int_equal(waitid(P_PID, (id_t)f->proc.pid, &si, WSTOPPED), 0);
	assert_int_equal(si.si_code, CLD_STOPPED);

	struct result res[2] = { { .f = f }, { .f = f } };
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply, &res[0]), 0);
	assert_int_equal(qmp_client_execute(f->c, "query-cpus-fast", NULL, on_reply, &res[1]), 0);
	assert_int_equal(uv_process_kill(&f->proc, SIGKILL), 0);
	run_until(f, &f->closed, "the connection to close");
	for (int i = 0; i < 2; i++) {
		assert_true(res[i].done);
		assert_int_equal(res[i].status, -ECONNRESET);
	}
	assert_int_equal(f->closed_reason, -ECONNRESET);
	run_until(f, &f->exited, "QEMU to exit");
	assert_int_equal(f->term_signal, SIGKILL);
}

static void close_from_reply(struct qmp_client *c, int status, const struct qmp_msg *reply,
			     void *data)
{
	on_reply(c, status, reply, data);
	qmp_client_close(c);
	qmp_client_close(c);
	struct result *res = data;
	assert_int_equal(qmp_client_reply_latency_ns(c), res->latency_ns);
}

/* Closing fails what is pending with -ECANCELED, also from a callback. */
static void test_close(void **state)
{
	struct fixture *f = *state;
	if (!start(f, NULL))
		skip();
	struct result first = { .f = f }, second = { .f = f }, third = { .f = f };
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, close_from_reply, &first),
			 0);
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply, &second), 0);
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply, &third), 0);
	run_until(f, &f->closed, "the client to close");
	assert_int_equal(first.status, 0);
	assert_true(first.latency_ns > 0);
	assert_int_equal(second.status, -ECANCELED);
	assert_int_equal(third.status, -ECANCELED);
	assert_true(first.order < second.order && second.order < third.order);
	assert_int_equal(f->closed_reason, -ECANCELED);
	assert_int_equal(f->closed_execute, -ENOTCONN);
	result_clear(&first);
	/* QEMU lives on without its monitor; teardown kills it. */
	assert_false(f->exited);
}

static void on_peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fixture *f = h->data;
	*buf = uv_buf_init(f->peer_in + f->peer_len, (unsigned)(sizeof(f->peer_in) - f->peer_len));
}

static void on_peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fixture *f = s->data;
	if (n > 0)
		f->peer_len += (size_t)n;
	assert_true(f->peer_len < sizeof(f->peer_in));
}

/* Connects the client to a scripted peer over a socket pair. */
static void start_peer(struct fixture *f)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	uv_pipe_t *p = malloc(sizeof(*p));
	assert_non_null(p);
	assert_int_equal(uv_pipe_init(&f->loop, p, 0), 0);
	assert_int_equal(uv_pipe_open(p, fds[0]), 0);
	assert_int_equal(uv_pipe_init(&f->loop, &f->peer, 0), 0);
	assert_int_equal(uv_pipe_open(&f->peer, fds[1]), 0);
	f->peer.data = f;
	f->peer_open = true;
	assert_int_equal(uv_read_start((uv_stream_t *)&f->peer, on_peer_alloc, on_peer_read), 0);
	assert_int_equal(qmp_client_open(&f->loop, p, &ops, f, &f->c), 0);
}

static void peer_send(struct fixture *f, const char *text, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)text, (unsigned)len);
	int r = uv_try_write((uv_stream_t *)&f->peer, &b, 1);
	assert_int_equal(r, (int)len);
}

#define PEER_SEND(f, s) peer_send(f, s, strlen(s))

static size_t peer_lines(const struct fixture *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->peer_len; i++)
		n += f->peer_in[i] == '\n';
	return n;
}

static void wait_peer_lines(struct fixture *f, size_t n)
{
	uv_timer_start(&f->deadline, on_deadline, DEADLINE_MS, 0);
	while (peer_lines(f) < n && !f->timed_out)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->deadline);
	if (f->timed_out)
		fail_msg("timed out waiting for %zu lines from the client", n);
}

static const char greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}, "
	"\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n";

static void test_peer_bad_greeting(void **state)
{
	struct fixture *f = *state;
	start_peer(f);
	PEER_SEND(f, "{\"return\": {}, \"id\": 0}\r\n");
	run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->ready_status, -EPROTO);
	assert_int_equal(f->closed_reason, -EPROTO);
	assert_int_equal(f->peer_len, 0);
}

static void test_peer_refuses_capabilities(void **state)
{
	struct fixture *f = *state;
	start_peer(f);
	struct result res = { .f = f };
	assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply, &res), 0);
	PEER_SEND(f, greeting);
	wait_peer_lines(f, 1);
	/* Only the negotiation went out; the user command waits for it. */
	const char want[] = "{\"execute\":\"qmp_capabilities\",\"id\":0}\r\n";
	assert_int_equal(f->peer_len, strlen(want));
	assert_memory_equal(f->peer_in, want, f->peer_len);
	PEER_SEND(f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 0}\r\n");
	run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->ready_status, -EPROTO);
	assert_int_equal(f->closed_reason, -EPROTO);
	assert_int_equal(res.status, -ECONNRESET);
}

/* Replies are matched by id whatever comes between them; a reply without an
 * id answers the oldest command; an over-long line ends the session. */
static void test_peer_quirks(void **state)
{
	struct fixture *f = *state;
	start_peer(f);
	PEER_SEND(f, greeting);
	wait_peer_lines(f, 1);
	PEER_SEND(f, "{\"return\": {}, \"id\": 0}\r\n");
	run_until(f, &f->ready, "ready");
	assert_int_equal(f->ready_status, 0);

	struct result res[3] = { { .f = f }, { .f = f }, { .f = f } };
	for (int i = 0; i < 3; i++)
		assert_int_equal(qmp_client_execute(f->c, "query-status", NULL, on_reply, &res[i]),
				 0);
	wait_peer_lines(f, 4);
	PEER_SEND(f, "\r\n{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}"
		     "\r\n{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}"
		     "\r\n{\"return\": {}, \"id\": 99}\r\n{\"return\": {\"ok\": 1}, \"id\": 2}\r\n");
	run_until(f, &res[1].done, "the second reply");
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
	uv_timer_start(&f->deadline, on_deadline, DEADLINE_MS, 0);
	while (off < len && !f->closed && !f->timed_out) {
		uv_buf_t b = uv_buf_init(huge + off, (unsigned)(len - off));
		int r = uv_try_write((uv_stream_t *)&f->peer, &b, 1);
		if (r > 0)
			off += (size_t)r;
		else
			assert_int_equal(r, UV_EAGAIN);
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	uv_timer_stop(&f->deadline);
	free(huge);
	run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->closed_reason, -EMSGSIZE);
	assert_int_equal(res[2].status, -ECONNRESET);
	for (int i = 0; i < 3; i++)
		result_clear(&res[i]);
}

static void test_peer_not_json(void **state)
{
	struct fixture *f = *state;
	start_peer(f);
	PEER_SEND(f, greeting);
	wait_peer_lines(f, 1);
	PEER_SEND(f, "{\"return\": {}, \"id\": 0}\r\n[1, 2]\r\n");
	run_until(f, &f->closed, "the client to give up");
	assert_int_equal(f->ready_status, 0);
	assert_int_equal(f->closed_reason, -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queries_and_hotplug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_state_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_ready, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_bad_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_refuses_capabilities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_quirks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_not_json, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
