/* ditto-bench end to end: the real binary replays a small trace fixture
 * (tests/data/trace/sample, real rows of the Azure Functions Trace 2019)
 * through a controller and an agent it starts, booting real VMs, under two
 * policies; soaks one for a minute; runs invoke closed-loop and open-loop;
 * injects one fault of each kind under load (chaos.c); and refuses bad
 * input before it starts anything. */
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "bench_suite.h"
#include "support/files.h"
#include "support/procs.h"
#include "util.h"

static char scratch[256];

const char *suite_scratch(void)
{
	return scratch;
}

static char *slurp(const char *path)
{
	void *buf = NULL;
	size_t len;
	if (file_read_all(path, &buf, &len) < 0)
		return strdup("");
	return buf;
}

/* Runs BUILD/ditto-bench with args (NULL-terminated, without the program
 * name), its output into files under the scratch folder. */
static void bench(struct bench_run *r, const char *const *args)
{
	char bin[600];
	snprintf(bin, sizeof(bin), "%s/ditto-bench", test_build_dir());
	const char *argv[48] = { bin };
	int n = 1;
	while (args[n - 1] && n < 47)
		argv[n] = args[n - 1], n++;
	argv[n] = NULL;
	run_program(r, scratch, NULL, argv);
}

void bench_free(struct bench_run *r)
{
	run_out_free(r);
}

json_t *bench_json(struct bench_run *r, const char *const *args)
{
	bench(r, args);
	if (r->status != 0)
		fail_msg("exit %d: %s", r->status, r->err);
	json_error_t je;
	json_t *s = json_loads(r->out, 0, &je);
	if (!s)
		fail_msg("not JSON (%s): %s", je.text, r->out);
	return s;
}

static const char *sample_trace(void)
{
	static char path[512];
	const char *d = getenv("DITTO_TESTDATA");
	snprintf(path, sizeof(path), "%s/trace/sample", d ? d : "tests/data");
	return path;
}

void refused(const char *const *args, const char *want)
{
	struct bench_run r;
	bench(&r, args);
	if (r.status != 2 || !strstr(r.err, want) ||
	    strchr(r.err, '\n') != r.err + strlen(r.err) - 1)
		fail_msg("exit %d, stderr \"%s\", not 2 and \"%s\"", r.status, r.err, want);
	bench_free(&r);
}

static void test_refused(void **state)
{
	const char *t = sample_trace();
	refused(ARGS("replay", "--trace", t, "--start-minute", "479"),
		"outside the trace's minutes 480..959");
	refused(ARGS("replay", "--trace", t, "--minutes", "481"), "go past the trace's last");
	refused(ARGS("replay", "--trace", t, "--sample", "5"), "4 functions with durations");
	refused(ARGS("replay", "--trace", t, "--policies", "elastic,nonsense"),
		"\"nonsense\" is not a scaling policy");
	refused(ARGS("replay", "--trace", t, "--rate-scale", "x"), "--rate-scale must be");
	refused(ARGS("replay", "--trace", "/nonexistent"), "/nonexistent");
	refused(ARGS("replay", "--minutes", "1"), "--trace is required");
	refused(ARGS("replay", "--trace", t, "--url", "http://127.0.0.1:1"), "go together");
	refused(ARGS("invoke", "--concurrency", "257"), "--concurrency must be 1..256");
	refused(ARGS("invoke", "--concurrency", "0"), "--concurrency must be 1..256");
	refused(ARGS("invoke", "--rate", "0"), "--rate must be 1..100000");
	refused(ARGS("invoke", "--rate", "fast"), "--rate must be 1..100000");
	refused(ARGS("invoke", "--agent-link", "udp"), "--agent-link must be http or stream");
	refused(ARGS("invoke", "--agent-link", "stream", "--url", "http://127.0.0.1:1", "--key",
		     "k"),
		"give --agent-link or --url, not both");
	refused(ARGS("soak"), "--minutes is required");
	refused(ARGS("soak", "--minutes", "0"), "--minutes must be 1..1440");
	refused(ARGS("soak", "--minutes", "1", "--rate", "0"), "--rate must be");
	refused(ARGS("soak", "--minutes", "1", "--sample-s", "x"), "--sample-s must be");
}

double num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	if (b)
		v = json_object_get(v, b);
	if (!json_is_number(v))
		fail_msg("%s.%s is not a number", a, b ? b : "");
	return json_number_value(v);
}

/* One policy's summary: every call answered, figures that hold together. */
static void check_policy(json_t *p, const char *name, double calls)
{
	if (!json_is_object(p))
		fail_msg("no summary for %s", name);
	assert_true(num(p, "invocations", NULL) == calls);
	assert_true(num(p, "failures", NULL) == 0);
	assert_true(num(p, "cold_starts", NULL) >= 0);
	static const char *const pcts[] = { "latency_ms", "slowdown" };
	for (int i = 0; i < 2; i++) {
		double p50 = num(p, pcts[i], "p50"), p99 = num(p, pcts[i], "p99");
		double p999 = num(p, pcts[i], "p999");
		assert_true(p50 > 0 && p50 <= p99 && p99 <= p999);
	}
	double alloc = num(p, "vcpu_s", "allocated"), busy = num(p, "vcpu_s", "busy");
	if (!(alloc > 0 && busy > 0 && busy <= alloc))
		fail_msg("%s: vcpu_s allocated %g, busy %g", name, alloc, busy);
	double u = num(p, "utilisation", NULL);
	assert_true(u > 0 && u <= 1 && fabs(u - busy / alloc) < 1e-3);
}

/* Every row is one call of one policy, answered, on a known VM. */
static void check_csv(const char *path, double calls)
{
	char *text = slurp(path), *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	assert_non_null(line);
	assert_string_equal(line, "policy,function,arrival_ms,duration_ms,latency_ms,status,"
				  "cold_start,vcpu,vm");
	int rows[2] = { 0, 0 };
	while ((line = strtok_r(NULL, "\n", &save))) {
		char policy[32], fn[64], status[16], vm[64];
		double at, dur, lat;
		int cold, vcpu;
		int n = sscanf(line, "%31[^,],%63[^,],%lf,%lf,%lf,%15[^,],%d,%d,%63s", policy, fn,
			       &at, &dur, &lat, status, &cold, &vcpu, vm);
		if (n != 9 || strcmp(status, "ok") != 0 || lat <= 0 || vcpu < 1)
			fail_msg("row \"%s\"", line);
		if (strncmp(vm, "replay-", 7) != 0)
			fail_msg("row \"%s\" names no tenant VM", line);
		rows[strcmp(policy, "elastic") == 0 ? 0 : 1]++;
		assert_true(strcmp(policy, "elastic") == 0 || strcmp(policy, "fixed:max") == 0);
	}
	assert_int_equal(rows[0], (int)calls);
	assert_int_equal(rows[1], (int)calls);
	free(text);
}

static bool have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* Minute 711 of the fixture (a 156 ms queue call and 8 short orchestration
 * calls), three times as many calls and 4 times faster: 27 calls in 15 s,
 * under elastic and fixed:max. */
static void test_replay(void **state)
{
	char csv[300], plots[300], data[300];
	snprintf(csv, sizeof(csv), "%s/calls.csv", scratch);
	snprintf(plots, sizeof(plots), "%s/plots", scratch);
	snprintf(data, sizeof(data), "%s/data", scratch);
	struct bench_run r;
	json_t *s = bench_json(&r, ARGS("replay", "--build", test_build_dir(), "--data", data,
					"--trace", sample_trace(), "--start-minute", "711",
					"--minutes", "1", "--time-scale", "4", "--rate-scale", "3",
					"--seed", "3", "--policies", "elastic,fixed:max", "--json",
					"--csv", csv, "--plots", plots));
	double calls = num(s, "window", "invocations");
	assert_true(calls >= 10);
	assert_true(num(s, "window", "start_minute") == 711);
	assert_true(num(s, "window", "minutes") == 1);
	assert_true(num(s, "window", "seconds") == 15);
	assert_true(num(s, "offered_cores", NULL) > 0);
	assert_true(num(s, "scaling", "time_scale") == 4);
	assert_true(num(s, "scaling", "rate_scale") == 3);
	assert_non_null(json_string_value(json_object_get(s, "accel")));
	json_t *p = json_object_get(s, "policies");
	assert_int_equal(json_object_size(p), 2);
	check_policy(json_object_get(p, "elastic"), "elastic", calls);
	check_policy(json_object_get(p, "fixed:max"), "fixed:max", calls);
	/* fixed:max holds every worker vCPU: elastic cannot allocate more. */
	assert_true(num(json_object_get(p, "elastic"), "vcpu_s", "allocated") <=
		    num(json_object_get(p, "fixed:max"), "vcpu_s", "allocated") * 1.1);
	check_csv(csv, calls);
	static const char *const files[] = { "alloc.png",        "alloc.svg",
					     "latency-cdf.png",  "latency-cdf.svg",
					     "slowdown-cdf.png", "slowdown-cdf.svg" };
	for (size_t i = 0; have_gnuplot() && i < sizeof(files) / sizeof(files[0]); i++) {
		char path[400];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", plots, files[i]);
		if (stat(path, &st) != 0 || st.st_size == 0)
			fail_msg("%s missing or empty", path);
	}
	json_decref(s);
	bench_free(&r);
}

/* One figure of a process in a soak's summary: read, its most at least
 * its warm and last values. */
static void check_soak_figure(json_t *p, const char *figure)
{
	double warm = num(p, figure, "warm"), last = num(p, figure, "last");
	double max = num(p, figure, "max");
	if (!(warm > 0 && last > 0 && max >= warm && max >= last))
		fail_msg("%s: %s warm %g, last %g, max %g",
			 json_string_value(json_object_get(p, "name")), figure, warm, last, max);
}

static void check_soak_process(json_t *p, const char *name)
{
	assert_string_equal(json_string_value(json_object_get(p, "name")), name);
	check_soak_figure(p, "rss_kb");
	check_soak_figure(p, "fds");
	double warm = num(p, "rss_kb", "warm"), last = num(p, "rss_kb", "last");
	assert_true(fabs(num(p, "rss_kb", "growth_pct") - (last - warm) * 100 / warm) < 1e-6);
}

/* A one-minute soak at half the capacity it measures: every call answered,
 * as many calls as the rate offers in a minute (open loop), each process
 * sampled every 5 s from the start to the end. */
static void test_soak(void **state)
{
	char data[300];
	snprintf(data, sizeof(data), "%s/soak", scratch);
	struct bench_run r;
	json_t *s = bench_json(&r, ARGS("soak", "--build", test_build_dir(), "--data", data,
					"--minutes", "1", "--sample-s", "5", "--json"));
	assert_non_null(json_string_value(json_object_get(s, "accel")));
	assert_true(num(s, "minutes", NULL) == 1);
	double rate = num(s, "rate", NULL), calls = num(s, "calls", NULL);
	assert_true(rate > 0 && fabs(rate - num(s, "capacity", NULL) / 2) < 1e-6);
	if (fabs(calls - rate * 60) > 1)
		fail_msg("%g calls at %g calls/s for a minute", calls, rate);
	assert_true(num(s, "errors", NULL) == 0);
	json_t *procs = json_object_get(s, "processes");
	static const char *const names[] = { "controller", "agent", "qemu" };
	assert_int_equal(json_array_size(procs), 3);
	for (size_t i = 0; i < 3; i++)
		check_soak_process(json_array_get(procs, i), names[i]);
	json_t *samples = json_object_get(s, "samples");
	assert_int_equal(json_array_size(samples), 13);
	for (size_t i = 0; i < 13; i++) {
		json_t *v = json_array_get(samples, i);
		assert_true(num(v, "t_s", NULL) == 5.0 * (double)i);
		for (size_t k = 0; k < 3; k++)
			assert_true(num(json_object_get(v, names[k]), "rss_kb", NULL) > 0 &&
				    num(json_object_get(v, names[k]), "fds", NULL) > 0);
	}
	json_decref(s);
	bench_free(&r);
}

/* One run of ditto-bench invoke --json: every call ok, and what it adds to
 * today's figures present and sane (not timed). */
static void check_invoke_run(json_t *run, const char *loop)
{
	if (!json_is_object(run))
		fail_msg("no run");
	double calls = num(run, "calls", NULL);
	assert_true(calls > 0 && num(run, "errors", NULL) == 0);
	assert_true(num(run, "throughput", NULL) > 0);
	assert_true(num(run, "latency_ms", "p50") > 0);
	assert_true(num(json_object_get(run, "hops_us"), "rtt", "p50") > 0);
	double bare50 = num(run, "virtio_rtt_us", "p50"), bare99 = num(run, "virtio_rtt_us", "p99");
	if (!(bare50 > 0 && bare99 >= bare50))
		fail_msg("virtio_rtt_us p50 %g, p99 %g", bare50, bare99);
	double ratio = num(run, "rtt_ratio", NULL);
	double want = num(run, "latency_ms", "p50") * 1000 / bare50;
	if (!(ratio > 0 && fabs(ratio - want) < 1e-6 * want))
		fail_msg("rtt_ratio %g, latency p50 over bare p50 %g", ratio, want);
	static const char *const procs[] = { "controller", "agent", "qemu" };
	for (size_t i = 0; i < 3; i++) {
		double us = num(run, "cpu_us_per_call", procs[i]);
		if (!(us > 0 && us < 1e6))
			fail_msg("cpu_us_per_call.%s %g", procs[i], us);
	}
	assert_true(num(run, "achieved_rate", NULL) == num(run, "throughput", NULL));
	if (strcmp(loop, "closed") == 0) {
		assert_true(json_is_null(json_object_get(run, "offered_rate")));
		assert_true(json_is_null(json_object_get(run, "offered")));
		assert_true(num(run, "dropped", NULL) == 0);
	}
}

/* ditto-bench invoke with args after its build and data folders; its JSON. */
static json_t *invoke(const char *name, const char *const *args)
{
	char data[300];
	snprintf(data, sizeof(data), "%s/%s", scratch, name);
	const char *argv[32] = { "invoke", "--build", test_build_dir(), "--data", data, "--json" };
	size_t n = 6;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	struct bench_run r;
	json_t *s = bench_json(&r, argv);
	bench_free(&r);
	return s;
}

/* Closed loop at concurrency 2, then open loop at 50 calls/s for 2 s with
 * at most 4 outstanding: 100 calls due, each sent or dropped. */
static void test_invoke(void **state)
{
	json_t *s = invoke("closed", ARGS("--concurrency", "2", "--duration", "2", "--warmup", "1",
					  "--reps", "2", "--cold", "0"));
	assert_string_equal(json_string_value(json_object_get(s, "loop")), "closed");
	assert_string_equal(json_string_value(json_object_get(s, "mode")), "persistent");
	assert_true(json_is_null(json_object_get(s, "rate")));
	json_t *runs = json_object_get(s, "runs");
	assert_int_equal(json_array_size(runs), 2);
	for (size_t i = 0; i < 2; i++)
		check_invoke_run(json_array_get(runs, i), "closed");
	check_invoke_run(json_object_get(s, "overall"), "closed");
	/* The controller's default link, and store. */
	assert_string_equal(json_string_value(json_object_get(s, "agent_link")), "stream");
	assert_string_equal(json_string_value(json_object_get(s, "store")), "sqlite");
	assert_true(num(s, "controllers", NULL) == 1);
	json_decref(s);

	s = invoke("open", ARGS("--rate", "50", "--concurrency", "4", "--duration", "2", "--warmup",
				"0", "--reps", "1", "--cold", "0", "--agent-link", "http"));
	assert_string_equal(json_string_value(json_object_get(s, "loop")), "open");
	assert_string_equal(json_string_value(json_object_get(s, "agent_link")), "http");
	assert_true(num(s, "rate", NULL) == 50);
	json_t *run = json_array_get(json_object_get(s, "runs"), 0);
	check_invoke_run(run, "open");
	assert_true(num(run, "offered", NULL) == 100 && num(run, "offered_rate", NULL) == 50);
	double sent = num(run, "calls", NULL) + num(run, "errors", NULL);
	if (sent + num(run, "dropped", NULL) != 100)
		fail_msg("%g sent and %g dropped of 100", sent, num(run, "dropped", NULL));
	json_decref(s);
}

int main(void)
{
	if (scratch_dir(scratch, sizeof(scratch), "bench") < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),        cmocka_unit_test(test_replay),
		cmocka_unit_test(test_invoke),         cmocka_unit_test(test_soak),
		cmocka_unit_test(test_chaos_refused),  cmocka_unit_test(test_chaos),
		cmocka_unit_test(test_store_refused),  cmocka_unit_test(test_invoke_postgres),
		cmocka_unit_test(test_chaos_postgres), cmocka_unit_test(test_chaos_controller2),
	};
	/* DITTO_TEST_ONLY=PATTERN runs the tests whose names match. */
	const char *only = getenv("DITTO_TEST_ONLY");
	if (only && *only)
		cmocka_set_test_filter(only);
	int failed = cmocka_run_group_tests_name("bench", tests, NULL, NULL);
	if (!getenv("DITTO_KEEP"))
		remove_tree(scratch);
	return failed;
}
