/* Worker CPU control inside the guest: the per-CPU queue of state changes
 * (activate, standby, offline, release), the helper thread's completions,
 * and the kernel's CPU uevents. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cpu.h"
#include "daemon_int.h"
#include "log.h"
#include "util.h"
#include "wire.h"

#define UEVENT_BUF 8192

/* ---- CPU state changes ----------------------------------------------- */

void cpuctl_op_free(struct wcpu *c, struct cpu_op *op)
{
	c->ops = op->next;
	free(op);
}

/* Completes the head op successfully. */
static void op_done(struct daemon *d, struct wcpu *c, struct cpu_op *op, uint64_t change_us,
		    uint64_t probe_us)
{
	json_t *m = NULL;
	switch (op->kind) {
	case OP_ACTIVATE:
		log_info("cpu_active cpu=%d online_us=%llu probe_us=%llu", c->id,
			 (unsigned long long)change_us, (unsigned long long)probe_us);
		if (op->hot_add) {
			daemon_send_cpu_event(d, c->id, "active",
				       json_pack("{s:I, s:I}", "online_us", (json_int_t)change_us,
						 "probe_us", (json_int_t)probe_us));
			break;
		}
		m = json_pack("{s:i, s:I, s:I}", "cpu", c->id, "online_us", (json_int_t)change_us,
			      "probe_us", (json_int_t)probe_us);
		break;
	case OP_STANDBY:
		log_info("cpu_standby cpu=%d online_us=%llu", c->id, (unsigned long long)change_us);
		m = json_pack("{s:i, s:I}", "cpu", c->id, "online_us", (json_int_t)change_us);
		break;
	case OP_OFFLINE:
		log_info("cpu_offline cpu=%d offline_us=%llu", c->id, (unsigned long long)change_us);
		m = json_pack("{s:i, s:I}", "cpu", c->id, "offline_us", (json_int_t)change_us);
		break;
	case OP_RELEASE:
		log_info("cpu_released cpu=%d", c->id);
		m = json_pack("{s:i}", "cpu", c->id);
		break;
	}
	if (m)
		daemon_send_meta(d, WIRE_REPLY, op->id, m);
	cpuctl_op_free(c, op);
}

/* Completes the head op with an error. */
static void op_fail(struct daemon *d, struct wcpu *c, struct cpu_op *op, const char *code,
		    const char *msg)
{
	log_warn("cpu_change_failed cpu=%d code=%s message=\"%s\"", c->id, code, msg);
	if (op->hot_add)
		daemon_send_cpu_event(d, c->id, "activate_failed", json_pack("{s:s}", "error", msg));
	else
		daemon_send_error(d, op->id, code, "%s", msg);
	cpuctl_op_free(c, op);
}

static void submit(struct daemon *d, struct wcpu *c, struct cpu_op *op, enum hotplug_op hop,
		   bool probe)
{
	op->job = (struct hotplug_job){ .cpu = c->id, .op = hop, .probe = probe, .data = c };
	op->job_pending = true;
	hotplug_submit(&d->hp, &op->job);
}

/* Advances c's changes until one has to wait for the helper thread or for
 * the running invocation to end. */
void cpuctl_step(struct daemon *d, struct wcpu *c)
{
	while (!d->stopping && c->ops && !c->ops->job_pending) {
		struct cpu_op *op = c->ops;
		if (!c->present) {
			char msg[64];
			snprintf(msg, sizeof(msg), "cpu %d was removed", c->id);
			op_fail(d, c, op, "cpu_removed", msg);
			continue;
		}
		if (op->kind == OP_ACTIVATE) {
			if (c->state == WCPU_ACTIVE) {
				op_done(d, c, op, 0, 0);
				continue;
			}
			submit(d, c, op, HOTPLUG_ONLINE, true);
			return;
		}
		/* Everything else starts by taking the CPU out of service
		 * and waiting for its invocation to end. */
		if (c->state == WCPU_ACTIVE)
			c->state = WCPU_STANDBY;
		daemon_fail_pinned(d, c->id, "was taken out of service");
		if (c->running)
			return;
		if (op->kind == OP_STANDBY && c->state == WCPU_OFFLINE) {
			submit(d, c, op, HOTPLUG_ONLINE, false);
			return;
		}
		if (op->kind == OP_OFFLINE || op->kind == OP_RELEASE)
			runner_kill_cpu(&d->runner, c->id);
		if (op->kind == OP_OFFLINE && c->state != WCPU_OFFLINE) {
			submit(d, c, op, HOTPLUG_OFFLINE, false);
			return;
		}
		op_done(d, c, op, 0, 0);
	}
}

static void job_finished(struct daemon *d, struct hotplug_job *job)
{
	struct wcpu *c = job->data;
	struct cpu_op *op = c->ops;
	op->job_pending = false;
	if (!c->present) {
		cpuctl_step(d, c); /* fails it as removed */
		return;
	}
	if (job->err < 0) {
		const char *step = job->step ? job->step : "change";
		bool probe = strcmp(step, "probe") == 0;
		/* The CPU stays out of service in whatever state it reached. */
		c->state = job->online ? WCPU_STANDBY : WCPU_OFFLINE;
		daemon_fail_pinned(d, c->id, "failed to come into service");
		const char *code = op->kind == OP_OFFLINE ? "offline_failed"
				   : probe		   ? "probe_failed"
							   : "online_failed";
		char msg[128];
		snprintf(msg, sizeof(msg), "cpu %d: %s failed: %s", c->id, step, strerror(-job->err));
		op_fail(d, c, op, code, msg);
		return;
	}
	switch (op->kind) {
	case OP_ACTIVATE: c->state = WCPU_ACTIVE; break;
	case OP_STANDBY: c->state = WCPU_STANDBY; break;
	case OP_OFFLINE: c->state = WCPU_OFFLINE; break;
	case OP_RELEASE: break;
	}
	op_done(d, c, op, job->change_us, job->probe_us);
}

void cpuctl_on_hotplug(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, hotplug_w);
	struct hotplug_job *job = hotplug_take_done(&d->hp);
	while (job) {
		struct hotplug_job *next = job->next;
		struct wcpu *c = job->data;
		job_finished(d, job); /* may free the op that holds job */
		cpuctl_step(d, c);
		job = next;
	}
	daemon_dispatch(d);
}

void cpuctl_enqueue(struct daemon *d, struct wcpu *c, enum op_kind kind, uint32_t id,
			bool hot_add)
{
	struct cpu_op *op = calloc(1, sizeof(*op));
	if (!op) {
		if (hot_add)
			daemon_send_cpu_event(d, c->id, "activate_failed",
				       json_pack("{s:s}", "error", "out of memory"));
		else
			daemon_send_error(d, id, "io_error", "out of memory");
		return;
	}
	*op = (struct cpu_op){ .kind = kind, .id = id, .hot_add = hot_add };
	struct cpu_op **p = &c->ops;
	while (*p)
		p = &(*p)->next;
	*p = op;
	cpuctl_step(d, c);
	daemon_dispatch(d);
}

static bool cpu_job_pending(const struct wcpu *c)
{
	return c->ops && c->ops->job_pending;
}

/* ---- uevents --------------------------------------------------------- */

static void handle_uevent(struct daemon *d, enum cpu_uevent_action action, int cpu)
{
	if (cpu <= 0 || cpu >= d->ncpus)
		return;
	struct wcpu *c = &d->cpus[cpu];
	switch (action) {
	case CPU_UEVENT_ADD: {
		if (c->present)
			return;
		bool online = false;
		cpu_online_read(d->cfg->sysfs_root, cpu, &online);
		c->present = true;
		c->state = online ? WCPU_STANDBY : WCPU_OFFLINE;
		daemon_send_cpu_event(d, cpu, "added", NULL);
		/* A CPU is hot-added because the host wants a worker. */
		cpuctl_enqueue(d, c, OP_ACTIVATE, 0, true);
		break;
	}
	case CPU_UEVENT_REMOVE:
		if (!c->present)
			return;
		c->present = false;
		c->state = WCPU_OFFLINE;
		runner_kill_cpu(&d->runner, cpu);
		daemon_fail_pinned(d, cpu, "was removed");
		daemon_send_cpu_event(d, cpu, "removed", NULL);
		cpuctl_step(d, c);
		break;
	case CPU_UEVENT_ONLINE:
		if (!c->present || c->state != WCPU_OFFLINE || cpu_job_pending(c))
			return;
		c->state = WCPU_STANDBY;
		daemon_send_cpu_event(d, cpu, "online", NULL);
		break;
	case CPU_UEVENT_OFFLINE:
		if (!c->present || c->state == WCPU_OFFLINE || cpu_job_pending(c))
			return;
		c->state = WCPU_OFFLINE;
		runner_kill_cpu(&d->runner, cpu);
		daemon_send_cpu_event(d, cpu, "offline", NULL);
		break;
	}
}

/* Brings the CPU table in line with sysfs, as if the uevents that were lost
 * had arrived. */
void cpuctl_rescan(struct daemon *d)
{
	cpu_set_t present;
	if (cpu_list_read(d->cfg->sysfs_root, "present", &present) < 0)
		return;
	for (int i = 1; i < d->ncpus; i++) {
		struct wcpu *c = &d->cpus[i];
		bool is_present = CPU_ISSET(i, &present);
		if (is_present != c->present) {
			handle_uevent(d, is_present ? CPU_UEVENT_ADD : CPU_UEVENT_REMOVE, i);
			continue;
		}
		bool online;
		if (c->present && cpu_online_read(d->cfg->sysfs_root, i, &online) == 0)
			handle_uevent(d, online ? CPU_UEVENT_ONLINE : CPU_UEVENT_OFFLINE, i);
	}
}

void cpuctl_on_uevent(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, uevent_w);
	char buf[UEVENT_BUF];
	for (;;) {
		ssize_t n = cpu_uevent_recv(d->uevent_fd, d->uevent_from_kernel, buf, sizeof(buf));
		if (n == -EAGAIN)
			break;
		if (n == -ENOBUFS) {
			log_warn("uevents_lost action=rescan");
			cpuctl_rescan(d);
			continue;
		}
		if (n < 0) {
			if (n != -EPERM)
				log_warn("uevent_recv_failed err=%s", strerror((int)-n));
			if (n == -EPERM)
				continue;
			break;
		}
		enum cpu_uevent_action action;
		int cpu;
		if (cpu_uevent_parse(buf, (size_t)n, &action, &cpu) == 0)
			handle_uevent(d, action, cpu);
	}
	daemon_dispatch(d);
}

