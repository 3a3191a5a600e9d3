#include "vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "encoding.h"
#include "guest_chan.h"
#include "log.h"
#include "qmp_client.h"
#include "util.h"
#include "vm_proc.h"

#define STOP_GRACE_MS 5000

const char *vm_state_name(enum vm_state s)
{
	static const char *const names[] = { "booting", "ready",    "unresponsive",
					     "dead",    "stopping", "stopped" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

bool vm_is_ready(const struct vm *vm)
{
	return vm->state == VM_READY || vm->state == VM_UNRESPONSIVE;
}

const char *vm_reason(const struct vm *vm)
{
	return vm->died_reason;
}

int vm_max_workers(const struct vm *vm)
{
	return vm->spec.max_workers;
}

int vm_set_workers(struct vm *vm, int n, vcpu_done_fn cb, void *data)
{
	return vcpu_set(&vm->vcpu, n, cb, data);
}

void vm_scaling(const struct vm *vm, struct policy *ret_policy, int *ret_min, int *ret_max)
{
	*ret_policy = vm->scaler.policy;
	*ret_min = vm->scaler.min_workers;
	*ret_max = vm->scaler.max_workers;
}

/* The standby in force under policy p: the policy's own, or the spec's. */
static int standby_under(const struct vm *vm, const struct policy *p)
{
	int n = policy_standby(p);
	return n >= 0 ? n : vm->spec.standby;
}

int vm_set_scaling(struct vm *vm, const struct policy *p, int min_workers, int max_workers)
{
	if (vm_policy_refusal(vm->spec.mech, vm->spec.max_workers, p))
		return -EINVAL;
	int r = scaler_set(&vm->scaler, p, min_workers, max_workers);
	if (r == 0)
		vcpu_set_standby(&vm->vcpu, standby_under(vm, p));
	return r;
}

int vm_invoke(struct vm *vm, const struct invoke_req *req, invoke_done_fn cb, void *data)
{
	return invoke_start(&vm->invoke, vm_is_ready(vm) ? vm->chan : NULL, req, cb, data);
}

/* ---- what the parts need of the VM ------------------------------------------ */

static struct qmp_client *part_qmp(void *data)
{
	struct vm *vm = data;
	return vm->qmp;
}

static struct guest_chan *part_chan(void *data)
{
	struct vm *vm = data;
	return vm->chan;
}

static void part_resized(void *data)
{
	struct vm *vm = data;
	scaler_on_resized(&vm->scaler);
}

/* Worker vCPUs holding a core, or running invocations, may have changed:
 * the accounting takes the new levels from now on. Busy workers are those
 * with an invocation, at most one each: queued invocations wait. */
static void part_changed(void *data)
{
	struct vm *vm = data;
	int active = vcpu_active(&vm->vcpu);
	unsigned inflight = invoke_inflight(&vm->invoke);
	int busy = inflight < (unsigned)active ? (int)inflight : active;
	usage_set(&vm->usage, uv_hrtime(), vcpu_granted(&vm->vcpu), busy);
}

static struct guest_chan *part_control(void *data)
{
	struct vm *vm = data;
	return vm_is_ready(vm) ? vm->chan : NULL;
}

static struct guest_chan *part_port(void *data, int cpu)
{
	struct vm *vm = data;
	return vm_ports_chan(&vm->ports, cpu);
}

static bool part_cpu_active(void *data, int cpu)
{
	struct vm *vm = data;
	return vcpu_cpu_is_active(&vm->vcpu, cpu);
}

static const struct vcpu_hooks vcpu_hooks = {
	.qmp = part_qmp,
	.chan = part_chan,
	.resized = part_resized,
	.changed = part_changed,
};

static unsigned part_demand(void *data)
{
	struct vm *vm = data;
	return invoke_inflight(&vm->invoke);
}

static uint64_t part_take_arrival_ns(void *data)
{
	struct vm *vm = data;
	return invoke_take_arrival_ns(&vm->invoke);
}

static int part_resize(void *data, int n, vcpu_done_fn cb, void *cb_data)
{
	struct vm *vm = data;
	return vcpu_set(&vm->vcpu, n, cb, cb_data);
}

static int part_active(void *data)
{
	struct vm *vm = data;
	return vcpu_active(&vm->vcpu);
}

static bool part_busy(void *data)
{
	struct vm *vm = data;
	return vcpu_busy(&vm->vcpu);
}

static int part_free_cores(void *data)
{
	struct vm *vm = data;
	return vcpu_free_cores(&vm->vcpu);
}

static int part_hotplug_left(void *data)
{
	struct vm *vm = data;
	return vcpu_hotplug_left(&vm->vcpu);
}

static const struct scaler_ops scaler_ops = {
	.demand = part_demand,
	.take_arrival_ns = part_take_arrival_ns,
	.resize = part_resize,
	.active = part_active,
	.busy = part_busy,
	.free_cores = part_free_cores,
	.hotplug_left = part_hotplug_left,
};

static void notify_waiters(struct vm *vm, int status)
{
	struct vm_waiter *w = vm->waiters;
	vm->waiters = NULL;
	while (w) {
		struct vm_waiter *next = w->next;
		w->cb(vm, status, w->data);
		free(w);
		w = next;
	}
}

int vm_wait_ready(struct vm *vm, vm_ready_fn cb, void *data)
{
	struct vm_waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->cb = cb;
	w->data = data;
	w->next = vm->waiters;
	vm->waiters = w;
	return 0;
}

/* Ends a VM the agent can no longer manage; the exit is reported as usual
 * with this reason. */
static void kill_qemu(struct vm *vm, const char *reason)
{
	if (!vm->proc_running)
		return;
	if (!vm->kill_reason[0])
		snprintf(vm->kill_reason, sizeof(vm->kill_reason), "%s", reason);
	log_error("vm_kill tenant=%s pid=%d reason=\"%s\"", vm->spec.tenant, (int)vm->pid, reason);
	uv_process_kill(vm->proc, SIGKILL);
}

static void on_lost_timer(uv_timer_t *t)
{
	struct vm *vm = t->data;
	kill_qemu(vm, vm->lost_reason);
}

/* A connection to QEMU closed. When QEMU itself is dying its exit follows
 * at once and tells the real reason; if it does not, the VM cannot be
 * managed any more and is ended. */
static void connection_lost(struct vm *vm, const char *what)
{
	if (vm->state == VM_STOPPING || !vm->proc_running)
		return;
	snprintf(vm->lost_reason, sizeof(vm->lost_reason), "%s", what);
	uv_timer_start(&vm->kill_timer, on_lost_timer, 2000, 0);
}

/* ---- liveness ------------------------------------------------------------ */

static void on_pong(struct guest_chan *ch, int status, const struct wire_frame *f, json_t *meta,
		    void *data)
{
	struct vm *vm = data;
	if (status == -ECONNRESET)
		return;
	if (status == -ETIMEDOUT && vm->state == VM_READY) {
		vm->state = VM_UNRESPONSIVE;
		snprintf(vm->died_reason, sizeof(vm->died_reason),
			 "guest did not answer a ping within %d ms", vm->env->ping_timeout_ms);
		log_warn("vm_unresponsive tenant=%s pid=%d", vm->spec.tenant, (int)vm->pid);
		scaler_on_unresponsive(&vm->scaler);
	} else if (status == 0 && vm->state == VM_UNRESPONSIVE) {
		vm->state = VM_READY;
		vm->died_reason[0] = '\0';
		log_info("vm_responsive_again tenant=%s", vm->spec.tenant);
		scaler_on_responsive(&vm->scaler);
	}
}

static void on_ping_timer(uv_timer_t *t)
{
	struct vm *vm = t->data;
	if (!vm->chan || !vm_is_ready(vm))
		return;
	guest_chan_request(vm->chan, WIRE_PING, NULL, NULL, 0, (uint64_t)vm->env->ping_timeout_ms,
			   on_pong, vm);
}

/* ---- becoming ready ------------------------------------------------------ */

static void maybe_ready(struct vm *vm)
{
	if (vm->state != VM_BOOTING || !vm->qmp_ready || !vm->guest_hello)
		return;
	vm->state = VM_READY;
	uv_timer_stop(&vm->boot_timer);
	log_info(
		"vm_ready tenant=%s mechanism=%s accel=%s boot_ms=%lld guest_uptime_ms=%lld pid=%d",
		vm->spec.tenant, vcpu_mech_name(vm->spec.mech), accel_name(vm->accel),
		(long long)vm->boot_ms, (long long)vm->guest_uptime_ms, (int)vm->pid);
	uv_timer_start(&vm->ping_timer, on_ping_timer, (uint64_t)vm->env->ping_interval_ms,
		       (uint64_t)vm->env->ping_interval_ms);
	vcpu_on_ready(&vm->vcpu);
	scaler_on_ready(&vm->scaler);
	notify_waiters(vm, 0);
}

/* Moves every thread QEMU has so far onto the shared cores; threads it makes
 * later inherit that mask. Granted worker vCPUs are pinned on their own. */
static void pin_qemu_threads(struct vm *vm)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)vm->pid);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0)
			cores_pin_thread(vm->env->cores, tid, -1);
	}
	closedir(d);
}

static void on_cpus_fast(struct qmp_client *c, int status, const struct qmp_msg *reply, void *data)
{
	struct vm *vm = data;
	if (status < 0) {
		kill_qemu(vm, "QMP query-cpus-fast failed");
		return;
	}
	vcpu_on_boot_cpus(&vm->vcpu, reply->value);
	vm->qmp_ready = true;
	maybe_ready(vm);
}

static void on_hotpluggable(struct qmp_client *c, int status, const struct qmp_msg *reply,
			    void *data)
{
	struct vm *vm = data;
	if (vcpu_on_hotpluggable(&vm->vcpu, status == 0 ? reply->value : NULL) < 0) {
		kill_qemu(vm, "QMP query-hotpluggable-cpus failed");
		return;
	}
	qmp_client_execute(c, "query-cpus-fast", NULL, on_cpus_fast, vm);
}

static void on_qmp_ready(struct qmp_client *c, int status, void *data)
{
	struct vm *vm = data;
	if (status < 0) {
		kill_qemu(vm, "QMP handshake failed");
		return;
	}
	pin_qemu_threads(vm);
	if (vm->spec.mech == VCPU_HOTPLUG)
		qmp_client_execute(c, "query-hotpluggable-cpus", NULL, on_hotpluggable, vm);
	else
		qmp_client_execute(c, "query-cpus-fast", NULL, on_cpus_fast, vm);
}

static void on_qmp_event(struct qmp_client *c, const struct qmp_msg *ev, void *data)
{
	struct vm *vm = data;
	log_debug("qmp_event tenant=%s event=%s", vm->spec.tenant, ev->event);
	vcpu_on_qmp_event(&vm->vcpu, ev);
}

static void on_qmp_closed(struct qmp_client *c, int reason, void *data)
{
	struct vm *vm = data;
	vm->qmp = NULL;
	connection_lost(vm, "QMP connection lost");
}

static const struct qmp_client_ops qmp_ops = {
	.ready = on_qmp_ready,
	.event = on_qmp_event,
	.closed = on_qmp_closed,
};

static void on_guest_message(struct guest_chan *ch, const struct wire_frame *f, json_t *meta,
			     void *data)
{
	struct vm *vm = data;
	switch (f->hdr.type) {
	case WIRE_HELLO:
		vm->guest_hello = true;
		vm->boot_ms = (int64_t)((uv_hrtime() - vm->t_spawn_ns) / 1000000);
		vm->guest_uptime_ms = json_integer_value(json_object_get(meta, "uptime_ms"));
		maybe_ready(vm);
		break;
	case WIRE_CPU_EVENT: vcpu_on_guest_event(&vm->vcpu, meta); break;
	case WIRE_ERROR:
		log_warn("guest_error tenant=%s code=%s message=\"%s\"", vm->spec.tenant,
			 json_string_value(json_object_get(meta, "code")),
			 json_string_value(json_object_get(meta, "message")));
		break;
	default: log_warn("guest_bad_frame tenant=%s type=%u", vm->spec.tenant, f->hdr.type);
	}
}

static void on_guest_closed(struct guest_chan *ch, int reason, void *data)
{
	struct vm *vm = data;
	vm->chan = NULL;
	connection_lost(vm, "guest channel closed");
}

static const struct guest_chan_ops chan_ops = {
	.message = on_guest_message,
	.closed = on_guest_closed,
};

/* ---- sockets QEMU connects to ----------------------------------------- */

/* And the worker CPU ports: after the control channel, whose calls they
 * would otherwise be sent again on. */
static void close_listeners(struct vm *vm)
{
	vm_listener_close(&vm->qmp_listen);
	vm_listener_close(&vm->chan_listen);
	vm_ports_close(&vm->ports);
}

static void on_qmp_connection(uv_stream_t *server, int status)
{
	struct vm *vm = server->data;
	uv_pipe_t *client = status == 0 ? vm_accept_one(server, &vm->qmp_listen) : NULL;
	if (!client || qmp_client_open(server->loop, client, &qmp_ops, vm, &vm->qmp) < 0)
		kill_qemu(vm, "cannot take QEMU's QMP connection");
}

static void on_chan_connection(uv_stream_t *server, int status)
{
	struct vm *vm = server->data;
	uv_pipe_t *client = status == 0 ? vm_accept_one(server, &vm->chan_listen) : NULL;
	if (!client || guest_chan_open(server->loop, client, &chan_ops, vm, &vm->chan) < 0) {
		kill_qemu(vm, "cannot take QEMU's guest channel connection");
		return;
	}
	if (vm->env->wire_capture &&
	    guest_chan_capture(vm->chan, vm->env->wire_capture, vm->spec.tenant) < 0)
		log_warn("wire_capture_failed tenant=%s dir=%s", vm->spec.tenant,
			 vm->env->wire_capture);
}

/* ---- the QEMU process -------------------------------------------------- */

static void finish_stop(struct vm *vm);

static void on_proc_closed(uv_handle_t *h)
{
	free(h);
}

static void on_proc_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct vm *vm = proc->data;
	uv_close((uv_handle_t *)proc, on_proc_closed);
	vm->proc = NULL;
	vm->proc_running = false;
	uv_timer_stop(&vm->kill_timer);
	uv_timer_stop(&vm->ping_timer);
	uv_timer_stop(&vm->boot_timer);
	bool stopping = vm->state == VM_STOPPING;
	if (!stopping) {
		if (vm->kill_reason[0])
			snprintf(vm->died_reason, sizeof(vm->died_reason), "%s", vm->kill_reason);
		else if (term_signal)
			snprintf(vm->died_reason, sizeof(vm->died_reason),
				 "qemu killed by signal %d", term_signal);
		else
			snprintf(vm->died_reason, sizeof(vm->died_reason),
				 "qemu exited with status %lld", (long long)exit_status);
		log_error("vm_died tenant=%s pid=%d reason=\"%s\" was=%s", vm->spec.tenant,
			  (int)vm->pid, vm->died_reason, vm_state_name(vm->state));
		vm->state = VM_DEAD;
		scaler_on_down(&vm->scaler);
	}
	/* Resizes first, so they fail with the real reason rather than with the
	 * channel resets that closing below causes. */
	vcpu_on_vm_down(&vm->vcpu, stopping ? -ECANCELED : -EPIPE);
	qmp_client_close(vm->qmp);
	vm->qmp = NULL;
	if (vm->chan) {
		guest_chan_close(vm->chan);
		vm->chan = NULL;
	}
	close_listeners(vm);
	invoke_on_vm_down(&vm->invoke);
	if (stopping) {
		log_info("vm_stopped tenant=%s pid=%d", vm->spec.tenant, (int)vm->pid);
		finish_stop(vm);
		return;
	}
	notify_waiters(vm, -EPIPE);
}

static void on_kill_timer(uv_timer_t *t)
{
	struct vm *vm = t->data;
	if (vm->proc_running) {
		log_warn("vm_kill tenant=%s pid=%d reason=\"no exit %d ms after quit\"",
			 vm->spec.tenant, (int)vm->pid, STOP_GRACE_MS);
		uv_process_kill(vm->proc, SIGKILL);
	}
}

/* The launch of spec in env, without its sockets and console. */
static void qemu_spec_of(const struct vm_env *env, const struct vm_spec *spec,
			 struct qemu_spec *ret)
{
	*ret = (struct qemu_spec){
		.binary = env->qemu,
		.accel = env->accel,
		.mech = spec->mech,
		.max_workers = spec->max_workers,
		.hotplug_slots = spec->hotplug_slots,
		.memory_mib = spec->memory_mib,
		.image = env->image,
		.confidential = spec->confidential,
		.snp = env->snp->launch,
	};
	ret->snp.host_data = spec->has_host_data ? spec->host_data : NULL;
}

static int spawn_qemu(struct vm *vm)
{
	const struct vm_env *env = vm->env;
	char qmp_sock[PATH_MAX + 16], chan_sock[PATH_MAX + 16], console[PATH_MAX + 16],
		qlog[PATH_MAX + 16];
	snprintf(qmp_sock, sizeof(qmp_sock), "%s/qmp.sock", vm->dir);
	snprintf(chan_sock, sizeof(chan_sock), "%s/chan.sock", vm->dir);
	snprintf(console, sizeof(console), "%s/console.log", vm->dir);
	snprintf(qlog, sizeof(qlog), "%s/qemu.log", vm->dir);

	struct qemu_spec qs;
	qemu_spec_of(env, &vm->spec, &qs);
	qs.qmp_socket = qmp_sock;
	qs.chan_socket = chan_sock;
	qs.console_log = console;
	if (env->guest_ports == GUEST_PORTS_PER_CPU)
		qs.cpu_port_dir = vm->dir;
	int r = vm_listen_unix(env->loop, qmp_sock, vm, on_qmp_connection, &vm->qmp_listen);
	if (r == 0)
		r = vm_listen_unix(env->loop, chan_sock, vm, on_chan_connection, &vm->chan_listen);
	if (r == 0)
		r = vm_ports_listen(&vm->ports, env->loop, vm->dir, qemu_cpu_ports(&qs),
				    vm->spec.tenant);
	char **argv = NULL;
	if (r == 0)
		r = qemu_build_argv(&qs, &argv);
	if (r < 0) {
		close_listeners(vm);
		return r;
	}

	vm->t_spawn_ns = uv_hrtime();
	r = vm_proc_spawn(env->loop, argv, qlog, on_proc_exit, vm, &vm->proc);
	qemu_argv_free(argv);
	if (r < 0) {
		vm->proc = NULL;
		close_listeners(vm);
		return r;
	}
	vm->pid = vm->proc->pid;
	vm->proc_running = true;
	return 0;
}

static void reset_runtime(struct vm *vm)
{
	vm->state = VM_BOOTING;
	vm->qmp_ready = false;
	vm->guest_hello = false;
	vm->boot_ms = -1;
	vm->died_reason[0] = '\0';
	vm->kill_reason[0] = '\0';
	vcpu_reset(&vm->vcpu);
	invoke_reset(&vm->invoke);
}

static void on_boot_timer(uv_timer_t *t)
{
	struct vm *vm = t->data;
	if (vm->state == VM_BOOTING) {
		char why[96];
		snprintf(why, sizeof(why), "guest not ready within %d ms",
			 vm->env->boot_timeout_ms);
		kill_qemu(vm, why);
	}
}

static int launch(struct vm *vm)
{
	reset_runtime(vm);
	int r = spawn_qemu(vm);
	if (r < 0) {
		vm->state = VM_DEAD;
		snprintf(vm->died_reason, sizeof(vm->died_reason), "spawn failed: %s",
			 uv_strerror(r));
		return r;
	}
	uv_timer_start(&vm->boot_timer, on_boot_timer, (uint64_t)vm->env->boot_timeout_ms, 0);
	log_info("vm_starting tenant=%s pid=%d mechanism=%s max_workers=%d memory_mib=%d accel=%s "
		 "confidential=%s guest_ports=%s cpu_ports=%d",
		 vm->spec.tenant, (int)vm->pid, vcpu_mech_name(vm->spec.mech), vm->spec.max_workers,
		 vm->spec.memory_mib, accel_name(vm->accel),
		 confidential_name(vm->spec.confidential), guest_ports_name(vm->env->guest_ports),
		 vm->ports.n);
	return 0;
}

/* Runs once for each of the VM's own handles and once for each part. */
static void on_part_closed(void *data)
{
	struct vm *vm = data;
	if (--vm->handles_open > 0)
		return;
	invoke_free(&vm->invoke);
	free(vm);
}

static void on_vm_handle_closed(uv_handle_t *h)
{
	on_part_closed(h->data);
}

/* Closes the VM's handles and frees it once they are closed; the owner
 * hears of it first unless the VM never got to it (a failed vm_start). */
static void vm_free(struct vm *vm, bool tell_owner)
{
	if (vm->freeing)
		return;
	vm->freeing = true;
	if (tell_owner && vm->env->gone)
		vm->env->gone(vm, vm->env->data);
	uv_close((uv_handle_t *)&vm->ping_timer, on_vm_handle_closed);
	uv_close((uv_handle_t *)&vm->kill_timer, on_vm_handle_closed);
	uv_close((uv_handle_t *)&vm->boot_timer, on_vm_handle_closed);
	vcpu_close(&vm->vcpu, on_part_closed);
	scaler_close(&vm->scaler, on_part_closed);
	close_listeners(vm);
}

/* A confidential VM's expected launch digest: its spec and image stay the
 * same over restarts, so it is computed once. */
static int measure(const struct vm_env *env, const struct vm_spec *spec,
		   char ret_hex[SNP_DIGEST_HEX_SIZE])
{
	ret_hex[0] = '\0';
	if (spec->confidential != CONFIDENTIAL_SEV_SNP)
		return 0;
	if (!env->snp->supported)
		return -ENOTSUP;
	struct qemu_spec qs;
	qemu_spec_of(env, spec, &qs);
	char err[256];
	int r = snp_launch_measure(&qs, ret_hex, err, sizeof(err));
	if (r < 0)
		log_error("vm_measure_failed tenant=%s reason=\"%s\"", spec->tenant, err);
	return r;
}

int vm_start(const struct vm_env *env, const struct vm_spec *spec, vm_ready_fn cb, void *data,
	     struct vm **ret)
{
	int r = vm_spec_check(spec);
	if (r < 0)
		return r;
	if (!env->image->digest[0])
		return -ENOENT;
	char digest[SNP_DIGEST_HEX_SIZE] = "";
	r = measure(env, spec, digest);
	if (r < 0)
		return r;

	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	memcpy(vm->measurement, digest, sizeof(digest));
	vm->env = env;
	vm->spec = *spec;
	vm->accel = env->accel;
	snprintf(vm->dir, sizeof(vm->dir), "%s/vms/%s", env->data_dir, spec->tenant);
	r = mkdir_parents(vm->dir, 0755);
	if (r < 0) {
		free(vm);
		return r;
	}
	uv_timer_init(env->loop, &vm->ping_timer);
	uv_timer_init(env->loop, &vm->kill_timer);
	uv_timer_init(env->loop, &vm->boot_timer);
	vm->ping_timer.data = vm->kill_timer.data = vm->boot_timer.data = vm;
	usage_init(&vm->usage, uv_hrtime());
	struct vcpu_limits limits = {
		.name = vm->spec.tenant,
		.mech = spec->mech,
		.max_workers = spec->max_workers,
		.standby = standby_under(vm, &spec->policy),
		.hotplug_slots = spec->hotplug_slots,
		.qemu_major = env->qemu_major,
		.qemu_version = env->qemu_version,
		.max_timeout_ms = env->max_timeout_ms,
	};
	vcpu_init(&vm->vcpu, env->loop, env->cores, &limits, &vcpu_hooks, vm);
	struct scaler_config sc = {
		.name = vm->spec.tenant,
		.vm_max_workers = spec->max_workers,
		.policy = spec->policy,
		.min_workers = spec->min_workers,
		.max_workers = spec->max_workers,
	};
	scaler_init(&vm->scaler, env->loop, &sc, &scaler_ops, vm);
	invoke_init(&vm->invoke, vm->spec.tenant, env->store, env->max_inflight, part_changed, vm);
	if (env->guest_ports == GUEST_PORTS_PER_CPU)
		invoke_use_ports(&vm->invoke, &(struct invoke_ports){ .control = part_control,
								      .port = part_port,
								      .active = part_cpu_active,
								      .n = spec->max_workers,
								      .data = vm });
	vm->handles_open = 5; /* the three timers above, the vCPUs and the scaler */

	r = launch(vm);
	if (r < 0) {
		vm_free(vm, false);
		return r;
	}
	if (cb)
		vm_wait_ready(vm, cb, data);
	*ret = vm;
	return 0;
}

static void finish_stop(struct vm *vm)
{
	vm->state = VM_STOPPED;
	if (vm->restart_pending) {
		vm->restart_pending = false;
		int r = launch(vm);
		if (r < 0)
			notify_waiters(vm, r);
		return;
	}
	notify_waiters(vm, -ECANCELED);
	vm_free(vm, true);
}

/* Asks QEMU to quit and arms the kill timer. Callers waiting for readiness
 * are told now, unless a restart will serve them. */
static void begin_stop(struct vm *vm)
{
	vm->state = VM_STOPPING;
	vcpu_on_stopping(&vm->vcpu);
	scaler_on_down(&vm->scaler);
	invoke_on_stopping(&vm->invoke);
	if (!vm->restart_pending)
		notify_waiters(vm, -ECANCELED);
	if (!vm->proc_running) {
		finish_stop(vm);
		return;
	}
	if (vm->qmp)
		qmp_client_execute(vm->qmp, "quit", NULL, NULL, NULL);
	else
		uv_process_kill(vm->proc, SIGTERM);
	uv_timer_start(&vm->kill_timer, on_kill_timer, STOP_GRACE_MS, 0);
}

void vm_stop(struct vm *vm)
{
	vm->restart_pending = false;
	if (vm->state != VM_STOPPING)
		begin_stop(vm);
}

int vm_restart(struct vm *vm, vm_ready_fn cb, void *data)
{
	if (vm->state == VM_STOPPING && !vm->restart_pending)
		return -EBUSY; /* being deleted */
	if (cb) {
		int r = vm_wait_ready(vm, cb, data);
		if (r < 0)
			return r;
	}
	log_info("vm_restart tenant=%s was=%s", vm->spec.tenant, vm_state_name(vm->state));
	vm->restart_pending = true;
	if (vm->state != VM_STOPPING)
		begin_stop(vm);
	return 0;
}
