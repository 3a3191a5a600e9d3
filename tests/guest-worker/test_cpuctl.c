/* The worker CPU state machine alone, on requests: a struct cpuctl on its
 * own loop over a fake sysfs tree, every report to its owner recorded
 * (tests/support/guest_cpuctl_rec.h). State changes, their replies and
 * failures, draining a busy CPU, and requests for several CPUs at once. */
#include "support/guest_cpuctl_rec.h"

static void test_table_from_sysfs(void **state)
{
	struct cpuctl_rec *fx = *state;
	fake_sysfs_create(&fx->fs, "0-7", "0-2", "0-1");
	rec_open(fx);
	assert_int_equal(fx->ctl.ncpus, 8);
	assert_false(cpuctl_is_worker(&fx->ctl, 0));
	assert_true(cpuctl_is_worker(&fx->ctl, 1));
	assert_true(cpuctl_is_worker(&fx->ctl, 2));
	assert_false(cpuctl_is_worker(&fx->ctl, 3));
	assert_false(cpuctl_is_worker(&fx->ctl, 8));
	assert_false(cpuctl_is_worker(&fx->ctl, -1));
	/* Online workers start standby: none takes work before it is asked. */
	assert_int_equal(rec_state(fx, 1), WCPU_STANDBY);
	assert_int_equal(rec_state(fx, 2), WCPU_OFFLINE);
	for (int cpu = 0; cpu < 9; cpu++)
		assert_false(cpuctl_takes_work(&fx->ctl, cpu));
}

static void test_activate_standby_offline_release(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);

	/* Activation waits for the helper thread: no answer before it. */
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 1);
	assert_null(rec_answer(fx, 1));
	assert_int_equal(fx->changed, 1);
	const struct cpuctl_call *c = rec_wait_answer(fx, 1);
	assert_int_equal(c->kind, CALL_REPLY);
	assert_true(rec_int(c, "online_us") >= 0);
	assert_true(rec_int(c, "probe_us") >= 0);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_ACTIVE);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
	assert_true(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));
	assert_int_equal(rec_count(fx, CALL_LEAVING, GUEST_WORKER), 0);

	/* Active already: answered at once, nothing timed. */
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 2);
	c = rec_answer(fx, 2);
	assert_non_null(c);
	assert_int_equal(rec_int(c, "online_us"), 0);
	assert_int_equal(rec_int(c, "probe_us"), 0);

	/* Standby from active needs no sysfs write: answered at once, and
	 * work pinned to the CPU is told it left. */
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_STANDBY, 3);
	c = rec_answer(fx, 3);
	assert_non_null(c);
	assert_int_equal(c->kind, CALL_REPLY);
	assert_int_equal(rec_int(c, "online_us"), 0);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_STANDBY);
	assert_false(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));
	assert_int_equal(rec_count(fx, CALL_LEAVING, GUEST_WORKER), 1);
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 0);

	/* Offline drops the warm processes and writes sysfs. */
	c = rec_change_ok(fx, GUEST_WORKER, CPUCTL_OFFLINE, 4);
	assert_true(rec_int(c, "offline_us") >= 0);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_OFFLINE);
	assert_false(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 1);

	/* Standby from offline onlines it without a probe. */
	c = rec_change_ok(fx, GUEST_WORKER, CPUCTL_STANDBY, 5);
	assert_true(rec_int(c, "online_us") >= 0);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_WORKER));

	/* Release keeps it online and drops its warm processes. */
	c = rec_change_ok(fx, GUEST_WORKER, CPUCTL_RELEASE, 6);
	assert_int_equal(json_object_size(c->meta), 1);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 2);
	assert_int_equal(rec_count(fx, CALL_EVENT, GUEST_WORKER), 0);
}

/* A CPU running an invocation leaves service only when it ends; the
 * changes queued behind run after, in order. */
static void test_busy_cpu_drains_first(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);
	rec_change_ok(fx, GUEST_WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_set_busy(&fx->ctl, GUEST_WORKER, true);
	assert_false(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));

	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_OFFLINE, 2);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 3);
	/* Out of service at once, so nothing new starts there (work pinned
	 * to it is told so each time the change is looked at)... */
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_STANDBY);
	assert_true(rec_count(fx, CALL_LEAVING, GUEST_WORKER) >= 1);
	/* ...but its processes stay and the CPU stays online meanwhile. */
	assert_int_equal(loop_run_once(&fx->loop, 50), 0);
	assert_null(rec_answer(fx, 2));
	assert_null(rec_answer(fx, 3));
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 0);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_WORKER));

	cpuctl_set_busy(&fx->ctl, GUEST_WORKER, false);
	assert_int_equal(rec_count(fx, CALL_EVICT, GUEST_WORKER), 1);
	const struct cpuctl_call *off = rec_wait_answer(fx, 2);
	const struct cpuctl_call *on = rec_wait_answer(fx, 3);
	assert_int_equal(off->kind, CALL_REPLY);
	assert_int_equal(on->kind, CALL_REPLY);
	assert_true(off < on);
	assert_true(rec_int(on, "online_us") >= 0);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_ACTIVE);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
	assert_true(cpuctl_takes_work(&fx->ctl, GUEST_WORKER));
}

/* Changes for several CPUs at once: each CPU keeps its own order and every
 * request gets exactly one answer. */
static void test_concurrent_requests(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_request(&fx->ctl, 2, CPUCTL_STANDBY, 2);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 3);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_OFFLINE, 4);
	cpuctl_request(&fx->ctl, 3, CPUCTL_RELEASE, 5);
	/* Nothing to do for an offline CPU's release. */
	assert_non_null(rec_answer(fx, 5));
	for (uint32_t id = 1; id <= 4; id++)
		assert_int_equal(rec_wait_answer(fx, id)->kind, CALL_REPLY);
	assert_true(rec_answer(fx, 1) < rec_answer(fx, 3));
	assert_true(rec_answer(fx, 3) < rec_answer(fx, 4));
	/* The second activation found the CPU active. */
	assert_int_equal(rec_int(rec_answer(fx, 3), "online_us"), 0);
	int answers = 0;
	for (int i = 0; i < fx->n; i++)
		answers += fx->calls[i].kind == CALL_REPLY || fx->calls[i].kind == CALL_FAIL;
	assert_int_equal(answers, 5);
	assert_int_equal(rec_state(fx, GUEST_WORKER), WCPU_OFFLINE);
	assert_int_equal(rec_state(fx, 2), WCPU_STANDBY);
	assert_int_equal(rec_state(fx, 3), WCPU_OFFLINE);
	assert_false(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
	assert_true(fake_cpu_is_online(&fx->fs, 2));
}

/* The CPU comes online but no thread can run there: it stays online, out
 * of service. */
static void test_probe_fails(void **state)
{
	struct cpuctl_rec *fx = *state;
	fake_sysfs_create(&fx->fs, "0-127", NULL, NULL);
	fake_cpu_create(&fx->fs, GUEST_ABSENT, false);
	fake_cpu_list(&fx->fs, "present", "0-3,100");
	rec_open(fx);
	rec_change_fails(fx, GUEST_ABSENT, CPUCTL_ACTIVATE, 1, "probe_failed",
			 "cpu 100: probe failed: Invalid argument");
	assert_int_equal(rec_state(fx, GUEST_ABSENT), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, GUEST_ABSENT));
}

/* The kernel's file cannot be read: the change fails and the CPU is taken
 * for offline, whatever it was. */
static void test_sysfs_read_fails(void **state)
{
	struct cpuctl_rec *fx = *state;
	fake_sysfs_create(&fx->fs, NULL, NULL, "0-2");
	rec_open(fx);
	assert_int_equal(rec_state(fx, 2), WCPU_STANDBY);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cpu2/online", fx->fs.cpudir);
	guest_write_file(path, "x\n");
	rec_change_fails(fx, 2, CPUCTL_OFFLINE, 1, "offline_failed",
			 "cpu 2: read failed: Invalid argument");
	assert_int_equal(rec_state(fx, 2), WCPU_OFFLINE);
	/* The next change is tried anew. */
	guest_write_file(path, "0\n");
	rec_change_ok(fx, 2, CPUCTL_STANDBY, 2);
	assert_int_equal(rec_state(fx, 2), WCPU_STANDBY);
}

/* The kernel refuses the write: the CPU stays in the state it is in. */
static void test_sysfs_write_fails(void **state)
{
	struct cpuctl_rec *fx = *state;
	/* A read-only attribute of the real sysfs that reads "0". */
	static const char ro[] = "/sys/devices/system/cpu/cpu0/topology/physical_package_id";
	char *text = guest_read_file(ro);
	bool usable = text && strcmp(text, "0\n") == 0;
	free(text);
	if (!usable) {
		print_message("no %s reading 0: skipping\n", ro);
		skip();
	}
	rec_start(fx);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cpu2/online", fx->fs.cpudir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(ro, path), 0);
	rec_change_fails(fx, 2, CPUCTL_ACTIVATE, 1, "online_failed",
			 "cpu 2: online failed: Permission denied");
	assert_int_equal(rec_state(fx, 2), WCPU_OFFLINE);
}

/* Once stopped, changes wait unanswered and are dropped at the end. */
static void test_stopped(void **state)
{
	struct cpuctl_rec *fx = *state;
	rec_start(fx);
	cpuctl_stop(&fx->ctl);
	cpuctl_request(&fx->ctl, GUEST_WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_request(&fx->ctl, 2, CPUCTL_RELEASE, 2);
	assert_int_equal(loop_run_once(&fx->loop, 50), 0);
	assert_int_equal(fx->n, 0);
	assert_false(fake_cpu_is_online(&fx->fs, GUEST_WORKER));
}

#define CPUCTL_TEST(f) cmocka_unit_test_setup_teardown(f, rec_setup, rec_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { CPUCTL_TEST(test_table_from_sysfs),
					    CPUCTL_TEST(test_activate_standby_offline_release),
					    CPUCTL_TEST(test_busy_cpu_drains_first),
					    CPUCTL_TEST(test_concurrent_requests),
					    CPUCTL_TEST(test_probe_fails),
					    CPUCTL_TEST(test_sysfs_read_fails),
					    CPUCTL_TEST(test_sysfs_write_fails),
					    CPUCTL_TEST(test_stopped) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
