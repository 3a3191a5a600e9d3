/* The controller's side of the link (agent_stream.c) against a fake agent
 * on loopback: callers on many threads share one stream and each is woken
 * with its own answer, whatever the order the answers come in; the agent's
 * window is never exceeded; errors and a refused upgrade come back as the
 * HTTP call's would; a caller past its deadline or whose host's generation
 * moved gives up and the agent is told (CANCEL); a broken stream fails
 * its calls and the next call opens a new one, as does a new token. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent_link.h"
#include "agent_stream.h"
#include "util.h"

#define MAX_PENDING 64
/* The fake's own checks: cmocka's asserts work on the test's thread only. */
#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: fake agent: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                               \
		}                                                                              \
	} while (0)

/* An INVOKE the fake answers when its time comes (due 0: never). */
struct pending {
	uint32_t id;
	uint64_t due_us;
	char reply[64];
};

/* The fake agent: one thread, one connection at a time. Its input decides
 * the answer: "echo:X" (RESULT, result X, log "LOG"), "late:MS:X" (the
 * same MS ms later), "hold" (none), "err" (ERROR 404 no_vm), "close"
 * (drops the stream). */
struct fake {
	pthread_mutex_t lock;
	int listen_fd, port;
	unsigned window;
	char token[64];
	pthread_t thread;
	bool stop;
	/* What it saw. */
	int conns, invokes, max_inflight;
	uint32_t cancelled[16];
	int n_cancelled;
};

static void fake_write(int fd, uint8_t type, uint32_t id, const char *meta, const void *body,
		       size_t len)
{
	struct buf out = { 0 };
	CHECK(link_frame_append(&out, type, id, meta, strlen(meta), body, len) == 0);
	send(fd, out.data, out.len, MSG_NOSIGNAL);
	buf_free(&out);
}

static void fake_answer(int fd, const struct pending *p)
{
	if (!strcmp(p->reply, "err")) {
		fake_write(fd, WIRE_LINK_ERROR, p->id,
			   "{\"status\":404,\"error\":{\"code\":\"no_vm\",\"message\":\"gone\"}}",
			   NULL, 0);
		return;
	}
	char meta[96], body[80];
	snprintf(meta, sizeof(meta), "{\"status\":\"ok\",\"result_len\":%zu}", strlen(p->reply));
	snprintf(body, sizeof(body), "%sLOG", p->reply);
	fake_write(fd, WIRE_LINK_RESULT, p->id, meta, body, strlen(body));
}

/* Reads the upgrade's head; answers 101 and HELLO, or 401. */
static bool fake_accept(struct fake *f, int fd)
{
	char head[4096];
	size_t got = 0;
	while (got < sizeof(head) - 1 && !memmem(head, got, "\r\n\r\n", 4)) {
		ssize_t n = read(fd, head + got, 1);
		if (n <= 0)
			return false;
		got++;
	}
	head[got] = '\0';
	char want[128];
	pthread_mutex_lock(&f->lock);
	snprintf(want, sizeof(want), "Authorization: Bearer %s\r\n", f->token);
	unsigned window = f->window;
	f->conns++;
	pthread_mutex_unlock(&f->lock);
	if (!strstr(head, want) || !strstr(head, "Upgrade: " LINK_UPGRADE)) {
		static const char body[] =
			"{\"error\":{\"code\":\"unauthorized\",\"message\":\"no\"}}";
		char resp[256];
		int n = snprintf(resp, sizeof(resp),
				 "HTTP/1.1 401 Unauthorized\r\nContent-Length: %zu\r\n\r\n%s",
				 strlen(body), body);
		send(fd, resp, (size_t)n, MSG_NOSIGNAL);
		return false;
	}
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: " LINK_UPGRADE
				 "\r\nConnection: Upgrade\r\n\r\n";
	send(fd, ok, strlen(ok), MSG_NOSIGNAL);
	char hello[64];
	snprintf(hello, sizeof(hello), "{\"version\":1,\"window\":%u}", window);
	fake_write(fd, WIRE_LINK_HELLO, 0, hello, NULL, 0);
	return true;
}

/* Takes one frame in; false when the stream is to close. */
static bool fake_frame(struct fake *f, const struct wire_frame *fr, struct pending *pend,
		       int *n_pend)
{
	pthread_mutex_lock(&f->lock);
	if (fr->hdr.type == WIRE_LINK_CANCEL) {
		if (f->n_cancelled < 16)
			f->cancelled[f->n_cancelled++] = fr->hdr.id;
		for (int i = 0; i < *n_pend; i++)
			if (pend[i].id == fr->hdr.id)
				pend[i] = pend[--*n_pend];
		pthread_mutex_unlock(&f->lock);
		return true;
	}
	CHECK(fr->hdr.type == WIRE_LINK_INVOKE);
	f->invokes++;
	pthread_mutex_unlock(&f->lock);
	char in[64] = "";
	snprintf(in, sizeof(in), "%.*s", (int)fr->hdr.body_len, (const char *)fr->body);
	if (!strcmp(in, "close"))
		return false;
	CHECK(*n_pend < MAX_PENDING);
	struct pending *p = &pend[(*n_pend)++];
	*p = (struct pending){ .id = fr->hdr.id };
	unsigned ms = 0;
	int off = 0;
	if (!strncmp(in, "echo:", 5))
		snprintf(p->reply, sizeof(p->reply), "%s", in + 5);
	else if (sscanf(in, "late:%u:%n", &ms, &off) == 1 && off)
		snprintf(p->reply, sizeof(p->reply), "%s", in + off);
	else
		snprintf(p->reply, sizeof(p->reply), "%s", in);
	p->due_us = strcmp(in, "hold") ? time_now_us() + ms * 1000ull : 0;
	pthread_mutex_lock(&f->lock);
	if (*n_pend > f->max_inflight)
		f->max_inflight = *n_pend;
	pthread_mutex_unlock(&f->lock);
	return true;
}

/* Answers what is due; returns the poll timeout to the next one. */
static int fake_due(int fd, struct pending *pend, int *n_pend)
{
	int wait = 50;
	uint64_t now = time_now_us();
	for (int i = 0; i < *n_pend;) {
		if (pend[i].due_us && pend[i].due_us <= now) {
			fake_answer(fd, &pend[i]);
			pend[i] = pend[--*n_pend];
			continue;
		}
		if (pend[i].due_us && (int)((pend[i].due_us - now) / 1000) < wait)
			wait = (int)((pend[i].due_us - now) / 1000);
		i++;
	}
	return wait;
}

static void fake_serve(struct fake *f, int fd)
{
	struct wire_decoder dec;
	wire_decoder_init_proto(&dec, WIRE_PROTO_LINK, WIRE_MAX_BODY);
	struct pending pend[MAX_PENDING];
	int n_pend = 0;
	bool open = true;
	while (open && !f->stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, fake_due(fd, pend, &n_pend)) <= 0)
			continue;
		uint8_t buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		CHECK(wire_decoder_feed(&dec, buf, (size_t)n) == 0);
		struct wire_frame fr;
		int r;
		while (open && (r = wire_decoder_next(&dec, &fr)) == 1)
			open = fake_frame(f, &fr, pend, &n_pend);
		CHECK(r >= 0 || !open);
	}
	wire_decoder_free(&dec);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	while (!f->stop) {
		struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(f->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fake_accept(f, fd))
			fake_serve(f, fd);
		close(fd);
	}
	return NULL;
}

struct fixture {
	struct fake fake;
	struct agent_streams *s;
	char address[64];
	_Atomic uint64_t gen;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct fake *f = &fx->fake;
	pthread_mutex_init(&f->lock, NULL);
	f->window = 64;
	snprintf(f->token, sizeof(f->token), "tok1");
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 16), 0);
	socklen_t len = sizeof(sa);
	getsockname(f->listen_fd, (struct sockaddr *)&sa, &len);
	f->port = ntohs(sa.sin_port);
	snprintf(fx->address, sizeof(fx->address), "http://127.0.0.1:%d", f->port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	assert_int_equal(agent_streams_new(&fx->s), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	agent_streams_free(fx->s);
	fx->fake.stop = true;
	pthread_join(fx->fake.thread, NULL);
	close(fx->fake.listen_fd);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

/* One call with input and token (NULL: tok1); the answer's JSON and body
 * in *json and *body. */
static int call_full(struct fixture *fx, const char *input, const char *token, long timeout_ms,
		     json_t **json, struct agent_stream_body *body)
{
	struct link_call c = {
		.address = fx->address,
		.token = token ? token : "tok1",
		.body = input,
		.body_len = strlen(input),
		.timeout_ms = timeout_ms,
		.gen = &fx->gen,
		.gen_expected = atomic_load(&fx->gen),
	};
	json_t *meta = json_pack("{s:s}", "vm", "t1");
	int r = agent_stream_invoke(fx->s, &c, meta, json, body, NULL);
	json_decref(meta);
	return r;
}

/* A call that must succeed with result want (and log "LOG"). */
static void call_ok(struct fixture *fx, const char *input, const char *want)
{
	json_t *json;
	struct agent_stream_body body;
	assert_int_equal(call_full(fx, input, NULL, 10000, &json, &body), 200);
	struct verdict v = { 0 };
	assert_int_equal(agent_stream_body_take(&body, &v), 0);
	assert_null(body.data);
	assert_int_equal(v.result_len, strlen(want));
	assert_memory_equal(v.result, want, strlen(want));
	assert_int_equal(v.log_len, 3);
	assert_memory_equal(v.log, "LOG", 3);
	verdict_clear(&v);
	json_decref(json);
}

static int call_status(struct fixture *fx, const char *input, long timeout_ms)
{
	json_t *json;
	struct agent_stream_body body;
	int r = call_full(fx, input, NULL, timeout_ms, &json, &body);
	json_decref(json);
	free(body.data);
	return r;
}

struct caller {
	struct fixture *fx;
	int n;
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	char in[32], want[16];
	/* The first callers' answers come last. */
	snprintf(in, sizeof(in), "late:%d:r%d", 160 - 20 * c->n, c->n);
	snprintf(want, sizeof(want), "r%d", c->n);
	call_ok(c->fx, in, want);
	return NULL;
}

static void run_callers(struct fixture *fx, int n)
{
	pthread_t t[8];
	struct caller c[8];
	for (int i = 0; i < n; i++) {
		c[i] = (struct caller){ fx, i };
		assert_int_equal(pthread_create(&t[i], NULL, caller_main, &c[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* Callers on many threads share one stream; answers in another order than
 * the calls each reach their own caller. */
static void test_shared_stream(void **state)
{
	struct fixture *fx = *state;
	call_ok(fx, "echo:first", "first");
	run_callers(fx, 8);
	assert_int_equal(fx->fake.conns, 1);
	assert_int_equal(fx->fake.invokes, 9);
}

/* No more than the window is ever in flight; the others wait for room. */
static void test_window(void **state)
{
	struct fixture *fx = *state;
	fx->fake.window = 2;
	run_callers(fx, 6);
	assert_int_equal(fx->fake.max_inflight, 2);
}

/* An ERROR is the HTTP error's status and body; a refused upgrade is the
 * agent's answer; nobody listening is refused. */
static void test_errors(void **state)
{
	struct fixture *fx = *state;
	json_t *json;
	struct agent_stream_body body;
	assert_int_equal(call_full(fx, "err", NULL, 10000, &json, &body), 404);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json, "error"), "code")),
		"no_vm");
	assert_null(body.data);
	json_decref(json);
	assert_int_equal(call_full(fx, "echo:x", "wrong", 10000, &json, &body), 401);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(json, "error"), "code")),
		"unauthorized");
	json_decref(json);
	snprintf(fx->address, sizeof(fx->address), "http://127.0.0.1:1");
	assert_int_equal(call_status(fx, "echo:x", 10000), -ECONNREFUSED);
}

static void *bump_later(void *arg)
{
	struct fixture *fx = arg;
	while (fx->fake.invokes < 2)
		usleep(1000);
	atomic_fetch_add(&fx->gen, 1);
	return NULL;
}

/* A caller past its deadline, or whose host's generation moved, gives up
 * and the agent is told to cancel that id; the stream goes on. */
static void test_give_up(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(call_status(fx, "hold", 200), -ETIMEDOUT);
	pthread_t t;
	pthread_create(&t, NULL, bump_later, fx);
	assert_int_equal(call_status(fx, "hold", 0), -ECANCELED);
	pthread_join(t, NULL);
	call_ok(fx, "echo:on", "on");
	assert_int_equal(fx->fake.n_cancelled, 2);
	assert_int_equal(fx->fake.cancelled[0], 1);
	assert_int_equal(fx->fake.cancelled[1], 2);
	assert_int_equal(fx->fake.conns, 1);
}

struct held {
	struct fixture *fx;
	int status;
};

static void *hold_main(void *arg)
{
	struct held *h = arg;
	h->status = call_status(h->fx, "hold", 0);
	return NULL;
}

/* A stream that breaks fails the calls on it; the next call opens a new
 * one. An agent's new token (a restart) opens a new one too. */
static void test_break_and_reopen(void **state)
{
	struct fixture *fx = *state;
	struct held h[2] = { { fx, 0 }, { fx, 0 } };
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hold_main, &h[i]);
	while (fx->fake.invokes < 2)
		usleep(1000);
	assert_int_equal(call_status(fx, "close", 10000), -ECONNRESET);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(h[i].status, -ECONNRESET);
	}
	call_ok(fx, "echo:again", "again");
	assert_int_equal(fx->fake.conns, 2);
	pthread_mutex_lock(&fx->fake.lock);
	snprintf(fx->fake.token, sizeof(fx->fake.token), "tok2");
	pthread_mutex_unlock(&fx->fake.lock);
	json_t *json;
	struct agent_stream_body body;
	assert_int_equal(call_full(fx, "echo:new", "tok2", 10000, &json, &body), 200);
	json_decref(json);
	free(body.data);
	assert_int_equal(fx->fake.conns, 3);
}

/* INVOKE's meta has the HTTP query's parameters. */
static void test_meta(void **state)
{
	struct store_function fn = { .digest = "ab" };
	snprintf(fn.limits.mode, sizeof(fn.limits.mode), "persistent");
	fn.limits.timeout_ms = 900;
	fn.limits.memory_mib = 128;
	fn.limits.encrypted = true;
	json_t *m = agent_stream_meta(&fn, "0123", "acme.1");
	char s[32];
	assert_string_equal(link_param(m, "vm", s, sizeof(s)), "acme.1");
	assert_string_equal(link_param(m, "artifact", s, sizeof(s)), "ab");
	assert_string_equal(link_param(m, "mode", s, sizeof(s)), "persistent");
	assert_string_equal(link_param(m, "timeout_ms", s, sizeof(s)), "900");
	assert_string_equal(link_param(m, "memory_mib", s, sizeof(s)), "128");
	assert_string_equal(link_param(m, "invocation", s, sizeof(s)), "0123");
	assert_string_equal(link_param(m, "e2e", s, sizeof(s)), "1");
	assert_null(link_param(m, "runtime", s, sizeof(s)));
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shared_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_give_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_break_and_reopen, setup, teardown),
		cmocka_unit_test(test_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
