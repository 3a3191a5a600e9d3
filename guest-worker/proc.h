/* Starting function processes and reading their kernel statistics. */
#ifndef DITTO_GUEST_PROC_H
#define DITTO_GUEST_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

struct proc_spawn_opts {
	const char *path;            /* the executable (a script with #! works too) */
	char *const *argv;           /* its argv; NULL: { path, NULL } */
	int cpu;                     /* the one CPU it may run on, or -1 for any */
	char *const *envp;           /* its whole environment */
	uint64_t as_limit;           /* RLIMIT_AS in bytes, or 0 to inherit the daemon's */
	const struct cgroup *cgroup; /* the cgroup it joins before exec, or NULL */
};

/* A started process. It leads its own process group (pgid == pid), so the
 * group can be killed as a whole with everything it forked that stayed in
 * it; its cgroup (proc_spawn_opts), when it has one, holds the rest too. */
struct proc {
	pid_t pid;
	int in_fd;  /* its stdin (write end) */
	int out_fd; /* its stdout (read end) */
	int err_fd; /* its stderr (read end) */
};

/* Forks and execs o->path (with o->argv) with pipes for stdin, stdout and stderr, a fresh
 * process group, the CPU affinity and address-space limit asked for, default
 * signal handling and an empty signal mask, in o->cgroup if given. Returns once the exec has succeeded or failed, so a
 * missing or non-executable file is an error here, not an exit status. The
 * returned fds are non-blocking and close-on-exec; the caller reaps the pid.
 * Returns 0, or -errno with *ret_step naming what failed ("pipe", "fork",
 * "setpgid", "sched_setaffinity", "cgroup", "dup2", "setrlimit", "execve"). Needs fds 0-2 open in
 * the caller, which main() guarantees. */
int proc_spawn(const struct proc_spawn_opts *o, struct proc *ret, const char **ret_step);

/* Reads the CPU a process last ran on (field 39 of /proc/PID/stat) and its
 * user+system CPU time in microseconds (fields 14 and 15). Works on a zombie
 * that is not reaped yet. Returns 0 or -errno. */
int proc_stat(pid_t pid, int *ret_cpu, uint64_t *ret_cpu_us);

#endif
