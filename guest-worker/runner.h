/* Running invocations: one process per invocation ("process" mode) or one
 * long-lived process per (artifact, runtime, handler, memory limit, CPU)
 * serving one line in, one line out ("persistent" mode), each pinned to the
 * CPU it was given, with output caps, timeouts that kill everything the
 * process started (its cgroup, or its process group where cgroup v2 is not
 * mounted), and timings. The process is the artifact itself, or for a python3
 * or nodejs function its runtime's launcher (runtime.h), whose reply line
 * the runner unwraps into the result or the function's exception.
 *
 * The runner owns every process it starts and reaps all children of the
 * daemon (runner_reap() on SIGCHLD), including orphans re-parented to it. */
#ifndef DITTO_GUEST_RUNNER_H
#define DITTO_GUEST_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "artifact.h"
#include "cgroup.h"
#include "e2e.h"
#include "loop.h"
#include "proc.h"
#include "runtime.h"
#include "util.h"

/* The longest invocation id an end-to-end encrypted invocation may carry. */
#define INV_ID_MAX 128

enum inv_mode { INV_PROCESS, INV_PERSISTENT };
enum inv_status { INV_OK, INV_ERROR, INV_TIMEOUT };

struct runner;
struct pproc;

/* One invocation: the request (filled by the caller), its outcome (filled by
 * the runner before the completion callback) and the runner's private
 * execution state. */
struct inv {
	/* request */
	uint32_t id;
	char digest[SHA256_HEX_SIZE];
	enum inv_mode mode;
	uint32_t timeout_ms; /* 0: none */
	size_t max_output;   /* cap for the result and for the log, each */
	int want_cpu;        /* run only on this worker CPU; 0: any */
	/* The memory limit of the process it starts, in MiB; 0: none. It is
	 * RLIMIT_AS, except for nodejs (whose V8 reserves far more address
	 * space than it uses): a heap limit and, where cgroup v2 is mounted, a
	 * memory cgroup of its own. A persistent process serves only
	 * invocations with the limit it was started with. */
	uint32_t memory_mib;
	/* binary and shell run the artifact; python3 and nodejs run the
	 * launcher on it with handler. */
	enum fn_runtime runtime;
	char handler[FNPKG_HANDLER_SIZE];
	uint8_t *input; /* owned; freed with the invocation */
	size_t input_len;
	/* End-to-end encrypted (e2e_invoke.h): it runs the opened executable
	 * from the runner's plain store, and its result and log are sealed with
	 * the request's response key, bound to invocation and digest. The key
	 * and the plain input, result and log are wiped when it is freed. */
	bool e2e;
	char invocation[INV_ID_MAX + 1];
	struct e2e_response_key e2e_key;
	uint64_t read_us;     /* when its request frame was read whole */
	uint64_t received_us; /* when the request was queued */
	uint64_t started_us;  /* when it was given a CPU */
	struct inv *next;     /* free for the caller's queue */
	/* The daemon handed it to a worker CPU port's thread to run (cpuport.h):
	 * its answer goes back through the daemon; returned: the port gave it
	 * back unrun (its CPU left service). */
	bool relayed, returned;

	/* outcome */
	int cpu;
	enum inv_status status;
	char error[256];  /* why, when status is not INV_OK */
	int ran_on;       /* the CPU the process last ran on; -1 when unknown */
	uint64_t wall_us; /* from getting a CPU to completion (includes init_us) */
	uint64_t cpu_us;  /* CPU time the function used */
	uint64_t init_us; /* process start (fork to exec done); 0 when warm */
	bool cold_start;  /* persistent mode: its process was started for it */
	bool exited;      /* the process ended with exit_code */
	int exit_code;
	int signal; /* the process was killed by this signal (0: not) */
	/* stdout (process) or the result line (persistent); for a runtime the
	 * result VALUE of the launcher's reply, unwrapped (an e2e invocation
	 * that raised keeps the whole {"error": ...} line) */
	struct buf result;
	struct buf log; /* stderr */
	bool result_truncated, log_truncated;
	/* The function raised (runtimes only, not e2e): {"type", "message",
	 * "traceback"}; owned, freed with the invocation. */
	json_t *exception;

	/* runner-private */
	struct runner *runner;
	struct proc proc; /* process mode */
	struct cgroup cg; /* process mode: its process's cgroup */
	struct pproc *pp; /* persistent mode */
	struct watch in_w, out_w, err_w, timer_w;
	size_t in_off; /* input bytes written (persistent: + the newline) */
	bool timed_out;
	uint64_t cpu_us0;     /* persistent: the process's CPU time at the start */
	struct inv *run_next; /* process mode: the runner's list of live children */
};

/* Allocates an invocation with its defaults; NULL when out of memory. */
struct inv *inv_new(void);
/* Frees an invocation that is not running; accepts NULL. */
void inv_free(struct inv *inv);
/* Returns "ok", "error" or "timeout". */
const char *inv_status_name(enum inv_status s);

/* Called exactly once for each invocation runner_start() accepted, from the
 * event loop (never from inside runner_start()). The callee owns inv. */
typedef void (*runner_done_fn)(struct inv *inv, void *data);

struct runner {
	struct loop *loop;
	const struct artifact_store *store;
	/* The opened executables of end-to-end encrypted artifacts, by the
	 * digest of the sealed bytes; NULL when there are none. */
	const struct artifact_store *plain;
	runner_done_fn done;
	void *data;
	struct inv *running;  /* process-mode invocations whose child lives */
	struct pproc *pprocs; /* persistent processes, serving or dying */
	char *path_env;       /* "PATH=..." for the functions' environment */
	/* Where the runtimes' launchers are (RUNTIME_DEFAULT_LAUNCHERS unless
	 * set after runner_init()); not owned. */
	const char *launchers;
	struct cgroups cgroups; /* disabled unless runner_use_cgroups() */
};

/* Sets up a runner (plain is NULL: set it after). Returns 0 or -ENOMEM. */
int runner_init(struct runner *r, struct loop *loop, const struct artifact_store *store,
		runner_done_fn done, void *data);

/* Gives every process a cgroup of its own under root when it is a cgroup v2
 * hierarchy (else none, quietly: kills then reach process groups only), with
 * memory.max for nodejs processes with a memory limit where the memory
 * controller is there. Returns 0, or -errno when that hierarchy is
 * unusable. */
int runner_use_cgroups(struct runner *r, const char *root);

/* Starts inv on cpu (which runs nothing else). Returns 0, after which done()
 * follows exactly once; or -errno when it could not start, with inv->error
 * saying why and done() never called for it. */
int runner_start(struct runner *r, struct inv *inv, int cpu);

/* Reaps every exited child of the calling thread (the runner's thread:
 * the processes it started, and for the process's first thread the orphans
 * re-parented to it); call it when SIGCHLD arrives. */
void runner_reap(struct runner *r);

/* True when a live persistent process that can serve inv (its digest, its
 * runtime and handler, its memory limit, plain or opened executable) waits
 * idle on cpu. */
bool runner_has_warm(const struct runner *r, const struct inv *inv, int cpu);

/* Kills the persistent processes pinned to cpu: idle ones now, a serving one
 * as soon as its invocation ends. */
void runner_kill_cpu(struct runner *r, int cpu);

/* Kills every process, completes running invocations with status error
 * ("shutdown"), reaps, and frees everything. */
void runner_fini(struct runner *r);

#endif
