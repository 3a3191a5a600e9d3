#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* What a child that failed before exec tells its parent. */
struct spawn_failure {
	int step;
	int err;
};

static const char *const step_names[] = { "pipe",   "fork", "setpgid",   "sched_setaffinity",
					  "cgroup", "dup2", "setrlimit", "execve" };
enum {
	STEP_PIPE,
	STEP_FORK,
	STEP_SETPGID,
	STEP_AFFINITY,
	STEP_CGROUP,
	STEP_DUP2,
	STEP_RLIMIT,
	STEP_EXEC
};

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

/* Runs in the child between vfork and exec: only async-signal-safe calls,
 * and nothing that changes the parent's memory but errno (the parent is
 * suspended until the exec, and reads errno only after). */
static _Noreturn void child_exec(const struct proc_spawn_opts *o, int in[2], int out[2], int err[2],
				 int status_fd)
{
	struct spawn_failure f = { 0 };
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);

	if (setpgid(0, 0) < 0) {
		f = (struct spawn_failure){ STEP_SETPGID, errno };
		goto fail;
	}
	if (o->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			f = (struct spawn_failure){ STEP_AFFINITY, errno };
			goto fail;
		}
	}
	/* Joined here, before the exec, so nothing of the function runs
	 * outside it. clone3's CLONE_INTO_CGROUP would save this write, but
	 * only as a raw syscall, whose child would return into the stack
	 * frames it shares with the suspended parent under CLONE_VM. */
	if (o->cgroup) {
		int r = cgroup_join(o->cgroup);
		if (r < 0) {
			f = (struct spawn_failure){ STEP_CGROUP, -r };
			goto fail;
		}
	}
	/* dup2 leaves the new descriptors without close-on-exec. */
	if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) {
		f = (struct spawn_failure){ STEP_DUP2, errno };
		goto fail;
	}
	/* Last before exec: the limit is the child's own (rlimits are per
	 * process, not per address space), so the daemon it shares memory
	 * with until the exec is not bound by it, and the new image is. */
	if (o->as_limit) {
		struct rlimit rl = { .rlim_cur = o->as_limit, .rlim_max = o->as_limit };
		if (setrlimit(RLIMIT_AS, &rl) < 0) {
			f = (struct spawn_failure){ STEP_RLIMIT, errno };
			goto fail;
		}
	}
	char *argv[] = { (char *)o->path, NULL };
	execve(o->path, o->argv ? o->argv : argv, o->envp);
	f = (struct spawn_failure){ STEP_EXEC, errno };
fail:
	(void)!write(status_fd, &f, sizeof(f));
	_exit(127);
}

int proc_spawn(const struct proc_spawn_opts *o, struct proc *ret, const char **ret_step)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, st[2] = { -1, -1 };
	int r;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		r = -errno;
		*ret_step = step_names[STEP_PIPE];
		goto out;
	}
	/* vfork, not fork: the daemon's page tables are not copied for a
	 * child that only execs, which under TCG saves milliseconds a call. */
	pid_t pid = vfork();
	if (pid < 0) {
		r = -errno;
		*ret_step = step_names[STEP_FORK];
		goto out;
	}
	if (pid == 0)
		child_exec(o, in, out, err, st[1]);

	close(st[1]);
	st[1] = -1;
	/* The status pipe closes on a successful exec (close-on-exec) or
	 * carries the reason the child gave up. */
	struct spawn_failure f;
	ssize_t n;
	do
		n = read(st[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(f)) {
		waitpid(pid, NULL, 0);
		r = -f.err;
		*ret_step = step_names[f.step];
		goto out;
	}
	*ret = (struct proc){ .pid = pid, .in_fd = in[1], .out_fd = out[0], .err_fd = err[0] };
	in[1] = out[0] = err[0] = -1;
	fcntl(ret->in_fd, F_SETFL, O_NONBLOCK);
	fcntl(ret->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(ret->err_fd, F_SETFL, O_NONBLOCK);
	r = 0;
out:
	close_pair(in);
	close_pair(out);
	close_pair(err);
	close_pair(st);
	return r;
}

int proc_stat(pid_t pid, int *ret_cpu, uint64_t *ret_cpu_us)
{
	char path[64], text[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int r = file_read_text(path, text, sizeof(text));
	if (r < 0)
		return r;
	/* The command name (field 2) may hold spaces and parentheses; the
	 * fields that follow start after its last ')'. */
	const char *p = strrchr(text, ')');
	if (!p)
		return -EINVAL;
	p++;
	unsigned long long utime = 0, stime = 0;
	long processor = -1;
	/* After ')' comes field 3; count fields up to 39. */
	for (int field = 3; field <= 39; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		char *end;
		if (field == 14)
			utime = strtoull(p, &end, 10);
		else if (field == 15)
			stime = strtoull(p, &end, 10);
		else if (field == 39)
			processor = strtol(p, &end, 10);
		else
			end = strchr(p, ' ') ? strchr(p, ' ') : (char *)p + strlen(p);
		p = end;
	}
	if (processor < 0)
		return -EINVAL;
	long tck = sysconf(_SC_CLK_TCK);
	if (tck <= 0)
		tck = 100;
	*ret_cpu = (int)processor;
	*ret_cpu_us = (utime + stime) * 1000000ull / (unsigned long long)tck;
	return 0;
}
