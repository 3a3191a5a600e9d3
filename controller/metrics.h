/* The controller's counters, exported at GET /metrics in the Prometheus text
 * format. Safe to update from any thread. */
#ifndef DITTO_METRICS_H
#define DITTO_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* How an invocation ended, as counted by ditto_invocations_total. */
enum metrics_outcome {
	METRICS_OK,
	METRICS_ERROR,   /* the function failed */
	METRICS_TIMEOUT, /* the function ran past its timeout */
	METRICS_FAILED,  /* the platform could not run it (no capacity, host lost...) */
	METRICS_OUTCOMES,
};

struct metrics;

/* Returns 0 with a handle for metrics_free, or -ENOMEM. */
int metrics_new(struct metrics **ret);
void metrics_free(struct metrics *m);

/* Counts a finished invocation of tenant and its end-to-end time in the
 * controller. */
void metrics_invocation(struct metrics *m, const char *tenant, enum metrics_outcome outcome,
			int64_t total_us);
/* In-flight and queue gauges move by delta. */
void metrics_inflight_add(struct metrics *m, int delta);
void metrics_queue_add(struct metrics *m, int delta);
/* Counts a VM boot the controller asked for. */
void metrics_vm_boot(struct metrics *m);

/* What became of a request another controller owns (forward.h). */
enum metrics_forward {
	METRICS_FORWARDED,      /* relayed to its owner */
	METRICS_FORWARD_LOCAL,  /* its owner was unreachable: served here */
	METRICS_FORWARD_LOST,   /* its owner was lost once it had the request */
	METRICS_FORWARD_KINDS,
};
/* Counts a request of a tenant another controller owns. */
void metrics_forward(struct metrics *m, enum metrics_forward what);
/* Appends the metrics kept here, in the text format, to out. Returns 0 or
 * -ENOMEM. */
int metrics_render(struct metrics *m, struct buf *out);

#endif
