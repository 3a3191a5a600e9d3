/* The worker-vCPU state machine (vcpu.c) on its own under the precreated
 * mechanism, against the fake guest: grows and shrinks, the standby, the
 * queue of resizes, the core budget, refusals, the VM going down, and the
 * resized hook. test_vcpu_hotplug.c covers hotplug. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/fake_vm.h"

static const struct vcpu_limits precreated = {
	.name = "t",
	.mech = VCPU_PRECREATED,
	.max_workers = 3,
	.standby = 0,
	.qemu_major = 10,
	.qemu_version = "10.0.2",
	.max_timeout_ms = 1000,
};

static void test_grow_and_shrink(void **state)
{
	struct fake_vm *f = *state;
	fake_vm_start(f, &precreated, 2, 4, true);
	assert_int_equal(fake_vm_state(f, 1), W_DORMANT);
	assert_int_equal(vcpu_hotplug_left(&f->v), INT_MAX);

	struct fake_vm_done *d = fake_vm_resize(f, 2);
	assert_true(vcpu_busy(&f->v));
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(d->workers, 2);
	assert_int_equal(d->steps, 2);
	assert_int_equal(d->resized_before, 0); /* the caller hears first, then the hook */
	assert_int_equal(f->resized, 1);
	assert_false(vcpu_busy(&f->v));
	assert_int_equal(vcpu_active(&f->v), 2);
	assert_int_equal(vcpu_free_cores(&f->v), 0);
	assert_true(f->v.workers[0].core >= 0 && f->v.workers[1].core >= 0);
	assert_int_not_equal(f->v.workers[0].core, f->v.workers[1].core);
	/* The lowest dormant CPUs were activated; nothing went through QMP. */
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_ACTIVATE), 2);
	assert_int_equal(fake_guest_cpu(&f->guest, 0), 1);
	assert_int_equal(fake_guest_cpu(&f->guest, 1), 2);
	assert_int_equal(fake_qmp_ncommands(&f->qemu), 0);

	d = fake_vm_resize(f, 0);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(vcpu_active(&f->v), 0);
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	/* Highest first, taken offline since no standby is wanted. */
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_OFFLINE), 2);
	assert_int_equal(fake_guest_cpu(&f->guest, 2), 2);
	assert_int_equal(fake_guest_cpu(&f->guest, 3), 1);
	assert_int_equal(fake_vm_state(f, 1), W_DORMANT);
	assert_int_equal(fake_vm_state(f, 2), W_DORMANT);
	assert_int_equal(f->resized, 2);
}

/* A grow that needs more cores than are free fails whole, before any step. */
static void test_cores_short(void **state)
{
	struct fake_vm *f = *state;
	fake_vm_start(f, &precreated, 1, 4, true);
	struct fake_vm_done *d = fake_vm_resize(f, 2);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -ENOSPC);
	assert_non_null(strstr(d->error, "free cores"));
	assert_int_equal(d->workers, 0);
	assert_int_equal(f->guest.n_frames, 0);
	assert_int_equal(vcpu_free_cores(&f->v), 1);
	assert_int_equal(f->resized, 1);
}

/* Calls refused at once never call back. */
static void test_refused_synchronously(void **state)
{
	struct fake_vm *f = *state;
	fake_vm_start(f, &precreated, 2, 4, false);
	struct fake_vm_done *d = &f->done[0];
	assert_int_equal(vcpu_set(&f->v, 1, fake_vm_on_done, d), -EAGAIN); /* not ready */
	vcpu_on_ready(&f->v);
	assert_int_equal(vcpu_set(&f->v, 4, fake_vm_on_done, d), -ERANGE);
	assert_int_equal(vcpu_set(&f->v, -1, fake_vm_on_done, d), -ERANGE);
	vcpu_on_stopping(&f->v);
	assert_int_equal(vcpu_set(&f->v, 1, fake_vm_on_done, d), -EAGAIN);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_false(d->done);
	assert_int_equal(f->resized, 0);
}

/* Resizes run one at a time, in the order they were asked for. */
static void test_queued_in_order(void **state)
{
	struct fake_vm *f = *state;
	fake_guest_on(&f->guest, WIRE_CPU_ACTIVATE, NULL); /* held */
	fake_vm_start(f, &precreated, 2, 4, true);
	struct fake_vm_done *a = fake_vm_resize(f, 1);
	struct fake_vm_done *b = fake_vm_resize(f, 0);
	fake_guest_wait_type(&f->guest, WIRE_CPU_ACTIVATE, 1);
	assert_int_equal(fake_vm_state(f, 1), W_GROWING);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->guest.n_frames, 1); /* the shrink waits for the grow */
	assert_true(vcpu_busy(&f->v));
	fake_guest_answer(&f->guest, 0, "{\"online_us\":5,\"probe_us\":1}");
	fake_vm_wait_done(f, b);
	assert_int_equal(a->status, 0);
	assert_int_equal(a->workers, 1);
	assert_int_equal(a->resized_before, 0);
	assert_int_equal(b->status, 0);
	assert_int_equal(b->workers, 0);
	assert_int_equal(b->resized_before, 1);
	assert_int_equal(fake_guest_frame(&f->guest, 1)->type, WIRE_CPU_OFFLINE);
	assert_int_equal(f->resized, 2);
	assert_false(vcpu_busy(&f->v));
}

/* A guest that will not activate a CPU: the grow fails, its core comes
 * back, and the CPU is taken offline so both sides agree. */
static void test_guest_refuses(void **state)
{
	struct fake_vm *f = *state;
	fake_guest_on_error(&f->guest, WIRE_CPU_ACTIVATE, "cpu_unavailable");
	fake_vm_start(f, &precreated, 2, 4, true);
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, -EIO);
	assert_non_null(strstr(d->error, "guest activate"));
	assert_int_equal(fake_vm_state(f, 1), W_DORMANT);
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	fake_guest_wait_type(&f->guest, WIRE_CPU_OFFLINE, 1);
	assert_int_equal(fake_guest_cpu(&f->guest, 1), 1);
}

/* A standby is warmed when the VM is ready and taken first by a grow; the
 * next dormant CPU then warms; a shrink with the standby full goes offline. */
static void test_standby(void **state)
{
	struct fake_vm *f = *state;
	struct vcpu_limits lim = precreated;
	lim.standby = 1;
	fake_vm_start(f, &lim, 2, 4, true);
	fake_vm_wait_state(f, 1, W_STANDBY);
	assert_int_equal(fake_guest_frame(&f->guest, 0)->type, WIRE_CPU_STANDBY);
	assert_int_equal(fake_guest_cpu(&f->guest, 0), 1);
	assert_int_equal(vcpu_free_cores(&f->v), 2); /* a standby holds no core */

	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(fake_vm_state(f, 1), W_ACTIVE);
	assert_int_equal(fake_guest_frame(&f->guest, 1)->type, WIRE_CPU_ACTIVATE);
	assert_int_equal(fake_guest_cpu(&f->guest, 1), 1);
	fake_vm_wait_state(f, 2, W_STANDBY);

	d = fake_vm_resize(f, 0);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_OFFLINE), 1);
	assert_int_equal(fake_vm_state(f, 1), W_DORMANT);
	assert_int_equal(fake_vm_state(f, 2), W_STANDBY);
}

/* With the standby short, a shrink keeps the CPU online as standby. */
static void test_shrink_refills_standby(void **state)
{
	struct fake_vm *f = *state;
	struct vcpu_limits lim = precreated;
	lim.max_workers = 1;
	lim.standby = 1;
	fake_vm_start(f, &lim, 1, 2, true);
	fake_vm_wait_state(f, 1, W_STANDBY);
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	d = fake_vm_resize(f, 0);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(fake_vm_state(f, 1), W_STANDBY);
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_OFFLINE), 0);
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_STANDBY), 2);
	assert_int_equal(vcpu_free_cores(&f->v), 1);
}

/* A standby set later (a policy's standby=N) warms that many at once; the
 * cores held count growing and active workers, never standby ones. */
static void test_standby_set_later(void **state)
{
	struct fake_vm *f = *state;
	fake_vm_start(f, &precreated, 2, 4, true);
	vcpu_set_standby(&f->v, 2);
	fake_vm_wait_state(f, 1, W_STANDBY);
	fake_vm_wait_state(f, 2, W_STANDBY);
	assert_int_equal(fake_vm_state(f, 3), W_DORMANT);
	assert_int_equal(vcpu_granted(&f->v), 0);
	struct fake_vm_done *d = fake_vm_resize(f, 1);
	assert_int_equal(vcpu_granted(&f->v), 0); /* queued, not started */
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(vcpu_granted(&f->v), 1);
	assert_int_equal(vcpu_active(&f->v), 1);
	/* Lowered: the standby there stays; the shrink goes offline. */
	vcpu_set_standby(&f->v, 0);
	d = fake_vm_resize(f, 0);
	fake_vm_wait_done(f, d);
	assert_int_equal(d->status, 0);
	assert_int_equal(vcpu_granted(&f->v), 0);
	assert_int_equal(fake_guest_count(&f->guest, WIRE_CPU_OFFLINE), 1);
}

/* QEMU goes away: the running and the queued resize fail with the reason,
 * every core comes back. */
static void test_vm_down(void **state)
{
	struct fake_vm *f = *state;
	fake_guest_on(&f->guest, WIRE_CPU_ACTIVATE, NULL);
	fake_vm_start(f, &precreated, 2, 4, true);
	struct fake_vm_done *a = fake_vm_resize(f, 2);
	struct fake_vm_done *b = fake_vm_resize(f, 0);
	fake_guest_wait_type(&f->guest, WIRE_CPU_ACTIVATE, 2);
	assert_int_equal(vcpu_free_cores(&f->v), 0);
	vcpu_on_vm_down(&f->v, -EPIPE);
	assert_true(a->done && b->done);
	assert_int_equal(a->status, -EPIPE);
	assert_int_equal(b->status, -EPIPE);
	assert_int_equal(vcpu_free_cores(&f->v), 2);
	assert_false(vcpu_busy(&f->v));
	assert_int_equal(fake_vm_state(f, 1), W_ABSENT);
	assert_int_equal(f->resized, 2);
}

/* Each test gets a VM of its own. */
#define VM_TEST(f) cmocka_unit_test_setup_teardown(f, fake_vm_setup, fake_vm_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		VM_TEST(test_grow_and_shrink),        VM_TEST(test_cores_short),
		VM_TEST(test_refused_synchronously),  VM_TEST(test_queued_in_order),
		VM_TEST(test_guest_refuses),          VM_TEST(test_standby),
		VM_TEST(test_shrink_refills_standby), VM_TEST(test_standby_set_later),
		VM_TEST(test_vm_down)
	};
	return cmocka_run_group_tests_name("vcpu", tests, NULL, NULL);
}
