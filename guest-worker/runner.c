#include "runner.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK (64u * 1024u)
/* Idle long-lived processes kept per CPU; past this the least recently used
 * one is ended, so many functions over days cannot fill the guest's memory. */
#define WARM_PER_CPU 8
/* Reads per readiness callback, so a process that writes without pause
 * cannot hold the loop. */
#define READS_PER_CALL 16
/* Reads when draining the pipes of a process that has ended. */
#define READS_AFTER_EXIT 64
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

/* A long-lived process serving one artifact (with one runtime and handler)
 * under one memory limit on one CPU. */
struct pproc {
	struct runner *r;
	char digest[SHA256_HEX_SIZE];
	enum fn_runtime runtime;
	char handler[FNPKG_HANDLER_SIZE];
	uint32_t memory_mib; /* the memory limit it was started with */
	bool e2e;            /* it runs the opened executable of a sealed artifact */
	int cpu;
	struct proc proc;
	struct cgroup cg;
	struct watch in_w, out_w, err_w;
	struct inv *inv; /* the invocation it serves, or NULL when idle */
	bool dying;      /* killed or broken: waits to be reaped, never reused */
	bool retire;     /* to be killed when its invocation ends */
	uint64_t last_used_us;
	/* Once reaped, /proc no longer knows it: its last CPU and CPU time. */
	int exit_ran_on;
	uint64_t exit_cpu_us;
	struct pproc *next;
};

static void finish(struct inv *inv);

static void wipe(void *p, size_t n)
{
	if (p)
		explicit_bzero(p, n);
}

struct inv *inv_new(void)
{
	struct inv *inv = calloc(1, sizeof(*inv));
	if (!inv)
		return NULL;
	inv->cpu = -1;
	inv->ran_on = -1;
	inv->proc = (struct proc){ .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1 };
	inv->cg.fd = -1;
	inv->in_w.fd = inv->out_w.fd = inv->err_w.fd = inv->timer_w.fd = -1;
	return inv;
}

void inv_free(struct inv *inv)
{
	if (!inv)
		return;
	if (inv->e2e) {
		wipe(inv->input, inv->input_len);
		wipe(inv->result.data, inv->result.len);
		wipe(inv->log.data, inv->log.len);
		wipe(&inv->e2e_key, sizeof(inv->e2e_key));
	}
	free(inv->input);
	json_decref(inv->exception);
	buf_free(&inv->result);
	buf_free(&inv->log);
	free(inv);
}

const char *inv_status_name(enum inv_status s)
{
	switch (s) {
	case INV_OK: return "ok";
	case INV_TIMEOUT: return "timeout";
	case INV_ERROR: break;
	}
	return "error";
}

/* Appends what fits under cap, flags the rest as truncated. */
static void append_capped(struct buf *b, const void *p, size_t n, size_t cap, bool *truncated)
{
	size_t keep = cap > b->len ? cap - b->len : 0;
	if (keep > n)
		keep = n;
	if (keep && buf_append(b, p, keep) < 0)
		keep = 0;
	if (keep < n)
		*truncated = true;
}

/* Reads up to max_reads chunks from fd into b under cap (bytes beyond it are
 * read and dropped, so the writer never blocks on a full pipe). Returns 1 at
 * EOF, 0 when it would block or the read budget is spent, or -errno. */
static int read_capped(int fd, struct buf *b, size_t cap, bool *truncated, int max_reads)
{
	uint8_t chunk[READ_CHUNK];
	for (int i = 0; i < max_reads; i++) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return 1;
		append_capped(b, chunk, (size_t)n, cap, truncated);
	}
	return 0;
}

static void close_watch(struct loop *l, struct watch *w, int *fd)
{
	loop_del(l, w);
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void set_error(struct inv *inv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct inv *inv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(inv->error, sizeof(inv->error), fmt, ap);
	va_end(ap);
}

/* Records how a process ended in the invocation. */
static void set_exit(struct inv *inv, int status)
{
	if (WIFEXITED(status)) {
		inv->exited = true;
		inv->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		inv->signal = WTERMSIG(status);
	}
}

static void describe_exit(const struct inv *inv, char *out, size_t size)
{
	if (inv->exited)
		snprintf(out, size, "exit code %d", inv->exit_code);
	else if (inv->signal)
		snprintf(out, size, "killed by signal %d", inv->signal);
	else
		snprintf(out, size, "ended");
}

/* Kills a started process with everything it started: its cgroup at once
 * where it has one (also descendants that called setsid or double-forked),
 * and its process group, which is all a kill reaches where cgroup v2 is not
 * mounted (or cgroup.kill is missing, before Linux 5.14). Only while the
 * process is not reaped, so its pid (the group's id) cannot be reused. */
static void kill_tree(pid_t pid, const struct cgroup *cg)
{
	if (cgroup_is_set(cg))
		cgroup_kill(cg);
	kill(-pid, SIGKILL);
}

/* ---- timeouts -------------------------------------------------------- */

static void on_timeout(struct watch *w, uint32_t events);

static int arm_timer(struct runner *r, struct inv *inv)
{
	if (inv->timeout_ms == 0)
		return 0;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct itimerspec its = {
		.it_value = { .tv_sec = inv->timeout_ms / 1000,
			      .tv_nsec = (long)(inv->timeout_ms % 1000) * 1000000L },
	};
	int ret = timerfd_settime(fd, 0, &its, NULL) < 0
			  ? -errno
			  : loop_add(r->loop, &inv->timer_w, fd, EPOLLIN, on_timeout);
	if (ret < 0)
		close(fd);
	return ret;
}

static void pp_break(struct pproc *pp);

static void on_timeout(struct watch *w, uint32_t events)
{
	struct inv *inv = container_of(w, struct inv, timer_w);
	int fd = w->fd;
	close_watch(inv->runner->loop, w, &fd);
	inv->timed_out = true;
	/* The invocation ends when the killed process is reaped. */
	if (inv->pp)
		pp_break(inv->pp);
	else
		kill_tree(inv->proc.pid, &inv->cg);
}

/* A runtime's invocation that ran to its reply line: the result VALUE, or
 * the exception the function raised (sealed with the rest for e2e). */
static void unwrap_reply(struct inv *inv)
{
	struct buf *b = &inv->result;
	size_t len = b->len;
	if (inv->mode == INV_PROCESS && len) {
		const uint8_t *nl = memchr(b->data, '\n', len);
		len = nl ? (size_t)(nl - b->data) : len;
	}
	struct runtime_reply rep;
	int e = runtime_reply_read(b->data, len, inv->result_truncated, &rep);
	if (e < 0) {
		inv->status = INV_ERROR;
		set_error(inv, "the %s launcher answered neither a result nor an error (%s)",
			  fn_runtime_name(inv->runtime), strerror(-e));
		return;
	}
	if (!rep.raised) {
		memmove(b->data, b->data + rep.value_off, rep.value_len);
		b->len = rep.value_len;
		return;
	}
	inv->status = INV_ERROR;
	if (inv->e2e) {
		/* Type, message and traceback are the function's secrets too. */
		set_error(inv, "the function raised an exception (sealed)");
		json_decref(rep.exception);
		b->len = len;
		return;
	}
	runtime_exception_text(rep.exception, inv->error, sizeof(inv->error));
	inv->exception = rep.exception;
	buf_reset(b);
}

static void finish(struct inv *inv)
{
	struct runner *r = inv->runner;
	int fd = inv->timer_w.fd;
	close_watch(r->loop, &inv->timer_w, &fd);
	inv->wall_us = time_now_us() - inv->started_us;
	if (inv->timed_out) {
		inv->status = INV_TIMEOUT;
		set_error(inv, "timed out after %u ms", inv->timeout_ms);
	}
	if (fn_runtime_has_handler(inv->runtime) && inv->status == INV_OK)
		unwrap_reply(inv);
	inv->pp = NULL;
	r->done(inv, r->data);
}

static void build_env(const struct runner *r, const char *mode, int cpu, char *mode_env,
		      size_t mode_size, char *cpu_env, size_t cpu_size, char **envp)
{
	snprintf(mode_env, mode_size, "DITTO_MODE=%s", mode);
	snprintf(cpu_env, cpu_size, "DITTO_CPU=%d", cpu);
	envp[0] = r->path_env;
	envp[1] = "HOME=/";
	envp[2] = mode_env;
	envp[3] = cpu_env;
	envp[4] = NULL;
}

/* Gives the process its own leaf cgroup (with memory.max when memory_mib is
 * not 0), which it joins before its exec: killing that cgroup kills all it
 * starts, even what left its process group. Without cgroup v2 nothing is
 * made, and kills reach its process group only. */
static int make_cgroup(struct runner *r, struct inv *inv, uint32_t memory_mib, struct cgroup *cg,
		       struct proc_spawn_opts *o)
{
	if (!cgroups_enabled(&r->cgroups))
		return 0;
	int e = cgroup_create(&r->cgroups, memory_mib, cg);
	if (e < 0) {
		set_error(inv, "cgroup: %s", strerror(-e));
		return e;
	}
	o->cgroup = cg;
	return 0;
}

/* What runs: the artifact at path, or its runtime's launcher on it (cmd).
 * Sets o's path, argv and memory limit, making inv's cgroup in cg. */
static int spawn_target(struct runner *r, struct inv *inv, const char *path,
			struct runtime_cmd *cmd, struct cgroup *cg, struct proc_spawn_opts *o)
{
	o->path = path;
	o->as_limit = (uint64_t)inv->memory_mib << 20;
	uint32_t cg_mib = 0;
	if (fn_runtime_has_handler(inv->runtime)) {
		int e = runtime_command(inv->runtime, r->launchers, r->path_env + strlen("PATH="),
					path, inv->handler, inv->memory_mib, cmd);
		if (e < 0) {
			set_error(inv, "runtime %s is not installed in this guest image",
				  fn_runtime_name(inv->runtime));
			return e;
		}
		o->path = cmd->interp;
		o->argv = cmd->argv;
	}
	/* nodejs: its heap limit, and memory.max where the memory controller
	 * is there, instead of RLIMIT_AS. */
	if (inv->runtime == FN_RUNTIME_NODEJS && inv->memory_mib) {
		o->as_limit = 0;
		if (cgroups_have_memory(&r->cgroups))
			cg_mib = inv->memory_mib;
	}
	return make_cgroup(r, inv, cg_mib, cg, o);
}

static int spawn(struct runner *r, struct inv *inv, const char *mode, struct proc *ret,
		 struct cgroup *cg)
{
	char path[PATH_MAX];
	const struct artifact_store *store = inv->e2e ? r->plain : r->store;
	int e = store ? artifact_path(store, inv->digest, path, sizeof(path)) : -ENOENT;
	if (e < 0) {
		set_error(inv, "artifact path: %s", strerror(-e));
		return e;
	}
	char mode_env[64], cpu_env[32], *envp[5];
	build_env(r, mode, inv->cpu, mode_env, sizeof(mode_env), cpu_env, sizeof(cpu_env), envp);
	struct proc_spawn_opts o = { .cpu = inv->cpu, .envp = envp };
	struct runtime_cmd cmd;
	e = spawn_target(r, inv, path, &cmd, cg, &o);
	if (e < 0)
		return e;
	const char *step = "spawn";
	uint64_t t0 = time_now_us();
	e = proc_spawn(&o, ret, &step);
	if (e < 0) {
		cgroup_remove(&r->cgroups, cg);
		set_error(inv, "%s failed: %s", step, strerror(-e));
		return e;
	}
	inv->init_us = time_now_us() - t0;
	return 0;
}

/* ---- process mode ---------------------------------------------------- */

/* The next bytes of inv's input to write at in_off: the input, then (with
 * newline) the '\n' that ends it. False when all is written. */
static bool input_next(const struct inv *inv, bool newline, const void **ret_p, size_t *ret_n)
{
	if (inv->in_off < inv->input_len) {
		*ret_p = inv->input + inv->in_off;
		*ret_n = inv->input_len - inv->in_off;
		return true;
	}
	*ret_p = "\n";
	*ret_n = 1;
	return newline && inv->in_off == inv->input_len;
}

static void proc_on_stdin(struct watch *w, uint32_t events)
{
	struct inv *inv = container_of(w, struct inv, in_w);
	/* A launcher reads one line. */
	bool newline = fn_runtime_has_handler(inv->runtime);
	const void *p;
	size_t len;
	while (input_next(inv, newline, &p, &len)) {
		ssize_t n = write(inv->proc.in_fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			break; /* EPIPE: it does not want the rest */
		}
		inv->in_off += (size_t)n;
	}
	close_watch(inv->runner->loop, w, &inv->proc.in_fd);
}

static void proc_on_stdout(struct watch *w, uint32_t events)
{
	struct inv *inv = container_of(w, struct inv, out_w);
	if (read_capped(inv->proc.out_fd, &inv->result, inv->max_output, &inv->result_truncated,
			READS_PER_CALL) != 0)
		close_watch(inv->runner->loop, w, &inv->proc.out_fd);
}

static void proc_on_stderr(struct watch *w, uint32_t events)
{
	struct inv *inv = container_of(w, struct inv, err_w);
	if (read_capped(inv->proc.err_fd, &inv->log, inv->max_output, &inv->log_truncated,
			READS_PER_CALL) != 0)
		close_watch(inv->runner->loop, w, &inv->proc.err_fd);
}

static int start_process(struct runner *r, struct inv *inv)
{
	int e = spawn(r, inv, "process", &inv->proc, &inv->cg);
	if (e < 0)
		return e;
	inv->run_next = r->running;
	r->running = inv;
	/* From here on the child exists, so the invocation completes through
	 * its reaping whatever happens; a failed set-up kills it. */
	if (inv->input_len == 0 && !fn_runtime_has_handler(inv->runtime)) {
		close(inv->proc.in_fd);
		inv->proc.in_fd = -1;
		e = 0;
	} else {
		e = loop_add(r->loop, &inv->in_w, inv->proc.in_fd, EPOLLOUT, proc_on_stdin);
	}
	if (e == 0)
		e = loop_add(r->loop, &inv->out_w, inv->proc.out_fd, EPOLLIN, proc_on_stdout);
	if (e == 0)
		e = loop_add(r->loop, &inv->err_w, inv->proc.err_fd, EPOLLIN, proc_on_stderr);
	if (e == 0)
		e = arm_timer(r, inv);
	if (e < 0) {
		set_error(inv, "set-up failed: %s", strerror(-e));
		kill_tree(inv->proc.pid, &inv->cg);
	}
	return 0;
}

static void process_exited(struct runner *r, struct inv *inv, int status, const struct rusage *ru,
			   int ran_on)
{
	for (struct inv **p = &r->running; *p; p = &(*p)->run_next) {
		if (*p == inv) {
			*p = inv->run_next;
			break;
		}
	}
	inv->ran_on = ran_on;
	inv->cpu_us = (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000u +
		      (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec);
	set_exit(inv, status);
	/* Everything the process wrote is in the pipes now; its group was
	 * killed before reaping, so nothing keeps writing for long. */
	if (inv->proc.out_fd >= 0)
		read_capped(inv->proc.out_fd, &inv->result, inv->max_output, &inv->result_truncated,
			    READS_AFTER_EXIT);
	if (inv->proc.err_fd >= 0)
		read_capped(inv->proc.err_fd, &inv->log, inv->max_output, &inv->log_truncated,
			    READS_AFTER_EXIT);
	close_watch(r->loop, &inv->in_w, &inv->proc.in_fd);
	close_watch(r->loop, &inv->out_w, &inv->proc.out_fd);
	close_watch(r->loop, &inv->err_w, &inv->proc.err_fd);
	cgroup_remove(&r->cgroups, &inv->cg);

	if (inv->error[0]) {
		inv->status = INV_ERROR; /* a set-up failure, already described */
	} else if (inv->exited && inv->exit_code == 0) {
		inv->status = INV_OK;
	} else {
		inv->status = INV_ERROR;
		describe_exit(inv, inv->error, sizeof(inv->error));
	}
	finish(inv);
}

/* ---- persistent mode ------------------------------------------------- */

static void pp_on_stdin(struct watch *w, uint32_t events);
static void pp_on_stdout(struct watch *w, uint32_t events);
static void pp_on_stderr(struct watch *w, uint32_t events);

/* Kills a persistent process that can no longer serve; what it was doing
 * ends when it is reaped. */
static void pp_break(struct pproc *pp)
{
	if (pp->dying)
		return;
	pp->dying = true;
	kill_tree(pp->proc.pid, &pp->cg);
	close_watch(pp->r->loop, &pp->in_w, &pp->proc.in_fd);
}

/* The result line is complete: the invocation succeeded. */
static void pp_result(struct pproc *pp)
{
	struct inv *inv = pp->inv;
	/* Log lines written before the result are in the pipe already. */
	if (pp->proc.err_fd >= 0)
		read_capped(pp->proc.err_fd, &inv->log, inv->max_output, &inv->log_truncated,
			    READS_PER_CALL);
	uint64_t cpu_us = 0;
	if (pp->dying) {
		inv->ran_on = pp->exit_ran_on;
		cpu_us = pp->exit_cpu_us;
	} else {
		proc_stat(pp->proc.pid, &inv->ran_on, &cpu_us);
	}
	if (cpu_us >= inv->cpu_us0)
		inv->cpu_us = cpu_us - inv->cpu_us0;
	inv->status = INV_OK;
	pp->inv = NULL;
	loop_del(pp->r->loop, &pp->in_w);
	/* Input it did not read (or its newline) would be glued to the next
	 * request's line: a process that answered early is not reused. */
	if (inv->in_off <= inv->input_len)
		pp->retire = true;
	if (pp->retire)
		pp_break(pp);
	finish(inv);
}

/* Takes stdout bytes: the invocation's result is everything up to the first
 * newline. Bytes after it, and bytes while idle, break the one line in, one
 * line out protocol and are dropped. Returns true when the line is done. */
static bool pp_take_stdout(struct pproc *pp, const uint8_t *p, size_t n)
{
	struct inv *inv = pp->inv;
	if (!inv)
		return false;
	const uint8_t *nl = memchr(p, '\n', n);
	append_capped(&inv->result, p, nl ? (size_t)(nl - p) : n, inv->max_output,
		      &inv->result_truncated);
	return nl != NULL;
}

/* Reads stdout; completes the invocation when its line arrives (and then
 * stops, so bytes for a next invocation are read for that one). Returns 1 at
 * EOF, 0 otherwise. */
static int pp_read_stdout(struct pproc *pp, int max_reads)
{
	uint8_t chunk[READ_CHUNK];
	for (int i = 0; i < max_reads; i++) {
		ssize_t n = read(pp->proc.out_fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : 1;
		}
		if (n == 0)
			return 1;
		if (pp_take_stdout(pp, chunk, (size_t)n)) {
			pp_result(pp);
			return 0;
		}
	}
	return 0;
}

static void pp_on_stdout(struct watch *w, uint32_t events)
{
	struct pproc *pp = container_of(w, struct pproc, out_w);
	if (pp_read_stdout(pp, READS_PER_CALL) == 1) {
		/* It closed stdout: it cannot answer any more. */
		close_watch(pp->r->loop, w, &pp->proc.out_fd);
		pp_break(pp);
	}
}

static void pp_on_stderr(struct watch *w, uint32_t events)
{
	struct pproc *pp = container_of(w, struct pproc, err_w);
	int e;
	if (pp->inv) {
		e = read_capped(pp->proc.err_fd, &pp->inv->log, pp->inv->max_output,
				&pp->inv->log_truncated, READS_PER_CALL);
	} else {
		struct buf discard = { 0 };
		bool t;
		e = read_capped(pp->proc.err_fd, &discard, 0, &t, READS_PER_CALL);
	}
	if (e != 0)
		close_watch(pp->r->loop, w, &pp->proc.err_fd);
}

static void pp_on_stdin(struct watch *w, uint32_t events)
{
	struct pproc *pp = container_of(w, struct pproc, in_w);
	struct inv *inv = pp->inv;
	if (!inv) {
		loop_del(pp->r->loop, w);
		return;
	}
	/* The input, then the newline that ends it. */
	const void *p;
	size_t n;
	while (input_next(inv, true, &p, &n)) {
		ssize_t k = write(pp->proc.in_fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			pp_break(pp); /* EPIPE: it closed stdin or died */
			return;
		}
		inv->in_off += (size_t)k;
	}
	loop_del(pp->r->loop, w);
}

static struct pproc *pp_find(const struct runner *r, const struct inv *inv, int cpu)
{
	for (struct pproc *pp = r->pprocs; pp; pp = pp->next)
		if (!pp->dying && !pp->retire && pp->cpu == cpu &&
		    pp->memory_mib == inv->memory_mib && pp->e2e == inv->e2e &&
		    pp->runtime == inv->runtime && strcmp(pp->handler, inv->handler) == 0 &&
		    strcmp(pp->digest, inv->digest) == 0)
			return pp;
	return NULL;
}

/* Starts the long-lived process for inv's artifact on inv's CPU. Its memory
 * limit is inv's, set once before exec, so it serves only invocations with
 * that limit: two functions deployed from one executable with different
 * limits each get their own process, and each keeps its own limit. */
static int pp_new(struct runner *r, struct inv *inv, struct pproc **ret)
{
	struct pproc *pp = calloc(1, sizeof(*pp));
	if (!pp) {
		set_error(inv, "out of memory");
		return -ENOMEM;
	}
	pp->cg.fd = -1;
	int e = spawn(r, inv, "persistent", &pp->proc, &pp->cg);
	if (e < 0) {
		free(pp);
		return e;
	}
	pp->r = r;
	pp->cpu = inv->cpu;
	pp->memory_mib = inv->memory_mib;
	pp->e2e = inv->e2e;
	pp->runtime = inv->runtime;
	memcpy(pp->handler, inv->handler, sizeof(pp->handler));
	memcpy(pp->digest, inv->digest, sizeof(pp->digest));
	pp->in_w.fd = pp->out_w.fd = pp->err_w.fd = -1;
	pp->next = r->pprocs;
	r->pprocs = pp;
	e = loop_add(r->loop, &pp->out_w, pp->proc.out_fd, EPOLLIN, pp_on_stdout);
	if (e == 0)
		e = loop_add(r->loop, &pp->err_w, pp->proc.err_fd, EPOLLIN, pp_on_stderr);
	if (e < 0) {
		set_error(inv, "set-up failed: %s", strerror(-e));
		pp_break(pp); /* reaped and freed like any other */
		return e;
	}
	*ret = pp;
	return 0;
}

/* Ends the least recently used idle process on cpu when the CPU holds as
 * many as it may keep. */
static void pp_evict(struct runner *r, int cpu)
{
	struct pproc *lru = NULL;
	int n = 0;
	for (struct pproc *pp = r->pprocs; pp; pp = pp->next) {
		if (pp->dying || pp->cpu != cpu)
			continue;
		n++;
		if (!pp->inv && (!lru || pp->last_used_us < lru->last_used_us))
			lru = pp;
	}
	if (n >= WARM_PER_CPU && lru)
		pp_break(lru);
}

static int start_persistent(struct runner *r, struct inv *inv)
{
	struct pproc *pp = pp_find(r, inv, inv->cpu);
	if (!pp) {
		pp_evict(r, inv->cpu);
		int e = pp_new(r, inv, &pp);
		if (e < 0)
			return e;
		inv->cold_start = true;
	}
	uint64_t cpu_us = 0;
	int on;
	if (proc_stat(pp->proc.pid, &on, &cpu_us) == 0)
		inv->cpu_us0 = cpu_us;
	pp->inv = inv;
	pp->last_used_us = time_now_us();
	inv->pp = pp;
	inv->in_off = 0;
	int e = loop_add(r->loop, &pp->in_w, pp->proc.in_fd, EPOLLOUT, pp_on_stdin);
	if (e == 0)
		e = arm_timer(r, inv);
	if (e < 0) {
		/* It completes when the killed process is reaped. */
		set_error(inv, "set-up failed: %s", strerror(-e));
		pp_break(pp);
	}
	return 0;
}

static void pproc_exited(struct runner *r, struct pproc *pp, int status, int ran_on,
			 uint64_t cpu_us)
{
	for (struct pproc **p = &r->pprocs; *p; p = &(*p)->next) {
		if (*p == pp) {
			*p = pp->next;
			break;
		}
	}
	pp->dying = true;
	pp->exit_ran_on = ran_on;
	pp->exit_cpu_us = cpu_us;
	/* The result line may be waiting in the pipe: a process that answers
	 * and then exits still answered. */
	if (pp->inv && !pp->inv->timed_out && !pp->inv->error[0] && pp->proc.out_fd >= 0)
		pp_read_stdout(pp, READS_AFTER_EXIT);
	struct inv *inv = pp->inv;
	if (inv) {
		if (pp->proc.err_fd >= 0)
			read_capped(pp->proc.err_fd, &inv->log, inv->max_output,
				    &inv->log_truncated, READS_AFTER_EXIT);
		inv->ran_on = ran_on;
		if (cpu_us >= inv->cpu_us0)
			inv->cpu_us = cpu_us - inv->cpu_us0;
		set_exit(inv, status);
		inv->status = INV_ERROR;
		if (!inv->error[0]) {
			char how[64];
			describe_exit(inv, how, sizeof(how));
			set_error(inv, "no result line (%s)", how);
		}
	}
	close_watch(r->loop, &pp->in_w, &pp->proc.in_fd);
	close_watch(r->loop, &pp->out_w, &pp->proc.out_fd);
	close_watch(r->loop, &pp->err_w, &pp->proc.err_fd);
	cgroup_remove(&r->cgroups, &pp->cg);
	free(pp);
	if (inv)
		finish(inv);
}

/* ---- the runner ------------------------------------------------------ */

int runner_init(struct runner *r, struct loop *loop, const struct artifact_store *store,
		runner_done_fn done, void *data)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = DEFAULT_PATH;
	*r = (struct runner){ .loop = loop,
			      .store = store,
			      .done = done,
			      .data = data,
			      .launchers = RUNTIME_DEFAULT_LAUNCHERS,
			      .cgroups.root_fd = -1 };
	if (asprintf(&r->path_env, "PATH=%s", path) < 0) {
		r->path_env = NULL;
		return -ENOMEM;
	}
	return 0;
}

int runner_use_cgroups(struct runner *r, const char *root)
{
	cgroups_fini(&r->cgroups);
	return cgroups_init(&r->cgroups, root);
}

int runner_start(struct runner *r, struct inv *inv, int cpu)
{
	inv->runner = r;
	inv->cpu = cpu;
	inv->error[0] = '\0';
	if (fn_runtime_has_handler(inv->runtime))
		runtime_input_flatten(inv->input, inv->input_len);
	if (inv->mode == INV_PERSISTENT)
		return start_persistent(r, inv);
	return start_process(r, inv);
}

void runner_reap(struct runner *r)
{
	for (;;) {
		/* Look first without reaping: the process's CPU and CPU time
		 * are readable only while it is a zombie, and its group can be
		 * killed safely only while its pid cannot be reused. Only the
		 * calling thread's children (and the orphans re-parented to
		 * it): each thread's runner reaps its own. */
		siginfo_t si = { 0 };
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WNOTHREAD) < 0 ||
		    si.si_pid == 0)
			return;
		pid_t pid = si.si_pid;
		struct inv *inv = NULL;
		struct pproc *pp = NULL;
		for (inv = r->running; inv && inv->proc.pid != pid; inv = inv->run_next)
			;
		if (!inv)
			for (pp = r->pprocs; pp && pp->proc.pid != pid; pp = pp->next)
				;
		int ran_on = -1;
		uint64_t cpu_us = 0;
		if (inv || pp) {
			if (proc_stat(pid, &ran_on, &cpu_us) < 0)
				ran_on = -1;
			/* Nothing it started may outlive it. */
			kill_tree(pid, inv ? &inv->cg : &pp->cg);
		}
		int status = 0;
		struct rusage ru = { 0 };
		if (wait4(pid, &status, 0, &ru) < 0)
			continue;
		if (inv)
			process_exited(r, inv, status, &ru, ran_on);
		else if (pp)
			pproc_exited(r, pp, status, ran_on, cpu_us);
		cgroups_sweep(&r->cgroups);
	}
}

bool runner_has_warm(const struct runner *r, const struct inv *inv, int cpu)
{
	const struct pproc *pp = pp_find(r, inv, cpu);
	return pp && !pp->inv;
}

void runner_kill_cpu(struct runner *r, int cpu)
{
	for (struct pproc *pp = r->pprocs; pp; pp = pp->next) {
		if (pp->cpu != cpu || pp->dying)
			continue;
		if (pp->inv)
			pp->retire = true;
		else
			pp_break(pp);
	}
}

void runner_fini(struct runner *r)
{
	for (struct inv *inv = r->running; inv; inv = inv->run_next) {
		set_error(inv, "shutdown");
		kill_tree(inv->proc.pid, &inv->cg);
	}
	for (struct pproc *pp = r->pprocs; pp; pp = pp->next) {
		if (pp->inv)
			set_error(pp->inv, "shutdown");
		pp_break(pp);
	}
	/* Everything was sent SIGKILL, so these waits are short. */
	while (r->running || r->pprocs) {
		pid_t pid = r->running ? r->running->proc.pid : r->pprocs->proc.pid;
		siginfo_t si;
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == ECHILD) {
			/* Already reaped elsewhere: drop it without a status. */
			if (r->running && r->running->proc.pid == pid) {
				struct inv *inv = r->running;
				struct rusage ru = { 0 };
				process_exited(r, inv, 0, &ru, -1);
			} else {
				pproc_exited(r, r->pprocs, 0, -1, 0);
			}
			continue;
		}
		runner_reap(r);
	}
	runner_reap(r);
	cgroups_fini(&r->cgroups);
	free(r->path_env);
	r->path_env = NULL;
}
