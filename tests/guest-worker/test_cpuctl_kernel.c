/* The worker CPU state machine alone, on the kernel's word: hot-add and
 * removal, CPUs going offline or online unasked, and the rescan after lost
 * uevents, with the uevents sent by the test. */
#include "support/guest_cpuctl_rec.h"

static void test_hot_add_and_uevents(void **state)
{
	struct cpuctl_rec *fx = *state;
	fake_sysfs_create(&fx->fs, NULL, "0", NULL);
	rec_open(fx);
	assert_false(cpuctl_is_worker(&fx->ctl, GUEST_WORKER));

	/* Not a CPU: ignored. */
	char other[] = "add@/devices/system/memory/memory9\0ACTION=add";
	assert_int_equal(send(fx->uevent_fd, other, sizeof(other), 0), (ssize_t)sizeof(other));
	assert_int_equal(loop_run_once(&fx->loop, GUEST_DEADLINE_MS), 0);
	assert_int_equal(fx->n, 0);
	assert_int_equal(fx->changed, 1);

	/* Hot-added: reported, then brought into service on its own. */
	fake_cpu_create(&fx->fs, GUEST_WORKER, false);
	fake_uevent_send(fx->uevent_fd, "add", GUEST_WORKER);
	const struct cpuctl_call *active = rec_wait_event(fx, GUEST_WORKER, "active");
	assert_true(rec_event(fx, GUEST_WORKER, "added") < active);
	assert_true(rec_int(active, "online_us") >= 0);
	assert_true(rec_int(active, "probe_us") >= 0);
	assert_true(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));
	/* A second "add" for it changes nothing. */
	fake_uevent_send(fx->uevent_fd, "add", GUEST_WORKER);
	assert_int_equal(loop_run_once(&fx->loop, GUEST_DEADLINE_MS), 0);
	assert_int_equal(rec_count(fx, CALL_EVENT, GUEST_WORKER), 2);

	/* Offline and online behind the guest's back. */
	fake_uevent_send(fx->uevent_fd, "offline", GUEST_WORKER);
	rec_wait_event(fx, GUEST_WORKER, "offline");
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_OFFLINE);
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 1);
	fake_uevent_send(fx->uevent_fd, "online", GUEST_WORKER);
	rec_wait_event(fx, GUEST_WORKER, "online");
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_STANDBY);
	assert_false(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));

	/* Hot-added but no thread can run there. */
	fake_cpu_create(&fx->fs, 3, false);
	if (!guest_host_has_cpu(3)) {
		fake_uevent_send(fx->uevent_fd, "add", 3);
		const struct cpuctl_call *failed = rec_wait_event(fx, 3, "activate_failed");
		assert_non_null(strstr(json_string_value(json_object_get(failed->meta, "error")),
				       "probe failed"));
		assert_int_equal(rec_state(fx, 3), WCPU_STANDBY);
	}
}

/* A CPU unplugged while a change waits for it: the change fails, work
 * pinned to it is told, its processes go. */
static void test_removed_while_waiting(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);
	rec_change_ok(fx, GUEST_WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_set_busy(&fx->ctl, GUEST_WORKER, true);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_STANDBY, 2);
	assert_null(rec_answer(fx, 2));
	fake_uevent_send(fx->uevent_fd, "remove", GUEST_WORKER);
	const struct cpuctl_call *c = rec_wait_answer(fx, 2);
	assert_int_equal(c->kind, CALL_FAIL);
	assert_string_equal(c->what, "cpu_removed");
	assert_string_equal(c->msg, "cpu 1 was removed");
	assert_true(rec_event(fx, GUEST_WORKER, "removed") < c);
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 1);
	assert_int_equal(rec_count(fx, CALL_LEAVING, GUEST_WORKER), 2);
	assert_false(cpuctl_is_worker(&fx->ctl, GUEST_WORKER));
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_OFFLINE);
}

/* Lost uevents: a rescan reports what changed in sysfs meanwhile. */
static void test_rescan(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);
	fake_cpu_online(&fx->fs, 2, true);
	fake_cpu_list(&fx->fs, "present", "0-2");
	int changed = fx->changed;
	cpuctl_rescan(&fx->ctl);
	assert_non_null(rec_event(fx, 2, "online"));
	assert_non_null(rec_event(fx, 3, "removed"));
	assert_null(rec_event(fx, GUEST_WORKER, "online"));
	assert_int_equal(fx->changed, changed + 1);
	assert_int_equal(rec_state(fx, 2), WCPU_STANDBY);
	assert_false(cpuctl_is_worker(&fx->ctl, 3));
}

#define CPUCTL_TEST(f) cmocka_unit_test_setup_teardown(f, rec_setup, rec_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { CPUCTL_TEST(test_hot_add_and_uevents),
					    CPUCTL_TEST(test_removed_while_waiting),
					    CPUCTL_TEST(test_rescan) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
