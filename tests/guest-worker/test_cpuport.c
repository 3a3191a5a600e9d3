/* A worker CPU's port (cpuport.h) over a socketpair, as the agent would see
 * it: the gate, what it refuses, an invocation run on its own thread and
 * runner; the port names of lib/wire.h, the interrupt lines of
 * irq_steer.h, and frames queued on a channel leaving in one write. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "cpuport.h"
#include "irq_steer.h"
#include "sha256.h"
#include "support/files.h"
#include "wire.h"

/* A persistent function: one line in, the same line out. */
static const char ECHO_SH[] = "#!/bin/sh\nwhile read -r l; do echo \"got $l\"; done\n";

struct fixture {
	char dir[256];
	struct artifact_store store;
	struct host_binding bind;
	struct cpuctl cpus;
	struct cpuport_env env;
	struct cpuport port[2]; /* port[1]: worker CPU 1's */
	int agent_fd; /* the agent's end */
	struct wire_decoder dec;
	char digest[SHA256_HEX_SIZE];
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(scratch_dir(fx->dir, sizeof(fx->dir), "cpuport"), 0);
	assert_int_equal(artifact_store_open(fx->dir, &fx->store), 0);
	sha256_hex(ECHO_SH, strlen(ECHO_SH), fx->digest);
	assert_int_equal(artifact_put(&fx->store, fx->digest, ECHO_SH, strlen(ECHO_SH)), 0);
	fx->cpus.ncpus = 2;
	fx->env = (struct cpuport_env){ .store = &fx->store,
					.bind = &fx->bind,
					.cpus = &fx->cpus,
					.launchers = "/nonexistent",
					.sysfs_root = fx->dir,
					.max_body = WIRE_MAX_BODY,
					.queue_max = 8,
					.notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->agent_fd = sv[0];
	assert_int_equal(cpuport_start(&fx->port[1], 1, sv[1], &fx->env), 0);
	wire_decoder_init(&fx->dec, WIRE_MAX_BODY);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	cpuport_stop(&fx->port[1]);
	close(fx->agent_fd);
	close(fx->env.notify_fd);
	wire_decoder_free(&fx->dec);
	artifact_store_close(&fx->store);
	remove_tree(fx->dir);
	free(fx);
	return 0;
}

static void send_invoke(struct fixture *fx, uint32_t id, const char *mode, const char *input)
{
	char meta[256];
	snprintf(meta, sizeof(meta), "{\"digest\":\"%s\",\"mode\":\"%s\",\"timeout_ms\":20000}",
		 fx->digest, mode);
	uint8_t *buf;
	size_t len;
	assert_int_equal(
		wire_encode(WIRE_INVOKE, id, meta, strlen(meta), input, strlen(input), &buf, &len),
		0);
	assert_int_equal(write(fx->agent_fd, buf, len), (ssize_t)len);
	free(buf);
}

/* Reads the next frame the port wrote (blocking); its meta in *ret_meta. */
static void next_frame(struct fixture *fx, struct wire_frame *f, json_t **ret_meta)
{
	for (;;) {
		int k = wire_decoder_next(&fx->dec, f);
		assert_true(k >= 0);
		if (k == 1)
			break;
		uint8_t chunk[4096];
		ssize_t n = read(fx->agent_fd, chunk, sizeof(chunk));
		assert_true(n > 0);
		assert_int_equal(wire_decoder_feed(&fx->dec, chunk, (size_t)n), 0);
	}
	*ret_meta = json_loadb(f->meta, f->hdr.meta_len, 0, NULL);
	assert_non_null(*ret_meta);
}

static void expect_error(struct fixture *fx, uint32_t id, const char *code)
{
	struct wire_frame f;
	json_t *m;
	next_frame(fx, &f, &m);
	assert_int_equal(f.hdr.type, WIRE_ERROR);
	assert_int_equal(f.hdr.id, id);
	assert_string_equal(json_string_value(json_object_get(m, "code")), code);
	json_decref(m);
}

static void test_port_names(void **state)
{
	char name[32];
	assert_int_equal(wire_cpu_port_name(3, name, sizeof(name)), 0);
	assert_string_equal(name, "ditto.cpu.3");
	assert_int_equal(wire_cpu_port_cpu(name), 3);
	assert_int_equal(wire_cpu_port_cpu("ditto.cpu.128"), 128);
	assert_int_equal(wire_cpu_port_name(0, name, sizeof(name)), -EINVAL);
	assert_int_equal(wire_cpu_port_name(12, name, 11), -ENAMETOOLONG);
	const char *bad[] = {
		"ditto.0",      "ditto.cpu.",   "ditto.cpu.0",           "ditto.cpu.01",
		"ditto.cpu.1x", "ditto.cpu.-1", "ditto.cpu.99999999999", "cpu.1"
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wire_cpu_port_cpu(bad[i]), -EINVAL);
}

static void test_irq_lines(void **state)
{
	const char *text =
		"           CPU0       CPU1\n"
		" 24:          0          0  PCI-MSIX-0000:00:02.0   0-edge      virtio0-config\n"
		" 25:         10          0  PCI-MSIX-0000:00:02.0   1-edge      virtio0-input\n"
		" 26:          3          0  PCI-MSIX-0000:00:02.0   2-edge      virtio0-output\n"
		" 27:          1          0  PCI-MSIX-0000:00:02.0   3-edge      virtio0-control-i\n"
		" 28:          0          0  PCI-MSIX-0000:00:02.0   4-edge      virtio0-control-o\n"
		" 29:         20          0  PCI-MSIX-0000:00:02.0   5-edge      virtio0-input\n"
		" 30:         19          0  PCI-MSIX-0000:00:02.0   6-edge      virtio0-output\n"
		" 31:          4          0  PCI-MSIX-0000:00:02.0   7-edge      virtio0-input\n"
		" 32:          4          0  PCI-MSIX-0000:00:02.0   8-edge      virtio0-output\n"
		" 33:          4          0  PCI-MSIX-0000:00:03.0   1-edge      virtio1-input\n"
		"NMI:          0          0   Non-maskable interrupts\n";
	int irqs[2];
	assert_int_equal(irq_port_vectors(text, "virtio0", 2, irqs), 0);
	assert_int_equal(irqs[0], 31);
	assert_int_equal(irqs[1], 32);
	assert_int_equal(irq_port_vectors(text, "virtio0", 0, irqs), 0);
	assert_int_equal(irqs[0], 25);
	assert_int_equal(irq_port_vectors(text, "virtio1", 0, irqs), 0);
	assert_int_equal(irqs[0], 33);
	assert_int_equal(irqs[1], -1);
	/* One vector shared by every queue: nothing of the port's own. */
	assert_int_equal(
		irq_port_vectors(" 25: 1 PCI-MSIX 1-edge virtio0-virtqueues\n", "virtio0", 1, irqs),
		-ENOENT);
	assert_int_equal(irq_port_vectors(text, "virtio0", 3, irqs), -ENOENT);
}

/* Queued frames wait for channel_flush, which writes them together. */
static void test_channel_queue_batches(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct channel c;
	channel_init(&c, sv[0], true, WIRE_MAX_BODY);
	for (uint32_t id = 1; id <= 3; id++)
		assert_int_equal(channel_queue(&c, WIRE_REPLY, id, "{}", 2, "ab", 2, "c", 1), 0);
	uint8_t buf[4096];
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(channel_has_pending(&c));
	assert_int_equal(channel_flush(&c), 0);
	assert_false(channel_has_pending(&c));
	ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, 3 * (WIRE_HEADER_SIZE + 2 + 3));
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, buf, (size_t)n), 0);
	struct wire_frame f;
	for (uint32_t id = 1; id <= 3; id++) {
		assert_int_equal(wire_decoder_next(&d, &f), 1);
		assert_int_equal(f.hdr.id, id);
		assert_memory_equal(f.body, "abc", 3);
	}
	wire_decoder_free(&d);
	channel_fini(&c);
	close(sv[1]);
}

/* Closed, the port answers every invocation "cpu_unavailable" (the agent
 * sends it again on the control port); it serves nothing but persistent
 * plain invocations of artifacts the guest has. */
static void test_gate_and_refusals(void **state)
{
	struct fixture *fx = *state;
	send_invoke(fx, 7, "persistent", "a");
	expect_error(fx, 7, "cpu_unavailable");
	cpuport_set_open(&fx->port[1], true);
	send_invoke(fx, 8, "process", "a");
	expect_error(fx, 8, "bad_request");
	uint8_t *buf;
	size_t len;
	assert_int_equal(wire_encode(WIRE_PING, 9, "{}", 2, NULL, 0, &buf, &len), 0);
	assert_int_equal(write(fx->agent_fd, buf, len), (ssize_t)len);
	free(buf);
	expect_error(fx, 9, "bad_request");
	fx->digest[0] = fx->digest[0] == 'a' ? 'b' : 'a';
	send_invoke(fx, 10, "persistent", "a");
	expect_error(fx, 10, "artifact_missing");
}

/* Open, the port runs invocations on its CPU's long-lived process, one
 * after the other, and a closed gate fails what it still holds. */
static void test_runs_on_its_cpu(void **state)
{
	struct fixture *fx = *state;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(1, &set))
		skip();
	cpuport_set_open(&fx->port[1], true);
	send_invoke(fx, 1, "persistent", "one");
	send_invoke(fx, 2, "persistent", "two");
	for (uint32_t id = 1; id <= 2; id++) {
		struct wire_frame f;
		json_t *m;
		next_frame(fx, &f, &m);
		assert_int_equal(f.hdr.type, WIRE_REPLY);
		assert_int_equal(f.hdr.id, id);
		assert_string_equal(json_string_value(json_object_get(m, "status")), "ok");
		assert_int_equal(json_integer_value(json_object_get(m, "cpu")), 1);
		assert_int_equal(json_is_true(json_object_get(m, "cold_start")), id == 1);
		assert_memory_equal(f.body, id == 1 ? "got one" : "got two", 7);
		json_decref(m);
	}
	assert_false(cpuport_busy(&fx->port[1]));
	cpuport_set_open(&fx->port[1], false);
	send_invoke(fx, 3, "persistent", "three");
	expect_error(fx, 3, "cpu_unavailable");
}

/* Takes back what the port hands the daemon, waiting for its notification. */
static struct inv *take_back(struct fixture *fx, struct cpuports *ps)
{
	for (;;) {
		struct pollfd pfd = { .fd = fx->env.notify_fd, .events = POLLIN };
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		uint64_t n;
		assert_int_equal(read(fx->env.notify_fd, &n, sizeof(n)), sizeof(n));
		struct inv *inv = cpuports_take_back(ps, &fx->cpus);
		if (inv)
			return inv;
	}
}

static struct inv *relayed_inv(struct fixture *fx, const char *input)
{
	struct inv *inv = inv_new();
	assert_non_null(inv);
	inv->id = 5;
	inv->mode = INV_PERSISTENT;
	inv->timeout_ms = 20000;
	inv->max_output = 1024;
	memcpy(inv->digest, fx->digest, sizeof(inv->digest));
	inv->input = (uint8_t *)strdup(input);
	inv->input_len = strlen(input);
	return inv;
}

/* The daemon hands a control port's persistent invocation to the CPU's port,
 * which runs it on its own processes and hands it back to be answered; one
 * it cannot run (the CPU left) comes back unrun. */
static void test_relay(void **state)
{
	struct fixture *fx = *state;
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(1, &set))
		skip();
	struct wcpu wc[2] = { 0 };
	fx->cpus.cpus = wc;
	struct cpuports ps = { .port = fx->port, .ncpus = 2, .env = fx->env };
	cpuport_set_open(&fx->port[1], true);
	struct inv *inv = relayed_inv(fx, "x");
	assert_int_equal(cpuports_relay(&ps, &fx->cpus, inv, 1), 0);
	assert_true(wc[1].busy);
	struct inv *back = take_back(fx, &ps);
	assert_ptr_equal(back, inv);
	assert_true(back->relayed);
	assert_false(back->returned);
	assert_int_equal(back->status, INV_OK);
	assert_int_equal(back->cpu, 1);
	assert_memory_equal(back->result.data, "got x", 5);
	inv_free(back);
	/* Process mode is the daemon's to run. */
	inv = relayed_inv(fx, "y");
	inv->mode = INV_PROCESS;
	assert_int_equal(cpuports_relay(&ps, &fx->cpus, inv, 1), -ENOENT);
	inv->mode = INV_PERSISTENT;
	cpuport_set_open(&fx->port[1], false);
	assert_int_equal(cpuports_relay(&ps, &fx->cpus, inv, 1), 0);
	back = take_back(fx, &ps);
	assert_ptr_equal(back, inv);
	assert_true(back->returned);
	inv_free(back);
	fx->cpus.cpus = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_names),
		cmocka_unit_test(test_irq_lines),
		cmocka_unit_test(test_channel_queue_batches),
		cmocka_unit_test_setup_teardown(test_gate_and_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runs_on_its_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
