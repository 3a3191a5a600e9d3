/* The agent's guest channel against a scripted guest on the other end of a
 * socketpair: reply matching, errors, events, deadlines and hang-ups. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakes/fake_guest.h"
#include "fakes/fake_loop.h"
#include "guest_chan.h"
#include "support/files.h"
#include "util.h"

struct fixture {
	uv_loop_t loop;
	struct fake_guest peer; /* the scripted guest */
	struct guest_chan *ch;
	int replies[8];
	int n_replies;
	int want; /* replies run_until waits for */
	char last_code[32];
	int messages;
	int closed;
};

static void on_message(struct guest_chan *ch, const struct wire_frame *f, json_t *meta, void *data)
{
	struct fixture *fx = data;
	fx->messages++;
	assert_int_equal(f->hdr.type, WIRE_HELLO);
	assert_int_equal(json_integer_value(json_object_get(meta, "cpus_possible")), 4);
}

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data);

static void on_closed(struct guest_chan *ch, int reason, void *data)
{
	struct fixture *fx = data;
	fx->closed++;
	/* Once closing, requests fail synchronously and never call back. The
	 * channel is freed after this returns, so this is the last use. */
	assert_int_equal(guest_chan_request(ch, WIRE_PING, NULL, NULL, 0, 0, on_reply, fx),
			 -ENOTCONN);
}

static const struct guest_chan_ops ops = { .message = on_message, .closed = on_closed };

static void on_reply(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		     void *data)
{
	struct fixture *fx = data;
	fx->replies[fx->n_replies++] = status;
	if (status == -EREMOTEIO)
		strcpy(fx->last_code, json_string_value(json_object_get(meta, "code")));
	if (status == 0)
		assert_int_equal(json_integer_value(json_object_get(meta, "n")), fx->n_replies);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	uv_loop_init(&fx->loop);
	fake_guest_open(&fx->peer, &fx->loop, false, &ops, fx, &fx->ch);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (fx->ch && !fx->closed)
		guest_chan_close(fx->ch);
	fake_guest_close(&fx->peer);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx);
	return 0;
}

/* Waits for the n-th frame the agent sent (from 0), checks its type and
 * returns its id. */
static uint32_t peer_read(struct fixture *fx, size_t i, uint8_t expect_type)
{
	fake_guest_wait_frames(&fx->peer, i + 1);
	const struct fake_guest_frame *f = fake_guest_frame(&fx->peer, i);
	assert_int_equal(f->type, expect_type);
	return f->id;
}

static bool has_replies(void *arg)
{
	struct fixture *fx = arg;
	return fx->n_replies >= fx->want;
}

static void run_until(struct fixture *fx, int replies)
{
	fx->want = replies;
	fake_run_until(&fx->loop, has_replies, fx, "replies");
}

static void test_replies_match_ids_out_of_order(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, NULL, NULL, 0, 0, on_reply, fx), 0);
	assert_int_equal(guest_chan_request(fx->ch, WIRE_INVOKE, json_pack("{s:s}", "digest", "x"),
					    "in", 2, 0, on_reply, fx),
			 0);
	uint32_t a = peer_read(fx, 0, WIRE_PING);
	uint32_t b = peer_read(fx, 1, WIRE_INVOKE);
	assert_int_not_equal(a, b);
	assert_int_equal(fake_guest_frame(&fx->peer, 1)->body_len, 2);
	/* An event in between, then the replies in reverse order. */
	fake_guest_send(&fx->peer, WIRE_HELLO, 0, "{\"cpus_possible\":4}");
	fake_guest_send(&fx->peer, WIRE_REPLY, b, "{\"n\":1}");
	fake_guest_send(&fx->peer, WIRE_ERROR, a, "{\"code\":\"bad_request\",\"message\":\"no\"}");
	run_until(fx, 2);
	assert_int_equal(fx->replies[0], 0);
	assert_int_equal(fx->replies[1], -EREMOTEIO);
	assert_string_equal(fx->last_code, "bad_request");
	assert_int_equal(fx->messages, 1);
}

static void test_deadline(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, NULL, NULL, 0, 50, on_reply, fx), 0);
	run_until(fx, 1);
	assert_int_equal(fx->replies[0], -ETIMEDOUT);
	/* A reply that comes after the deadline is not delivered twice. */
	fake_guest_send(&fx->peer, WIRE_REPLY, peer_read(fx, 0, WIRE_PING), "{}");
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	assert_int_equal(fx->n_replies, 1);
}

static void test_hangup_fails_pending(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, NULL, NULL, 0, 0, on_reply, fx), 0);
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, NULL, NULL, 0, 0, on_reply, fx), 0);
	peer_read(fx, 1, WIRE_PING);
	fake_guest_close(&fx->peer);
	run_until(fx, 2);
	assert_int_equal(fx->replies[0], -ECONNRESET);
	assert_int_equal(fx->replies[1], -ECONNRESET);
	assert_int_equal(fx->closed, 1);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(fx->n_replies, 2);
}

static void test_oversized_request_refused(void **state)
{
	struct fixture *fx = *state;
	json_t *meta = json_object();
	char *big = malloc(WIRE_MAX_META + 10);
	memset(big, 'a', WIRE_MAX_META + 9);
	big[WIRE_MAX_META + 9] = '\0';
	json_object_set_new(meta, "pad", json_string(big));
	free(big);
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, meta, NULL, 0, 0, on_reply, fx),
			 -EMSGSIZE);
	assert_int_equal(fx->n_replies, 0);
}

/* The file at path holds exactly one frame, of this type, id and meta. */
static void expect_frame_file(const char *path, uint8_t type, uint32_t id, const char *meta)
{
	uint8_t *want;
	size_t want_len;
	void *got;
	size_t got_len;
	assert_int_equal(wire_encode(type, id, meta, strlen(meta), NULL, 0, &want, &want_len), 0);
	assert_int_equal(file_read_all(path, &got, &got_len), 0);
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
	free(got);
	free(want);
}

/* With a capture folder, the bytes of each frame each way are appended to
 * NAME.to-guest and NAME.from-guest exactly as they crossed. */
static void test_wire_capture(void **state)
{
	struct fixture *fx = *state;
	char dir[256], path[512];
	assert_int_equal(scratch_dir(dir, sizeof(dir), "capture"), 0);
	assert_int_equal(guest_chan_capture(fx->ch, dir, "t1"), 0);
	assert_int_equal(guest_chan_request(fx->ch, WIRE_PING, NULL, NULL, 0, 0, on_reply, fx), 0);
	uint32_t id = peer_read(fx, 0, WIRE_PING);
	fake_guest_send(&fx->peer, WIRE_REPLY, id, "{\"n\":1}");
	run_until(fx, 1);

	snprintf(path, sizeof(path), "%s/t1.to-guest", dir);
	expect_frame_file(path, WIRE_PING, id, "{}");
	snprintf(path, sizeof(path), "%s/t1.from-guest", dir);
	expect_frame_file(path, WIRE_REPLY, id, "{\"n\":1}");
	assert_int_equal(remove_tree(dir), 0);
}

static void on_any_reply(struct guest_chan *ch, int status, const struct wire_frame *f,
			 json_t *meta, void *data)
{
	(*(int *)data)++;
}

/* Requests made in one turn of the loop reach the guest in one write, when
 * the loop next turns: a burst costs the guest one wake-up. */
static void test_burst_goes_in_one_write(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	uv_pipe_t *pipe = malloc(sizeof(*pipe));
	assert_non_null(pipe);
	uv_pipe_init(&loop, pipe, 0);
	assert_int_equal(uv_pipe_open(pipe, sv[0]), 0);
	static const struct guest_chan_ops quiet = { 0 };
	struct guest_chan *ch;
	assert_int_equal(guest_chan_open(&loop, pipe, &quiet, NULL, &ch), 0);
	int answered = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(guest_chan_request(ch, WIRE_PING, NULL, "xy", 2, 0, on_any_reply,
						    &answered),
				 0);
	uint8_t buf[4096];
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	uv_run(&loop, UV_RUN_NOWAIT);
	ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, 3 * (WIRE_HEADER_SIZE + 2 + 2));
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, buf, (size_t)n), 0);
	struct wire_frame f;
	for (uint32_t id = 1; id <= 3; id++) {
		assert_int_equal(wire_decoder_next(&d, &f), 1);
		assert_int_equal(f.hdr.type, WIRE_PING);
		assert_int_equal(f.hdr.id, id);
	}
	wire_decoder_free(&d);
	guest_chan_close(ch);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(answered, 3); /* failed by the close */
	close(sv[1]);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { FIXTURE_TEST(test_replies_match_ids_out_of_order),
					    FIXTURE_TEST(test_deadline),
					    FIXTURE_TEST(test_hangup_fails_pending),
					    FIXTURE_TEST(test_oversized_request_refused),
					    FIXTURE_TEST(test_wire_capture),
					    cmocka_unit_test(test_burst_goes_in_one_write) };
	return cmocka_run_group_tests_name("guest_chan", tests, NULL, NULL);
}
