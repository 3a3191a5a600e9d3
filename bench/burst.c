/* ditto-bench burst: the paper's microbenchmark. N CPU-bound tasks of T ms
 * are sent at once to a tenant that has no worker vCPU (min 0, max N); the
 * completion time of the last one is set against the ideal, T. Each policy
 * runs on a fresh tenant whose VM is up (a first call booted it) and back to
 * no worker. With --simulate the same runs on the model (sim_burst). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "platform.h"
#include "sim.h"
#include "util.h"

#define MAX_POLICIES 16
/* How long a tenant's VM may take to boot and its workers to go. */
#define SETTLE_MS 300000L

struct burst_cli {
	int tasks;
	long task_ms;
	char *policies[MAX_POLICIES];
	size_t n_policies;
	char list[512];
	bool simulate, json;
	const char *mechanism, *latencies;
	struct bench_opts o;
};

struct burst_result {
	double completion_ms;
	int ran_on[POLICY_MAX_WORKERS]; /* real: the guest CPU each task ran on */
};

static void usage(FILE *f)
{
	fprintf(f, "usage: ditto-bench burst --tasks N --task-ms T --policies LIST [--simulate]\n"
		   "  N CPU-bound tasks of T ms sent at once to a fresh tenant with no worker\n"
		   "  vCPU (min 0, max N), per policy; prints the last one's completion time\n"
		   "  against the ideal T\n"
		   "  --tasks N            tasks (1..128; default 2)\n"
		   "  --task-ms T          CPU time of each task (default 5000)\n"
		   "  --policies LIST      comma-separated policy specs (default elastic)\n"
		   "  --simulate           on the model (sim) instead of the platform\n"
		   "  --mechanism M        precreated or hotplug (default precreated)\n"
		   "  --latencies FILE     the model's latencies (default the shipped one)\n"
		   "  --build DIR          build folder (default build)\n"
		   "  --data DIR           data folder (default: a fresh one under /tmp)\n"
		   "  --accel auto|kvm|tcg, --cores SPEC   passed to the agent\n"
		   "  --json               print one JSON object instead of a table\n");
}

/* Parses argv. Returns 0, 1 after --help, or 2 after one line on stderr. */
static int parse_args(struct burst_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tasks", required_argument, NULL, 'n' },
		{ "task-ms", required_argument, NULL, 't' },
		{ "policies", required_argument, NULL, 'p' },
		{ "simulate", no_argument, NULL, 's' },
		{ "mechanism", required_argument, NULL, 'm' },
		{ "latencies", required_argument, NULL, 'l' },
		{ "build", required_argument, NULL, 'b' },
		{ "data", required_argument, NULL, 'd' },
		{ "accel", required_argument, NULL, 'a' },
		{ "cores", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*c = (struct burst_cli){ .tasks = 2, .task_ms = 5000, .mechanism = "precreated" };
	c->o.build = "build";
	snprintf(c->list, sizeof(c->list), "elastic");
	int opt;
	int64_t v;
	optind = 0; /* a full rescan, also when called a second time */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_i64(optarg, 1, POLICY_MAX_WORKERS, &v) < 0) {
				fprintf(stderr, "ditto-bench: --tasks must be 1..%d\n",
					POLICY_MAX_WORKERS);
				return 2;
			}
			c->tasks = (int)v;
			break;
		case 't':
			if (parse_i64(optarg, 1, 3600000, &v) < 0) {
				fprintf(stderr, "ditto-bench: --task-ms must be 1..3600000\n");
				return 2;
			}
			c->task_ms = (long)v;
			break;
		case 'p':
			if (strlen(optarg) >= sizeof(c->list)) {
				fprintf(stderr, "ditto-bench: --policies is too long\n");
				return 2;
			}
			snprintf(c->list, sizeof(c->list), "%s", optarg);
			break;
		case 's': c->simulate = true; break;
		case 'm': c->mechanism = optarg; break;
		case 'l': c->latencies = optarg; break;
		case 'b': c->o.build = optarg; break;
		case 'd': c->o.data = optarg; break;
		case 'a': c->o.accel = optarg; break;
		case 'c': c->o.cores = optarg; break;
		case 'j': c->json = true; break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ditto-bench: burst: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (strcmp(c->mechanism, "precreated") && strcmp(c->mechanism, "hotplug")) {
		fprintf(stderr, "ditto-bench: --mechanism must be precreated or hotplug\n");
		return 2;
	}
	char *save = NULL;
	for (char *s = strtok_r(c->list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		struct policy p;
		if (c->n_policies == MAX_POLICIES || policy_parse(s, &p) < 0 ||
		    policy_is_manual(&p) || policy_is_scale_out(&p)) {
			fprintf(stderr, "ditto-bench: --policies: \"%s\" is not a policy a burst "
					"runs (elastic, periodic, fixed; at most %d)\n",
				s, MAX_POLICIES);
			return 2;
		}
		c->policies[c->n_policies++] = s;
	}
	if (c->n_policies == 0) {
		fprintf(stderr, "ditto-bench: --policies is empty\n");
		return 2;
	}
	return 0;
}

/* ---- on the model ------------------------------------------------------------ */

static int burst_simulated(const struct burst_cli *c, struct burst_result *res, char *accel,
			   size_t accel_len)
{
	char path[1024], err[512];
	struct sim_latencies lat;
	int r = sim_latencies_find(c->latencies, path, sizeof(path));
	if (r < 0 || (r = sim_latencies_load(path, &lat, err, sizeof(err))) < 0) {
		fprintf(stderr, "ditto-bench: latencies: %s\n",
			r == -ENOENT && !c->latencies ? "no default file: give --latencies" : err);
		return r;
	}
	snprintf(accel, accel_len, "%s (simulated)", lat.accel);
	struct sim_config base = { .lat = sim_latencies_mech(&lat, c->mechanism), .seed = 1 };
	if (!base.lat) {
		fprintf(stderr, "ditto-bench: %s has no %s latencies\n", path, c->mechanism);
		r = -EINVAL;
	}
	for (size_t i = 0; r == 0 && i < c->n_policies; i++) {
		struct policy p;
		policy_parse(c->policies[i], &p);
		r = sim_burst(&base, c->tasks, (double)c->task_ms, &p, &res[i].completion_ms);
		if (r < 0)
			fprintf(stderr, "ditto-bench: simulation of %s failed: %s\n",
				c->policies[i], strerror(-r));
	}
	sim_latencies_free(&lat);
	return r;
}

/* ---- on the platform --------------------------------------------------------- */

struct task {
	const char *url, *key, *body;
	long long t0_us;
	double done_ms;
	int ran_on;
	int status;
};

static void *task_run(void *arg)
{
	struct task *t = arg;
	struct api_client cl;
	json_t *reply = NULL;
	t->status = -EIO;
	if (api_client_init(&cl, t->url) == 0 && api_client_set_bearer(&cl, t->key) == 0)
		t->status = api_client_call(&cl, "POST", "/v1/functions/busy/invoke", t->body,
					    strlen(t->body), SETTLE_MS, &reply);
	t->done_ms = (double)((long long)time_now_us() - t->t0_us) / 1000.0;
	t->ran_on = (int)json_integer_value(json_object_get(reply, "cpu"));
	json_decref(reply);
	api_client_free(&cl);
	return NULL;
}

/* Worker vCPUs of tenant's VMs, from the controller; -1 when unknown. */
static int tenant_workers(struct platform *pf, const char *tenant)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", tenant);
	json_t *t = NULL;
	int st = api_client_call(&pf->admin, "GET", path, NULL, 0, 10000, &t);
	int n = -1;
	json_t *vm = json_object_get(t, "vm"), *vms = json_object_get(t, "vms"), *v;
	size_t i;
	if (st == 200 && json_is_array(vms)) {
		n = 0;
		json_array_foreach(vms, i, v) n += (int)json_integer_value(
			json_object_get(v, "workers"));
	} else if (st == 200 && json_is_object(vm)) {
		n = (int)json_integer_value(json_object_get(vm, "workers"));
	}
	json_decref(t);
	return n;
}

/* A fresh tenant with policy spec, busy deployed, its VM booted by a first
 * call and back to the workers it rests at (none, but under fixed:N).
 * Writes its key. */
static int tenant_ready(struct platform *pf, const struct burst_cli *c, const char *tenant,
			const char *spec, char key[128])
{
	char body[256], path[256];
	json_t *reply = NULL;
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", tenant);
	int st = api_client_call(&pf->admin, "POST", "/v1/tenants", body, strlen(body), 10000,
				 &reply);
	const char *k = json_string_value(json_object_get(reply, "key"));
	snprintf(key, 128, "%s", k ? k : "");
	json_decref(reply);
	snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", tenant);
	snprintf(body, sizeof(body), "{\"min\":0,\"max\":%d,\"mechanism\":\"%s\",\"policy\":\"%s\"}",
		 c->tasks, c->mechanism, spec);
	if (st != 201 || !k || (st = api_client_call(&pf->admin, "PUT", path, body, strlen(body),
						     10000, NULL)) != 200) {
		fprintf(stderr, "ditto-bench: cannot set up tenant %s for %s (%d)\n", tenant, spec,
			st);
		return -EIO;
	}
	struct api_client cl;
	void *art;
	size_t len;
	int r = bench_read_function(&c->o, "busy", &art, &len);
	if (r < 0 || (r = api_client_init(&cl, pf->url)) < 0)
		return r;
	api_client_set_bearer(&cl, key);
	snprintf(path, sizeof(path), "/v1/functions/busy?max_concurrency=%d&timeout=%ld",
		 c->tasks + 1, c->task_ms * (c->tasks + 1) + 60000);
	st = api_client_call(&cl, "PUT", path, art, len, 60000, NULL);
	free(art);
	if (st == 201)
		st = api_client_call(&cl, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 8,
				     SETTLE_MS, NULL);
	api_client_free(&cl);
	if (st != 201 && st != 200) {
		fprintf(stderr, "ditto-bench: busy on tenant %s failed (%d)\n", tenant, st);
		return -EIO;
	}
	struct policy pol;
	policy_parse(spec, &pol);
	int rest = pol.kind != POLICY_FIXED ? 0
		   : pol.workers == POLICY_WORKERS_MAX || pol.workers > c->tasks ? c->tasks
										   : pol.workers;
	long long deadline = (long long)time_now_us() + SETTLE_MS * 1000LL;
	while (tenant_workers(pf, tenant) != rest) {
		if ((long long)time_now_us() > deadline) {
			fprintf(stderr, "ditto-bench: tenant %s kept its workers\n", tenant);
			return -ETIMEDOUT;
		}
		bench_sleep_ms(100); /* workers come from heartbeats: nothing to wait on */
	}
	return 0;
}

/* Sets a tenant done with to fixed:0, so that its VM gives its cores back
 * for the next one. */
static int tenant_release(struct platform *pf, const char *tenant)
{
	char path[128];
	const char *body = "{\"min\":0,\"policy\":\"fixed:0\"}";
	snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", tenant);
	int st = api_client_call(&pf->admin, "PUT", path, body, strlen(body), 10000, NULL);
	if (st != 200) {
		fprintf(stderr, "ditto-bench: cannot release tenant %s (%d)\n", tenant, st);
		return -EIO;
	}
	return 0;
}

/* Sends the tasks at once and waits for them all. */
static int run_tasks(struct platform *pf, const struct burst_cli *c, const char *key,
		     struct burst_result *res)
{
	char body[64];
	snprintf(body, sizeof(body), "{\"ms\":%ld}", c->task_ms);
	struct task tasks[POLICY_MAX_WORKERS];
	pthread_t th[POLICY_MAX_WORKERS];
	long long t0 = (long long)time_now_us();
	int started = 0, r = 0;
	for (int i = 0; i < c->tasks; i++) {
		tasks[i] = (struct task){ .url = pf->url, .key = key, .body = body, .t0_us = t0 };
		if (pthread_create(&th[i], NULL, task_run, &tasks[i]) != 0)
			break;
		started++;
	}
	res->completion_ms = 0;
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		if (tasks[i].status != 200)
			r = -EIO;
		if (tasks[i].done_ms > res->completion_ms)
			res->completion_ms = tasks[i].done_ms;
		res->ran_on[i] = tasks[i].ran_on;
	}
	if (r < 0 || started < c->tasks)
		fprintf(stderr, "ditto-bench: a task failed\n");
	return started < c->tasks ? -EAGAIN : r;
}

static int burst_real(struct burst_cli *c, struct burst_result *res, char *accel,
		      size_t accel_len)
{
	char tmp[] = "/tmp/ditto-bench.XXXXXX";
	if (!c->o.data && !(c->o.data = mkdtemp(tmp))) {
		fprintf(stderr, "ditto-bench: cannot create a data folder: %s\n", strerror(errno));
		return -errno;
	}
	struct platform pf;
	int r = platform_start(&pf, &c->o);
	snprintf(accel, accel_len, "%s", pf.accel);
	for (size_t i = 0; r == 0 && i < c->n_policies; i++) {
		char tenant[32], key[128];
		snprintf(tenant, sizeof(tenant), "burst-%zu", i);
		r = tenant_ready(&pf, c, tenant, c->policies[i], key);
		if (r == 0)
			r = run_tasks(&pf, c, key, &res[i]);
		if (r == 0)
			r = tenant_release(&pf, tenant);
	}
	platform_stop(&pf);
	return r;
}

static void report(const struct burst_cli *c, const struct burst_result *res, const char *accel)
{
	json_t *pols = json_object();
	if (!c->json)
		printf("burst: %d tasks of %ld ms at once, %s, accel %s\n%-28s %12s %10s %8s\n",
		       c->tasks, c->task_ms, c->simulate ? "simulated" : "real", accel, "policy",
		       "completion s", "ideal s", "loss");
	for (size_t i = 0; i < c->n_policies; i++) {
		double loss = res[i].completion_ms / (double)c->task_ms - 1;
		json_object_set_new(pols, c->policies[i],
				    json_pack("{s:f, s:I, s:f}", "completion_ms",
					      res[i].completion_ms, "ideal_ms",
					      (json_int_t)c->task_ms, "loss", loss));
		if (!c->json)
			printf("%-28s %12.2f %10.2f %7.1f%%\n", c->policies[i],
			       res[i].completion_ms / 1000, (double)c->task_ms / 1000, 100 * loss);
	}
	if (c->json) {
		json_t *out = json_pack("{s:s, s:i, s:I, s:b, s:s, s:s, s:o}", "benchmark", "burst",
					"tasks", c->tasks, "task_ms", (json_int_t)c->task_ms,
					"simulated", c->simulate, "mechanism", c->mechanism,
					"accel", accel, "policies", pols);
		char *text = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", text ? text : "null");
		free(text);
		json_decref(out);
	} else {
		json_decref(pols);
	}
}

int bench_burst(int argc, char **argv)
{
	struct burst_cli c;
	int r = parse_args(&c, argc, argv);
	if (r != 0)
		return r == 1 ? 0 : 2;
	struct burst_result res[MAX_POLICIES];
	memset(res, 0, sizeof(res));
	char accel[48] = "unknown";
	r = c.simulate ? burst_simulated(&c, res, accel, sizeof(accel))
		       : burst_real(&c, res, accel, sizeof(accel));
	if (r < 0)
		return 1;
	report(&c, res, accel);
	return 0;
}
