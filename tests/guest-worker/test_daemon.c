/* The guest daemon's protocol handling and CPU state machine, with the
 * kernel's sysfs CPU files and uevents played by the test. */
#include "harness.h"

#include "channel.h"

/* The CPU the tests can really run on besides CPU 0. */
#define WORKER 1

static int setup(void **state)
{
	if (!host_has_cpu(WORKER)) {
		print_message("this host cannot run on CPU %d: skipping\n", WORKER);
		return -1;
	}
	struct peer *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	peer_start(p);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct peer *p = *state;
	peer_stop(p);
	free(p);
	return 0;
}

/* The state STATUS reports for cpu, or NULL when it is not listed. */
static char *cpu_state(struct peer *p, int cpu, bool *ret_busy)
{
	struct msg m;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &m);
	json_t *cpus = json_object_get(m.meta, "cpus");
	assert_true(json_is_array(cpus));
	char *state = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(cpus, i, c) {
		assert_int_not_equal(json_integer_value(json_object_get(c, "cpu")), 0);
		if (json_integer_value(json_object_get(c, "cpu")) != cpu)
			continue;
		state = strdup(json_string_value(json_object_get(c, "state")));
		if (ret_busy)
			*ret_busy = json_is_true(json_object_get(c, "busy"));
	}
	msg_free(&m);
	return state;
}

static void assert_cpu_state(struct peer *p, int cpu, const char *want)
{
	char *s = cpu_state(p, cpu, NULL);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void cpu_call(struct peer *p, uint8_t type, int cpu, struct msg *ret)
{
	char meta[64];
	snprintf(meta, sizeof(meta), "{\"cpu\":%d}", cpu);
	peer_call(p, type, meta, NULL, 0, WIRE_REPLY, ret);
	assert_int_equal(meta_int(ret, "cpu"), cpu);
}

static void test_ping_status(void **state)
{
	struct peer *p = *state;
	peer_ping(p);
	struct msg m;
	peer_call(p, WIRE_STATUS, "", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(meta_int(&m, "queued"), 0);
	assert_int_equal(meta_int(&m, "artifacts"), 0);
	assert_int_equal(json_array_size(json_object_get(m.meta, "cpus")), 3);
	msg_free(&m);
	for (int cpu = 1; cpu <= 3; cpu++)
		assert_cpu_state(p, cpu, "offline");
}

static void test_cpu_states(void **state)
{
	struct peer *p = *state;
	struct msg m;

	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	assert_true(meta_int(&m, "online_us") >= 0);
	assert_true(meta_int(&m, "probe_us") >= 0);
	msg_free(&m);
	assert_true(fake_cpu_is_online(p, WORKER));
	assert_cpu_state(p, WORKER, "active");

	/* Idempotent: nothing left to do. */
	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	assert_int_equal(meta_int(&m, "online_us"), 0);
	assert_int_equal(meta_int(&m, "probe_us"), 0);
	msg_free(&m);

	cpu_call(p, WIRE_CPU_STANDBY, WORKER, &m);
	assert_int_equal(meta_int(&m, "online_us"), 0);
	msg_free(&m);
	assert_cpu_state(p, WORKER, "standby");
	assert_true(fake_cpu_is_online(p, WORKER));

	cpu_call(p, WIRE_CPU_OFFLINE, WORKER, &m);
	assert_true(meta_int(&m, "offline_us") >= 0);
	msg_free(&m);
	assert_false(fake_cpu_is_online(p, WORKER));
	assert_cpu_state(p, WORKER, "offline");
	cpu_call(p, WIRE_CPU_OFFLINE, WORKER, &m);
	assert_int_equal(meta_int(&m, "offline_us"), 0);
	msg_free(&m);

	/* Standby from offline onlines it without giving it work. */
	cpu_call(p, WIRE_CPU_STANDBY, WORKER, &m);
	assert_true(meta_int(&m, "online_us") >= 0);
	msg_free(&m);
	assert_true(fake_cpu_is_online(p, WORKER));
	assert_cpu_state(p, WORKER, "standby");

	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	msg_free(&m);
	cpu_call(p, WIRE_CPU_RELEASE, WORKER, &m);
	assert_int_equal(json_object_size(m.meta), 1);
	msg_free(&m);
	assert_cpu_state(p, WORKER, "standby");

	/* Requests for CPUs that are not workers. */
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":0}", NULL, 0, "no_such_cpu");
	peer_expect_error(p, WIRE_CPU_OFFLINE, "{\"cpu\":0}", NULL, 0, "no_such_cpu");
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":9}", NULL, 0, "no_such_cpu");
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":-1}", NULL, 0, "bad_request");
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":\"1\"}", NULL, 0, "bad_request");
	peer_expect_error(p, WIRE_CPU_STANDBY, "{}", NULL, 0, "bad_request");
}

static void test_activate_probe_fails(void **state)
{
	struct peer *p = *state;
	/* CPU 3 exists in the fake tree; the probe needs the host to have it. */
	if (host_has_cpu(3)) {
		print_message("the host has a CPU 3: nothing to prove here\n");
		skip();
	}
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":3}", NULL, 0, "probe_failed");
	assert_true(fake_cpu_is_online(p, 3));
	assert_cpu_state(p, 3, "standby");
}

static void test_offline_drains_first(void **state)
{
	struct peer *p = *state;
	peer_activate(p, WORKER);
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nsleep 0.3\necho done\n", digest);
	char long_lived[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nwhile read -r l; do echo $$; done\n", long_lived);

	/* A warm persistent process pinned to the CPU. */
	struct msg m;
	peer_invoke(p, long_lived, "\"mode\":\"persistent\"", "x", &m);
	char *r = reply_result(&m);
	pid_t warm = (pid_t)strtol(r, NULL, 10);
	free(r);
	msg_free(&m);
	assert_true(warm > 0);

	uint32_t inv = peer_invoke_send(p, digest, "", "");
	uint32_t off = peer_send(p, WIRE_CPU_OFFLINE, "{\"cpu\":1}", NULL, 0);
	/* An invocation sent after the offline request waits for a CPU. */
	uint32_t late = peer_invoke_send(p, digest, "", "");

	/* The running invocation finishes before the CPU goes offline. */
	struct msg first;
	peer_recv_raw(p, &first);
	assert_int_equal(first.hdr.id, inv);
	assert_string_equal(meta_str(&first, "status"), "ok");
	msg_free(&first);
	peer_wait(p, off, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	msg_free(&m);
	assert_false(fake_cpu_is_online(p, WORKER));
	assert_true(pid_wait_gone(warm, DEADLINE_MS));

	struct msg st;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &st);
	assert_int_equal(meta_int(&st, "queued"), 1);
	msg_free(&st);

	/* Activating the CPU again runs the waiting invocation. */
	peer_activate(p, WORKER);
	peer_wait(p, late, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_true(meta_int(&m, "queued_us") > 0);
	msg_free(&m);
}

/* An invocation that asked for a CPU is answered when that CPU leaves
 * service, instead of waiting for it for ever. */
static void test_pinned_invocation_cpu_leaves(void **state)
{
	struct peer *p = *state;
	peer_activate(p, WORKER);
	char slow[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\nsleep 0.3\necho done\n", slow);
	uint32_t running = peer_invoke_send(p, slow, "\"cpu\":1", "");
	uint32_t waiting = peer_invoke_send(p, slow, "\"cpu\":1", "");
	uint32_t off = peer_send(p, WIRE_CPU_OFFLINE, "{\"cpu\":1}", NULL, 0);
	struct msg m;
	peer_wait(p, waiting, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(meta_str(&m, "code"), "cpu_unavailable");
	msg_free(&m);
	peer_wait(p, running, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	assert_string_equal(meta_str(&m, "status"), "ok");
	assert_int_equal(meta_int(&m, "cpu"), 1);
	msg_free(&m);
	peer_wait(p, off, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	msg_free(&m);

	/* A CPU outside the VM is refused at once. */
	peer_wait(p, peer_invoke_send(p, slow, "\"cpu\":4000", ""), 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(meta_str(&m, "code"), "no_such_cpu");
	msg_free(&m);
}

static void send_uevent(struct peer *p, const char *action, int cpu)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s@/devices/system/cpu/cpu%d", action, cpu);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1, "ACTION=%s", action);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1,
			  "DEVPATH=/devices/system/cpu/cpu%d", cpu);
	n += 1 + snprintf(msg + n + 1, sizeof(msg) - (size_t)n - 1, "SUBSYSTEM=cpu");
	n += 1;
	assert_int_equal(send(p->uevent_fd, msg, (size_t)n, 0), n);
}

static void expect_cpu_event(struct peer *p, int cpu, const char *event, struct msg *ret)
{
	peer_wait(p, 0, WIRE_CPU_EVENT, ret);
	assert_int_equal(meta_int(ret, "cpu"), cpu);
	assert_string_equal(meta_str(ret, "event"), event);
}

static void test_hot_add_and_remove(void **state)
{
	struct peer *p = *state;
	struct msg m;
	/* Start with CPU 1 absent, as before its hot-add. */
	peer_stop(p);
	struct peer_opts o = { .present = "0", .possible = "0-3" };
	peer_start_opts(p, &o);

	/* A uevent for something that is not a CPU is ignored. */
	char other[] = "add@/devices/system/memory/memory9\0ACTION=add";
	assert_int_equal(send(p->uevent_fd, other, sizeof(other), 0), (ssize_t)sizeof(other));
	peer_ping(p);

	/* The kernel hot-adds CPU 1: its sysfs entry appears, offline. */
	assert_null(cpu_state(p, WORKER, NULL));
	fake_cpu_create(p, WORKER, false);
	fake_cpu_list(p, "present", "0-1");
	send_uevent(p, "add", WORKER);
	expect_cpu_event(p, WORKER, "added", &m);
	msg_free(&m);
	expect_cpu_event(p, WORKER, "active", &m);
	assert_true(meta_int(&m, "online_us") >= 0);
	assert_true(meta_int(&m, "probe_us") >= 0);
	msg_free(&m);
	assert_true(fake_cpu_is_online(p, WORKER));
	assert_cpu_state(p, WORKER, "active");

	/* It takes work at once. */
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\necho hi\n", digest);
	peer_invoke(p, digest, "", "", &m);
	assert_int_equal(meta_int(&m, "ran_on"), WORKER);
	msg_free(&m);

	/* It goes offline behind the daemon's back. */
	fake_cpu_online(p, WORKER, false);
	send_uevent(p, "offline", WORKER);
	expect_cpu_event(p, WORKER, "offline", &m);
	msg_free(&m);
	assert_cpu_state(p, WORKER, "offline");
	/* And comes back the same way: standby, no work. */
	fake_cpu_online(p, WORKER, true);
	send_uevent(p, "online", WORKER);
	expect_cpu_event(p, WORKER, "online", &m);
	msg_free(&m);
	assert_cpu_state(p, WORKER, "standby");

	/* Hot-unplugged: forgotten. */
	send_uevent(p, "remove", WORKER);
	expect_cpu_event(p, WORKER, "removed", &m);
	msg_free(&m);
	assert_null(cpu_state(p, WORKER, NULL));
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":1}", NULL, 0, "no_such_cpu");

	/* A hot-added CPU the host cannot run: reported, not fatal. */
	if (!host_has_cpu(2)) {
		fake_cpu_create(p, 2, false);
		send_uevent(p, "add", 2);
		expect_cpu_event(p, 2, "added", &m);
		msg_free(&m);
		expect_cpu_event(p, 2, "activate_failed", &m);
		assert_true(strlen(meta_str(&m, "error")) > 0);
		msg_free(&m);
	}
	peer_ping(p);
}

static void test_malformed_frames(void **state)
{
	struct peer *p = *state;
	struct msg m;

	/* Garbage: one error with id 0, then back in step. */
	peer_send_raw(p, "this is not a frame at all", 26);
	peer_wait(p, 0, WIRE_ERROR, &m);
	assert_string_equal(meta_str(&m, "code"), "malformed");
	msg_free(&m);
	peer_ping(p);

	/* Unknown type: answered with its id. */
	uint8_t h[WIRE_HEADER_SIZE];
	struct wire_header hdr = { .version = WIRE_VERSION, .type = 99, .id = 5000, .meta_len = 2 };
	wire_header_pack(&hdr, h);
	peer_send_raw(p, h, sizeof(h));
	peer_send_raw(p, "{}", 2);
	peer_wait(p, 5000, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(meta_str(&m, "code"), "malformed");
	msg_free(&m);

	/* Wrong version. */
	hdr = (struct wire_header){ .version = 7, .type = WIRE_PING, .id = 5001 };
	wire_header_pack(&hdr, h);
	peer_send_raw(p, h, sizeof(h));
	peer_wait(p, 0, WIRE_ERROR, &m);
	assert_string_equal(meta_str(&m, "code"), "malformed");
	msg_free(&m);
	peer_ping(p);

	/* Meta over the limit. */
	hdr = (struct wire_header){
		.version = WIRE_VERSION, .type = WIRE_INVOKE, .id = 5002, .meta_len = WIRE_MAX_META + 1
	};
	wire_header_pack(&hdr, h);
	peer_send_raw(p, h, sizeof(h));
	char *big = calloc(1, WIRE_MAX_META + 1);
	assert_non_null(big);
	peer_send_raw(p, big, WIRE_MAX_META + 1);
	free(big);
	peer_wait(p, 5002, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(meta_str(&m, "code"), "too_big");
	msg_free(&m);
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

	struct wire_header hdr = {
		.version = WIRE_VERSION, .type = WIRE_ARTIFACT_PUT, .id = 6000, .meta_len = 2,
		.body_len = 1000000,
	};
	uint8_t h[WIRE_HEADER_SIZE];
	wire_header_pack(&hdr, h);
	peer_send_raw(p, h, sizeof(h));
	peer_send_raw(p, "{}", 2);
	struct msg m;
	peer_wait(p, 6000, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(meta_str(&m, "code"), "too_big");
	msg_free(&m);
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

static void test_queue_full(void **state)
{
	struct peer *p = *state;
	peer_stop(p);
	struct peer_opts o = { .queue_max = 2 };
	peer_start_opts(p, &o);
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\necho hi\n", digest);
	/* No active CPU: invocations wait. */
	uint32_t a = peer_invoke_send(p, digest, "", "");
	uint32_t b = peer_invoke_send(p, digest, "", "");
	char meta[128];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\"}", digest);
	peer_expect_error(p, WIRE_INVOKE, meta, NULL, 0, "queue_full");
	struct msg m;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(meta_int(&m, "queued"), 2);
	msg_free(&m);
	/* A worker drains the queue. */
	peer_activate(p, WORKER);
	peer_wait(p, a, 0, &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	msg_free(&m);
	peer_wait(p, b, 0, &m);
	assert_string_equal(meta_str(&m, "status"), "ok");
	msg_free(&m);
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
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(master);
		log_threshold = LOG_WARN;
		struct daemon_config cfg;
		daemon_config_defaults(&cfg);
		cfg.port_fd = fd;
		cfg.sysfs_root = p->sys;
		cfg.artifact_dir = p->art;
		cfg.uevent_fd = dup(p->uevent_fd);
		exit(daemon_run(&cfg) < 0 ? 1 : 0);
	}
	close(fd);
	struct peer t = *p;
	t.fd = master;
	t.saved = NULL;
	t.next_id = 100;
	wire_decoder_init(&t.dec, WIRE_MAX_BODY);
	struct msg m;
	peer_wait(&t, 0, WIRE_HELLO, &m);
	assert_int_equal(meta_int(&m, "version"), 1);
	msg_free(&m);
	/* Binary bytes that a terminal would mangle (CR, NL, ^C, ^D). */
	char digest[SHA256_HEX_SIZE];
	peer_put_script(&t, "#!/bin/sh\r\n\x03\x04\n", digest);
	peer_ping(&t);
	wire_decoder_free(&t.dec);

	close(master);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_true(pid_wait_gone(pid, DEADLINE_MS));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ping_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_probe_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_drains_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinned_invocation_cpu_leaves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hot_add_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pty_port, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
