#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* Upper bounds of the latency histogram's buckets, in seconds; they cover
 * a warm call (about a millisecond) to the longest timeout. */
static const double buckets_s[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				    0.5,    1,     2.5,   5,     10,   30,    60,   300 };
#define N_BUCKETS ARRAY_SIZE(buckets_s)

static const char *const outcome_names[METRICS_OUTCOMES] = { "ok", "error", "timeout", "failed" };

struct tenant_counts {
	char tenant[STORE_NAME_SIZE];
	uint64_t n[METRICS_OUTCOMES];
};

/* One mutex for everything: an update is a few additions, far cheaper than
 * the invocation it counts. */
struct metrics {
	pthread_mutex_t lock;
	struct tenant_counts *tenants;
	size_t n_tenants, cap_tenants;
	uint64_t bucket[N_BUCKETS + 1]; /* the last one is +Inf */
	uint64_t count;
	double sum_s;
	int64_t inflight, queued;
	uint64_t vm_boots;
	uint64_t forwards[METRICS_FORWARD_KINDS];
};

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*ret = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->tenants);
	free(m);
}

static struct tenant_counts *tenant_counts(struct metrics *m, const char *tenant)
{
	for (size_t i = 0; i < m->n_tenants; i++)
		if (!strcmp(m->tenants[i].tenant, tenant))
			return &m->tenants[i];
	if (array_reserve(&m->tenants, &m->cap_tenants, m->n_tenants + 1, sizeof(*m->tenants), 16) <
	    0)
		return NULL;
	struct tenant_counts *t = &m->tenants[m->n_tenants++];
	memset(t, 0, sizeof(*t));
	snprintf(t->tenant, sizeof(t->tenant), "%s", tenant);
	return t;
}

void metrics_invocation(struct metrics *m, const char *tenant, enum metrics_outcome outcome,
			int64_t total_us)
{
	double s = (double)(total_us < 0 ? 0 : total_us) / 1e6;
	size_t b = 0;
	while (b < N_BUCKETS && s > buckets_s[b])
		b++;
	pthread_mutex_lock(&m->lock);
	struct tenant_counts *t = tenant_counts(m, tenant);
	if (t && outcome < METRICS_OUTCOMES)
		t->n[outcome]++;
	m->bucket[b]++;
	m->count++;
	m->sum_s += s;
	pthread_mutex_unlock(&m->lock);
}

void metrics_inflight_add(struct metrics *m, int delta)
{
	pthread_mutex_lock(&m->lock);
	m->inflight += delta;
	pthread_mutex_unlock(&m->lock);
}

void metrics_queue_add(struct metrics *m, int delta)
{
	pthread_mutex_lock(&m->lock);
	m->queued += delta;
	pthread_mutex_unlock(&m->lock);
}

void metrics_vm_boot(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->vm_boots++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_forward(struct metrics *m, enum metrics_forward what)
{
	pthread_mutex_lock(&m->lock);
	m->forwards[what]++;
	pthread_mutex_unlock(&m->lock);
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int r = 0;
	pthread_mutex_lock(&m->lock);
	r |= buf_printf(
		out, "# HELP ditto_invocations_total Invocations finished, by tenant and outcome.\n"
		     "# TYPE ditto_invocations_total counter\n");
	for (size_t i = 0; i < m->n_tenants; i++)
		for (int o = 0; o < METRICS_OUTCOMES; o++)
			r |= buf_printf(
				out, "ditto_invocations_total{tenant=\"%s\",status=\"%s\"} %llu\n",
				m->tenants[i].tenant, outcome_names[o],
				(unsigned long long)m->tenants[i].n[o]);
	r |= buf_printf(
		out, "# HELP ditto_invocation_duration_seconds End-to-end invocation time in the "
		     "controller.\n# TYPE ditto_invocation_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += m->bucket[b];
		r |= buf_printf(out, "ditto_invocation_duration_seconds_bucket{le=\"%g\"} %llu\n",
				buckets_s[b], (unsigned long long)cum);
	}
	cum += m->bucket[N_BUCKETS];
	r |= buf_printf(out,
			"ditto_invocation_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			"ditto_invocation_duration_seconds_sum %.6f\n"
			"ditto_invocation_duration_seconds_count %llu\n",
			(unsigned long long)cum, m->sum_s, (unsigned long long)m->count);
	r |= buf_printf(
		out,
		"# HELP ditto_invocations_in_flight Invocations running now.\n"
		"# TYPE ditto_invocations_in_flight gauge\nditto_invocations_in_flight %lld\n"
		"# HELP ditto_async_queue_depth Asynchronous invocations waiting to run.\n"
		"# TYPE ditto_async_queue_depth gauge\nditto_async_queue_depth %lld\n"
		"# HELP ditto_vm_boots_total Tenant VMs the controller started.\n"
		"# TYPE ditto_vm_boots_total counter\nditto_vm_boots_total %llu\n",
		(long long)m->inflight, (long long)m->queued, (unsigned long long)m->vm_boots);
	r |= buf_printf(out,
			"# HELP ditto_forwarded_total Requests of tenants another controller "
			"owns: relayed to it, served here as it was unreachable, or lost with it.\n"
			"# TYPE ditto_forwarded_total counter\n"
			"ditto_forwarded_total{result=\"relayed\"} %llu\n"
			"ditto_forwarded_total{result=\"unreachable\"} %llu\n"
			"ditto_forwarded_total{result=\"lost\"} %llu\n",
			(unsigned long long)m->forwards[METRICS_FORWARDED],
			(unsigned long long)m->forwards[METRICS_FORWARD_LOCAL],
			(unsigned long long)m->forwards[METRICS_FORWARD_LOST]);
	pthread_mutex_unlock(&m->lock);
	return r ? -ENOMEM : 0;
}
