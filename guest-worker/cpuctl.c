/* The worker CPU state machine: the per-CPU queue of state changes
 * (activate, standby, offline, release), the helper thread's completions,
 * and the kernel's CPU uevents. */
#include "cpuctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cpu_sysfs.h"
#include "log.h"
#include "util.h"

#define UEVENT_BUF 8192

/* A state change asked of one CPU. A CPU works through its changes in
 * arrival order, one at a time. */
struct cpu_op {
	enum cpuctl_change kind;
	uint32_t id;      /* the request's id */
	bool hot_add;     /* started by a hot-add: report through the event hook */
	bool job_pending; /* job is with the helper thread */
	struct cpu_job job;
	struct cpu_op *next;
};

/* ---- CPU state changes ----------------------------------------------- */

/* Takes c's first change off its list and frees it. */
static void op_free(struct wcpu *c, struct cpu_op *op)
{
	c->ops = op->next;
	free(op);
}

/* Completes the head op successfully. */
static void op_done(struct cpuctl *ctl, struct wcpu *c, struct cpu_op *op, uint64_t change_us,
		    uint64_t probe_us)
{
	json_t *m = NULL;
	switch (op->kind) {
	case CPUCTL_ACTIVATE:
		log_info("cpu_active cpu=%d online_us=%llu probe_us=%llu", c->id,
			 (unsigned long long)change_us, (unsigned long long)probe_us);
		if (op->hot_add) {
			ctl->ops->event(ctl->data, c->id, "active",
					json_pack("{s:I, s:I}", "online_us", (json_int_t)change_us,
						  "probe_us", (json_int_t)probe_us));
			break;
		}
		m = json_pack("{s:i, s:I, s:I}", "cpu", c->id, "online_us", (json_int_t)change_us,
			      "probe_us", (json_int_t)probe_us);
		break;
	case CPUCTL_STANDBY:
		log_info("cpu_standby cpu=%d online_us=%llu", c->id, (unsigned long long)change_us);
		m = json_pack("{s:i, s:I}", "cpu", c->id, "online_us", (json_int_t)change_us);
		break;
	case CPUCTL_OFFLINE:
		log_info("cpu_offline cpu=%d offline_us=%llu", c->id,
			 (unsigned long long)change_us);
		m = json_pack("{s:i, s:I}", "cpu", c->id, "offline_us", (json_int_t)change_us);
		break;
	case CPUCTL_RELEASE:
		log_info("cpu_released cpu=%d", c->id);
		m = json_pack("{s:i}", "cpu", c->id);
		break;
	}
	if (!op->hot_add)
		ctl->ops->reply(ctl->data, op->id, m);
	op_free(c, op);
}

/* Answers a change that failed: a hot-add's with an event, a request's
 * with an error. */
static void answer_failed(struct cpuctl *ctl, int cpu, uint32_t id, bool hot_add, const char *code,
			  const char *msg)
{
	if (hot_add)
		ctl->ops->event(ctl->data, cpu, "activate_failed",
				json_pack("{s:s}", "error", msg));
	else
		ctl->ops->fail(ctl->data, id, code, msg);
}

/* Completes the head op with an error. */
static void op_fail(struct cpuctl *ctl, struct wcpu *c, struct cpu_op *op, const char *code,
		    const char *msg)
{
	log_warn("cpu_change_failed cpu=%d code=%s message=\"%s\"", c->id, code, msg);
	answer_failed(ctl, c->id, op->id, op->hot_add, code, msg);
	op_free(c, op);
}

static void submit(struct cpuctl *ctl, struct wcpu *c, struct cpu_op *op, enum cpu_job_op jop,
		   bool probe)
{
	op->job = (struct cpu_job){ .cpu = c->id, .op = jop, .probe = probe, .data = c };
	op->job_pending = true;
	cpu_helper_submit(&ctl->helper, &op->job);
}

/* Advances c's changes until one has to wait for the helper thread or for
 * the running invocation to end. */
static void step(struct cpuctl *ctl, struct wcpu *c)
{
	while (!ctl->stopping && c->ops && !c->ops->job_pending) {
		struct cpu_op *op = c->ops;
		if (!c->present) {
			char msg[64];
			snprintf(msg, sizeof(msg), "cpu %d was removed", c->id);
			op_fail(ctl, c, op, "cpu_removed", msg);
			continue;
		}
		if (op->kind == CPUCTL_ACTIVATE) {
			if (c->state == WCPU_ACTIVE) {
				op_done(ctl, c, op, 0, 0);
				continue;
			}
			submit(ctl, c, op, CPU_JOB_ONLINE, true);
			return;
		}
		/* Everything else starts by taking the CPU out of service
		 * and waiting for its invocation to end. */
		if (c->state == WCPU_ACTIVE)
			c->state = WCPU_STANDBY;
		ctl->ops->leaving(ctl->data, c->id, "was taken out of service");
		if (c->busy)
			return;
		if (op->kind == CPUCTL_STANDBY && c->state == WCPU_OFFLINE) {
			submit(ctl, c, op, CPU_JOB_ONLINE, false);
			return;
		}
		if (op->kind == CPUCTL_OFFLINE || op->kind == CPUCTL_RELEASE)
			ctl->ops->evict(ctl->data, c->id);
		if (op->kind == CPUCTL_OFFLINE && c->state != WCPU_OFFLINE) {
			submit(ctl, c, op, CPU_JOB_OFFLINE, false);
			return;
		}
		op_done(ctl, c, op, 0, 0);
	}
}

static void job_finished(struct cpuctl *ctl, struct cpu_job *job)
{
	struct wcpu *c = job->data;
	struct cpu_op *op = c->ops;
	op->job_pending = false;
	if (!c->present) {
		step(ctl, c); /* fails it as removed */
		return;
	}
	if (job->err < 0) {
		const char *jstep = job->step ? job->step : "change";
		bool probe = strcmp(jstep, "probe") == 0;
		/* The CPU stays out of service in whatever state it reached. */
		c->state = job->online ? WCPU_STANDBY : WCPU_OFFLINE;
		ctl->ops->leaving(ctl->data, c->id, "failed to come into service");
		const char *code = op->kind == CPUCTL_OFFLINE ? "offline_failed"
				   : probe                    ? "probe_failed"
							      : "online_failed";
		char msg[128];
		snprintf(msg, sizeof(msg), "cpu %d: %s failed: %s", c->id, jstep,
			 strerror(-job->err));
		op_fail(ctl, c, op, code, msg);
		return;
	}
	switch (op->kind) {
	case CPUCTL_ACTIVATE: c->state = WCPU_ACTIVE; break;
	case CPUCTL_STANDBY: c->state = WCPU_STANDBY; break;
	case CPUCTL_OFFLINE: c->state = WCPU_OFFLINE; break;
	case CPUCTL_RELEASE: break;
	}
	op_done(ctl, c, op, job->change_us, job->probe_us);
}

static void on_helper(struct watch *w, uint32_t events)
{
	struct cpuctl *ctl = container_of(w, struct cpuctl, helper_w);
	struct cpu_job *job = cpu_helper_take_done(&ctl->helper);
	while (job) {
		struct cpu_job *next = job->next;
		struct wcpu *c = job->data;
		job_finished(ctl, job); /* may free the op that holds job */
		step(ctl, c);
		job = next;
	}
	ctl->ops->changed(ctl->data);
}

/* Queues a change for c; id 0 with hot_add for one the guest starts itself. */
static void enqueue(struct cpuctl *ctl, struct wcpu *c, enum cpuctl_change kind, uint32_t id,
		    bool hot_add)
{
	struct cpu_op *op = calloc(1, sizeof(*op));
	if (!op) {
		answer_failed(ctl, c->id, id, hot_add, "io_error", "out of memory");
		return;
	}
	*op = (struct cpu_op){ .kind = kind, .id = id, .hot_add = hot_add };
	struct cpu_op **p = &c->ops;
	while (*p)
		p = &(*p)->next;
	*p = op;
	step(ctl, c);
}

void cpuctl_request(struct cpuctl *ctl, int cpu, enum cpuctl_change change, uint32_t id)
{
	enqueue(ctl, &ctl->cpus[cpu], change, id, false);
	ctl->ops->changed(ctl->data);
}

bool cpuctl_is_worker(const struct cpuctl *ctl, int cpu)
{
	return cpu > 0 && cpu < ctl->ncpus && ctl->cpus[cpu].present;
}

bool cpuctl_takes_work(const struct cpuctl *ctl, int cpu)
{
	if (!cpuctl_is_worker(ctl, cpu))
		return false;
	const struct wcpu *c = &ctl->cpus[cpu];
	return c->state == WCPU_ACTIVE && !c->busy && !c->ops;
}

bool cpuctl_in_service(const struct cpuctl *ctl, int cpu)
{
	return cpuctl_is_worker(ctl, cpu) && ctl->cpus[cpu].state == WCPU_ACTIVE;
}

void cpuctl_set_busy(struct cpuctl *ctl, int cpu, bool busy)
{
	if (cpu < 0 || cpu >= ctl->ncpus)
		return;
	struct wcpu *c = &ctl->cpus[cpu];
	c->busy = busy;
	if (!busy && c->ops)
		step(ctl, c);
}

void cpuctl_stop(struct cpuctl *ctl)
{
	ctl->stopping = true;
}

static bool cpu_job_pending(const struct wcpu *c)
{
	return c->ops && c->ops->job_pending;
}

/* ---- uevents --------------------------------------------------------- */

static void handle_uevent(struct cpuctl *ctl, enum cpu_uevent_action action, int cpu)
{
	if (cpu <= 0 || cpu >= ctl->ncpus)
		return;
	struct wcpu *c = &ctl->cpus[cpu];
	switch (action) {
	case CPU_UEVENT_ADD: {
		if (c->present)
			return;
		bool online = false;
		cpu_online_read(ctl->root, cpu, &online);
		c->present = true;
		c->state = online ? WCPU_STANDBY : WCPU_OFFLINE;
		ctl->ops->event(ctl->data, cpu, "added", NULL);
		/* A CPU is hot-added because the host wants a worker. */
		enqueue(ctl, c, CPUCTL_ACTIVATE, 0, true);
		break;
	}
	case CPU_UEVENT_REMOVE:
		if (!c->present)
			return;
		c->present = false;
		c->state = WCPU_OFFLINE;
		ctl->ops->evict(ctl->data, cpu);
		ctl->ops->leaving(ctl->data, cpu, "was removed");
		ctl->ops->event(ctl->data, cpu, "removed", NULL);
		step(ctl, c);
		break;
	case CPU_UEVENT_ONLINE:
		if (!c->present || c->state != WCPU_OFFLINE || cpu_job_pending(c))
			return;
		c->state = WCPU_STANDBY;
		ctl->ops->event(ctl->data, cpu, "online", NULL);
		break;
	case CPU_UEVENT_OFFLINE:
		if (!c->present || c->state == WCPU_OFFLINE || cpu_job_pending(c))
			return;
		c->state = WCPU_OFFLINE;
		ctl->ops->evict(ctl->data, cpu);
		ctl->ops->event(ctl->data, cpu, "offline", NULL);
		break;
	}
}

static void rescan(struct cpuctl *ctl)
{
	cpu_set_t present;
	if (cpu_list_read(ctl->root, "present", &present) < 0)
		return;
	for (int i = 1; i < ctl->ncpus; i++) {
		struct wcpu *c = &ctl->cpus[i];
		bool is_present = CPU_ISSET(i, &present);
		if (is_present != c->present) {
			handle_uevent(ctl, is_present ? CPU_UEVENT_ADD : CPU_UEVENT_REMOVE, i);
			continue;
		}
		bool online;
		if (c->present && cpu_online_read(ctl->root, i, &online) == 0)
			handle_uevent(ctl, online ? CPU_UEVENT_ONLINE : CPU_UEVENT_OFFLINE, i);
	}
}

void cpuctl_rescan(struct cpuctl *ctl)
{
	rescan(ctl);
	ctl->ops->changed(ctl->data);
}

static void on_uevent(struct watch *w, uint32_t events)
{
	struct cpuctl *ctl = container_of(w, struct cpuctl, uevent_w);
	char buf[UEVENT_BUF];
	for (;;) {
		ssize_t n = cpu_uevent_recv(ctl->uevent_fd, ctl->uevent_from_kernel, buf,
					    sizeof(buf));
		if (n == -EAGAIN)
			break;
		if (n == -ENOBUFS) {
			log_warn("uevents_lost action=rescan");
			rescan(ctl);
			continue;
		}
		if (n == -EPERM)
			continue;
		if (n < 0) {
			log_warn("uevent_recv_failed err=%s", strerror((int)-n));
			break;
		}
		enum cpu_uevent_action action;
		int cpu;
		if (cpu_uevent_parse(buf, (size_t)n, &action, &cpu) == 0)
			handle_uevent(ctl, action, cpu);
	}
	ctl->ops->changed(ctl->data);
}

/* ---- set-up and tear-down -------------------------------------------- */

static int table_init(struct cpuctl *ctl)
{
	cpu_set_t possible, present;
	int r = cpu_list_read(ctl->root, "possible", &possible);
	if (r == 0)
		r = cpu_list_read(ctl->root, "present", &present);
	if (r < 0)
		return r;
	int n = 1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &possible) || CPU_ISSET(i, &present))
			n = i + 1;
	ctl->cpus = calloc((size_t)n, sizeof(*ctl->cpus));
	if (!ctl->cpus)
		return -ENOMEM;
	ctl->ncpus = n;
	for (int i = 0; i < n; i++) {
		struct wcpu *c = &ctl->cpus[i];
		c->id = i;
		c->present = CPU_ISSET(i, &present);
		bool online = false;
		if (c->present)
			cpu_online_read(ctl->root, i, &online);
		/* Online worker CPUs start idle: the owner decides which work. */
		c->state = online ? WCPU_STANDBY : WCPU_OFFLINE;
	}
	return 0;
}

int cpuctl_init(struct cpuctl *ctl, struct loop *loop, const char *sysfs_root, int uevent_fd,
		const struct cpuctl_ops *ops, void *data, const char **ret_step)
{
	*ctl = (struct cpuctl){
		.ops = ops,
		.data = data,
		.loop = loop,
		.root = sysfs_root,
		.helper = { .efd = -1 },
		.helper_w.fd = -1,
		.uevent_w.fd = -1,
		.uevent_fd = uevent_fd,
		.uevent_from_kernel = uevent_fd < 0,
	};
	*ret_step = "cpu table";
	int r = table_init(ctl);
	if (r < 0)
		return r;
	*ret_step = "helper thread";
	r = cpu_helper_start(&ctl->helper, sysfs_root);
	if (r == 0)
		r = loop_add(loop, &ctl->helper_w, ctl->helper.efd, EPOLLIN, on_helper);
	if (r < 0)
		return r;
	*ret_step = "uevent socket";
	if (ctl->uevent_fd < 0)
		r = cpu_uevent_open(&ctl->uevent_fd);
	if (r == 0)
		r = loop_add(loop, &ctl->uevent_w, ctl->uevent_fd, EPOLLIN, on_uevent);
	return r;
}

void cpuctl_fini(struct cpuctl *ctl)
{
	if (!ctl->ops)
		return;
	ctl->stopping = true;
	loop_del(ctl->loop, &ctl->uevent_w);
	loop_del(ctl->loop, &ctl->helper_w);
	/* The jobs it hands back live inside the ops freed below. */
	cpu_helper_stop(&ctl->helper);
	for (int i = 0; i < ctl->ncpus; i++)
		while (ctl->cpus[i].ops)
			op_free(&ctl->cpus[i], ctl->cpus[i].ops);
	free(ctl->cpus);
	ctl->cpus = NULL;
	ctl->ncpus = 0;
	if (ctl->uevent_fd >= 0)
		close(ctl->uevent_fd);
	ctl->uevent_fd = -1;
	ctl->ops = NULL;
}

json_t *cpuctl_status_json(const struct cpuctl *ctl)
{
	static const char *const names[] = { "offline", "standby", "active" };
	json_t *cpus = json_array();
	for (int i = 1; cpus && i < ctl->ncpus; i++) {
		const struct wcpu *c = &ctl->cpus[i];
		if (!c->present)
			continue;
		json_array_append_new(cpus, json_pack("{s:i, s:s, s:b, s:b}", "cpu", c->id, "state",
						      names[c->state], "busy", c->busy, "draining",
						      c->state != WCPU_ACTIVE && c->busy));
	}
	return cpus;
}
