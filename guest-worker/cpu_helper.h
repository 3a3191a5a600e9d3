/* The guest's CPU helper thread, for the slow CPU state changes: writing a CPU's sysfs
 * "online" file takes tens of milliseconds under TCG (and up to hundreds for
 * the first CPU after boot), so the event loop hands each change here and
 * learns of its completion through an eventfd it watches.
 *
 * One thread is enough: the kernel serialises CPU hotplug anyway. */
#ifndef DITTO_GUEST_CPU_HELPER_H
#define DITTO_GUEST_CPU_HELPER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum cpu_job_op {
	CPU_JOB_ONLINE,  /* online if offline; then probe when asked to */
	CPU_JOB_OFFLINE, /* offline if online */
};

/* One state change. The submitter owns the job; the thread fills the result
 * fields and hands it back through cpu_helper_take_done(). */
struct cpu_job {
	int cpu;
	enum cpu_job_op op;
	bool probe; /* CPU_JOB_ONLINE: prove a thread runs there afterwards */
	void *data; /* for the submitter */
	/* results */
	int err;            /* 0 or -errno of the step that failed */
	const char *step;   /* "read", "online", "offline" or "probe" when err != 0 */
	bool online;        /* the CPU's state when the job ended */
	uint64_t change_us; /* time of the online/offline write; 0 when none was needed */
	uint64_t probe_us;
	struct cpu_job *next;
};

struct cpu_helper {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cpu_job *todo, **todo_tail;
	struct cpu_job *done, **done_tail;
	bool stop, started;
	int efd; /* readable when done jobs wait; watch it with EPOLLIN */
	char *root;
};

/* Starts the thread. Signals the caller blocked stay blocked in it (block
 * the loop's signals before calling). Returns 0 or -errno. */
int cpu_helper_start(struct cpu_helper *h, const char *sysfs_root);

/* Queues a job; it runs after the ones queued before it. */
void cpu_helper_submit(struct cpu_helper *h, struct cpu_job *job);

/* Returns the finished jobs in completion order (a NULL-terminated list
 * through ->next) and clears the eventfd. */
struct cpu_job *cpu_helper_take_done(struct cpu_helper *h);

/* Lets the running job finish, stops the thread and returns the jobs that
 * never ran followed by the undelivered finished ones, for the caller to
 * free. Accepts a helper whose start failed, and a zeroed one never started. */
struct cpu_job *cpu_helper_stop(struct cpu_helper *h);

#endif
