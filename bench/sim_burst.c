/* The paper's burst on the model (sim.h). */
#include <errno.h>
#include <stdlib.h>

#include "sim.h"

int sim_burst(const struct sim_config *base, int tasks, double task_ms, const struct policy *p,
	      double *ret_completion_ms)
{
	if (tasks < 1 || tasks > POLICY_MAX_WORKERS || !(task_ms > 0))
		return -EINVAL;
	struct workload_call *calls = calloc((size_t)tasks, sizeof(*calls));
	if (!calls)
		return -ENOMEM;
	for (int i = 0; i < tasks; i++)
		calls[i] = (struct workload_call){ .at_ms = 0, .fn = 0, .duration_ms = task_ms };
	struct workload_fn fn = { .name = "busy", .calls = (uint64_t)tasks };
	struct workload w = { .calls = calls,
			      .n_calls = (size_t)tasks,
			      .fns = &fn,
			      .n_fns = 1,
			      .duration_ms = task_ms,
			      .time_scale = 1,
			      .rate_scale = 1,
			      .offered_cores = tasks };
	uint32_t tenant_of = 0;
	struct sim_config c = { .hosts = 1,
				.host_cores = tasks,
				.tenant_max = tasks,
				.lat = base->lat,
				.seed = base->seed,
				.tenant_of = &tenant_of,
				.n_tenants = 1 };
	struct run r;
	int ret = run_init(&r, &w, "burst");
	if (ret < 0) {
		free(calls);
		return ret;
	}
	ret = sim_run(&c, &w, p, &r, NULL);
	double last = 0;
	for (int i = 0; ret == 0 && i < tasks; i++) {
		if (r.calls[i].status != CALL_OK)
			ret = -EIO;
		else if (r.calls[i].latency_ms > last)
			last = r.calls[i].latency_ms;
	}
	if (ret == 0)
		*ret_completion_ms = last;
	run_free(&r);
	free(calls);
	return ret;
}
