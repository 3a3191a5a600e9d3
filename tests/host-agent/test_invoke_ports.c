/* Per-cpu mode in invoke.c against scripted guests: a control channel and two
 * worker CPU ports, each a fake guest on a socketpair. Which channel a call
 * takes, the least loaded CPU, and calls a port cannot run (its CPU left
 * service, or the port went away) sent again on the control channel. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/fake_guest.h"
#include "fakes/fake_loop.h"
#include "guest_chan.h"
#include "invoke.h"
#include "sha256.h"
#include "support/files.h"

#define NPORTS 2

struct fixture {
	uv_loop_t loop;
	char dir[256];
	struct artifacts store;
	char digest[SHA256_HEX_SIZE];
	struct invoke inv;
	struct fake_guest ctl_peer, port_peer[NPORTS + 1];
	struct guest_chan *ctl, *port[NPORTS + 1];
	bool active[NPORTS + 1];
	int done, statuses[16], cpus[16];
};

/* A channel that closed is freed: forget it. */
static void on_closed(struct guest_chan *ch, int reason, void *data)
{
	struct fixture *fx = data;
	for (int cpu = 1; cpu <= NPORTS; cpu++)
		if (fx->port[cpu] == ch)
			fx->port[cpu] = NULL;
}

static const struct guest_chan_ops chan_ops = { .closed = on_closed };

static struct guest_chan *hook_control(void *data)
{
	struct fixture *fx = data;
	return fx->ctl;
}

static struct guest_chan *hook_port(void *data, int cpu)
{
	struct fixture *fx = data;
	return fx->port[cpu];
}

static bool hook_active(void *data, int cpu)
{
	struct fixture *fx = data;
	return fx->active[cpu];
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	uv_loop_init(&fx->loop);
	assert_int_equal(scratch_dir(fx->dir, sizeof(fx->dir), "invoke-ports"), 0);
	assert_int_equal(artifacts_init(&fx->store, fx->dir, 1 << 20), 0);
	const char *fn = "#!/bin/sh\necho hi\n";
	sha256_hex(fn, strlen(fn), fx->digest);
	assert_int_equal(artifacts_put(&fx->store, fx->digest, fn, strlen(fn)), 0);
	invoke_init(&fx->inv, "t1", &fx->store, 16, NULL, NULL);
	fake_guest_open(&fx->ctl_peer, &fx->loop, true, &chan_ops, fx, &fx->ctl);
	for (int cpu = 1; cpu <= NPORTS; cpu++) {
		fake_guest_open(&fx->port_peer[cpu], &fx->loop, true, &chan_ops, fx,
				&fx->port[cpu]);
		/* Held: the test answers each port's calls itself. */
		fake_guest_on(&fx->port_peer[cpu], WIRE_INVOKE, NULL);
		fx->active[cpu] = true;
	}
	fake_guest_on(&fx->ctl_peer, WIRE_INVOKE, "{\"status\":\"ok\",\"cpu\":1}");
	invoke_use_ports(&fx->inv, &(struct invoke_ports){ .control = hook_control,
							   .port = hook_port,
							   .active = hook_active,
							   .n = NPORTS,
							   .data = fx });
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	guest_chan_close(fx->ctl);
	fake_guest_close(&fx->ctl_peer);
	for (int cpu = 1; cpu <= NPORTS; cpu++) {
		if (fx->port[cpu])
			guest_chan_close(fx->port[cpu]);
		fake_guest_close(&fx->port_peer[cpu]);
	}
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	invoke_free(&fx->inv);
	remove_tree(fx->dir);
	free(fx);
	return 0;
}

static void on_done(int status, json_t *meta, const uint8_t *body, size_t body_len, void *data)
{
	struct fixture *fx = data;
	fx->statuses[fx->done] = status;
	fx->cpus[fx->done] = (int)json_integer_value(json_object_get(meta, "cpu"));
	fx->done++;
}

static void start(struct fixture *fx, const char *mode, bool e2e)
{
	struct invoke_req req = { .digest = fx->digest,
				  .mode = mode,
				  .timeout_ms = 1000,
				  .max_output = 1024,
				  .cpu = -1,
				  .invocation = e2e ? "inv-1" : NULL,
				  .e2e = e2e,
				  .input = "x",
				  .input_len = 1 };
	assert_int_equal(invoke_start(&fx->inv, fx->ctl, &req, on_done, fx), 0);
}

static bool all_done(void *arg)
{
	struct fixture *fx = arg;
	return fx->done == (int)fx->inv.invocations;
}

/* The guest stored the artifact: from now on its warm calls may take a port. */
static void push_acked(struct fixture *fx)
{
	start(fx, "persistent", false);
	fake_guest_wait_type(&fx->ctl_peer, WIRE_INVOKE, 1);
	fake_run_until(&fx->loop, all_done, fx, "the first call");
	assert_int_equal(fake_guest_count(&fx->ctl_peer, WIRE_ARTIFACT_PUT), 1);
}

static void test_pick_port(void **state)
{
	unsigned load[5] = { 0, 3, 1, 1, 0 };
	bool usable[5] = { false, true, true, true, false };
	/* The least loaded usable CPU; the lowest of a tie. */
	assert_int_equal(invoke_pick_port(load, usable, 4), 2);
	usable[2] = usable[3] = false;
	assert_int_equal(invoke_pick_port(load, usable, 4), 1);
	usable[1] = false;
	assert_int_equal(invoke_pick_port(load, usable, 4), -1);
	assert_int_equal(invoke_pick_port(load, usable, 0), -1);
}

/* The first call goes with its artifact on the control channel: the ports
 * are not ordered with it, so none carries a call before the guest stored
 * the artifact. Then warm calls spread over the ports by load. */
static void test_warm_calls_take_the_least_loaded_port(void **state)
{
	struct fixture *fx = *state;
	push_acked(fx);
	for (int i = 0; i < 3; i++)
		start(fx, "persistent", false);
	fake_guest_wait_type(&fx->port_peer[1], WIRE_INVOKE, 2);
	fake_guest_wait_type(&fx->port_peer[2], WIRE_INVOKE, 1);
	assert_int_equal(fx->inv.port_load[1], 2);
	assert_int_equal(fx->inv.port_load[2], 1);
	/* Process mode, encrypted calls and a CPU that left take the control
	 * channel. */
	start(fx, "process", false);
	start(fx, "persistent", true);
	fx->active[1] = fx->active[2] = false;
	start(fx, "persistent", false);
	fake_guest_wait_type(&fx->ctl_peer, WIRE_INVOKE, 4);
	fake_guest_answer(&fx->port_peer[1], 0, "{\"status\":\"ok\",\"cpu\":1}");
	fake_guest_answer(&fx->port_peer[1], 1, "{\"status\":\"ok\",\"cpu\":1}");
	fake_guest_answer(&fx->port_peer[2], 0, "{\"status\":\"ok\",\"cpu\":2}");
	fake_run_until(&fx->loop, all_done, fx, "every call");
	for (int i = 0; i < fx->done; i++)
		assert_int_equal(fx->statuses[i], 0);
	assert_int_equal(fx->inv.port_calls, 3);
	assert_int_equal(fx->inv.resent, 0);
	assert_int_equal(invoke_inflight(&fx->inv), 0);
}

/* A shrink takes CPU 2 out of service with calls queued on its port: the
 * guest answers them "cpu_unavailable" and they run through the control
 * channel instead; a port that goes away hands its calls over the same way. */
static void test_calls_a_port_cannot_run_are_sent_again(void **state)
{
	struct fixture *fx = *state;
	push_acked(fx);
	for (int i = 0; i < 4; i++)
		start(fx, "persistent", false);
	fake_guest_wait_type(&fx->port_peer[2], WIRE_INVOKE, 2);
	fake_guest_wait_type(&fx->port_peer[1], WIRE_INVOKE, 2);
	const struct fake_guest_frame *f = fake_guest_frame(&fx->port_peer[2], 0);
	fake_guest_send(&fx->port_peer[2], WIRE_ERROR, f->id,
			"{\"code\":\"cpu_unavailable\",\"message\":\"cpu 2 is not in service\"}");
	f = fake_guest_frame(&fx->port_peer[2], 1);
	fake_guest_send(&fx->port_peer[2], WIRE_ERROR, f->id,
			"{\"code\":\"cpu_unavailable\",\"message\":\"cpu 2 is not in service\"}");
	fake_guest_wait_type(&fx->ctl_peer, WIRE_INVOKE, 3);
	/* Port 1 hangs up with two calls on it. */
	fake_guest_close(&fx->port_peer[1]);
	fake_guest_wait_type(&fx->ctl_peer, WIRE_INVOKE, 5);
	fake_run_until(&fx->loop, all_done, fx, "every call");
	for (int i = 0; i < fx->done; i++)
		assert_int_equal(fx->statuses[i], 0);
	assert_int_equal(fx->done, 5);
	assert_int_equal(fx->inv.resent, 4);
	/* What the control channel got is the call as it was. */
	const struct fake_guest_frame *again = fake_guest_frame(&fx->ctl_peer, 3);
	assert_string_equal(json_string_value(json_object_get(again->meta, "mode")), "persistent");
	assert_int_equal(again->body_len, 1);
	assert_int_equal(invoke_inflight(&fx->inv), 0);
}

/* Another error from a port is the call's answer, not a reason to send it
 * again; and without a control channel a lost call fails as lost. */
static void test_other_errors_are_answers(void **state)
{
	struct fixture *fx = *state;
	push_acked(fx);
	start(fx, "persistent", false);
	fake_guest_wait_type(&fx->port_peer[1], WIRE_INVOKE, 1);
	const struct fake_guest_frame *f = fake_guest_frame(&fx->port_peer[1], 0);
	fake_guest_send(&fx->port_peer[1], WIRE_ERROR, f->id,
			"{\"code\":\"bad_input\",\"message\":\"no\"}");
	fake_run_until(&fx->loop, all_done, fx, "the refused call");
	assert_int_equal(fx->statuses[1], -EREMOTEIO);
	start(fx, "persistent", false);
	fake_guest_wait_type(&fx->port_peer[1], WIRE_INVOKE, 2);
	struct guest_chan *ctl = fx->ctl;
	fx->ctl = NULL; /* the VM is going down */
	fake_guest_close(&fx->port_peer[1]);
	fake_run_until(&fx->loop, all_done, fx, "the lost call");
	assert_int_equal(fx->statuses[2], -ECONNRESET);
	assert_int_equal(fx->inv.resent, 0);
	fx->ctl = ctl;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_port),
		cmocka_unit_test_setup_teardown(test_warm_calls_take_the_least_loaded_port, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_calls_a_port_cannot_run_are_sent_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_errors_are_answers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
