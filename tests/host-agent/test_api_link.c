/* The agent's side of the link (api_link.c): GET /v1/link upgraded with the
 * server's token, HELLO with the window, INVOKE frames run as the HTTP
 * route runs them (their parameters reach the guest, their refusals come
 * back as ERROR frames with the route's status and code), answers as they
 * complete, CANCEL, the window, an oversized input, and a stream that
 * breaks failing nothing else. The server, the guest channel and the fake
 * guest share one loop on its own thread; the test is the controller, on a
 * plain blocking socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "agent_link.h"
#include "fakes/api_rig.h"
#include "support/http.h"

#define TOKEN "s3cret"
#define WINDOW 4
#define ID "0123456789abcdef0123456789abcdef"

struct fixture {
	struct api_vm_rig r; /* first, for api_vm_rig_teardown */
	uv_async_t release;  /* answers the INVOKEs the guest holds, on the loop */
	size_t released;     /* frames up to here looked at by release */
};

static void on_release(uv_async_t *a)
{
	struct fixture *fx = a->data;
	for (; fx->released < fx->r.guest.n_frames; fx->released++)
		if (fake_guest_frame(&fx->r.guest, fx->released)->type == WIRE_INVOKE)
			fake_guest_answer(&fx->r.guest, fx->released,
					  "{\"status\":\"ok\",\"result_len\":0}");
}

static void on_stop(void *data)
{
	struct fixture *fx = data;
	uv_close((uv_handle_t *)&fx->release, NULL);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	api_vm_rig_open(&fx->r, "api-link", "#!/bin/sh\ncat\n", 64);
	fake_guest_on_body(&fx->r.guest, WIRE_INVOKE, "{\"status\":\"ok\",\"result_len\":2}",
			   "ok\xff\x00L", 5);
	uv_async_init(&fx->r.srv.loop, &fx->release, on_release);
	fx->release.data = fx;
	struct api_server_config cfg = api_rig_config();
	cfg.token = TOKEN;
	cfg.max_input = 4096;
	cfg.max_artifact = 1 << 20;
	cfg.max_inflight = WINDOW;
	api_vm_rig_start(&fx->r, &cfg, on_stop, fx);
	*state = fx;
	return 0;
}

/* ---- the controller's end ------------------------------------------------------------ */

struct peer {
	int fd;
	struct wire_decoder dec;
};

/* Reads the next frame (blocking); its sections stay valid until the next
 * call. */
static void peer_next(struct peer *p, struct wire_frame *f)
{
	uint8_t buf[8192];
	for (;;) {
		int r = wire_decoder_next(&p->dec, f);
		assert_true(r >= 0);
		if (r == 1)
			return;
		ssize_t n = read(p->fd, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(wire_decoder_feed(&p->dec, buf, (size_t)n), 0);
	}
}

/* Sends the upgrade with token and returns the answer's status; on 101
 * the stream is p's and its HELLO, announcing the window, has been read. */
static int peer_open(struct fixture *fx, const char *token, struct peer *p)
{
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)fx->r.srv.port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[512];
	int n = link_upgrade_request(req, sizeof(req), "127.0.0.1", token);
	assert_true(n > 0);
	assert_int_equal(write(p->fd, req, (size_t)n), n);
	char head[4096];
	size_t got = 0, clen;
	int status, h;
	while ((h = link_upgrade_response(head, got, &status, &clen)) == 0) {
		assert_int_equal(read(p->fd, head + got, 1), 1); /* nothing past the head */
		got++;
	}
	assert_true(h > 0);
	wire_decoder_init_proto(&p->dec, WIRE_PROTO_LINK, WIRE_MAX_BODY);
	if (status != 101) {
		close(p->fd);
		wire_decoder_free(&p->dec);
		return status;
	}
	struct wire_frame f;
	peer_next(p, &f);
	assert_int_equal(f.hdr.type, WIRE_LINK_HELLO);
	json_t *m = link_meta_parse(&f);
	unsigned window = 0;
	assert_int_equal(link_hello_parse(m, &window), 0);
	assert_int_equal(window, WINDOW);
	json_decref(m);
	return status;
}

static void peer_close(struct peer *p)
{
	close(p->fd);
	wire_decoder_free(&p->dec);
}

/* Appends an INVOKE of artifact (NULL: the fixture's) on vm with the
 * meta's other fields (a JSON object's inside, "" for none). */
static void add_invoke(struct fixture *fx, struct buf *out, uint32_t id, const char *vm,
		       const char *more, const void *input, size_t len)
{
	char meta[512];
	snprintf(meta, sizeof(meta), "{\"vm\":\"%s\",\"artifact\":\"%s\"%s%s}", vm, fx->r.digest,
		 *more ? "," : "", more);
	assert_int_equal(
		link_frame_append(out, WIRE_LINK_INVOKE, id, meta, strlen(meta), input, len), 0);
}

static void peer_send(struct peer *p, struct buf *out)
{
	assert_int_equal(write(p->fd, out->data, out->len), (ssize_t)out->len);
	buf_reset(out);
}

/* Reads an ERROR frame for id with status and code. */
static void expect_error(struct peer *p, uint32_t id, int status, const char *code)
{
	struct wire_frame f;
	peer_next(p, &f);
	assert_int_equal(f.hdr.type, WIRE_LINK_ERROR);
	assert_int_equal(f.hdr.id, id);
	json_t *m = link_meta_parse(&f);
	assert_int_equal(link_error_status(m), status);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "error"), "code")),
			    code);
	json_decref(m);
}

/* Reads a RESULT frame, returning its id; its body is the guest's result
 * and log as they were. */
static uint32_t expect_result(struct peer *p, size_t result_len, const void *body, size_t len)
{
	struct wire_frame f;
	peer_next(p, &f);
	assert_int_equal(f.hdr.type, WIRE_LINK_RESULT);
	json_t *m = link_meta_parse(&f);
	size_t rlen;
	assert_int_equal(link_result_split(m, f.hdr.body_len, &rlen), 0);
	assert_int_equal(rlen, result_len);
	assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
	assert_true(json_is_integer(json_object_get(m, "agent_us")));
	assert_null(json_object_get(m, "result"));
	json_decref(m);
	assert_int_equal(f.hdr.body_len, len);
	if (len)
		assert_memory_equal(f.body, body, len);
	return f.hdr.id;
}

/* Waits until the guest has received n frames. */
static void await_guest_frames(struct fixture *fx, size_t n)
{
	for (int i = 0; i < 30000 && __atomic_load_n(&fx->r.guest.n_frames, __ATOMIC_ACQUIRE) < n;
	     i++)
		usleep(1000);
	assert_true(__atomic_load_n(&fx->r.guest.n_frames, __ATOMIC_ACQUIRE) >= n);
}

/* ---- tests ------------------------------------------------------------------------- */

/* The token is the route's: missing or wrong, 401 and no stream; right
 * but without the upgrade, 400. */
static void test_open_refused(void **state)
{
	struct fixture *fx = *state;
	struct peer p;
	assert_int_equal(peer_open(fx, NULL, &p), 401);
	assert_int_equal(peer_open(fx, "wrong", &p), 401);
	struct http_reply r;
	assert_int_equal(http_call(fx->r.srv.url, TOKEN, "GET", LINK_PATH, NULL, 0, &r), 400);
	assert_string_equal(http_error_code(&r), "bad_request");
	http_reply_free(&r);
	assert_int_equal(peer_open(fx, TOKEN, &p), 101);
	peer_close(&p);
}

/* INVOKEs sent in one write all run; their parameters reach the guest as
 * the query's do, their answers carry the guest's bytes untouched. */
static void test_invokes(void **state)
{
	struct fixture *fx = *state;
	struct peer p;
	assert_int_equal(peer_open(fx, TOKEN, &p), 101);
	struct buf out = { 0 };
	add_invoke(fx, &out, 7, "t1",
		   "\"mode\":\"persistent\",\"timeout_ms\":1500,\"memory_mib\":64,"
		   "\"invocation\":\"" ID "\",\"e2e\":true",
		   "\x00\x01{", 3);
	add_invoke(fx, &out, 8, "t1", "", "in", 2);
	add_invoke(fx, &out, 9, "t1", "\"runtime\":\"python3\",\"handler\":\"m.f\"", NULL, 0);
	peer_send(&p, &out);
	/* The image has no runtime disk: refused at once, as the route
	 * refuses it, while the others wait for the guest. */
	expect_error(&p, 9, 409, "unsupported");
	bool seen[2] = { false };
	for (int i = 0; i < 2; i++) {
		uint32_t id = expect_result(&p, 2, "ok\xff\x00L", 5);
		assert_true(id >= 7 && id <= 8 && !seen[id - 7]);
		seen[id - 7] = true;
	}
	assert_int_equal(fake_guest_count(&fx->r.guest, WIRE_INVOKE), 2);
	json_t *m = fake_guest_frame(&fx->r.guest, 1)->meta; /* after the artifact's push */
	assert_string_equal(json_string_value(json_object_get(m, "mode")), "persistent");
	assert_int_equal(json_integer_value(json_object_get(m, "timeout_ms")), 1500);
	assert_int_equal(json_integer_value(json_object_get(m, "memory_mib")), 64);
	assert_string_equal(json_string_value(json_object_get(m, "invocation")), ID);
	assert_true(json_is_true(json_object_get(m, "e2e")));
	assert_int_equal(fake_guest_frame(&fx->r.guest, 1)->body_len, 3);
	buf_free(&out);
	peer_close(&p);
}

/* Refusals come back as the route's errors, for that id, and the stream
 * goes on. */
static void test_refusals(void **state)
{
	struct fixture *fx = *state;
	struct peer p;
	assert_int_equal(peer_open(fx, TOKEN, &p), 101);
	struct buf out = { 0 };
	add_invoke(fx, &out, 1, "t2", "", NULL, 0);
	add_invoke(fx, &out, 2, "t1", "\"timeout_ms\":\"soon\"", NULL, 0);
	add_invoke(fx, &out, 3, "t1", "\"mode\":\"forever\"", NULL, 0);
	add_invoke(fx, &out, 4, "", "", NULL, 0);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_INVOKE, 5, "[1]", 3, NULL, 0), 0);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_HELLO, 6, "{}", 2, NULL, 0), 0);
	static char big[4097];
	add_invoke(fx, &out, 7, "t1", "", big, sizeof(big));
	add_invoke(fx, &out, 8, "t1", "", "x", 1);
	peer_send(&p, &out);
	expect_error(&p, 1, 404, "no_vm");
	expect_error(&p, 2, 400, "bad_parameter");
	expect_error(&p, 3, 400, "bad_parameter");
	expect_error(&p, 4, 400, "bad_request");
	expect_error(&p, 5, 400, "bad_request");
	expect_error(&p, 6, 400, "bad_request");
	expect_error(&p, 7, 413, "too_large");
	assert_int_equal(expect_result(&p, 2, "ok\xff\x00L", 5), 8);
	buf_free(&out);
	peer_close(&p);
}

/* The window holds WINDOW in flight; one past it is refused. A cancelled
 * call is answered at once and the guest's later answer dropped. */
static void test_window_and_cancel(void **state)
{
	struct fixture *fx = *state;
	fake_guest_on(&fx->r.guest, WIRE_INVOKE, NULL); /* held */
	struct peer p;
	assert_int_equal(peer_open(fx, TOKEN, &p), 101);
	struct buf out = { 0 };
	for (uint32_t id = 1; id <= WINDOW + 1; id++)
		add_invoke(fx, &out, id, "t1", "", NULL, 0);
	peer_send(&p, &out);
	expect_error(&p, WINDOW + 1, 429, "too_many_requests");
	assert_int_equal(link_frame_append(&out, WIRE_LINK_CANCEL, 2, "{}", 2, NULL, 0), 0);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_CANCEL, 99, "{}", 2, NULL, 0), 0);
	peer_send(&p, &out);
	expect_error(&p, 2, 409, "cancelled");
	await_guest_frames(fx, WINDOW + 1); /* the artifact and WINDOW INVOKEs */
	uv_async_send(&fx->release);
	bool seen[WINDOW + 1] = { false };
	for (int i = 0; i < WINDOW - 1; i++) {
		uint32_t id = expect_result(&p, 0, NULL, 0);
		assert_true(id >= 1 && id <= WINDOW && id != 2 && !seen[id]);
		seen[id] = true;
	}
	/* Room again: the next answer is the next call's, none for 2. */
	add_invoke(fx, &out, 50, "t1", "", NULL, 0);
	peer_send(&p, &out);
	await_guest_frames(fx, WINDOW + 2);
	uv_async_send(&fx->release);
	assert_int_equal(expect_result(&p, 0, NULL, 0), 50);
	buf_free(&out);
	peer_close(&p);
}

/* A stream that breaks with calls in flight fails nothing else: the other
 * stream's call and a new stream's are answered. */
static void test_break(void **state)
{
	struct fixture *fx = *state;
	fake_guest_on(&fx->r.guest, WIRE_INVOKE, NULL);
	struct peer a, b;
	assert_int_equal(peer_open(fx, TOKEN, &a), 101);
	assert_int_equal(peer_open(fx, TOKEN, &b), 101);
	struct buf out = { 0 };
	add_invoke(fx, &out, 1, "t1", "", NULL, 0);
	peer_send(&a, &out);
	add_invoke(fx, &out, 1, "t1", "", NULL, 0);
	peer_send(&b, &out);
	await_guest_frames(fx, 3);
	peer_close(&a);
	uv_async_send(&fx->release);
	assert_int_equal(expect_result(&b, 0, NULL, 0), 1);
	struct peer c;
	assert_int_equal(peer_open(fx, TOKEN, &c), 101);
	add_invoke(fx, &out, 3, "t1", "", NULL, 0);
	peer_send(&c, &out);
	await_guest_frames(fx, 4);
	uv_async_send(&fx->release);
	assert_int_equal(expect_result(&c, 0, NULL, 0), 3);
	buf_free(&out);
	peer_close(&b);
	peer_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refused, setup, api_vm_rig_teardown),
		cmocka_unit_test_setup_teardown(test_invokes, setup, api_vm_rig_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, api_vm_rig_teardown),
		cmocka_unit_test_setup_teardown(test_window_and_cancel, setup, api_vm_rig_teardown),
		cmocka_unit_test_setup_teardown(test_break, setup, api_vm_rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
