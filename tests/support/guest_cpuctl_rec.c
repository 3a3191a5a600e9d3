#include "support/guest_cpuctl_rec.h"

#include "support/guest_sysfs.h"

static struct cpuctl_call *record(struct cpuctl_rec *fx, enum call_kind kind)
{
	assert_true(fx->n < (int)(sizeof(fx->calls) / sizeof(fx->calls[0])));
	struct cpuctl_call *c = &fx->calls[fx->n++];
	*c = (struct cpuctl_call){ .kind = kind, .cpu = -1 };
	return c;
}

static void on_reply(void *data, uint32_t id, json_t *meta)
{
	struct cpuctl_call *c = record(data, CALL_REPLY);
	c->id = id;
	c->meta = meta;
}

static void on_fail(void *data, uint32_t id, const char *code, const char *msg)
{
	struct cpuctl_call *c = record(data, CALL_FAIL);
	c->id = id;
	snprintf(c->what, sizeof(c->what), "%s", code);
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void on_event(void *data, int cpu, const char *event, json_t *extra)
{
	struct cpuctl_call *c = record(data, CALL_EVENT);
	c->cpu = cpu;
	snprintf(c->what, sizeof(c->what), "%s", event);
	c->meta = extra;
}

static void on_leaving(void *data, int cpu, const char *why)
{
	struct cpuctl_call *c = record(data, CALL_LEAVING);
	c->cpu = cpu;
	snprintf(c->what, sizeof(c->what), "%s", why);
}

static void on_evict(void *data, int cpu)
{
	record(data, CALL_EVICT)->cpu = cpu;
}

static void on_changed(void *data)
{
	struct cpuctl_rec *fx = data;
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

int rec_setup(void **state)
{
	if (!guest_host_has_cpu(GUEST_WORKER) || guest_host_has_cpu(GUEST_ABSENT)) {
		print_message("this host has no CPU %d or a CPU %d: skipping\n", GUEST_WORKER,
			      GUEST_ABSENT);
		return -1;
	}
	struct cpuctl_rec *fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->uevent_fd = -1;
	*state = fx;
	return 0;
}

int rec_teardown(void **state)
{
	struct cpuctl_rec *fx = *state;
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

void rec_open(struct cpuctl_rec *fx)
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

void rec_start(struct cpuctl_rec *fx)
{
	fake_sysfs_create(&fx->fs, NULL, NULL, NULL);
	rec_open(fx);
}

const struct cpuctl_call *rec_answer(const struct cpuctl_rec *fx, uint32_t id)
{
	for (int i = 0; i < fx->n; i++)
		if ((fx->calls[i].kind == CALL_REPLY || fx->calls[i].kind == CALL_FAIL) &&
		    fx->calls[i].id == id)
			return &fx->calls[i];
	return NULL;
}

const struct cpuctl_call *rec_event(const struct cpuctl_rec *fx, int cpu, const char *event)
{
	for (int i = 0; i < fx->n; i++)
		if (fx->calls[i].kind == CALL_EVENT && fx->calls[i].cpu == cpu &&
		    strcmp(fx->calls[i].what, event) == 0)
			return &fx->calls[i];
	return NULL;
}

int rec_count(const struct cpuctl_rec *fx, enum call_kind kind, int cpu)
{
	int n = 0;
	for (int i = 0; i < fx->n; i++)
		n += fx->calls[i].kind == kind && fx->calls[i].cpu == cpu;
	return n;
}

const struct cpuctl_call *rec_wait_answer(struct cpuctl_rec *fx, uint32_t id)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (!rec_answer(fx, id)) {
		if (guest_now_ms() >= deadline)
			fail_msg("request %u not answered within %d ms", id, GUEST_DEADLINE_MS);
		assert_int_equal(loop_run_once(&fx->loop, 100), 0);
	}
	return rec_answer(fx, id);
}

const struct cpuctl_call *rec_wait_event(struct cpuctl_rec *fx, int cpu, const char *event)
{
	uint64_t deadline = guest_now_ms() + GUEST_DEADLINE_MS;
	while (!rec_event(fx, cpu, event)) {
		if (guest_now_ms() >= deadline)
			fail_msg("no event %s for cpu %d within %d ms", event, cpu,
				 GUEST_DEADLINE_MS);
		assert_int_equal(loop_run_once(&fx->loop, 100), 0);
	}
	return rec_event(fx, cpu, event);
}

json_int_t rec_int(const struct cpuctl_call *c, const char *key)
{
	json_t *v = json_object_get(c->meta, key);
	if (!json_is_integer(v))
		fail_msg("no integer \"%s\" in the report", key);
	return json_integer_value(v);
}

enum wcpu_state rec_state(const struct cpuctl_rec *fx, int cpu)
{
	return fx->ctl.cpus[cpu].state;
}

const struct cpuctl_call *rec_change_ok(struct cpuctl_rec *fx, int cpu, enum cpuctl_change change,
					uint32_t id)
{
	cpuctl_request(&fx->ctl, cpu, change, id);
	const struct cpuctl_call *c = rec_wait_answer(fx, id);
	if (c->kind != CALL_REPLY)
		fail_msg("request %u failed: %s %s", id, c->what, c->msg);
	assert_int_equal(rec_int(c, "cpu"), cpu);
	return c;
}

void rec_change_fails(struct cpuctl_rec *fx, int cpu, enum cpuctl_change change, uint32_t id,
		      const char *code, const char *msg)
{
	cpuctl_request(&fx->ctl, cpu, change, id);
	const struct cpuctl_call *c = rec_wait_answer(fx, id);
	assert_int_equal(c->kind, CALL_FAIL);
	assert_string_equal(c->what, code);
	assert_string_equal(c->msg, msg);
	/* Work waiting for the CPU is told it will not come. */
	const struct cpuctl_call *left = NULL;
	for (int i = 0; i < fx->n; i++)
		if (fx->calls[i].kind == CALL_LEAVING && fx->calls[i].cpu == cpu)
			left = &fx->calls[i];
	assert_non_null(left);
	assert_string_equal(left->what, "failed to come into service");
	assert_false(cpuctl_takes_work(&fx->ctl, cpu));
}
