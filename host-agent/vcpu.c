#include "vcpu.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_chan.h"
#include "log.h"
#include "qmp_client.h"

/* How long a grow may take: onlining a CPU takes tens of ms under TCG, but
 * seconds when many queue up on two busy host cores. */
#define GROW_DEADLINE_MS 60000
/* A shrink first waits for the invocation running on the vCPU, which may
 * take up to the longest function timeout; this much more on top. */
#define SHRINK_MARGIN_MS 60000

struct vcpu_op {
	struct vcpu_op *next;
	struct vcpu *vcpu;
	int target;
	int pending; /* steps still running */
	int status;
	uint64_t t_start_ns;
	json_t *steps;
	char error[160];
	vcpu_done_fn cb;
	void *data;
};

static void warm_standby(struct vcpu *v);
static void on_kick(uv_timer_t *t);

const char *worker_state_name(enum worker_state s)
{
	static const char *const names[] = { "absent",  "dormant", "warming",  "standby",
					     "growing", "active",  "shrinking" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

const char *vcpu_strerror(int status)
{
	switch (status) {
	case -ENOSPC: return "not enough free host cores";
	case -EMLINK: return "QEMU cannot create more vCPUs in this VM's life; restart the VM";
	case -ERANGE: return "worker count outside 0..max_workers";
	case -EAGAIN: return "VM is not ready";
	case -ECANCELED: return "VM stopped";
	case -EPIPE: return "VM died";
	case -ETIMEDOUT: return "a step did not finish in time";
	case -EIO: return "a step was refused by QEMU or the guest";
	default: return strerror(-status);
	}
}

static int64_t since_us(const struct worker *w)
{
	return (int64_t)((uv_hrtime() - w->t_req_ns) / 1000);
}

/* The QMP and guest channels go away when QEMU does; steps check here. */
static int qmp_req(struct vcpu *v, const char *cmd, json_t *args, qmp_reply_fn cb, void *data)
{
	struct qmp_client *qmp = v->hooks->qmp(v->data);
	if (!qmp) {
		json_decref(args);
		return -ENOTCONN;
	}
	return qmp_client_execute(qmp, cmd, args, cb, data);
}

/* CPU requests carry no deadline of their own: the resize's timer bounds
 * them, and a late answer is still applied (see shrink_finish). */
static int guest_req(struct vcpu *v, uint8_t type, int cpu, guest_reply_fn cb, void *data)
{
	struct guest_chan *chan = v->hooks->chan(v->data);
	if (!chan)
		return -ENOTCONN;
	return guest_chan_request(chan, type, json_pack("{s:i}", "cpu", cpu), NULL, 0, 0, cb, data);
}

/* Resizes need a ready VM with both connections up. */
static bool can_resize(struct vcpu *v)
{
	return v->ready && v->hooks->chan(v->data) && v->hooks->qmp(v->data);
}

static void op_fail(struct vcpu_op *op, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void op_fail(struct vcpu_op *op, int status, const char *fmt, ...)
{
	if (op->status == 0) {
		op->status = status;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(op->error, sizeof(op->error), fmt, ap);
		va_end(ap);
	}
}

static void op_complete(struct vcpu_op *op)
{
	struct vcpu *v = op->vcpu;
	v->ops_head = op->next;
	if (!v->ops_head)
		v->ops_tail = NULL;
	uv_timer_stop(&v->op_timer);
	json_t *report = json_pack("{s:i, s:I, s:O}", "workers", vcpu_active(v), "latency_us",
				   (json_int_t)((uv_hrtime() - op->t_start_ns) / 1000), "steps",
				   op->steps);
	if (op->status < 0)
		json_object_set_new(report, "error", json_string(op->error));
	log_info("vcpu_resize tenant=%s target=%d workers=%d status=%d latency_us=%lld%s%s%s",
		 v->limits.name, op->target, vcpu_active(v), op->status,
		 (long long)json_integer_value(json_object_get(report, "latency_us")),
		 op->status ? " error=\"" : "", op->status ? op->error : "",
		 op->status ? "\"" : "");
	if (op->cb)
		op->cb(op->status, report, op->data);
	json_decref(report);
	json_decref(op->steps);
	free(op);
	if (v->ready) {
		warm_standby(v);
		if (v->ops_head)
			uv_timer_start(&v->ops_kick, on_kick, 0, 0);
	}
	if (v->hooks->resized)
		v->hooks->resized(v->data);
}

/* Records a finished step and completes the op when it was the last. core
 * is the host core the step granted or revoked. */
static void step_done(struct worker *w, const char *action, int core)
{
	struct vcpu_op *op = w->op;
	w->op = NULL;
	if (!op)
		return;
	json_array_append_new(op->steps,
			      json_pack("{s:i, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I}", "cpu",
					w->cpu, "action", action, "core", core, "added_us",
					(json_int_t)w->added_us, "seen_us", (json_int_t)w->seen_us,
					"active_us", (json_int_t)w->active_us, "released_us",
					(json_int_t)w->released_us, "guest_online_us",
					(json_int_t)w->guest_online_us, "guest_probe_us",
					(json_int_t)w->guest_probe_us));
	if (--op->pending == 0)
		op_complete(op);
}

static void start_step(struct worker *w, struct vcpu_op *op)
{
	w->op = op;
	op->pending++;
	w->t_req_ns = uv_hrtime();
	w->added_us = w->seen_us = w->active_us = w->released_us = -1;
	w->guest_online_us = w->guest_probe_us = -1;
	w->pinned = w->guest_done = false;
}

/* Tells the owner that the cores granted or the active workers changed. */
static void report_changed(struct vcpu *v)
{
	if (v->hooks->changed)
		v->hooks->changed(v->data);
}

static void revoke_core(struct vcpu *v, struct worker *w)
{
	if (w->core < 0)
		return;
	if (w->tid > 0)
		cores_pin_thread(v->cores, w->tid, -1);
	cores_release(v->cores, w->core);
	w->core = -1;
	report_changed(v);
}

/* ---- grow ------------------------------------------------------------------ */

static void on_ignored_reply(struct guest_chan *ch, int status, const struct wire_frame *f,
			     json_t *meta, void *data)
{
}

/* Takes back what a failed grow started: the core, and the vCPU itself, so
 * that host and guest agree it is not a worker. */
static void grow_failed(struct worker *w, const char *what, int status)
{
	struct vcpu *v = w->vcpu;
	if (w->op)
		op_fail(w->op, status == -ETIMEDOUT ? -ETIMEDOUT : -EIO, "cpu %d: %s failed (%s)",
			w->cpu, what, strerror(-status));
	log_warn("vcpu_grow_failed tenant=%s cpu=%d step=%s status=%d", v->limits.name, w->cpu,
		 what, status);
	revoke_core(v, w);
	if (v->limits.mech == VCPU_HOTPLUG && w->added_us >= 0) {
		/* QEMU holds the device: unplug it, or its id blocks the slot.
		 * The deletion event brings the slot back to absent. */
		w->state = W_SHRINKING;
		if (qmp_req(v, "device_del", json_pack("{s:s}", "id", w->dev_id), NULL, NULL) < 0)
			w->state = W_ABSENT;
	} else if (v->limits.mech == VCPU_HOTPLUG) {
		w->state = W_ABSENT;
	} else {
		/* The guest may finish onlining later; it runs its CPU changes in
		 * order, so this leaves the CPU offline either way. */
		w->state = W_DORMANT;
		guest_req(v, WIRE_CPU_OFFLINE, w->cpu, on_ignored_reply, NULL);
	}
	step_done(w, "grow", -1);
}

static void grow_check_done(struct worker *w)
{
	if (!w->pinned || !w->guest_done || w->state != W_GROWING)
		return;
	w->state = W_ACTIVE;
	report_changed(w->vcpu);
	step_done(w, "grow", w->core);
}

static void pin_worker(struct vcpu *v, struct worker *w)
{
	int r = cores_pin_thread(v->cores, w->tid, w->core);
	if (r < 0)
		log_warn("vcpu_pin_failed tenant=%s cpu=%d tid=%d core=%d status=%d",
			 v->limits.name, w->cpu, (int)w->tid, w->core, r);
	w->pinned = true;
}

static void on_activated(struct guest_chan *ch, int status, const struct wire_frame *f,
			 json_t *meta, void *data)
{
	struct worker *w = data;
	if (!w->op || w->state != W_GROWING)
		return;
	if (status < 0) {
		grow_failed(w, "guest activate", status);
		return;
	}
	w->active_us = since_us(w);
	w->guest_online_us = json_integer_value(json_object_get(meta, "online_us"));
	w->guest_probe_us = json_integer_value(json_object_get(meta, "probe_us"));
	w->guest_done = true;
	grow_check_done(w);
}

static void precreated_grow(struct vcpu *v, struct worker *w)
{
	/* Grant first: the core is the worker's before the guest puts work there. */
	pin_worker(v, w);
	bool warming = w->state == W_WARMING;
	w->state = W_GROWING;
	if (warming)
		return; /* the standby step in flight hands over to activation */
	int r = guest_req(v, WIRE_CPU_ACTIVATE, w->cpu, on_activated, w);
	if (r < 0)
		grow_failed(w, "guest activate", r);
}

static void on_hotplug_cpus(struct qmp_client *c, int status, const struct qmp_msg *reply,
			    void *data)
{
	struct worker *w = data;
	if (!w->op || w->state != W_GROWING)
		return;
	if (status == 0) {
		struct qmp_cpu_info cpus[VM_MAX_CPUS + 1];
		int n = qmp_parse_cpus_fast(reply->value, cpus, VM_MAX_CPUS + 1);
		for (int i = 0; i < n; i++) {
			if (cpus[i].core_id == w->cpu)
				w->tid = (pid_t)cpus[i].thread_id;
		}
	}
	if (w->tid <= 0) {
		grow_failed(w, "find vCPU thread", status ? status : -ESRCH);
		return;
	}
	pin_worker(w->vcpu, w);
	grow_check_done(w);
}

static void on_device_added(struct qmp_client *c, int status, const struct qmp_msg *reply,
			    void *data)
{
	struct worker *w = data;
	if (!w->op || w->state != W_GROWING)
		return;
	if (status < 0) {
		log_warn("vcpu_device_add_failed cpu=%d class=%s desc=\"%s\"", w->cpu,
			 reply && reply->err_class ? reply->err_class : "-",
			 reply && reply->err_desc ? reply->err_desc : "-");
		grow_failed(w, "device_add", status);
		return;
	}
	w->added_us = since_us(w);
	w->vcpu->hotplug_created++;
	int r = qmp_req(w->vcpu, "query-cpus-fast", NULL, on_hotplug_cpus, w);
	if (r < 0)
		grow_failed(w, "query-cpus-fast", r);
}

static void hotplug_grow(struct vcpu *v, struct worker *w)
{
	w->state = W_GROWING;
	w->tid = 0;
	snprintf(w->dev_id, sizeof(w->dev_id), "wcpu%d", w->cpu);
	json_t *args = json_pack("{s:s, s:s, s:i, s:i, s:i}", "driver", v->cpu_type, "id",
				 w->dev_id, "socket-id", 0, "core-id", w->cpu, "thread-id", 0);
	int r = qmp_req(v, "device_add", args, on_device_added, w);
	if (r < 0)
		grow_failed(w, "device_add", r);
}

/* ---- shrink ---------------------------------------------------------------- */

/* The vCPU is out of service: revoke its core. Also runs for the late answer
 * to a shrink whose resize already timed out (no op then). */
static void shrink_finish(struct worker *w, enum worker_state final)
{
	int core = w->core;
	w->released_us = since_us(w);
	revoke_core(w->vcpu, w);
	w->state = final;
	step_done(w, "shrink", core);
}

static void shrink_refused(struct worker *w, const char *what, int status)
{
	if (w->op)
		op_fail(w->op, -EIO, "cpu %d: %s failed (%s)", w->cpu, what, strerror(-status));
	/* The guest did not take it out of service: it stays a worker. */
	w->state = W_ACTIVE;
	report_changed(w->vcpu);
	step_done(w, "shrink", w->core);
}

/* Whether the guest's reply to a shrink step (what) lets the shrink go on:
 * not when the shrink is over or the channel is gone, nor when the guest
 * refused the step (then the shrink is refused). */
static bool shrink_step_ok(struct worker *w, int status, const char *what)
{
	if (w->state != W_SHRINKING || status == -ECONNRESET)
		return false;
	if (status < 0) {
		shrink_refused(w, what, status);
		return false;
	}
	return true;
}

static void on_deactivated(struct guest_chan *ch, int status, const struct wire_frame *f,
			   json_t *meta, void *data)
{
	struct worker *w = data;
	if (!shrink_step_ok(w, status, "guest deactivate"))
		return;
	w->guest_online_us = json_integer_value(json_object_get(meta, "offline_us"));
	shrink_finish(w, w->settle);
}

static int standby_count(const struct vcpu *v)
{
	int n = 0;
	for (int i = 0; i < v->n_workers; i++)
		n += v->workers[i].state == W_STANDBY || v->workers[i].state == W_WARMING;
	return n;
}

static void precreated_shrink(struct vcpu *v, struct worker *w)
{
	w->state = W_SHRINKING;
	/* Keep the vCPU online as standby while the standby is short; it costs
	 * the host nothing while idle and makes the next grow sub-millisecond. */
	bool keep = standby_count(v) < v->limits.standby;
	w->settle = keep ? W_STANDBY : W_DORMANT;
	int r = guest_req(v, keep ? WIRE_CPU_STANDBY : WIRE_CPU_OFFLINE, w->cpu, on_deactivated, w);
	if (r < 0)
		shrink_refused(w, "guest deactivate", r);
}

static void on_device_del_reply(struct qmp_client *c, int status, const struct qmp_msg *reply,
				void *data)
{
	struct worker *w = data;
	if (status == 0 || status == -ECONNRESET || status == -ECANCELED || w->state != W_SHRINKING)
		return;
	/* The guest has drained it but QEMU keeps it: offline is still true of
	 * it (the guest gives it no work), so count it as gone from service. */
	if (w->op)
		op_fail(w->op, -EIO, "cpu %d: device_del failed", w->cpu);
	shrink_finish(w, W_ABSENT);
}

static void on_released(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
			void *data)
{
	struct worker *w = data;
	if (!shrink_step_ok(w, status, "guest release"))
		return;
	w->seen_us = since_us(w);
	int r = qmp_req(w->vcpu, "device_del", json_pack("{s:s}", "id", w->dev_id),
			on_device_del_reply, w);
	if (r < 0)
		shrink_refused(w, "device_del", r);
}

static void hotplug_shrink(struct vcpu *v, struct worker *w)
{
	w->state = W_SHRINKING;
	/* Drain first, so no invocation is on the CPU when it goes. */
	int r = guest_req(v, WIRE_CPU_RELEASE, w->cpu, on_released, w);
	if (r < 0)
		shrink_refused(w, "guest release", r);
}

/* ---- the queue ------------------------------------------------------------- */

static struct worker *pick(struct vcpu *v, enum worker_state s, bool highest)
{
	for (int k = 0; k < v->n_workers; k++) {
		int i = highest ? v->n_workers - 1 - k : k;
		if (v->workers[i].state == s && !v->workers[i].op)
			return &v->workers[i];
	}
	return NULL;
}

/* The resize ran out of time: steps still running are failed. A shrink
 * that finishes later is still applied when its answer comes. */
static void on_op_timeout(uv_timer_t *t)
{
	struct vcpu *v = t->data;
	struct vcpu_op *op = v->ops_head;
	if (!op || !op->t_start_ns)
		return;
	op->pending++; /* held, so the op completes once, after the loop */
	for (int i = 0; i < v->n_workers; i++) {
		struct worker *w = &v->workers[i];
		if (w->op != op)
			continue;
		if (w->state == W_GROWING) {
			grow_failed(w, "grow", -ETIMEDOUT);
		} else {
			op_fail(op, -ETIMEDOUT, "cpu %d: shrink did not finish in time", w->cpu);
			step_done(w, "shrink", w->core);
		}
	}
	if (--op->pending == 0)
		op_complete(op);
}

static void run_op(struct vcpu *v, struct vcpu_op *op)
{
	int active = 0, growing = 0;
	for (int i = 0; i < v->n_workers; i++) {
		active += v->workers[i].state == W_ACTIVE;
		growing += v->workers[i].state == W_GROWING;
	}
	int need = op->target - active - growing;
	if (need > 0 && cores_free_count(v->cores) < need) {
		op_fail(op, -ENOSPC, "need %d free cores, %d free", need,
			cores_free_count(v->cores));
		need = 0;
	}
	if (need > 0 && v->limits.mech == VCPU_HOTPLUG &&
	    v->hotplug_created + need > v->limits.hotplug_slots - 1) {
		op_fail(op, -EMLINK, "hotplug capacity of this VM's life used up (%d created)",
			v->hotplug_created);
		need = 0;
	}
	if (need > 0 && v->limits.mech == VCPU_HOTPLUG && v->limits.qemu_major < 8 &&
	    v->hotplug_removed) {
		/* QEMU 7.2 under TCG corrupts its heap on a CPU device_add that
		 * follows a device_del; refuse rather than crash the tenant. */
		op_fail(op, -EMLINK, "QEMU %s cannot add a vCPU after one was removed",
			v->limits.qemu_version);
		need = 0;
	}
	uint64_t deadline = need >= 0 ? GROW_DEADLINE_MS
				      : (uint64_t)v->limits.max_timeout_ms + SHRINK_MARGIN_MS;
	uv_timer_start(&v->op_timer, on_op_timeout, deadline, 0);
	op->pending = 1; /* held while steps start, so none completes the op early */
	for (; need > 0; need--) {
		struct worker *w;
		if (v->limits.mech == VCPU_HOTPLUG) {
			w = pick(v, W_ABSENT, false);
		} else {
			w = pick(v, W_STANDBY, false);
			if (!w)
				w = pick(v, W_WARMING, false);
			if (!w)
				w = pick(v, W_DORMANT, false);
		}
		if (!w)
			break;
		w->core = cores_grant(v->cores);
		start_step(w, op);
		if (v->limits.mech == VCPU_HOTPLUG)
			hotplug_grow(v, w);
		else
			precreated_grow(v, w);
	}
	for (; need < 0; need++) {
		struct worker *w = pick(v, W_ACTIVE, true);
		if (!w)
			break;
		start_step(w, op);
		if (v->limits.mech == VCPU_HOTPLUG)
			hotplug_shrink(v, w);
		else
			precreated_shrink(v, w);
	}
	report_changed(v); /* cores granted, workers leaving service */
	if (--op->pending == 0)
		op_complete(op);
}

static void run_queue(struct vcpu *v)
{
	struct vcpu_op *op = v->ops_head;
	if (!op || op->t_start_ns)
		return;
	op->t_start_ns = uv_hrtime();
	if (!can_resize(v)) {
		op_fail(op, -EAGAIN, "VM is not ready");
		op_complete(op);
		return;
	}
	run_op(v, op);
}

static void on_kick(uv_timer_t *t)
{
	run_queue(t->data);
}

int vcpu_set(struct vcpu *v, int n, vcpu_done_fn cb, void *data)
{
	if (n < 0 || n > v->limits.max_workers)
		return -ERANGE;
	if (!can_resize(v))
		return -EAGAIN;
	struct vcpu_op *op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->vcpu = v;
	op->target = n;
	op->cb = cb;
	op->data = data;
	op->steps = json_array();
	if (v->ops_tail)
		v->ops_tail->next = op;
	else
		v->ops_head = op;
	v->ops_tail = op;
	/* Run from the loop, never inline: the caller gets its callback later. */
	uv_timer_start(&v->ops_kick, on_kick, 0, 0);
	return 0;
}

/* ---- standby (precreated) --------------------------------------------------- */

static void on_warmed(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		      void *data)
{
	struct worker *w = data;
	if (status == -ECONNRESET)
		return;
	if (w->state == W_GROWING && w->op) {
		/* A grow took this vCPU while it warmed: it is online now, so
		 * activation is only the move of work onto it. */
		if (status < 0) {
			grow_failed(w, "guest standby", status);
			return;
		}
		int r = guest_req(w->vcpu, WIRE_CPU_ACTIVATE, w->cpu, on_activated, w);
		if (r < 0)
			grow_failed(w, "guest activate", r);
		return;
	}
	if (w->state == W_WARMING)
		w->state = status == 0 ? W_STANDBY : W_DORMANT;
}

static void warm_standby(struct vcpu *v)
{
	if (v->limits.mech != VCPU_PRECREATED)
		return;
	while (standby_count(v) < v->limits.standby) {
		struct worker *w = pick(v, W_DORMANT, false);
		if (!w)
			return;
		w->state = W_WARMING;
		if (guest_req(v, WIRE_CPU_STANDBY, w->cpu, on_warmed, w) < 0) {
			w->state = W_DORMANT;
			return;
		}
	}
}

void vcpu_set_standby(struct vcpu *v, int standby)
{
	v->limits.standby = standby;
	if (v->ready)
		warm_standby(v);
}

void vcpu_on_ready(struct vcpu *v)
{
	v->ready = true;
	warm_standby(v);
}

void vcpu_on_stopping(struct vcpu *v)
{
	v->ready = false;
}

/* ---- events ---------------------------------------------------------------- */

static struct worker *worker_by_cpu(struct vcpu *v, int cpu)
{
	if (cpu < 1 || cpu > v->n_workers)
		return NULL;
	return &v->workers[cpu - 1];
}

void vcpu_on_guest_event(struct vcpu *v, json_t *meta)
{
	const char *ev = json_string_value(json_object_get(meta, "event"));
	struct worker *w = worker_by_cpu(v, (int)json_integer_value(json_object_get(meta, "cpu")));
	if (!ev || !w)
		return;
	log_debug("guest_cpu_event tenant=%s cpu=%d event=%s state=%s", v->limits.name, w->cpu, ev,
		  worker_state_name(w->state));
	if (w->state != W_GROWING || !w->op)
		return;
	if (strcmp(ev, "added") == 0) {
		w->seen_us = since_us(w);
	} else if (strcmp(ev, "active") == 0) {
		w->active_us = since_us(w);
		w->guest_online_us = json_integer_value(json_object_get(meta, "online_us"));
		w->guest_probe_us = json_integer_value(json_object_get(meta, "probe_us"));
		w->guest_done = true;
		grow_check_done(w);
	} else if (strcmp(ev, "activate_failed") == 0) {
		grow_failed(w, "guest online", -EIO);
	}
}

static struct worker *worker_by_dev(struct vcpu *v, const char *id)
{
	if (!id)
		return NULL;
	for (int i = 0; i < v->n_workers; i++) {
		if (v->workers[i].state == W_SHRINKING && strcmp(v->workers[i].dev_id, id) == 0)
			return &v->workers[i];
	}
	return NULL;
}

void vcpu_on_qmp_event(struct vcpu *v, const struct qmp_msg *ev)
{
	if (v->limits.mech != VCPU_HOTPLUG || !ev->event)
		return;
	struct worker *w = NULL;
	if (strcmp(ev->event, "DEVICE_DELETED") == 0) {
		/* QEMU reports the CPU's lapic child (.../<id>/lapic); the CPU
		 * device itself has not been seen to get its own event. */
		const char *path = json_string_value(json_object_get(ev->value, "path"));
		const char *dev = json_string_value(json_object_get(ev->value, "device"));
		char id[32] = "";
		if (path && strncmp(path, "/machine/peripheral/", 20) == 0)
			sscanf(path + 20, "%31[^/]", id);
		w = worker_by_dev(v, dev ? dev : id);
	} else if (strcmp(ev->event, "ACPI_DEVICE_OST") == 0) {
		json_t *info = json_object_get(ev->value, "info");
		if (json_integer_value(json_object_get(info, "status")) == 0 &&
		    json_integer_value(json_object_get(info, "source")) == 3)
			w = worker_by_dev(v, json_string_value(json_object_get(info, "device")));
	}
	if (w) {
		v->hotplug_removed++;
		shrink_finish(w, W_ABSENT);
	}
}

void vcpu_on_vm_down(struct vcpu *v, int reason)
{
	v->ready = false;
	for (int i = 0; i < v->n_workers; i++) {
		struct worker *w = &v->workers[i];
		if (w->core >= 0)
			cores_release(v->cores, w->core);
		w->core = -1;
		w->op = NULL;
		w->state = W_ABSENT;
		w->tid = 0;
	}
	report_changed(v);
	while (v->ops_head) {
		struct vcpu_op *op = v->ops_head;
		op_fail(op, reason, "%s", vcpu_strerror(reason));
		op->pending = 0;
		op_complete(op);
	}
	uv_timer_stop(&v->ops_kick);
	uv_timer_stop(&v->op_timer);
}

/* ---- life cycle and queries ------------------------------------------------ */

void vcpu_reset(struct vcpu *v)
{
	v->ready = false;
	v->hotplug_created = 0;
	v->hotplug_removed = 0;
	for (int i = 0; i < v->n_workers; i++) {
		struct worker *w = &v->workers[i];
		memset(w, 0, sizeof(*w));
		w->vcpu = v;
		w->cpu = i + 1;
		w->core = -1;
		w->state = W_ABSENT;
	}
}

void vcpu_init(struct vcpu *v, uv_loop_t *loop, struct cores *cores,
	       const struct vcpu_limits *limits, const struct vcpu_hooks *hooks, void *data)
{
	memset(v, 0, sizeof(*v));
	v->loop = loop;
	v->cores = cores;
	v->limits = *limits;
	v->hooks = hooks;
	v->data = data;
	v->n_workers = limits->max_workers;
	uv_timer_init(loop, &v->ops_kick);
	uv_timer_init(loop, &v->op_timer);
	v->ops_kick.data = v->op_timer.data = v;
	vcpu_reset(v);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct vcpu *v = h->data;
	if (--v->handles_open == 0 && v->closed)
		v->closed(v->data);
}

void vcpu_close(struct vcpu *v, void (*cb)(void *data))
{
	v->closed = cb;
	v->handles_open = 2;
	uv_close((uv_handle_t *)&v->ops_kick, on_handle_closed);
	uv_close((uv_handle_t *)&v->op_timer, on_handle_closed);
}

bool vcpu_busy(const struct vcpu *v)
{
	return v->ops_head != NULL;
}

int vcpu_active(const struct vcpu *v)
{
	int n = 0;
	for (int i = 0; i < v->n_workers; i++)
		n += v->workers[i].state == W_ACTIVE;
	return n;
}

bool vcpu_cpu_is_active(const struct vcpu *v, int cpu)
{
	return cpu >= 1 && cpu <= v->n_workers && v->workers[cpu - 1].state == W_ACTIVE;
}

int vcpu_granted(const struct vcpu *v)
{
	int n = 0;
	for (int i = 0; i < v->n_workers; i++)
		n += v->workers[i].core >= 0;
	return n;
}

int vcpu_free_cores(const struct vcpu *v)
{
	return cores_free_count(v->cores);
}

int vcpu_hotplug_left(const struct vcpu *v)
{
	if (v->limits.mech != VCPU_HOTPLUG)
		return INT_MAX;
	return v->limits.hotplug_slots - 1 - v->hotplug_created;
}

json_t *vcpu_workers_json(const struct vcpu *v)
{
	json_t *workers = json_array();
	for (int i = 0; i < v->n_workers; i++) {
		const struct worker *w = &v->workers[i];
		if (w->state == W_ABSENT)
			continue;
		json_array_append_new(workers, json_pack("{s:i, s:s, s:i, s:i}", "cpu", w->cpu,
							 "state", worker_state_name(w->state),
							 "core", w->core, "host_tid", (int)w->tid));
	}
	return workers;
}

int vcpu_on_hotpluggable(struct vcpu *v, const json_t *value)
{
	if (value) {
		struct qmp_hotpluggable_cpu slots[VM_MAX_CPUS + 1];
		int n = qmp_parse_hotpluggable_cpus(value, slots, VM_MAX_CPUS + 1);
		if (n > 0)
			snprintf(v->cpu_type, sizeof(v->cpu_type), "%s", slots[0].type);
	}
	return v->cpu_type[0] ? 0 : -ENODEV;
}

void vcpu_on_boot_cpus(struct vcpu *v, const json_t *value)
{
	struct qmp_cpu_info cpus[VM_MAX_CPUS + 1];
	int n = qmp_parse_cpus_fast(value, cpus, VM_MAX_CPUS + 1);
	for (int i = 0; i < n; i++) {
		struct worker *w = worker_by_cpu(v, (int)cpus[i].core_id);
		if (w) {
			w->tid = (pid_t)cpus[i].thread_id;
			if (w->state == W_ABSENT)
				w->state = W_DORMANT;
		}
	}
}
