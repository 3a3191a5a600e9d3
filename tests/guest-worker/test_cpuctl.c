/* The worker CPU state machine alone: a struct cpuctl on its own loop, over a
 * fake sysfs tree, with uevents sent by the test and every report to its
 * owner recorded. Activation probes a CPU for real, so the CPUs that must
 * come into service are ones the host has (CPU 1), and the ones that must
 * fail the probe are ones it has not. */
#include "support/guest_harness.h"

#include "cpuctl.h"
#include "loop.h"

/* The CPU the tests can really run on besides CPU 0. */
#define WORKER 1
/* A CPU the fake tree has and the host has not. */
#define ABSENT 100

enum call_kind { CALL_REPLY, CALL_FAIL, CALL_EVENT, CALL_LEAVING, CALL_EVICT };

/* One report of the cpuctl to its owner. */
struct call {
	enum call_kind kind;
	uint32_t id;   /* reply, fail */
	int cpu;       /* event, leaving, evict */
	char what[64]; /* fail: the code; event: its name; leaving: why */
	char msg[160]; /* fail: the message */
	json_t *meta;  /* reply: the meta; event: the extra fields */
};

struct fixture {
	struct fake_sysfs fs;
	struct loop loop;
	struct cpuctl ctl;
	int uevent_fd; /* the test's end */
	bool open;
	struct call calls[64];
	int n;
	int changed;
};

static struct call *record(struct fixture *fx, enum call_kind kind)
{
	assert_true(fx->n < (int)(sizeof(fx->calls) / sizeof(fx->calls[0])));
	struct call *c = &fx->calls[fx->n++];
	*c = (struct call){ .kind = kind, .cpu = -1 };
	return c;
}

static void on_reply(void *data, uint32_t id, json_t *meta)
{
	struct call *c = record(data, CALL_REPLY);
	c->id = id;
	c->meta = meta;
}

static void on_fail(void *data, uint32_t id, const char *code, const char *msg)
{
	struct call *c = record(data, CALL_FAIL);
	c->id = id;
	snprintf(c->what, sizeof(c->what), "%s", code);
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void on_event(void *data, int cpu, const char *event, json_t *extra)
{
	struct call *c = record(data, CALL_EVENT);
	c->cpu = cpu;
	snprintf(c->what, sizeof(c->what), "%s", event);
	c->meta = extra;
}

static void on_leaving(void *data, int cpu, const char *why)
{
	struct call *c = record(data, CALL_LEAVING);
	c->cpu = cpu;
	snprintf(c->what, sizeof(c->what), "%s", why);
}

static void on_evict(void *data, int cpu)
{
	record(data, CALL_EVICT)->cpu = cpu;
}

static void on_changed(void *data)
{
	struct fixture *fx = data;
	fx->changed++;
}

static const struct cpuctl_ops recording_ops = {
	.reply = on_reply,
	.fail = on_fail,
	.event = on_event,
	.leaving = on_leaving,
	.evict = on_evict,
	.changed = on_changed,
};

static int setup(void **state)
{
	if (!guest_host_has_cpu(WORKER) || guest_host_has_cpu(ABSENT)) {
		print_message("this host has no CPU %d or a CPU %d: skipping\n", WORKER, ABSENT);
		return -1;
	}
	struct fixture *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->uevent_fd = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	if (fx->open) {
		cpuctl_fini(&fx->ctl);
		loop_fini(&fx->loop);
		close(fx->uevent_fd);
		fake_sysfs_remove(&fx->fs);
	}
	for (int i = 0; i < fx->n; i++)
		json_decref(fx->calls[i].meta);
	free(fx);
	return 0;
}

/* Starts the cpuctl on fx->fs, made by the test. */
static void fx_open(struct fixture *fx)
{
	int ue[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, ue), 0);
	fx->uevent_fd = ue[0];
	assert_int_equal(loop_init(&fx->loop), 0);
	const char *step = NULL;
	fx->open = true;
	int r = cpuctl_init(&fx->ctl, &fx->loop, fx->fs.sys, ue[1], &recording_ops, fx, &step);
	if (r < 0)
		fail_msg("cpuctl_init failed at %s: %s", step, strerror(-r));
	assert_int_equal(fx->n, 0);
}

/* A tree with CPUs 0-3 present, CPU 0 online, then the cpuctl on it. */
static void fx_start(struct fixture *fx)
{
	fake_sysfs_create(&fx->fs, NULL, NULL, NULL);
	fx_open(fx);
}

static const struct call *find_answer(const struct fixture *fx, uint32_t id)
{
	for (int i = 0; i < fx->n; i++)
		if ((fx->calls[i].kind == CALL_REPLY || fx->calls[i].kind == CALL_FAIL) &&
		    fx->calls[i].id == id)
			return &fx->calls[i];
	return NULL;
}

static const struct call *find_event(const struct fixture *fx, int cpu, const char *event)
{
	for (int i = 0; i < fx->n; i++)
		if (fx->calls[i].kind == CALL_EVENT && fx->calls[i].cpu == cpu &&
		    strcmp(fx->calls[i].what, event) == 0)
			return &fx->calls[i];
	return NULL;
}

/* How many reports of this kind concern cpu. */
static int count(const struct fixture *fx, enum call_kind kind, int cpu)
{
	int n = 0;
	for (int i = 0; i < fx->n; i++)
		n += fx->calls[i].kind == kind && fx->calls[i].cpu == cpu;
	return n;
}

/* Runs the loop until request id is answered. */
static const struct call *wait_answer(struct fixture *fx, uint32_t id)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (!find_answer(fx, id)) {
		if (guest_now_ms() >= deadline)
			fail_msg("request %u not answered within %d ms", id, GUEST_DEADLINE_MS);
		assert_int_equal(loop_run_once(&fx->loop, 100), 0);
	}
	return find_answer(fx, id);
}

/* Runs the loop until the event came. */
static const struct call *wait_event(struct fixture *fx, int cpu, const char *event)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (!find_event(fx, cpu, event)) {
		if (guest_now_ms() >= deadline)
			fail_msg("no event %s for cpu %d within %d ms", event, cpu, GUEST_DEADLINE_MS);
		assert_int_equal(loop_run_once(&fx->loop, 100), 0);
	}
	return find_event(fx, cpu, event);
}

static json_int_t meta_int(const struct call *c, const char *key)
{
	json_t *v = json_object_get(c->meta, key);
	if (!json_is_integer(v))
		fail_msg("no integer \"%s\" in the report", key);
	return json_integer_value(v);
}

static enum wcpu_state state_of(const struct fixture *fx, int cpu)
{
	return fx->ctl.cpus[cpu].state;
}

/* Asks for a change and waits for its successful reply. */
static const struct call *change_ok(struct fixture *fx, int cpu, enum cpuctl_change change,
				    uint32_t id)
{
	cpuctl_request(&fx->ctl, cpu, change, id);
	const struct call *c = wait_answer(fx, id);
	if (c->kind != CALL_REPLY)
		fail_msg("request %u failed: %s %s", id, c->what, c->msg);
	assert_int_equal(meta_int(c, "cpu"), cpu);
	return c;
}

static void test_table_from_sysfs(void **state)
{
	struct fixture *fx = *state;
	fake_sysfs_create(&fx->fs, "0-7", "0-2", "0-1");
	fx_open(fx);
	assert_int_equal(fx->ctl.ncpus, 8);
	assert_false(cpuctl_is_worker(&fx->ctl, 0));
	assert_true(cpuctl_is_worker(&fx->ctl, 1));
	assert_true(cpuctl_is_worker(&fx->ctl, 2));
	assert_false(cpuctl_is_worker(&fx->ctl, 3));
	assert_false(cpuctl_is_worker(&fx->ctl, 8));
	assert_false(cpuctl_is_worker(&fx->ctl, -1));
	/* Online workers start standby: none takes work before it is asked. */
	assert_int_equal(state_of(fx, 1), WCPU_STANDBY);
	assert_int_equal(state_of(fx, 2), WCPU_OFFLINE);
	for (int cpu = 0; cpu < 9; cpu++)
		assert_false(cpuctl_takes_work(&fx->ctl, cpu));
}

static void test_activate_standby_offline_release(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);

	/* Activation waits for the helper thread: no answer before it. */
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 1);
	assert_null(find_answer(fx, 1));
	assert_int_equal(fx->changed, 1);
	const struct call *c = wait_answer(fx, 1);
	assert_int_equal(c->kind, CALL_REPLY);
	assert_true(meta_int(c, "online_us") >= 0);
	assert_true(meta_int(c, "probe_us") >= 0);
	assert_int_equal(state_of(fx, WORKER), WCPU_ACTIVE);
	assert_true(fake_cpu_is_online(&fx->fs, WORKER));
	assert_true(cpuctl_takes_work(&fx->ctl, WORKER));
	assert_int_equal(count(fx, CALL_LEAVING, WORKER), 0);

	/* Active already: answered at once, nothing timed. */
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 2);
	c = find_answer(fx, 2);
	assert_non_null(c);
	assert_int_equal(meta_int(c, "online_us"), 0);
	assert_int_equal(meta_int(c, "probe_us"), 0);

	/* Standby from active needs no sysfs write: answered at once, and
	 * work pinned to the CPU is told it left. */
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_STANDBY, 3);
	c = find_answer(fx, 3);
	assert_non_null(c);
	assert_int_equal(c->kind, CALL_REPLY);
	assert_int_equal(meta_int(c, "online_us"), 0);
	assert_int_equal(state_of(fx, WORKER), WCPU_STANDBY);
	assert_false(cpuctl_takes_work(&fx->ctl, WORKER));
	assert_int_equal(count(fx, CALL_LEAVING, WORKER), 1);
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 0);

	/* Offline drops the warm processes and writes sysfs. */
	c = change_ok(fx, WORKER, CPUCTL_OFFLINE, 4);
	assert_true(meta_int(c, "offline_us") >= 0);
	assert_int_equal(state_of(fx, WORKER), WCPU_OFFLINE);
	assert_false(fake_cpu_is_online(&fx->fs, WORKER));
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 1);

	/* Standby from offline onlines it without a probe. */
	c = change_ok(fx, WORKER, CPUCTL_STANDBY, 5);
	assert_true(meta_int(c, "online_us") >= 0);
	assert_int_equal(state_of(fx, WORKER), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, WORKER));

	/* Release keeps it online and drops its warm processes. */
	c = change_ok(fx, WORKER, CPUCTL_RELEASE, 6);
	assert_int_equal(json_object_size(c->meta), 1);
	assert_int_equal(state_of(fx, WORKER), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, WORKER));
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 2);
	assert_int_equal(count(fx, CALL_EVENT, WORKER), 0);
}

/* A CPU running an invocation leaves service only when it ends; the
 * changes queued behind run after, in order. */
static void test_busy_cpu_drains_first(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);
	change_ok(fx, WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_set_busy(&fx->ctl, WORKER, true);
	assert_false(cpuctl_takes_work(&fx->ctl, WORKER));

	cpuctl_request(&fx->ctl, WORKER, CPUCTL_OFFLINE, 2);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 3);
	/* Out of service at once, so nothing new starts there (work pinned
	 * to it is told so each time the change is looked at)... */
	assert_int_equal(state_of(fx, WORKER), WCPU_STANDBY);
	assert_true(count(fx, CALL_LEAVING, WORKER) >= 1);
	/* ...but its processes stay and the CPU stays online meanwhile. */
	assert_int_equal(loop_run_once(&fx->loop, 50), 0);
	assert_null(find_answer(fx, 2));
	assert_null(find_answer(fx, 3));
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 0);
	assert_true(fake_cpu_is_online(&fx->fs, WORKER));

	cpuctl_set_busy(&fx->ctl, WORKER, false);
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 1);
	const struct call *off = wait_answer(fx, 2);
	const struct call *on = wait_answer(fx, 3);
	assert_int_equal(off->kind, CALL_REPLY);
	assert_int_equal(on->kind, CALL_REPLY);
	assert_true(off < on);
	assert_true(meta_int(on, "online_us") >= 0);
	assert_int_equal(state_of(fx, WORKER), WCPU_ACTIVE);
	assert_true(fake_cpu_is_online(&fx->fs, WORKER));
	assert_true(cpuctl_takes_work(&fx->ctl, WORKER));
}

/* Changes for several CPUs at once: each CPU keeps its own order and every
 * request gets exactly one answer. */
static void test_concurrent_requests(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_request(&fx->ctl, 2, CPUCTL_STANDBY, 2);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 3);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_OFFLINE, 4);
	cpuctl_request(&fx->ctl, 3, CPUCTL_RELEASE, 5);
	/* Nothing to do for an offline CPU's release. */
	assert_non_null(find_answer(fx, 5));
	for (uint32_t id = 1; id <= 4; id++)
		assert_int_equal(wait_answer(fx, id)->kind, CALL_REPLY);
	assert_true(find_answer(fx, 1) < find_answer(fx, 3));
	assert_true(find_answer(fx, 3) < find_answer(fx, 4));
	/* The second activation found the CPU active. */
	assert_int_equal(meta_int(find_answer(fx, 3), "online_us"), 0);
	int answers = 0;
	for (int i = 0; i < fx->n; i++)
		answers += fx->calls[i].kind == CALL_REPLY || fx->calls[i].kind == CALL_FAIL;
	assert_int_equal(answers, 5);
	assert_int_equal(state_of(fx, WORKER), WCPU_OFFLINE);
	assert_int_equal(state_of(fx, 2), WCPU_STANDBY);
	assert_int_equal(state_of(fx, 3), WCPU_OFFLINE);
	assert_false(fake_cpu_is_online(&fx->fs, WORKER));
	assert_true(fake_cpu_is_online(&fx->fs, 2));
}

static void expect_failure(struct fixture *fx, int cpu, enum cpuctl_change change, uint32_t id,
			   const char *code, const char *msg)
{
	cpuctl_request(&fx->ctl, cpu, change, id);
	const struct call *c = wait_answer(fx, id);
	assert_int_equal(c->kind, CALL_FAIL);
	assert_string_equal(c->what, code);
	assert_string_equal(c->msg, msg);
	/* Work waiting for the CPU is told it will not come. */
	const struct call *left = NULL;
	for (int i = 0; i < fx->n; i++)
		if (fx->calls[i].kind == CALL_LEAVING && fx->calls[i].cpu == cpu)
			left = &fx->calls[i];
	assert_non_null(left);
	assert_string_equal(left->what, "failed to come into service");
	assert_false(cpuctl_takes_work(&fx->ctl, cpu));
}

/* The CPU comes online but no thread can run there: it stays online, out
 * of service. */
static void test_probe_fails(void **state)
{
	struct fixture *fx = *state;
	fake_sysfs_create(&fx->fs, "0-127", NULL, NULL);
	fake_cpu_create(&fx->fs, ABSENT, false);
	fake_cpu_list(&fx->fs, "present", "0-3,100");
	fx_open(fx);
	expect_failure(fx, ABSENT, CPUCTL_ACTIVATE, 1, "probe_failed",
		       "cpu 100: probe failed: Invalid argument");
	assert_int_equal(state_of(fx, ABSENT), WCPU_STANDBY);
	assert_true(fake_cpu_is_online(&fx->fs, ABSENT));
}

/* The kernel's file cannot be read: the change fails and the CPU is taken
 * for offline, whatever it was. */
static void test_sysfs_read_fails(void **state)
{
	struct fixture *fx = *state;
	fake_sysfs_create(&fx->fs, NULL, NULL, "0-2");
	fx_open(fx);
	assert_int_equal(state_of(fx, 2), WCPU_STANDBY);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cpu2/online", fx->fs.cpudir);
	guest_write_file(path, "x\n");
	expect_failure(fx, 2, CPUCTL_OFFLINE, 1, "offline_failed",
		       "cpu 2: read failed: Invalid argument");
	assert_int_equal(state_of(fx, 2), WCPU_OFFLINE);
	/* The next change is tried anew. */
	guest_write_file(path, "0\n");
	change_ok(fx, 2, CPUCTL_STANDBY, 2);
	assert_int_equal(state_of(fx, 2), WCPU_STANDBY);
}

/* The kernel refuses the write: the CPU stays in the state it is in. */
static void test_sysfs_write_fails(void **state)
{
	struct fixture *fx = *state;
	/* A read-only attribute of the real sysfs that reads "0". */
	static const char ro[] = "/sys/devices/system/cpu/cpu0/topology/physical_package_id";
	char *text = guest_read_file(ro);
	bool usable = text && strcmp(text, "0\n") == 0;
	free(text);
	if (!usable) {
		print_message("no %s reading 0: skipping\n", ro);
		skip();
	}
	fx_start(fx);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/cpu2/online", fx->fs.cpudir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(ro, path), 0);
	expect_failure(fx, 2, CPUCTL_ACTIVATE, 1, "online_failed",
		       "cpu 2: online failed: Permission denied");
	assert_int_equal(state_of(fx, 2), WCPU_OFFLINE);
}

static void test_hot_add_and_uevents(void **state)
{
	struct fixture *fx = *state;
	fake_sysfs_create(&fx->fs, NULL, "0", NULL);
	fx_open(fx);
	assert_false(cpuctl_is_worker(&fx->ctl, WORKER));

	/* Not a CPU: ignored. */
	char other[] = "add@/devices/system/memory/memory9\0ACTION=add";
	assert_int_equal(send(fx->uevent_fd, other, sizeof(other), 0), (ssize_t)sizeof(other));
	assert_int_equal(loop_run_once(&fx->loop, GUEST_DEADLINE_MS), 0);
	assert_int_equal(fx->n, 0);
	assert_int_equal(fx->changed, 1);

	/* Hot-added: reported, then brought into service on its own. */
	fake_cpu_create(&fx->fs, WORKER, false);
	fake_uevent_send(fx->uevent_fd, "add", WORKER);
	const struct call *active = wait_event(fx, WORKER, "active");
	assert_true(find_event(fx, WORKER, "added") < active);
	assert_true(meta_int(active, "online_us") >= 0);
	assert_true(meta_int(active, "probe_us") >= 0);
	assert_true(cpuctl_takes_work(&fx->ctl, WORKER));
	/* A second "add" for it changes nothing. */
	fake_uevent_send(fx->uevent_fd, "add", WORKER);
	assert_int_equal(loop_run_once(&fx->loop, GUEST_DEADLINE_MS), 0);
	assert_int_equal(count(fx, CALL_EVENT, WORKER), 2);

	/* Offline and online behind the guest's back. */
	fake_uevent_send(fx->uevent_fd, "offline", WORKER);
	wait_event(fx, WORKER, "offline");
	assert_int_equal(state_of(fx, WORKER), WCPU_OFFLINE);
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 1);
	fake_uevent_send(fx->uevent_fd, "online", WORKER);
	wait_event(fx, WORKER, "online");
	assert_int_equal(state_of(fx, WORKER), WCPU_STANDBY);
	assert_false(cpuctl_takes_work(&fx->ctl, WORKER));

	/* Hot-added but no thread can run there. */
	fake_cpu_create(&fx->fs, 3, false);
	if (!guest_host_has_cpu(3)) {
		fake_uevent_send(fx->uevent_fd, "add", 3);
		const struct call *failed = wait_event(fx, 3, "activate_failed");
		assert_non_null(strstr(json_string_value(json_object_get(failed->meta, "error")),
				       "probe failed"));
		assert_int_equal(state_of(fx, 3), WCPU_STANDBY);
	}
}

/* A CPU unplugged while a change waits for it: the change fails, work
 * pinned to it is told, its processes go. */
static void test_removed_while_waiting(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);
	change_ok(fx, WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_set_busy(&fx->ctl, WORKER, true);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_STANDBY, 2);
	assert_null(find_answer(fx, 2));
	fake_uevent_send(fx->uevent_fd, "remove", WORKER);
	const struct call *c = wait_answer(fx, 2);
	assert_int_equal(c->kind, CALL_FAIL);
	assert_string_equal(c->what, "cpu_removed");
	assert_string_equal(c->msg, "cpu 1 was removed");
	assert_true(find_event(fx, WORKER, "removed") < c);
	assert_int_equal(count(fx, CALL_EVICT, WORKER), 1);
	assert_int_equal(count(fx, CALL_LEAVING, WORKER), 2);
	assert_false(cpuctl_is_worker(&fx->ctl, WORKER));
	assert_int_equal(state_of(fx, WORKER), WCPU_OFFLINE);
}

/* Lost uevents: a rescan reports what changed in sysfs meanwhile. */
static void test_rescan(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);
	fake_cpu_online(&fx->fs, 2, true);
	fake_cpu_list(&fx->fs, "present", "0-2");
	int changed = fx->changed;
	cpuctl_rescan(&fx->ctl);
	assert_non_null(find_event(fx, 2, "online"));
	assert_non_null(find_event(fx, 3, "removed"));
	assert_null(find_event(fx, WORKER, "online"));
	assert_int_equal(fx->changed, changed + 1);
	assert_int_equal(state_of(fx, 2), WCPU_STANDBY);
	assert_false(cpuctl_is_worker(&fx->ctl, 3));
}

/* Once stopped, changes wait unanswered and are dropped at the end. */
static void test_stopped(void **state)
{
	struct fixture *fx = *state;
	fx_start(fx);
	cpuctl_stop(&fx->ctl);
	cpuctl_request(&fx->ctl, WORKER, CPUCTL_ACTIVATE, 1);
	cpuctl_request(&fx->ctl, 2, CPUCTL_RELEASE, 2);
	assert_int_equal(loop_run_once(&fx->loop, 50), 0);
	assert_int_equal(fx->n, 0);
	assert_false(fake_cpu_is_online(&fx->fs, WORKER));
}

#define CPUCTL_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		CPUCTL_TEST(test_table_from_sysfs),
		CPUCTL_TEST(test_activate_standby_offline_release),
		CPUCTL_TEST(test_busy_cpu_drains_first),
		CPUCTL_TEST(test_concurrent_requests),
		CPUCTL_TEST(test_probe_fails),
		CPUCTL_TEST(test_sysfs_read_fails),
		CPUCTL_TEST(test_sysfs_write_fails),
		CPUCTL_TEST(test_hot_add_and_uevents),
		CPUCTL_TEST(test_removed_while_waiting),
		CPUCTL_TEST(test_rescan),
		CPUCTL_TEST(test_stopped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
