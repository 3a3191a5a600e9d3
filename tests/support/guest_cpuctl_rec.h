/* Test support for the guest's worker CPU state machine alone: a struct
 * cpuctl on a loop of its own, over a fake sysfs tree (guest_sysfs.h), with
 * the test's end of its uevent socket and every report to its owner (the
 * hooks of struct cpuctl_ops) recorded in order. Activation probes a CPU for
 * real, so CPUs that must come into service are ones the host has
 * (GUEST_WORKER) and those that must fail the probe are ones it has not
 * (GUEST_ABSENT). Failures end the running cmocka test. */
#ifndef DITTO_TESTS_GUEST_CPUCTL_REC_H
#define DITTO_TESTS_GUEST_CPUCTL_REC_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "cpuctl.h"
#include "loop.h"
#include "support/guest_sysfs.h"

/* The CPU the tests can really run on besides CPU 0. */
#define GUEST_WORKER 1
/* A CPU a fake tree may have and the host has not. */
#define GUEST_ABSENT 100

enum call_kind { CALL_REPLY, CALL_FAIL, CALL_EVENT, CALL_LEAVING, CALL_EVICT };

/* One report of the cpuctl to its owner. */
struct cpuctl_call {
	enum call_kind kind;
	uint32_t id;   /* reply, fail */
	int cpu;       /* event, leaving, evict */
	char what[64]; /* fail: the code; event: its name; leaving: why */
	char msg[160]; /* fail: the message */
	json_t *meta;  /* reply: the meta; event: the extra fields */
};

struct cpuctl_rec {
	struct fake_sysfs fs; /* made by the test, or by rec_start */
	struct loop loop;
	struct cpuctl ctl;
	int uevent_fd; /* the test's end */
	bool open;
	struct cpuctl_call calls[64]; /* in the order they came */
	int n;
	int changed; /* how often the changed hook ran */
};

/* cmocka fixtures: a zeroed struct cpuctl_rec in *state (skipping the test
 * when the host has no GUEST_WORKER or has a GUEST_ABSENT), and its end. */
int rec_setup(void **state);
int rec_teardown(void **state);

/* Starts the cpuctl on fx->fs, which the test made; asserts no report came
 * from the start. */
void rec_open(struct cpuctl_rec *fx);

/* Makes a tree with CPUs 0-3 present and CPU 0 online, and starts the
 * cpuctl on it. */
void rec_start(struct cpuctl_rec *fx);

/* The reply or failure of request id, or NULL when it has none yet. */
const struct cpuctl_call *rec_answer(const struct cpuctl_rec *fx, uint32_t id);

/* The first event of that name for cpu, or NULL. */
const struct cpuctl_call *rec_event(const struct cpuctl_rec *fx, int cpu, const char *event);

/* How many reports of this kind concern cpu. */
int rec_count(const struct cpuctl_rec *fx, enum call_kind kind, int cpu);

/* Run the loop until request id is answered, or the event came. */
const struct cpuctl_call *rec_wait_answer(struct cpuctl_rec *fx, uint32_t id);
const struct cpuctl_call *rec_wait_event(struct cpuctl_rec *fx, int cpu, const char *event);

/* An integer the report's meta must have. */
json_int_t rec_int(const struct cpuctl_call *c, const char *key);

enum wcpu_state rec_state(const struct cpuctl_rec *fx, int cpu);

/* Asks for a change and waits for its successful reply about cpu. */
const struct cpuctl_call *rec_change_ok(struct cpuctl_rec *fx, int cpu, enum cpuctl_change change,
					uint32_t id);

/* Asks for a change and waits for its failure with code and msg; checks
 * work waiting for the CPU was told it will not come into service. */
void rec_change_fails(struct cpuctl_rec *fx, int cpu, enum cpuctl_change change, uint32_t id,
		      const char *code, const char *msg);

#endif
