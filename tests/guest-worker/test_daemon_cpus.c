/* The guest daemon's worker CPUs through the protocol: state changes asked
 * by the agent, draining, invocations pinned to a CPU, and hot-add and
 * removal with the kernel's sysfs CPU files and uevents played by the test.
 * The state machine alone is tested in test_cpuctl.c. */
#include "support/guest_harness.h"

/* The CPU the tests can really run on besides CPU 0. */
#define WORKER 1

/* The state STATUS reports for cpu, or NULL when it is not listed. */
static char *cpu_state(struct peer *p, int cpu, bool *ret_busy)
{
	struct guest_msg m;
	peer_call(p, WIRE_STATUS, "{}", NULL, 0, WIRE_REPLY, &m);
	json_t *cpus = json_object_get(m.meta, "cpus");
	assert_true(json_is_array(cpus));
	char *state = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(cpus, i, c)
	{
		assert_int_not_equal(json_integer_value(json_object_get(c, "cpu")), 0);
		if (json_integer_value(json_object_get(c, "cpu")) != cpu)
			continue;
		state = strdup(json_string_value(json_object_get(c, "state")));
		if (ret_busy)
			*ret_busy = json_is_true(json_object_get(c, "busy"));
	}
	guest_msg_free(&m);
	return state;
}

static void assert_cpu_state(struct peer *p, int cpu, const char *want)
{
	char *s = cpu_state(p, cpu, NULL);
	assert_non_null(s);
	assert_string_equal(s, want);
	free(s);
}

static void cpu_call(struct peer *p, uint8_t type, int cpu, struct guest_msg *ret)
{
	char meta[64];
	snprintf(meta, sizeof(meta), "{\"cpu\":%d}", cpu);
	peer_call(p, type, meta, NULL, 0, WIRE_REPLY, ret);
	assert_int_equal(guest_msg_int(ret, "cpu"), cpu);
}

/* Calls type on cpu and returns how long the reply says its step key took. */
static json_int_t cpu_call_us(struct peer *p, uint8_t type, int cpu, const char *key)
{
	struct guest_msg m;
	cpu_call(p, type, cpu, &m);
	json_int_t us = guest_msg_int(&m, key);
	guest_msg_free(&m);
	return us;
}

static void test_ping_status(void **state)
{
	struct peer *p = *state;
	peer_ping(p);
	struct guest_msg m;
	peer_call(p, WIRE_STATUS, "", NULL, 0, WIRE_REPLY, &m);
	assert_int_equal(guest_msg_int(&m, "queued"), 0);
	assert_int_equal(guest_msg_int(&m, "artifacts"), 0);
	assert_int_equal(json_array_size(json_object_get(m.meta, "cpus")), 3);
	guest_msg_free(&m);
	for (int cpu = 1; cpu <= 3; cpu++)
		assert_cpu_state(p, cpu, "offline");
}

static void test_cpu_states(void **state)
{
	struct peer *p = *state;
	struct guest_msg m;

	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	assert_true(guest_msg_int(&m, "online_us") >= 0);
	assert_true(guest_msg_int(&m, "probe_us") >= 0);
	guest_msg_free(&m);
	assert_true(fake_cpu_is_online(&p->fs, WORKER));
	assert_cpu_state(p, WORKER, "active");

	/* Idempotent: nothing left to do. */
	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	assert_int_equal(guest_msg_int(&m, "online_us"), 0);
	assert_int_equal(guest_msg_int(&m, "probe_us"), 0);
	guest_msg_free(&m);

	assert_int_equal(cpu_call_us(p, WIRE_CPU_STANDBY, WORKER, "online_us"), 0);
	assert_cpu_state(p, WORKER, "standby");
	assert_true(fake_cpu_is_online(&p->fs, WORKER));

	assert_true(cpu_call_us(p, WIRE_CPU_OFFLINE, WORKER, "offline_us") >= 0);
	assert_false(fake_cpu_is_online(&p->fs, WORKER));
	assert_cpu_state(p, WORKER, "offline");
	assert_int_equal(cpu_call_us(p, WIRE_CPU_OFFLINE, WORKER, "offline_us"), 0);

	/* Standby from offline onlines it without giving it work. */
	assert_true(cpu_call_us(p, WIRE_CPU_STANDBY, WORKER, "online_us") >= 0);
	assert_true(fake_cpu_is_online(&p->fs, WORKER));
	assert_cpu_state(p, WORKER, "standby");

	cpu_call(p, WIRE_CPU_ACTIVATE, WORKER, &m);
	guest_msg_free(&m);
	cpu_call(p, WIRE_CPU_RELEASE, WORKER, &m);
	assert_int_equal(json_object_size(m.meta), 1);
	guest_msg_free(&m);
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
	if (guest_host_has_cpu(3)) {
		print_message("the host has a CPU 3: nothing to prove here\n");
		skip();
	}
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":3}", NULL, 0, "probe_failed");
	assert_true(fake_cpu_is_online(&p->fs, 3));
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
	struct guest_msg m;
	peer_invoke(p, long_lived, "\"mode\":\"persistent\"", "x", NULL, &m);
	pid_t warm = (pid_t)guest_msg_result_long(&m);
	guest_msg_free(&m);
	assert_true(warm > 0);

	uint32_t inv = peer_invoke_send(p, digest, "", "");
	uint32_t off = peer_send(p, WIRE_CPU_OFFLINE, "{\"cpu\":1}", NULL, 0);
	/* An invocation sent after the offline request waits for a CPU. */
	uint32_t late = peer_invoke_send(p, digest, "", "");

	/* The running invocation finishes before the CPU goes offline. */
	struct guest_msg first;
	peer_recv_raw(p, &first);
	assert_int_equal(first.hdr.id, inv);
	assert_string_equal(guest_msg_str(&first, "status"), "ok");
	guest_msg_free(&first);
	peer_wait(p, off, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	guest_msg_free(&m);
	assert_false(fake_cpu_is_online(&p->fs, WORKER));
	assert_true(guest_pid_gone(warm, GUEST_DEADLINE_MS));

	assert_int_equal(peer_status_int(p, "queued"), 1);

	/* Activating the CPU again runs the waiting invocation. */
	peer_activate(p, WORKER);
	peer_wait(p, late, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	assert_true(guest_msg_int(&m, "queued_us") > 0);
	guest_msg_free(&m);
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
	struct guest_msg m;
	peer_wait(p, waiting, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(guest_msg_str(&m, "code"), "cpu_unavailable");
	guest_msg_free(&m);
	peer_wait(p, running, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	assert_int_equal(guest_msg_int(&m, "cpu"), 1);
	guest_msg_free(&m);
	peer_wait(p, off, 0, &m);
	assert_int_equal(m.hdr.type, WIRE_REPLY);
	guest_msg_free(&m);

	/* A CPU outside the VM is refused at once. */
	peer_wait(p, peer_invoke_send(p, slow, "\"cpu\":4000", ""), 0, &m);
	assert_int_equal(m.hdr.type, WIRE_ERROR);
	assert_string_equal(guest_msg_str(&m, "code"), "no_such_cpu");
	guest_msg_free(&m);
}

static void expect_cpu_event(struct peer *p, int cpu, const char *event, struct guest_msg *ret)
{
	peer_wait(p, 0, WIRE_CPU_EVENT, ret);
	assert_int_equal(guest_msg_int(ret, "cpu"), cpu);
	assert_string_equal(guest_msg_str(ret, "event"), event);
}

static void test_hot_add_and_remove(void **state)
{
	struct peer *p = *state;
	struct guest_msg m;
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
	fake_cpu_create(&p->fs, WORKER, false);
	fake_cpu_list(&p->fs, "present", "0-1");
	fake_uevent_send(p->uevent_fd, "add", WORKER);
	expect_cpu_event(p, WORKER, "added", &m);
	guest_msg_free(&m);
	expect_cpu_event(p, WORKER, "active", &m);
	assert_true(guest_msg_int(&m, "online_us") >= 0);
	assert_true(guest_msg_int(&m, "probe_us") >= 0);
	guest_msg_free(&m);
	assert_true(fake_cpu_is_online(&p->fs, WORKER));
	assert_cpu_state(p, WORKER, "active");

	/* It takes work at once. */
	char digest[SHA256_HEX_SIZE];
	peer_put_script(p, "#!/bin/sh\necho hi\n", digest);
	peer_invoke(p, digest, "", "", NULL, &m);
	assert_int_equal(guest_msg_int(&m, "ran_on"), WORKER);
	guest_msg_free(&m);

	/* It goes offline behind the daemon's back. */
	fake_cpu_online(&p->fs, WORKER, false);
	fake_uevent_send(p->uevent_fd, "offline", WORKER);
	expect_cpu_event(p, WORKER, "offline", &m);
	guest_msg_free(&m);
	assert_cpu_state(p, WORKER, "offline");
	/* And comes back the same way: standby, no work. */
	fake_cpu_online(&p->fs, WORKER, true);
	fake_uevent_send(p->uevent_fd, "online", WORKER);
	expect_cpu_event(p, WORKER, "online", &m);
	guest_msg_free(&m);
	assert_cpu_state(p, WORKER, "standby");

	/* Hot-unplugged: forgotten. */
	fake_uevent_send(p->uevent_fd, "remove", WORKER);
	expect_cpu_event(p, WORKER, "removed", &m);
	guest_msg_free(&m);
	assert_null(cpu_state(p, WORKER, NULL));
	peer_expect_error(p, WIRE_CPU_ACTIVATE, "{\"cpu\":1}", NULL, 0, "no_such_cpu");

	/* A hot-added CPU the host cannot run: reported, not fatal. */
	if (!guest_host_has_cpu(2)) {
		fake_cpu_create(&p->fs, 2, false);
		fake_uevent_send(p->uevent_fd, "add", 2);
		expect_cpu_event(p, 2, "added", &m);
		guest_msg_free(&m);
		expect_cpu_event(p, 2, "activate_failed", &m);
		assert_true(strlen(guest_msg_str(&m, "error")) > 0);
		guest_msg_free(&m);
	}
	peer_ping(p);
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
	assert_int_equal(peer_status_int(p, "queued"), 2);
	struct guest_msg m;
	/* A worker drains the queue. */
	peer_activate(p, WORKER);
	peer_wait(p, a, 0, &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	guest_msg_free(&m);
	peer_wait(p, b, 0, &m);
	assert_string_equal(guest_msg_str(&m, "status"), "ok");
	guest_msg_free(&m);
}

/* Each test gets a daemon of its own. */
#define GUEST_TEST(f) cmocka_unit_test_setup_teardown(f, peer_setup, peer_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { GUEST_TEST(test_ping_status),
					    GUEST_TEST(test_cpu_states),
					    GUEST_TEST(test_activate_probe_fails),
					    GUEST_TEST(test_offline_drains_first),
					    GUEST_TEST(test_pinned_invocation_cpu_leaves),
					    GUEST_TEST(test_hot_add_and_remove),
					    GUEST_TEST(test_queue_full) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
