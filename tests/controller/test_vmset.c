/* A tenant's set of VMs: which VM takes an invocation (least loaded), when a
 * VM is added or placed again, which one is stopped, and the accounting
 * arithmetic across runs of a VM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmset.h"

/* A VM of the set: ready with n routes in flight, being placed, nowhere
 * (lost), or nowhere with its last placement failed a moment ago. */
static struct vmset_vm ready(int n)
{
	return (struct vmset_vm){ .ready = true, .inflight = n };
}

static struct vmset_vm placing(void)
{
	return (struct vmset_vm){ .placing = true };
}

static struct vmset_vm down(void)
{
	return (struct vmset_vm){ 0 };
}

static struct vmset_vm backoff(void)
{
	return (struct vmset_vm){ .backoff = true };
}

static void expect_choice(struct vmset_choice c, enum vmset_pick pick, size_t index)
{
	assert_int_equal(c.pick, pick);
	if (pick != VMSET_WAIT)
		assert_int_equal(c.index, index);
}

/* One VM that scales its worker vCPUs takes every route once ready. */
static void test_one_vm_takes_everything(void **state)
{
	struct vmset_vm one[] = { ready(7) };
	expect_choice(vmset_choose(one, 1, 0, 1), VMSET_ROUTE, 0);
	expect_choice(vmset_choose(NULL, 0, 0, 1), VMSET_ADD, 0);
	struct vmset_vm booting[] = { placing() };
	expect_choice(vmset_choose(booting, 1, 0, 1), VMSET_WAIT, 0);
	struct vmset_vm lost[] = { down() };
	expect_choice(vmset_choose(lost, 1, 0, 1), VMSET_PLACE, 0);
}

/* Scale-out: the least loaded free VM first; all busy and fewer than
 * wanted adds one; at the limit, wait for a placement under way, or queue on
 * the least loaded. */
static void test_scale_out_choices(void **state)
{
	struct vmset_vm two[] = { ready(1), ready(0) };
	expect_choice(vmset_choose(two, 2, 1, 2), VMSET_ROUTE, 1);
	struct vmset_vm busy[] = { ready(1), ready(1) };
	expect_choice(vmset_choose(busy, 2, 1, 3), VMSET_ADD, 2);
	struct vmset_vm growing[] = { ready(1), placing() };
	expect_choice(vmset_choose(growing, 2, 1, 2), VMSET_WAIT, 0);
	struct vmset_vm full[] = { ready(2), ready(1) };
	expect_choice(vmset_choose(full, 2, 1, 2), VMSET_ROUTE, 1);
	/* A lost VM is placed again before another is added. */
	struct vmset_vm lost[] = { ready(1), down() };
	expect_choice(vmset_choose(lost, 2, 1, 3), VMSET_PLACE, 1);
	/* One whose placement just failed (no room) is not, and at the
	 * limit the invocation queues on the least loaded. */
	struct vmset_vm full_host[] = { ready(1), backoff() };
	expect_choice(vmset_choose(full_host, 2, 1, 2), VMSET_ROUTE, 0);
	expect_choice(vmset_choose(full_host, 2, 1, 3), VMSET_ADD, 2);
	/* With nothing else, the first is placed again even so. */
	struct vmset_vm none[] = { backoff(), backoff() };
	expect_choice(vmset_choose(none, 2, 1, 2), VMSET_PLACE, 0);
}

/* Past the keep-alive the set shrinks: a VM that is nowhere first, then an
 * idle one (the last), never a busy or placing one. */
static void test_stop_pick(void **state)
{
	struct vmset_vm idle[] = { ready(0), ready(0) };
	assert_int_equal(vmset_stop_pick(idle, 2, 2), -1);
	assert_int_equal(vmset_stop_pick(idle, 2, 1), 1);
	assert_int_equal(vmset_stop_pick(idle, 1, 0), 0);
	struct vmset_vm mixed[] = { ready(0), down(), ready(1) };
	assert_int_equal(vmset_stop_pick(mixed, 3, 2), 1);
	struct vmset_vm busy[] = { ready(1), placing() };
	assert_int_equal(vmset_stop_pick(busy, 2, 0), -1);
}

static struct vmset_delta take(struct vmset_meter *m, int64_t pid, uint64_t alloc, uint64_t busy)
{
	struct vmset_sample s = { .pid = pid, .alloc_ms = alloc, .busy_ms = busy };
	struct vmset_delta d;
	vmset_meter_take(m, &s, &d);
	return d;
}

/* Deltas within one run, a restart (new pid: all of it counts), a late
 * report of the previous run and an older report (nothing counts), and
 * invoke replies (no pid) between heartbeats. */
static void test_meter_deltas(void **state)
{
	struct vmset_meter m = { 0 };
	assert_int_equal(take(&m, 10, 100, 40).alloc_ms, 100);
	assert_int_equal(take(&m, 0, 150, 50).alloc_ms, 50);
	assert_int_equal(take(&m, 10, 140, 45).alloc_ms, 0); /* older than the reply */
	struct vmset_delta d = take(&m, 10, 200, 70);
	assert_int_equal(d.alloc_ms, 50);
	assert_int_equal(d.busy_ms, 20);
	d = take(&m, 11, 30, 10); /* the VM restarted */
	assert_int_equal(d.alloc_ms, 30);
	assert_int_equal(d.busy_ms, 10);
	assert_int_equal(take(&m, 10, 260, 90).alloc_ms, 0); /* the run before, late */
	assert_int_equal(take(&m, 11, 60, 10).alloc_ms, 30);
	/* A new placement: the old run no longer counts, the new one does. */
	vmset_meter_restart(&m, 12);
	assert_int_equal(take(&m, 11, 90, 10).alloc_ms, 0);
	assert_int_equal(take(&m, 12, 5, 1).alloc_ms, 5);
	/* Taking the same run again changes nothing. */
	vmset_meter_restart(&m, 12);
	assert_int_equal(take(&m, 12, 5, 1).alloc_ms, 0);
}

static void test_meter_histogram(void **state)
{
	struct vmset_meter m = { 0 };
	struct vmset_sample s = {
		.pid = 1, .n_buckets = 2, .buckets = { 3, 4 }, .count = 4, .sum_us = 400
	};
	struct vmset_delta d;
	vmset_meter_take(&m, &s, &d);
	assert_int_equal(d.buckets[1], 4);
	s.buckets[0] = 5;
	s.buckets[1] = 7;
	s.count = 7;
	vmset_meter_take(&m, &s, &d);
	assert_int_equal(d.buckets[0], 2);
	assert_int_equal(d.buckets[1], 3);
	assert_int_equal(d.count, 3);
	assert_int_equal(d.sum_us, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_vm_takes_everything),
		cmocka_unit_test(test_scale_out_choices),
		cmocka_unit_test(test_stop_pick),
		cmocka_unit_test(test_meter_deltas),
		cmocka_unit_test(test_meter_histogram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
