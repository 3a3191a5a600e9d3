#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_api.h"
#include "artifact.h"
#include "channel.h"
#include "cpu_sysfs.h"
#include "cpuctl.h"
#include "cpuport.h"
#include "e2e_invoke.h"
#include "encoding.h"
#include "inv_reply.h"
#include "inv_queue.h"
#include "invoke_meta.h"
#include "log.h"
#include "loop.h"
#include "proc_setup.h"
#include "runner.h"
#include "util.h"
#include "wire.h"

struct daemon {
	const struct daemon_config *cfg;
	struct loop loop;
	struct channel chan;
	struct watch port_w, sig_w;
	int sig_fd;
	struct artifact_store store;
	struct runner runner;
	struct cpuctl cpuctl;
	struct guest_e2e e2e;
	/* The worker CPUs' own ports, and the eventfd by which their threads
	 * say they started or stopped running one. */
	struct cpuports ports;
	int notify_fd;
	struct watch notify_w;
	struct inv_queue q; /* invocations waiting for a CPU */
	/* Whether the agent's end of a virtio-serial port is open; always true
	 * for socket and pipe channels. HELLO goes out on every connect. */
	bool host_connected;
	bool cpuctl_open; /* cpuctl_init ran: the uevent socket is its own */
	bool stopping;
	int result;
};

void daemon_config_defaults(struct daemon_config *cfg)
{
	*cfg = (struct daemon_config){
		.port_fd = -1,
		.sysfs_root = "/sys",
		.artifact_dir = ARTIFACT_DEFAULT_DIR,
		.plain_dir = GUEST_E2E_PLAIN_DIR,
		.launchers_dir = RUNTIME_DEFAULT_LAUNCHERS,
		.cgroup_root = CGROUP_DEFAULT_ROOT,
		.sev_guest = ATTEST_DEVICE,
		.uevent_fd = -1,
		.max_body = WIRE_MAX_BODY,
		.queue_max = DAEMON_QUEUE_MAX,
	};
}

static void stop(struct daemon *d, int result)
{
	if (!d->stopping)
		d->result = result;
	d->stopping = true;
	cpuctl_stop(&d->cpuctl);
}

/* ---- sending --------------------------------------------------------- */

/* Sends a frame with meta (a reference is stolen) and a body in two pieces. */
static void send_frame(struct daemon *d, uint8_t type, uint32_t id, json_t *meta, const void *b1,
		       size_t n1, const void *b2, size_t n2)
{
	char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	if (!text) {
		log_error("send_failed type=%s id=%u err=out_of_memory", wire_type_name(type), id);
		return;
	}
	/* Written at the end of the loop's turn, with everything else the
	 * turn answered (daemon_flush). */
	int r = channel_queue(&d->chan, type, id, text, strlen(text), b1, n1, b2, n2);
	free(text);
	if (r < 0)
		log_error("send_failed type=%s id=%u err=%s", wire_type_name(type), id,
			  strerror(-r));
}

/* Writes what the loop's turn queued, in one write when the port takes it. */
static void daemon_flush(struct daemon *d)
{
	int r = channel_flush(&d->chan);
	if (r < 0 && r != -EPIPE && r != -ECONNRESET) {
		log_error("channel_write_failed err=%s", strerror(-r));
		stop(d, d->chan.eof_ends ? 0 : r);
	}
}

static void send_meta(struct daemon *d, uint8_t type, uint32_t id, json_t *meta)
{
	send_frame(d, type, id, meta, NULL, 0, NULL, 0);
}

/* Answers request id with an error frame: code is a wire name of the
 * agent<->guest contract (lib/agent_api.h). */
static void send_error_msg(struct daemon *d, uint32_t id, const char *code, const char *msg)
{
	log_debug("request_failed id=%u code=%s message=\"%s\"", id, code, msg);
	send_meta(d, WIRE_ERROR, id, json_pack("{s:s, s:s}", "code", code, "message", msg));
}

static void send_error(struct daemon *d, uint32_t id, enum agent_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void send_error(struct daemon *d, uint32_t id, enum agent_err e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_error_msg(d, id, agent_err_name(e), msg);
}

static void send_hello(struct daemon *d)
{
	int counts[3];
	double uptime_ms;
	send_meta(d, WIRE_HELLO, 0, cpu_sysfs_hello(d->cfg->sysfs_root, counts, &uptime_ms));
	log_info("hello_sent cpus_online=%d cpus_present=%d cpus_possible=%d uptime_ms=%.0f",
		 counts[0], counts[1], counts[2], uptime_ms);
}

/* Sends WIRE_CPU_EVENT {"cpu","event"} plus the fields of extra (stolen). */
static void send_cpu_event(struct daemon *d, int cpu, const char *event, json_t *extra)
{
	json_t *m = json_pack("{s:i, s:s}", "cpu", cpu, "event", event);
	if (m && extra)
		json_object_update(m, extra);
	json_decref(extra);
	log_info("cpu_event cpu=%d event=%s", cpu, event);
	send_meta(d, WIRE_CPU_EVENT, 0, m);
}

/* ---- invocations ----------------------------------------------------- */

static void send_inv_reply(struct daemon *d, struct inv *inv)
{
	json_t *m = inv_reply_meta(inv);
	send_frame(d, WIRE_REPLY, inv->id, m, inv->result.data, inv->result.len, inv->log.data,
		   inv->log.len);
}

/* An idle active CPU for inv: the one it asked for, else one with a warm
 * process for it first. */
static int pick_cpu(struct daemon *d, const struct inv *inv)
{
	if (inv->want_cpu > 0)
		return cpuctl_takes_work(&d->cpuctl, inv->want_cpu) ? inv->want_cpu : -1;
	int first = -1;
	for (int i = 1; i < d->cpuctl.ncpus; i++) {
		if (!cpuctl_takes_work(&d->cpuctl, i))
			continue;
		if (inv->mode != INV_PERSISTENT)
			return i;
		if (runner_has_warm(&d->runner, inv, i))
			return i;
		if (first < 0)
			first = i;
	}
	return first;
}

static void dispatch(struct daemon *d);

static void on_port_notify(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, notify_w);
	uint64_t n;
	if (read(d->notify_fd, &n, sizeof(n)) < 0)
		return;
	/* What the ports ran for the control port is answered here; what
	 * they could not run waits for another CPU, ahead of the rest. */
	for (struct inv *inv = cpuports_take_back(&d->ports, &d->cpuctl), *next; inv; inv = next) {
		next = inv->next;
		if (inv->returned &&
		    (!inv->want_cpu || cpuctl_in_service(&d->cpuctl, inv->want_cpu))) {
			inv->relayed = inv->returned = false;
			inv_queue_push_front(&d->q, inv);
			continue;
		}
		if (inv->returned)
			send_error(d, inv->id, AGENT_E_CPU_UNAVAILABLE, "cpu %d left",
				   inv->want_cpu);
		else if (!d->stopping)
			send_inv_reply(d, inv);
		inv_free(inv);
	}
	cpuports_sync_busy(&d->ports, &d->cpuctl);
	dispatch(d);
}

/* Starts queued invocations in arrival order. One that waits for a
 * particular busy CPU does not hold back those behind it that can run. */
static void dispatch(struct daemon *d)
{
	struct inv **pp = &d->q.head, *prev = NULL;
	while (!d->stopping && *pp) {
		int cpu = pick_cpu(d, *pp);
		if (cpu < 0) {
			prev = *pp;
			pp = &prev->next;
			continue;
		}
		struct inv *inv = inv_queue_take(&d->q, pp, prev);
		inv->started_us = time_now_us();
		if (cpuports_relay(&d->ports, &d->cpuctl, inv, cpu) == 0)
			continue;
		if (runner_start(&d->runner, inv, cpu) < 0) {
			inv->status = INV_ERROR;
			log_warn("invocation_start_failed id=%u cpu=%d error=\"%s\"", inv->id, cpu,
				 inv->error);
			send_inv_reply(d, inv);
			inv_free(inv);
			continue;
		}
		cpuports_ctl_busy(&d->ports, &d->cpuctl, cpu, true);
	}
}

/* Answers queued invocations that asked for CPU cpu, which is leaving
 * service: they would otherwise wait for it for ever. */
static void fail_pinned(struct daemon *d, int cpu, const char *why)
{
	struct inv **pp = &d->q.head, *prev = NULL;
	while (*pp) {
		if ((*pp)->want_cpu != cpu) {
			prev = *pp;
			pp = &prev->next;
			continue;
		}
		struct inv *inv = inv_queue_take(&d->q, pp, prev);
		send_error(d, inv->id, AGENT_E_CPU_UNAVAILABLE, "cpu %d %s", cpu, why);
		inv_free(inv);
	}
}

static void on_inv_done(struct inv *inv, void *data)
{
	struct daemon *d = data;
	int cpu = inv->cpu;
	if (!d->stopping)
		send_inv_reply(d, inv);
	inv_free(inv);
	/* A change that waited for the CPU to drain moves on, unless the
	 * daemon is stopping. */
	cpuports_ctl_busy(&d->ports, &d->cpuctl, cpu, false);
	if (d->stopping)
		return;
	dispatch(d);
}

/* ---- requests -------------------------------------------------------- */

static void handle_cpu_request(struct daemon *d, const struct wire_frame *f, const json_t *m)
{
	uint32_t id = f->hdr.id;
	json_int_t cpu;
	if (meta_int(m, "cpu", true, 0, 0, INT_MAX, &cpu) < 0) {
		send_error(d, id, AGENT_E_BAD_REQUEST, "\"cpu\" must be a non-negative integer");
		return;
	}
	if (cpu == 0) {
		send_error(d, id, AGENT_E_NO_SUCH_CPU,
			   "cpu 0 is the control cpu and never a worker");
		return;
	}
	if (!cpuctl_is_worker(&d->cpuctl, (int)cpu)) {
		send_error(d, id, AGENT_E_NO_SUCH_CPU, "cpu %lld is not present", (long long)cpu);
		return;
	}
	enum cpuctl_change change = f->hdr.type == WIRE_CPU_ACTIVATE  ? CPUCTL_ACTIVATE
				    : f->hdr.type == WIRE_CPU_STANDBY ? CPUCTL_STANDBY
				    : f->hdr.type == WIRE_CPU_OFFLINE ? CPUCTL_OFFLINE
								      : CPUCTL_RELEASE;
	cpuctl_request(&d->cpuctl, (int)cpu, change, id);
}

/* The request's "digest", or NULL after answering it with an error. */
static const char *meta_digest(struct daemon *d, uint32_t id, const json_t *m)
{
	const char *digest = json_string_value(json_object_get(m, "digest"));
	if (digest && artifact_digest_is_valid(digest))
		return digest;
	send_error(d, id, AGENT_E_BAD_REQUEST, "\"digest\" must be 64 lowercase hex digits");
	return NULL;
}

static void handle_artifact_put(struct daemon *d, const struct wire_frame *f, const json_t *m)
{
	uint32_t id = f->hdr.id;
	const char *digest = meta_digest(d, id, m);
	if (!digest)
		return;
	int r = artifact_put(&d->store, digest, f->body, f->hdr.body_len);
	if (r == -EBADMSG) {
		send_error(d, id, AGENT_E_DIGEST_MISMATCH, "the body's SHA-256 is not %s", digest);
		return;
	}
	if (r < 0) {
		send_error(d, id, AGENT_E_IO_ERROR, "storing the artifact failed: %s",
			   strerror(-r));
		return;
	}
	log_info("artifact_stored digest=%s size=%u", digest, f->hdr.body_len);
	send_meta(d, WIRE_REPLY, id,
		  json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)f->hdr.body_len));
}

/* Reads the invocation's options into inv. Returns 0, or -1 after answering
 * with an error. */
static int invoke_options(struct daemon *d, uint32_t id, const json_t *m, struct inv *inv,
			  bool *ret_e2e)
{
	struct invoke_meta_err err;
	if (invoke_meta_digest(m, inv, &err) == 0 &&
	    invoke_meta_read(m, &d->cpuctl, inv, ret_e2e, &err) == 0)
		return 0;
	send_error(d, id, err.code, "%s", err.message);
	return -1;
}

/* Answers inv as failed (the error is in inv->error), with no output. */
static void invoke_refuse(struct daemon *d, struct inv *inv, const char *event)
{
	log_info("%s id=%u error=\"%s\"", event, inv->id, inv->error);
	inv->status = INV_ERROR;
	inv->started_us = inv->received_us = time_now_us();
	send_inv_reply(d, inv);
}

/* Gives inv its input: the body, or the opened request of an encrypted
 * invocation. Returns 0, or -1 after answering: an invocation this VM does
 * not run (host_binding.h) or a request that does not open is a failed
 * invocation with no output. */
static int invoke_input(struct daemon *d, struct inv *inv, bool e2e, const struct wire_frame *f)
{
	size_t len = f->hdr.body_len;
	if (host_binding_admit(&d->e2e.bind, e2e, NULL, inv->error, sizeof(inv->error)) < 0) {
		invoke_refuse(d, inv, "invoke_refused");
		return -1;
	}
	if (e2e) {
		if (guest_e2e_open(&d->e2e, &d->store, inv, f->body, len, inv->error,
				   sizeof(inv->error)) == 0)
			return 0;
		invoke_refuse(d, inv, "e2e_open_failed");
		return -1;
	}
	struct invoke_meta_err err;
	if (invoke_plain_input(inv, f->body, len, &err) == 0)
		return 0;
	send_error(d, inv->id, err.code, "%s", err.message);
	return -1;
}

/* read_us: when the frame's last byte was read, the start of guest_us. */
static void handle_invoke(struct daemon *d, const struct wire_frame *f, const json_t *m,
			  uint64_t read_us)
{
	uint32_t id = f->hdr.id;
	struct inv *inv = inv_new();
	if (!inv) {
		send_error(d, id, AGENT_E_IO_ERROR, "out of memory");
		return;
	}
	inv->id = id;
	inv->read_us = read_us;
	bool e2e = false;
	if (invoke_options(d, id, m, inv, &e2e) < 0)
		goto drop;
	if (!artifact_has(&d->store, inv->digest)) {
		send_error(d, id, AGENT_E_ARTIFACT_MISSING, "no artifact %s", inv->digest);
		goto drop;
	}
	if (d->q.n >= d->cfg->queue_max) {
		send_error(d, id, AGENT_E_QUEUE_FULL, "%zu invocations are waiting already",
			   d->q.n);
		goto drop;
	}
	if (invoke_input(d, inv, e2e, f) < 0)
		goto drop;
	struct invoke_meta_err err;
	if (invoke_input_check(inv, &err) < 0) {
		send_error(d, id, err.code, "%s", err.message);
		goto drop;
	}
	inv->received_us = time_now_us();
	inv_queue_push(&d->q, inv);
	dispatch(d);
	return;
drop:
	inv_free(inv);
}

static void handle_attest(struct daemon *d, uint32_t id, const json_t *m)
{
	json_t *meta;
	struct attest_evidence ev;
	char err[256];
	int r = guest_e2e_attest(&d->e2e, d->cfg->sev_guest, m, &meta, &ev, err, sizeof(err));
	if (r == -EINVAL) {
		send_error(d, id, AGENT_E_BAD_REQUEST, "%s", err);
	} else if (r < 0) {
		log_warn("attest_failed id=%u error=\"%s\"", id, err);
		send_error_msg(d, id, "attest_failed", err);
	} else {
		send_frame(d, WIRE_REPLY, id, meta, ev.report, ev.report_len, ev.certs,
			   ev.certs_len);
		attest_evidence_free(&ev);
	}
}

static void handle_status(struct daemon *d, uint32_t id)
{
	int n = artifact_count(&d->store);
	send_meta(d, WIRE_REPLY, id,
		  json_pack("{s:o, s:I, s:i}", "cpus", cpuctl_status_json(&d->cpuctl), "queued",
			    (json_int_t)d->q.n, "artifacts", n < 0 ? 0 : n));
}

static void handle_frame(struct daemon *d, const struct wire_frame *f, uint64_t read_us)
{
	uint32_t id = f->hdr.id;
	json_t *m;
	if (f->hdr.meta_len == 0) {
		m = json_object();
	} else {
		json_error_t jerr;
		m = json_loadb(f->meta, f->hdr.meta_len, JSON_REJECT_DUPLICATES, &jerr);
		if (m && !json_is_object(m)) {
			json_decref(m);
			m = NULL;
			snprintf(jerr.text, sizeof(jerr.text), "not a JSON object");
		}
		if (!m) {
			send_error(d, id, AGENT_E_BAD_REQUEST, "meta: %s", jerr.text);
			return;
		}
	}
	switch (f->hdr.type) {
	case WIRE_PING: send_meta(d, WIRE_REPLY, id, json_object()); break;
	case WIRE_STATUS: handle_status(d, id); break;
	case WIRE_CPU_ACTIVATE:
	case WIRE_CPU_STANDBY:
	case WIRE_CPU_OFFLINE:
	case WIRE_CPU_RELEASE: handle_cpu_request(d, f, m); break;
	case WIRE_ARTIFACT_PUT: handle_artifact_put(d, f, m); break;
	case WIRE_INVOKE: handle_invoke(d, f, m, read_us); break;
	case WIRE_ATTEST: handle_attest(d, id, m); break;
	default:
		send_error(d, id, AGENT_E_BAD_REQUEST, "%s is not a request the guest serves",
			   wire_type_name(f->hdr.type));
		break;
	}
	json_decref(m);
}

static void handle_bad_frame(struct daemon *d, int err, const struct wire_frame *f)
{
	struct channel_refusal why;
	channel_refuse(err, f, &why);
	log_warn("frame_refused id=%u err=%d message=\"%s\"", why.id, err, why.message);
	send_error_msg(d, why.id, agent_err_name(why.code), why.message);
}

/* ---- the channel ----------------------------------------------------- */

/* A virtio-serial port reports EPOLLHUP while no host end is connected, and
 * wakes us when one connects. A newly connected agent (also a restarted one)
 * learns the guest's state from a fresh HELLO. */
static void track_host(struct daemon *d, uint32_t events)
{
	if (d->chan.eof_ends)
		return;
	bool connected = !(events & EPOLLHUP);
	if (connected && !d->host_connected) {
		d->host_connected = true;
		log_info("host_connected");
		send_hello(d);
	} else if (!connected && d->host_connected) {
		d->host_connected = false;
		/* Nothing of the old session carries over: not a half-read
		 * frame, not replies the old agent will never read. */
		wire_decoder_free(&d->chan.dec);
		buf_reset(&d->chan.out);
		d->chan.out_off = 0;
		log_info("host_disconnected");
	}
}

static void on_port(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, port_w);
	track_host(d, events);
	daemon_flush(d);
	/* Edge-triggered: read until the port has nothing more. */
	while (!d->stopping) {
		ssize_t n = channel_read(&d->chan);
		if (n == -EAGAIN)
			break;
		if (n == 0 || n == -EIO || n == -ECONNRESET) {
			/* On a virtio-serial port this only means the host is not
			 * connected; writes wait and the next connect wakes us. */
			if (d->chan.eof_ends) {
				log_info("channel_closed");
				stop(d, 0);
			} else {
				track_host(d, EPOLLHUP);
			}
			break;
		}
		if (n == -ENOMEM) {
			/* A frame too big for this VM's memory: drop what is
			 * buffered and resynchronise on the next frame, rather
			 * than end the daemon and with it the VM. */
			log_error("channel_out_of_memory action=resync");
			wire_decoder_free(&d->chan.dec);
			d->chan.dec.resync = true;
			send_error(d, 0, AGENT_E_TOO_BIG,
				   "out of memory for a frame: skipping to the next");
			continue;
		}
		if (n < 0) {
			log_error("channel_read_failed err=%s", strerror((int)-n));
			stop(d, (int)n);
			break;
		}
		/* Frames this read completed are whole from now on; those
		 * handled after others count the wait as the guest's. */
		uint64_t read_us = time_now_us();
		struct wire_frame f;
		int k;
		while (!d->stopping && (k = wire_decoder_next(&d->chan.dec, &f)) != 0) {
			if (k == 1)
				handle_frame(d, &f, read_us);
			else
				handle_bad_frame(d, k, &f);
		}
	}
}

static void on_signal(struct watch *w, uint32_t events)
{
	struct daemon *d = container_of(w, struct daemon, sig_w);
	struct signalfd_siginfo si;
	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			runner_reap(&d->runner);
			cpuports_reap(&d->ports);
		} else {
			log_info("signal_received signal=%s", strsignal((int)si.ssi_signo));
			stop(d, 0);
		}
	}
}

/* ---- the CPU state machine's reports ------------------------------- */

static void on_cpu_reply(void *data, uint32_t id, json_t *meta)
{
	send_meta(data, WIRE_REPLY, id, meta);
}

static void on_cpu_fail(void *data, uint32_t id, const char *code, const char *msg)
{
	send_error_msg(data, id, code, msg);
}

static void on_cpu_event(void *data, int cpu, const char *event, json_t *extra)
{
	send_cpu_event(data, cpu, event, extra);
}

static void on_cpu_leaving(void *data, int cpu, const char *why)
{
	struct daemon *d = data;
	cpuports_leaving(&d->ports, &d->cpuctl, cpu);
	fail_pinned(d, cpu, why);
}

static void on_cpu_evict(void *data, int cpu)
{
	struct daemon *d = data;
	runner_kill_cpu(&d->runner, cpu);
	struct cpuport *p = cpuports_get(&d->ports, cpu);
	if (p)
		cpuport_evict(p);
}

static void on_cpu_changed(void *data)
{
	struct daemon *d = data;
	cpuports_sync(&d->ports, &d->cpuctl);
	dispatch(d);
}

static const struct cpuctl_ops cpu_ops = {
	.reply = on_cpu_reply,
	.fail = on_cpu_fail,
	.event = on_cpu_event,
	.leaving = on_cpu_leaving,
	.evict = on_cpu_evict,
	.changed = on_cpu_changed,
};

/* ---- set-up and tear-down -------------------------------------------- */

/* Starts a port for each worker CPU that has one ("ditto.cpu.N"); their
 * threads inherit the blocked signals and CPU 0's pin until their CPU is in
 * service. */
static int daemon_open_ports(struct daemon *d)
{
	d->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int r = d->notify_fd < 0
			? -errno
			: loop_add(&d->loop, &d->notify_w, d->notify_fd, EPOLLIN, on_port_notify);
	if (r < 0)
		return r;
	struct cpuport_env env = {
		.store = &d->store,
		.bind = &d->e2e.bind,
		.cpus = &d->cpuctl,
		.launchers = d->cfg->launchers_dir,
		.cgroup_root = cgroups_enabled(&d->runner.cgroups) ? d->cfg->cgroup_root : NULL,
		.sysfs_root = d->cfg->sysfs_root,
		.max_body = d->cfg->max_body,
		.queue_max = d->cfg->queue_max,
		.notify_fd = d->notify_fd,
	};
	r = cpuports_open(&d->ports, d->cfg->sysfs_root, d->cpuctl.ncpus, &env);
	log_info("worker_cpu_ports ports=%d", d->ports.nopen);
	return r;
}

/* Opens everything the loop watches. Returns 0, or -errno with *ret_step
 * naming what failed. */
static int daemon_open(struct daemon *d, const sigset_t *mask, const char **ret_step)
{
	const struct daemon_config *cfg = d->cfg;
	*ret_step = "epoll";
	int r = loop_init(&d->loop);
	if (r < 0)
		return r;
	*ret_step = "signalfd";
	d->sig_fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	r = d->sig_fd < 0 ? -errno : loop_add(&d->loop, &d->sig_w, d->sig_fd, EPOLLIN, on_signal);
	if (r < 0)
		return r;
	*ret_step = "artifact store";
	r = artifact_store_open(cfg->artifact_dir, &d->store);
	if (r < 0)
		return r;
	uint64_t wait_us, t0 = time_now_us();
	r = guest_e2e_init(&d->e2e, cfg->plain_dir, &wait_us, ret_step);
	if (r < 0)
		return r;
	log_info("e2e_key_ready entropy_wait_us=%llu total_us=%llu", (unsigned long long)wait_us,
		 (unsigned long long)(time_now_us() - t0));
	guest_e2e_bind(&d->e2e, cfg->sev_guest, cfg->sysfs_root);
	*ret_step = "runner";
	r = runner_init(&d->runner, &d->loop, &d->store, on_inv_done, d);
	if (r < 0)
		return r;
	d->runner.plain = &d->e2e.plain;
	d->runner.launchers = cfg->launchers_dir;
	r = runner_use_cgroups(&d->runner, cfg->cgroup_root);
	if (r < 0)
		log_warn("cgroups_unusable root=%s err=%s action=process_group_kill",
			 cfg->cgroup_root, strerror(-r));
	else if (cgroups_enabled(&d->runner.cgroups))
		log_info("cgroups root=%s memory=%s", cfg->cgroup_root,
			 cgroups_have_memory(&d->runner.cgroups) ? "yes" : "no");
	pin_to_control_cpu();
	d->cpuctl_open = true;
	r = cpuctl_init(&d->cpuctl, &d->loop, cfg->sysfs_root, cfg->uevent_fd, &cpu_ops, d,
			ret_step);
	if (r < 0)
		return r;
	*ret_step = "worker CPU ports";
	r = daemon_open_ports(d);
	if (r < 0)
		return r;
	*ret_step = "channel";
	return loop_add(&d->loop, &d->port_w, d->chan.fd, EPOLLIN | EPOLLOUT | EPOLLET, on_port);
}

/* Greets the agent when its end is open, and catches up with the CPU
 * changes that happened before the uevent socket existed. */
static void daemon_greet(struct daemon *d)
{
	log_info("started artifacts=%s sysfs=%s cpus_possible=%d", d->cfg->artifact_dir,
		 d->cfg->sysfs_root, d->cpuctl.ncpus);
	if (d->chan.eof_ends) {
		d->host_connected = true;
		send_hello(d);
	} else {
		struct pollfd pfd = { .fd = d->chan.fd, .events = POLLOUT };
		poll(&pfd, 1, 0);
		track_host(d, pfd.revents & POLLHUP ? EPOLLHUP : 0);
		if (!d->host_connected)
			log_info("waiting_for_host");
	}
	cpuctl_rescan(&d->cpuctl);
}

static void daemon_close(struct daemon *d)
{
	/* Already stopping: invocations the runner ends now are not answered
	 * and move no CPU change on. */
	stop(d, d->result);
	cpuports_close(&d->ports);
	if (d->notify_fd >= 0)
		close(d->notify_fd);
	if (d->runner.path_env)
		runner_fini(&d->runner);
	if (d->cpuctl_open)
		cpuctl_fini(&d->cpuctl);
	else if (d->cfg->uevent_fd >= 0)
		close(d->cfg->uevent_fd);
	inv_queue_free(&d->q);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	channel_fini(&d->chan);
	artifact_store_close(&d->store);
	guest_e2e_fini(&d->e2e);
	loop_fini(&d->loop);
}

int daemon_run(const struct daemon_config *cfg)
{
	struct daemon dd = {
		.cfg = cfg,
		.sig_fd = -1,
		.notify_fd = -1,
		.notify_w.fd = -1,
		.port_w.fd = -1,
		.sig_w.fd = -1,
		.store.dirfd = -1,
		.e2e.plain.dirfd = -1,
	};
	struct daemon *d = &dd;
	channel_init(&d->chan, cfg->port_fd, cfg->port_eof_ends, cfg->max_body);

	sigset_t mask;
	struct process_state old;
	process_setup(&mask, &old);
	const char *step;
	int r = daemon_open(d, &mask, &step);
	if (r < 0) {
		log_error("start_failed step=\"%s\" err=%s", step, strerror(-r));
		stop(d, r);
	} else {
		daemon_greet(d);
	}
	while (!d->stopping) {
		daemon_flush(d);
		r = loop_run_once(&d->loop, -1);
		if (r < 0) {
			log_error("epoll_wait_failed err=%s", strerror(-r));
			stop(d, r);
		}
	}
	daemon_close(d);
	process_restore(&old);
	log_info("stopped result=%d", d->result);
	return d->result;
}
