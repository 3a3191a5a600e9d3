/* A latency histogram with fixed bucket bounds in microseconds, the same in
 * every program, so histograms add up bucket by bucket: the agent keeps one
 * per VM (the scaler's decision latency) and the controller sums them.
 *
 * Its JSON form, Prometheus-style:
 *   {"le": [10, 25, ..., 10000], "counts": [c_0, ..., c_10], "count": N, "sum": S}
 * le holds the HIST_BUCKETS - 1 finite upper bounds; counts has HIST_BUCKETS
 * entries, cumulative (counts[i]: observations <= le[i]), the last one the
 * +Inf bucket (= count); sum is the total of the observations in us. */
#ifndef DITTO_HIST_H
#define DITTO_HIST_H

#include <stdint.h>

#include <jansson.h>

/* 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 us, then +Inf. */
#define HIST_BUCKETS 11

struct hist {
	uint64_t counts[HIST_BUCKETS]; /* per bucket, not cumulative */
	uint64_t count;
	uint64_t sum;
};

/* The finite upper bound of bucket i (0 <= i < HIST_BUCKETS - 1), in us. */
uint64_t hist_bound(int i);

/* Records one observation of v us (a zeroed struct hist is empty). */
void hist_add(struct hist *h, uint64_t v);

/* Adds every observation of from into into. */
void hist_merge(struct hist *into, const struct hist *from);

/* The upper bound of the bucket holding the q-quantile (0 < q <= 1) of the
 * observations, UINT64_MAX when that is the +Inf bucket, 0 when h is empty. */
uint64_t hist_quantile(const struct hist *h, double q);

/* The JSON form above (a new reference, NULL on ENOMEM). */
json_t *hist_to_json(const struct hist *h);

/* Reads the JSON form back. Returns 0, or -EINVAL when o is not one (other
 * bounds, counts that are not cumulative, missing fields); *ret is left as
 * it was then. */
int hist_from_json(const json_t *o, struct hist *ret);

#endif
