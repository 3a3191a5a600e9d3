/* The guest daemon's framing and channel: malformed and oversized frames,
 * and a terminal as the channel (like the virtio-serial port). */
#include "support/guest_harness.h"

#include "channel.h"

static void test_malformed_frames(void **state)
{
	struct peer *p = *state;
	struct guest_msg m;

	/* Garbage: one error with id 0, then back in step. */
	peer_send_raw(p, "this is not a frame at all", 26);
	peer_wait(p, 0, WIRE_ERROR, &m);
	assert_string_equal(guest_msg_str(&m, "code"), "malformed");
	guest_msg_free(&m);
	peer_ping(p);

	/* Unknown type: answered with its id. */
	struct wire_header unknown = {
		.version = WIRE_VERSION, .type = 99, .id = 5000, .meta_len = 2
	};
	peer_send_header(p, &unknown);
	peer_send_raw(p, "{}", 2);
	peer_wait(p, 5000, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(guest_msg_str(&m, "code"), "malformed");
	guest_msg_free(&m);

	/* Wrong version. */
	peer_send_header(p, &(struct wire_header){ .version = 7, .type = WIRE_PING, .id = 5001 });
	peer_wait(p, 0, WIRE_ERROR, &m);
	assert_string_equal(guest_msg_str(&m, "code"), "malformed");
	guest_msg_free(&m);
	peer_ping(p);

	/* Meta over the limit. */
	peer_send_header(p, &(struct wire_header){ .version = WIRE_VERSION,
						   .type = WIRE_INVOKE,
						   .id = 5002,
						   .meta_len = WIRE_MAX_META + 1 });
	char *big = calloc(1, WIRE_MAX_META + 1);
	assert_non_null(big);
	peer_send_raw(p, big, WIRE_MAX_META + 1);
	free(big);
	peer_wait(p, 5002, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(guest_msg_str(&m, "code"), "too_big");
	guest_msg_free(&m);
	peer_ping(p);

	/* Meta that is not a JSON object, or not JSON. */
	peer_expect_error(p, WIRE_PING, "[1,2]", NULL, 0, "bad_request");
	peer_expect_error(p, WIRE_INVOKE, "{\"digest\":", NULL, 0, "bad_request");
	/* A message only the guest sends. */
	peer_expect_error(p, WIRE_HELLO, "{}", NULL, 0, "bad_request");
	peer_ping(p);
}

static void test_oversized_body(void **state)
{
	struct peer *p = *state;
	peer_stop(p);
	struct peer_opts o = { .max_body = 64 * 1024 };
	peer_start_opts(p, &o);

	peer_send_header(p, &(struct wire_header){ .version = WIRE_VERSION,
						   .type = WIRE_ARTIFACT_PUT,
						   .id = 6000,
						   .meta_len = 2,
						   .body_len = 1000000 });
	peer_send_raw(p, "{}", 2);
	struct guest_msg m;
	peer_wait(p, 6000, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(guest_msg_str(&m, "code"), "too_big");
	guest_msg_free(&m);
	/* The body follows in pieces and is skipped, frame-like bytes and all. */
	uint8_t piece[10000];
	memset(piece, 'D', sizeof(piece));
	memcpy(piece, WIRE_MAGIC, 4);
	for (int i = 0; i < 100; i++)
		peer_send_raw(p, piece, sizeof(piece));
	peer_ping(p);

	/* Within the limit is fine. */
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\necho small\n", digest);
}

static void test_pty_port(void **state)
{
	struct peer *p = *state;
	/* A character device as the channel: like the virtio port, its peer
	 * going away is not the end, and only a signal stops the daemon. */
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	const char *slave = ptsname(master);
	assert_non_null(slave);
	int fd;
	bool eof_ends = true;
	assert_int_equal(channel_open_path(slave, &fd, &eof_ends), 0);
	assert_false(eof_ends);
	pid_t pid = peer_fork_daemon(p, fd, eof_ends, master);
	close(fd);
	struct peer t;
	peer_attach(p, master, &t);
	assert_int_equal(guest_msg_int(&t.hello, "version"), WIRE_VERSION);
	/* Binary bytes that a terminal would mangle (CR, NL, ^C, ^D). */
	char digest[SHA256_HEX_SIZE];
	peer_put_script(&t, "#!/bin/sh\r\n\x03\x04\n", digest);
	peer_ping(&t);
	peer_detach(&t);
	assert_int_equal(kill(pid, SIGTERM), 0);
	guest_child_exits_cleanly(pid);
}

/* Each test gets a daemon of its own. */
#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { GUEST_TEST(test_malformed_frames),
					    GUEST_TEST(test_oversized_body),
					    GUEST_TEST(test_pty_port) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
