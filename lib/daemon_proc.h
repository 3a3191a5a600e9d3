/* Ditto's daemons (ditto-agent, ditto-controller) as child processes of a
 * program that drives them on loopback: ditto-bench and the end-to-end tests.
 * A daemon is started on a port (0: any free one) with its data folder, and
 * is ready once it has written its URL to the ready file it was given; it is
 * stopped by a signal and reaped. libc only. */
#ifndef DITTO_DAEMON_PROC_H
#define DITTO_DAEMON_PROC_H

#include <sys/types.h>

/* A daemon running as a child of this process. */
struct daemon_proc {
	pid_t pid;          /* 0 when not running */
	char url[128];      /* "http://127.0.0.1:PORT", as its ready file says */
	char data_dir[256]; /* its --data folder */
	char log[300];      /* DATA/NAME.log, its stdout and stderr */
};

/* How to start one. */
struct daemon_args {
	const char *build_dir;    /* holds ditto-agent, ditto-controller and guest/ */
	const char *data_dir;     /* its --data folder, created when missing */
	int port;                 /* --port; 0 for any free one */
	const char *const *extra; /* more arguments, NULL-terminated; may be NULL */
	long timeout_ms;          /* how long it may take to listen */
};

/* Starts BUILD/ditto-agent (with --image BUILD/guest) or BUILD/ditto-controller
 * as a child that gets SIGTERM when the calling thread ends, with stdout and
 * stderr appended to DATA/agent.log or DATA/controller.log and its ready file
 * at DATA/agent.url or DATA/controller.url, and waits until it listens.
 * Returns 0 with p filled in, or -errno: -ECHILD when it exited before
 * listening (p->pid is then 0), -ETIMEDOUT when it did not listen in time
 * (it is killed), -E2BIG for too many extra arguments. */
int daemon_proc_start_agent(struct daemon_proc *p, const struct daemon_args *a);
int daemon_proc_start_controller(struct daemon_proc *p, const struct daemon_args *a);

/* The port in p->url, or -EINVAL when it holds none. */
int daemon_proc_port(const struct daemon_proc *p);

/* Sends sig (SIGTERM for a clean stop, SIGKILL for a crash), waits up to
 * timeout_ms for the process to end, then kills it. Returns its exit status
 * (0 for a clean stop) or 128 + the signal that ended it; -ETIMEDOUT when it
 * had to be killed; -ECHILD when p runs nothing. p->pid is 0 afterwards. */
int daemon_proc_stop(struct daemon_proc *p, int sig, long timeout_ms);

#endif
