/* The autoscaler (scaler.c) on its own: events in (ready, demand, resizes
 * ending, limits, the guest going quiet), decisions out to a recording
 * stand-in for the worker vCPUs, on a real libuv loop. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fakes/fake_loop.h"
#include "scaler.h"

#define MAX_CALLS 16

/* The VM around the scaler: what it reads, and the resizes it asked for. */
struct fixture {
	uv_loop_t loop;
	struct scaler sc;
	bool open;
	unsigned demand;
	int active, free_cores, hotplug_left;
	bool busy;
	int resize_ret; /* what resize answers at once */
	int calls[MAX_CALLS];
	int n_calls, want_calls;
	uint64_t arrival_ns; /* what take_arrival_ns hands out next */
	vcpu_done_fn cb; /* the resize under way */
	void *cb_data;
};

static unsigned op_demand(void *data)
{
	return ((struct fixture *)data)->demand;
}

static uint64_t op_take_arrival_ns(void *data)
{
	struct fixture *f = data;
	uint64_t t = f->arrival_ns;
	f->arrival_ns = 0;
	return t;
}

static int op_resize(void *data, int n, vcpu_done_fn cb, void *cb_data)
{
	struct fixture *f = data;
	assert_true(f->n_calls < MAX_CALLS);
	f->calls[f->n_calls++] = n;
	if (f->resize_ret < 0)
		return f->resize_ret;
	assert_null(f->cb); /* one at a time */
	f->cb = cb;
	f->cb_data = cb_data;
	return 0;
}

static int op_active(void *data)
{
	return ((struct fixture *)data)->active;
}

static bool op_busy(void *data)
{
	return ((struct fixture *)data)->busy;
}

static int op_free_cores(void *data)
{
	return ((struct fixture *)data)->free_cores;
}

static int op_hotplug_left(void *data)
{
	return ((struct fixture *)data)->hotplug_left;
}

static const struct scaler_ops ops = {
	.demand = op_demand,
	.take_arrival_ns = op_take_arrival_ns,
	.resize = op_resize,
	.active = op_active,
	.busy = op_busy,
	.free_cores = op_free_cores,
	.hotplug_left = op_hotplug_left,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->free_cores = 8;
	f->hotplug_left = INT_MAX;
	*state = f;
	return 0;
}

static void on_closed(void *data)
{
	((struct fixture *)data)->open = false;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->open)
		scaler_close(&f->sc, on_closed);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_false(f->open);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void init(struct fixture *f, const char *policy, int min, int max)
{
	struct scaler_config cfg = {
		.name = "t", .vm_max_workers = 4, .min_workers = min, .max_workers = max
	};
	assert_int_equal(policy_parse(policy, &cfg.policy), 0);
	scaler_init(&f->sc, &f->loop, &cfg, &ops, f);
	f->open = true;
}

/* The resize under way ends with status and workers active; then, as the VM
 * does for every resize, the scaler hears of it. */
static void complete(struct fixture *f, int status, int workers)
{
	assert_non_null(f->cb);
	vcpu_done_fn cb = f->cb;
	f->cb = NULL;
	f->active = workers;
	json_t *report = json_pack("{s:i}", "workers", workers);
	cb(status, report, f->cb_data);
	json_decref(report);
	scaler_on_resized(&f->sc);
}

/* One turn of the loop: the scaler samples the demand before it sleeps. */
static void turn(struct fixture *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void test_manual_keeps_limits(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 2, 3);
	assert_int_equal(f->n_calls, 0); /* nothing before the VM is ready */
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 2);
	complete(f, 0, 2);
	turn(f);
	assert_int_equal(f->n_calls, 1); /* at its target */
	/* Limits that shrink it apply at once; manual never grows past min. */
	struct policy manual = { .kind = POLICY_MANUAL };
	assert_int_equal(scaler_set(&f->sc, &manual, 0, 1), 0);
	assert_int_equal(f->n_calls, 2);
	assert_int_equal(f->calls[1], 1);
	complete(f, 0, 1);
	assert_int_equal(f->n_calls, 2);
}

static void test_set_checks_limits(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 0, 4);
	struct policy manual = { .kind = POLICY_MANUAL };
	assert_int_equal(scaler_set(&f->sc, &manual, 0, 5), -ERANGE);
	assert_int_equal(scaler_set(&f->sc, &manual, 3, 2), -EINVAL);
	assert_int_equal(scaler_set(&f->sc, &manual, -1, 2), -EINVAL);
	json_t *o = json_object();
	scaler_to_json(&f->sc, o);
	assert_int_equal(json_integer_value(json_object_get(o, "max_workers")), 4);
	assert_string_equal(json_string_value(json_object_get(o, "policy")), "manual");
	json_decref(o);
}

/* While the vCPUs run someone else's resize the scaler waits, and looks
 * again when that one ends. */
static void test_waits_for_busy_vcpus(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 1, 4);
	f->busy = true;
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 0);
	scaler_on_resized(&f->sc); /* still busy: another one queued */
	assert_int_equal(f->n_calls, 0);
	f->busy = false;
	scaler_on_resized(&f->sc);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 1);
}

/* Not while the guest does not answer, nor once the VM is going down. */
static void test_only_when_ready(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 0, 4);
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 0);
	scaler_on_unresponsive(&f->sc);
	struct policy manual = { .kind = POLICY_MANUAL };
	assert_int_equal(scaler_set(&f->sc, &manual, 2, 4), 0);
	assert_int_equal(f->n_calls, 0);
	scaler_on_responsive(&f->sc);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 2);
	complete(f, -ECANCELED, 0);
	scaler_on_down(&f->sc);
	assert_int_equal(scaler_set(&f->sc, &manual, 3, 4), 0);
	assert_int_equal(f->n_calls, 1);
}

/* A grow goes only as far as free cores and QEMU's vCPU capacity allow. */
static void test_grow_limited(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 3, 4);
	f->free_cores = 1;
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 1);
	f->free_cores = 0; /* the grow took it */
	complete(f, 0, 1);
	assert_int_equal(f->n_calls, 1); /* no core left: no loop */

	f->free_cores = 8;
	f->hotplug_left = 0;
	scaler_on_ready(&f->sc); /* a fresh guest on a VM that can add no vCPU */
	assert_int_equal(f->n_calls, 1);
}

/* A failed resize is not retried until something happens; -EMLINK stops
 * grows for the rest of the VM's life. */
static void test_failure_not_retried(void **state)
{
	struct fixture *f = *state;
	init(f, "manual", 2, 4);
	f->hotplug_left = 2; /* a hotplug VM */
	scaler_on_ready(&f->sc);
	complete(f, -EIO, 1);
	turn(f);
	assert_int_equal(f->n_calls, 1);
	struct policy manual = { .kind = POLICY_MANUAL };
	assert_int_equal(scaler_set(&f->sc, &manual, 2, 4), 0);
	assert_int_equal(f->n_calls, 2);
	assert_int_equal(f->calls[1], 2);
	complete(f, -EMLINK, 1);
	assert_int_equal(scaler_set(&f->sc, &manual, 3, 4), 0);
	assert_int_equal(f->n_calls, 2);

	/* A resize refused at once is forgotten, not waited for. */
	f->resize_ret = -EAGAIN;
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 3);
	f->resize_ret = 0;
	assert_int_equal(scaler_set(&f->sc, &manual, 2, 4), 0);
	assert_int_equal(f->n_calls, 4);
}

/* Elastic: a worker per invocation in flight, kept for the keep-alive. */
static void test_elastic_follows_demand(void **state)
{
	struct fixture *f = *state;
	init(f, "elastic:3600000", 0, 4);
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 0);
	f->demand = 3;
	turn(f);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 3);
	f->demand = 6; /* more arrives while the grow runs */
	turn(f);
	assert_int_equal(f->n_calls, 1);
	/* The grow past it is decided now, and requested once it ends. */
	assert_int_equal(f->sc.decisions.count, 2);
	complete(f, 0, 3);
	assert_int_equal(f->n_calls, 2);
	assert_int_equal(f->calls[1], 4); /* max_workers */
	assert_int_equal(f->sc.decisions.count, 2);
	complete(f, 0, 4);
	f->demand = 0;
	turn(f);
	assert_int_equal(f->n_calls, 2); /* kept alive */
}

static bool two_calls(void *arg)
{
	return ((struct fixture *)arg)->n_calls >= 2;
}

/* When the keep-alive runs out the policy's timer shrinks the VM. */
static void test_elastic_keep_alive_ends(void **state)
{
	struct fixture *f = *state;
	init(f, "elastic:20:hold=0", 0, 4);
	scaler_on_ready(&f->sc);
	f->demand = 2;
	turn(f);
	assert_int_equal(f->calls[0], 2);
	complete(f, 0, 2);
	f->demand = 0;
	fake_run_until(&f->loop, two_calls, f, "the keep-alive to end");
	assert_int_equal(f->calls[1], 0);
}

static bool calls_reached(void *arg)
{
	struct fixture *f = arg;
	return f->n_calls >= f->want_calls;
}

/* Periodic: one step toward the demand at each tick of the one timer, up
 * while it is higher, down once a whole period stayed below. */
static void test_periodic_steps_per_tick(void **state)
{
	struct fixture *f = *state;
	init(f, "periodic:100", 0, 4);
	scaler_on_ready(&f->sc);
	f->demand = 3;
	turn(f);
	assert_int_equal(f->n_calls, 0); /* it waits for the tick */
	for (int k = 1; k <= 3; k++) {
		f->want_calls = k;
		fake_run_until(&f->loop, calls_reached, f, "the next tick");
		assert_int_equal(f->calls[k - 1], k);
		complete(f, 0, k);
	}
	f->demand = 0;
	turn(f);
	f->want_calls = 4;
	fake_run_until(&f->loop, calls_reached, f, "a step down");
	assert_int_equal(f->calls[3], 2);
	/* The arrival was answered by the first tick's grow: one decision. */
	assert_int_equal(f->sc.decisions.count, 1);
	json_t *o = json_object();
	scaler_to_json(&f->sc, o);
	assert_string_equal(json_string_value(json_object_get(o, "policy")), "periodic:100");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "decision_us"),
							    "count")),
			 1);
	json_decref(o);
}

/* The decision latency runs from the arrival's own timestamp to the grow,
 * once per arrival a grow answers; rises that need no grow are not counted. */
static void test_decision_latency(void **state)
{
	struct fixture *f = *state;
	init(f, "elastic:3600000", 0, 4);
	scaler_on_ready(&f->sc);
	f->arrival_ns = uv_hrtime() - 300000; /* 300 us ago */
	f->demand = 2;
	turn(f);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->sc.decisions.count, 1);
	assert_true(f->sc.decisions.sum >= 300);
	complete(f, 0, 2);
	f->demand = 1;
	turn(f);
	f->demand = 2; /* a worker is there for it */
	turn(f);
	assert_int_equal(f->n_calls, 1);
	f->demand = 6; /* to the maximum, then beyond it */
	turn(f);
	assert_int_equal(f->calls[1], 4);
	complete(f, 0, 4);
	f->demand = 7;
	turn(f);
	assert_int_equal(f->n_calls, 2);
	assert_int_equal(f->sc.decisions.count, 2);
}

/* fixed:max is the maximum, whatever the demand. */
static void test_fixed_max(void **state)
{
	struct fixture *f = *state;
	init(f, "fixed:max", 0, 3);
	scaler_on_ready(&f->sc);
	assert_int_equal(f->n_calls, 1);
	assert_int_equal(f->calls[0], 3);
}

static void test_close(void **state)
{
	struct fixture *f = *state;
	init(f, "elastic", 0, 4);
	scaler_on_ready(&f->sc);
	scaler_close(&f->sc, on_closed);
	assert_true(f->open); /* closed on a later turn */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_false(f->open);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { FIXTURE_TEST(test_manual_keeps_limits),
					    FIXTURE_TEST(test_set_checks_limits),
					    FIXTURE_TEST(test_waits_for_busy_vcpus),
					    FIXTURE_TEST(test_only_when_ready),
					    FIXTURE_TEST(test_grow_limited),
					    FIXTURE_TEST(test_failure_not_retried),
					    FIXTURE_TEST(test_elastic_follows_demand),
					    FIXTURE_TEST(test_elastic_keep_alive_ends),
					    FIXTURE_TEST(test_periodic_steps_per_tick),
					    FIXTURE_TEST(test_decision_latency),
					    FIXTURE_TEST(test_fixed_max),
					    FIXTURE_TEST(test_close) };
	return cmocka_run_group_tests_name("scaler", tests, NULL, NULL);
}
