/* The VM around a struct vcpu, for testing the worker-vCPU state machine on
 * its own: its own loop, the fake QEMU (auto mode) and the fake guest (auto
 * mode) connected, a budget of host cores, and hooks that hand over the
 * connections and count the resized calls. The vCPU "threads" QEMU reports
 * are a sleeping child process, so pinning them moves nothing of the
 * test's. Failures are test failures (cmocka). */
#ifndef DITTO_TESTS_FAKE_VM_H
#define DITTO_TESTS_FAKE_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

#include "cores.h"
#include "fakes/fake_guest.h"
#include "fakes/fake_qmp.h"
#include "vcpu.h"

#define FAKE_VM_MAX_DONE 4

struct fake_vm;

/* One resize's outcome, as its callback saw it. */
struct fake_vm_done {
	struct fake_vm *vm;
	bool done;
	int status;
	int resized_before; /* resized hook calls when the callback ran */
	int workers;        /* the report's "workers" */
	size_t steps;       /* and its number of steps */
	char error[160];
};

struct fake_vm {
	uv_loop_t loop;
	pid_t sleeper;
	struct cores cores;
	struct fake_qmp qemu;
	struct fake_guest guest;
	struct qmp_client *qmp;
	struct guest_chan *chan;
	bool qmp_ready;
	struct vcpu v;
	bool v_open;
	int resized; /* resized hook calls */
	struct fake_vm_done done[FAKE_VM_MAX_DONE];
	int n_done;
};

/* Sets up everything but the vcpu, with the QMP session ready. */
struct fake_vm *fake_vm_new(void);

/* Ends the resizes left (-ECANCELED), closes everything, checks the loop
 * closes clean and frees. */
void fake_vm_free(struct fake_vm *f);

/* cmocka setup and teardown: each test gets a fake_vm_new() VM as its state,
 * freed with fake_vm_free() after it. */
int fake_vm_setup(void **state);
int fake_vm_teardown(void **state);

/* A budget of n host cores, 0..n-1. */
void fake_vm_budget(struct fake_vm *f, int n);

/* query-cpus-fast's answer for guest CPUs 0..n-1 (owned by the caller). */
json_t *fake_vm_cpus_json(struct fake_vm *f, int n);

/* Sets up the vcpu with lim and a budget of cores, as a VM whose vCPUs
 * 0..booted-1 exist; ready when ready is true. */
void fake_vm_start(struct fake_vm *f, const struct vcpu_limits *lim, int cores, int booted,
		   bool ready);

/* Queues a resize to n (it must be accepted) and returns where its outcome
 * lands. */
struct fake_vm_done *fake_vm_resize(struct fake_vm *f, int n);

/* Runs the loop until the resize completed. */
void fake_vm_wait_done(struct fake_vm *f, struct fake_vm_done *d);

/* Guest CPU cpu's worker state, and running the loop until it is s. */
enum worker_state fake_vm_state(const struct fake_vm *f, int cpu);
void fake_vm_wait_state(struct fake_vm *f, int cpu, enum worker_state s);

/* vcpu_set's callback for a struct fake_vm_done. */
void fake_vm_on_done(int status, json_t *report, void *data);

#endif
