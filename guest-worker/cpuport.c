#include "cpuport.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_api.h"
#include "inv_reply.h"
#include "invoke_meta.h"
#include "irq_steer.h"
#include "log.h"
#include "util.h"
#include "wire.h"

static void poke(int fd)
{
	uint64_t one = 1;
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void drain_eventfd(int fd)
{
	uint64_t n;
	while (read(fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
}

/* ---- sending (the port's thread) ------------------------------------- */

static void port_send(struct cpuport *p, uint8_t type, uint32_t id, json_t *meta, const void *b1,
		      size_t n1, const void *b2, size_t n2)
{
	char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	int r = text ? channel_queue(&p->chan, type, id, text, strlen(text), b1, n1, b2, n2)
		     : -ENOMEM;
	free(text);
	if (r < 0)
		log_error("port_send_failed cpu=%d type=%s id=%u err=%s", p->cpu,
			  wire_type_name(type), id, strerror(-r));
}

static void port_error(struct cpuport *p, uint32_t id, enum agent_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void port_error(struct cpuport *p, uint32_t id, enum agent_err e, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	port_send(p, WIRE_ERROR, id,
		  json_pack("{s:s, s:s}", "code", agent_err_name(e), "message", msg), NULL, 0, NULL,
		  0);
}

static void port_reply(struct cpuport *p, struct inv *inv)
{
	port_send(p, WIRE_REPLY, inv->id, inv_reply_meta(inv), inv->result.data, inv->result.len,
		  inv->log.data, inv->log.len);
}

/* ---- invocations (the port's thread) --------------------------------- */

static void set_busy(struct cpuport *p, bool busy)
{
	pthread_mutex_lock(&p->mu);
	bool changed = p->busy != busy;
	p->busy = busy;
	pthread_mutex_unlock(&p->mu);
	if (changed)
		poke(p->env->notify_fd);
}

/* Hands a relayed invocation back to the daemon. */
static void give_back(struct cpuport *p, struct inv *inv)
{
	pthread_mutex_lock(&p->mu);
	inv->next = p->out_head;
	p->out_head = inv;
	pthread_mutex_unlock(&p->mu);
	poke(p->env->notify_fd);
}

/* Answers every queued invocation "cpu_unavailable": the CPU left service.
 * The daemon's own go back to it unrun, to wait for another CPU. */
static void fail_queued(struct cpuport *p)
{
	struct inv *inv;
	while ((inv = inv_queue_pop(&p->q))) {
		if (inv->relayed) {
			inv->returned = true;
			give_back(p, inv);
			continue;
		}
		port_error(p, inv->id, AGENT_E_CPU_UNAVAILABLE, "cpu %d is not in service", p->cpu);
		inv_free(inv);
	}
}

/* Answers inv where its request came from, and lets it go. */
static void finish_inv(struct cpuport *p, struct inv *inv)
{
	if (inv->relayed) {
		give_back(p, inv);
		return;
	}
	if (!p->stopping)
		port_reply(p, inv);
	inv_free(inv);
}

/* Pins the thread to its CPU; the kernel drops the pin when the CPU goes
 * offline, so it is set again each time the CPU comes into service. */
static void pin(struct cpuport *p)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		log_warn("port_pin_failed cpu=%d err=%s", p->cpu, strerror(errno));
}

/* Whether the gate is open, read with the busy flag set in the same hold of
 * the lock: once the daemon closed it (and read busy after), nothing new
 * starts here. Pins the thread to its CPU when it finds the gate newly open. */
static bool take_work(struct cpuport *p)
{
	pthread_mutex_lock(&p->mu);
	bool open = p->open, was_busy = p->busy;
	if (open)
		p->busy = true;
	pthread_mutex_unlock(&p->mu);
	if (open && !was_busy)
		poke(p->env->notify_fd);
	if (open && !p->gate)
		pin(p);
	p->gate = open;
	return open;
}

/* Starts the next queued invocation when the port runs none; fails what it
 * holds when the gate is closed. */
static void start_next(struct cpuport *p)
{
	while (!p->running && p->q.head && !p->stopping) {
		if (!take_work(p)) {
			fail_queued(p);
			break;
		}
		struct inv *inv = inv_queue_pop(&p->q);
		inv->started_us = time_now_us();
		if (runner_start(&p->runner, inv, p->cpu) < 0) {
			inv->status = INV_ERROR;
			finish_inv(p, inv);
			continue;
		}
		p->running = true;
	}
	set_busy(p, p->running);
}

static void on_inv_done(struct inv *inv, void *data)
{
	struct cpuport *p = data;
	finish_inv(p, inv);
	p->running = false;
	start_next(p);
}

/* Reads an INVOKE into a new invocation, or answers it and returns NULL. */
static struct inv *port_invocation(struct cpuport *p, const struct wire_frame *f, const json_t *m)
{
	uint32_t id = f->hdr.id;
	struct inv *inv = inv_new();
	if (!inv) {
		port_error(p, id, AGENT_E_IO_ERROR, "out of memory");
		return NULL;
	}
	inv->id = id;
	struct invoke_meta_err err = { 0 };
	bool e2e = false;
	if (invoke_meta_digest(m, inv, &err) < 0 ||
	    invoke_meta_read(m, p->env->cpus, inv, &e2e, &err) < 0)
		goto refuse;
	if (e2e || inv->mode != INV_PERSISTENT || (inv->want_cpu && inv->want_cpu != p->cpu)) {
		port_error(p, id, AGENT_E_BAD_REQUEST,
			   "a worker CPU port runs plain persistent invocations on its own CPU");
		goto drop;
	}
	if (host_binding_admit(p->env->bind, false, NULL, inv->error, sizeof(inv->error)) < 0) {
		inv->status = INV_ERROR;
		inv->started_us = inv->received_us = time_now_us();
		port_reply(p, inv);
		goto drop;
	}
	if (!artifact_has(p->env->store, inv->digest)) {
		port_error(p, id, AGENT_E_ARTIFACT_MISSING, "no artifact %s", inv->digest);
		goto drop;
	}
	if (p->q.n >= p->env->queue_max) {
		port_error(p, id, AGENT_E_QUEUE_FULL, "%zu invocations are waiting already",
			   p->q.n);
		goto drop;
	}
	if (invoke_plain_input(inv, f->body, f->hdr.body_len, &err) < 0 ||
	    invoke_input_check(inv, &err) < 0)
		goto refuse;
	return inv;
refuse:
	port_error(p, id, err.code, "%s", err.message);
drop:
	inv_free(inv);
	return NULL;
}

static void port_frame(struct cpuport *p, const struct wire_frame *f, uint64_t read_us)
{
	uint32_t id = f->hdr.id;
	if (f->hdr.type != WIRE_INVOKE) {
		port_error(p, id, AGENT_E_BAD_REQUEST, "%s goes through the control port",
			   wire_type_name(f->hdr.type));
		return;
	}
	json_error_t jerr;
	json_t *m = f->hdr.meta_len
			    ? json_loadb(f->meta, f->hdr.meta_len, JSON_REJECT_DUPLICATES, &jerr)
			    : json_object();
	if (!json_is_object(m)) {
		port_error(p, id, AGENT_E_BAD_REQUEST, "meta: not a JSON object");
		json_decref(m);
		return;
	}
	struct inv *inv = port_invocation(p, f, m);
	json_decref(m);
	if (!inv)
		return;
	inv->read_us = read_us;
	inv->received_us = time_now_us();
	inv_queue_push(&p->q, inv);
	start_next(p);
}

static void port_bad_frame(struct cpuport *p, int err, const struct wire_frame *f)
{
	struct channel_refusal why;
	channel_refuse(err, f, &why);
	port_error(p, why.id, why.code, "%s", why.message);
}

/* ---- the port's I/O (the port's thread) ------------------------------ */

/* As the control port: EPOLLHUP while no host end is connected; nothing of
 * an old session carries over to the next. */
static void track_host(struct cpuport *p, uint32_t events)
{
	if (p->chan.eof_ends)
		return;
	bool connected = !(events & EPOLLHUP);
	if (connected != p->host_connected) {
		p->host_connected = connected;
		if (!connected) {
			wire_decoder_free(&p->chan.dec);
			buf_reset(&p->chan.out);
			p->chan.out_off = 0;
		}
	}
}

static void on_port(struct watch *w, uint32_t events)
{
	struct cpuport *p = container_of(w, struct cpuport, port_w);
	track_host(p, events);
	while (!p->stopping) {
		ssize_t n = channel_read(&p->chan);
		if (n == -EAGAIN)
			break;
		if (n == 0 || n == -EIO || n == -ECONNRESET) {
			if (p->chan.eof_ends)
				p->stopping = true;
			else
				track_host(p, EPOLLHUP);
			break;
		}
		if (n < 0) {
			log_error("port_read_failed cpu=%d err=%s", p->cpu, strerror((int)-n));
			wire_decoder_free(&p->chan.dec);
			p->chan.dec.resync = true;
			break;
		}
		uint64_t read_us = time_now_us();
		struct wire_frame f;
		int k;
		while (!p->stopping && (k = wire_decoder_next(&p->chan.dec, &f)) != 0) {
			if (k == 1)
				port_frame(p, &f, read_us);
			else
				port_bad_frame(p, k, &f);
		}
	}
}

static void on_wake(struct watch *w, uint32_t events)
{
	struct cpuport *p = container_of(w, struct cpuport, wake_w);
	drain_eventfd(p->wake_fd);
	pthread_mutex_lock(&p->mu);
	bool open = p->open, evict = p->evict, reap = p->reap, quit = p->quit;
	p->evict = p->reap = false;
	struct inv *in = p->in_head;
	p->in_head = p->in_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	while (in) {
		struct inv *next = in->next;
		inv_queue_push(&p->q, in);
		in = next;
	}
	if (reap)
		runner_reap(&p->runner);
	if (evict)
		runner_kill_cpu(&p->runner, p->cpu);
	/* Onto the CPU as soon as it is in service; unpinned by the kernel
	 * when it goes offline, so pinned again next time. */
	if (open && !p->gate)
		pin(p);
	p->gate = open;
	if (!open)
		fail_queued(p);
	if (quit)
		p->stopping = true;
	start_next(p);
}

static void *port_main(void *data)
{
	struct cpuport *p = data;
	while (!p->stopping) {
		int r = loop_run_once(&p->loop, -1);
		/* Everything a turn of the loop answered goes out in one write. */
		int e = channel_flush(&p->chan);
		if (r < 0 || (e < 0 && e != -EPIPE && e != -ECONNRESET)) {
			log_error("port_loop_failed cpu=%d err=%s", p->cpu,
				  strerror(r < 0 ? -r : -e));
			break;
		}
	}
	p->stopping = true;
	fail_queued(p);
	runner_fini(&p->runner);
	return NULL;
}

/* ---- the daemon's side ------------------------------------------------ */

int cpuport_start(struct cpuport *p, int cpu, int fd, const struct cpuport_env *env)
{
	*p = (struct cpuport){ .cpu = cpu, .env = env, .wake_fd = -1, .loop.epfd = -1 };
	p->port_w.fd = p->wake_w.fd = -1;
	channel_init(&p->chan, fd, false, env->max_body);
	pthread_mutex_init(&p->mu, NULL);
	int r = loop_init(&p->loop);
	if (r < 0)
		return r;
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->wake_fd < 0)
		return -errno;
	r = runner_init(&p->runner, &p->loop, env->store, on_inv_done, p);
	if (r < 0)
		return r;
	p->runner.launchers = env->launchers;
	if (env->cgroup_root)
		runner_use_cgroups(&p->runner, env->cgroup_root);
	p->host_connected = true;
	r = loop_add(&p->loop, &p->wake_w, p->wake_fd, EPOLLIN, on_wake);
	if (r == 0)
		r = loop_add(&p->loop, &p->port_w, fd, EPOLLIN | EPOLLOUT | EPOLLET, on_port);
	if (r == 0)
		r = -pthread_create(&p->thread, NULL, port_main, p);
	p->started = r == 0;
	return r;
}

static void ask(struct cpuport *p, bool *flag, bool value)
{
	pthread_mutex_lock(&p->mu);
	*flag = value;
	pthread_mutex_unlock(&p->mu);
	poke(p->wake_fd);
}

/* Steers the port's interrupts to its CPU, which just came into service
 * (the kernel moved them off it when it went offline). */
static void steer(struct cpuport *p)
{
	if (!p->vport[0])
		return;
	int r = irq_steer_port(p->env->sysfs_root, "/proc", p->vport, p->cpu);
	if (!p->steered)
		log_info("port_irqs cpu=%d port=%s steered=%d%s%s", p->cpu, p->vport, r < 0 ? 0 : r,
			 r < 0 ? " err=" : "", r < 0 ? strerror(-r) : "");
	p->steered = true;
}

void cpuport_set_open(struct cpuport *p, bool open)
{
	if (!p->started || p->open == open)
		return;
	if (open)
		steer(p);
	ask(p, &p->open, open);
}

void cpuport_evict(struct cpuport *p)
{
	if (p->started)
		ask(p, &p->evict, true);
}

void cpuport_reap(struct cpuport *p)
{
	if (p->started)
		ask(p, &p->reap, true);
}

bool cpuport_busy(struct cpuport *p)
{
	pthread_mutex_lock(&p->mu);
	bool busy = p->busy;
	pthread_mutex_unlock(&p->mu);
	return busy;
}

static void free_list(struct inv *inv)
{
	while (inv) {
		struct inv *next = inv->next;
		inv_free(inv);
		inv = next;
	}
}

void cpuport_stop(struct cpuport *p)
{
	if (p->started) {
		ask(p, &p->quit, true);
		pthread_join(p->thread, NULL);
		p->started = false;
	} else if (p->runner.path_env) {
		runner_fini(&p->runner);
	}
	free_list(p->in_head);
	free_list(p->out_head);
	p->in_head = p->in_tail = p->out_head = NULL;
	if (p->wake_fd >= 0)
		close(p->wake_fd);
	p->wake_fd = -1;
	channel_fini(&p->chan);
	loop_fini(&p->loop);
	pthread_mutex_destroy(&p->mu);
}

/* ---- every worker CPU's port ----------------------------------------- */

static int open_port(struct cpuports *ps, const char *sysfs_root, int cpu)
{
	char name[32], path[4096];
	int r = wire_cpu_port_name(cpu, name, sizeof(name));
	if (r == 0)
		r = channel_find_port(sysfs_root, name, path, sizeof(path));
	if (r == -ENOENT)
		return 0;
	int fd;
	bool eof_ends;
	if (r == 0)
		r = channel_open_path(path, &fd, &eof_ends);
	if (r < 0)
		return r;
	r = cpuport_start(&ps->port[cpu], cpu, fd, &ps->env);
	if (r == 0)
		ps->nopen++;
	const char *base = strrchr(path, '/');
	snprintf(ps->port[cpu].vport, sizeof(ps->port[cpu].vport), "%.31s", base ? base + 1 : path);
	return r;
}

int cpuports_open(struct cpuports *ps, const char *sysfs_root, int ncpus,
		  const struct cpuport_env *env)
{
	*ps = (struct cpuports){ .env = *env };
	ps->port = calloc(ncpus > 0 ? (size_t)ncpus : 1, sizeof(*ps->port));
	if (!ps->port)
		return -ENOMEM;
	for (int i = 0; i < ncpus; i++)
		ps->port[i].wake_fd = ps->port[i].chan.fd = ps->port[i].loop.epfd = -1;
	ps->ncpus = ncpus;
	for (int cpu = 1; cpu < ncpus; cpu++) {
		int r = open_port(ps, sysfs_root, cpu);
		if (r < 0) {
			cpuports_close(ps);
			return r;
		}
	}
	return 0;
}

void cpuports_sync(struct cpuports *ps, const struct cpuctl *ctl)
{
	for (int cpu = 1; cpu < ps->ncpus; cpu++)
		cpuport_set_open(&ps->port[cpu], cpuctl_in_service(ctl, cpu));
}

struct cpuport *cpuports_get(struct cpuports *ps, int cpu)
{
	return cpu > 0 && cpu < ps->ncpus && ps->port[cpu].started ? &ps->port[cpu] : NULL;
}

void cpuports_reap(struct cpuports *ps)
{
	for (int cpu = 1; cpu < ps->ncpus; cpu++)
		cpuport_reap(&ps->port[cpu]);
}

void cpuports_close(struct cpuports *ps)
{
	for (int cpu = 0; ps->port && cpu < ps->ncpus; cpu++)
		cpuport_stop(&ps->port[cpu]);
	free(ps->port);
	ps->port = NULL;
	ps->ncpus = ps->nopen = 0;
}

void cpuports_ctl_busy(struct cpuports *ps, struct cpuctl *ctl, int cpu, bool busy)
{
	struct cpuport *p = cpuports_get(ps, cpu);
	if (p)
		p->ctl_busy = busy;
	cpuctl_set_busy(ctl, cpu, busy || (p && cpuport_busy(p)));
}

void cpuports_sync_busy(struct cpuports *ps, struct cpuctl *ctl)
{
	for (int cpu = 1; cpu < ps->ncpus; cpu++) {
		struct cpuport *p = cpuports_get(ps, cpu);
		if (p)
			cpuctl_set_busy(ctl, cpu, p->ctl_busy || cpuport_busy(p));
	}
}

void cpuports_leaving(struct cpuports *ps, struct cpuctl *ctl, int cpu)
{
	struct cpuport *p = cpuports_get(ps, cpu);
	if (!p)
		return;
	cpuport_set_open(p, false);
	/* Only ever raised here: lowering it would move the change on from
	 * inside its own step; the port's notification lowers it. */
	if (cpuport_busy(p))
		cpuctl_set_busy(ctl, cpu, true);
}

int cpuports_relay(struct cpuports *ps, struct cpuctl *ctl, struct inv *inv, int cpu)
{
	struct cpuport *p = cpuports_get(ps, cpu);
	if (!p || inv->mode != INV_PERSISTENT || inv->e2e)
		return -ENOENT;
	inv->relayed = true;
	inv->next = NULL;
	pthread_mutex_lock(&p->mu);
	if (p->in_tail)
		p->in_tail->next = inv;
	else
		p->in_head = inv;
	p->in_tail = inv;
	pthread_mutex_unlock(&p->mu);
	poke(p->wake_fd);
	cpuports_ctl_busy(ps, ctl, cpu, true);
	return 0;
}

struct inv *cpuports_take_back(struct cpuports *ps, struct cpuctl *ctl)
{
	struct inv *all = NULL;
	for (int cpu = 1; cpu < ps->ncpus; cpu++) {
		struct cpuport *p = cpuports_get(ps, cpu);
		if (!p)
			continue;
		pthread_mutex_lock(&p->mu);
		struct inv *back = p->out_head;
		p->out_head = NULL;
		pthread_mutex_unlock(&p->mu);
		if (back)
			cpuports_ctl_busy(ps, ctl, cpu, false);
		while (back) {
			struct inv *next = back->next;
			back->next = all;
			all = back;
			back = next;
		}
	}
	return all;
}
