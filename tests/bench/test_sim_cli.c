/* ditto-bench simulate and burst --simulate as commands: their flags, their
 * JSON, --compare, and each tenant's peak. */
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sim.h"

static char latencies[1024], trace[1024];

static int setup(void **state)
{
	const char *build = getenv("DITTO_BUILD"), *data = getenv("DITTO_TESTDATA");
	snprintf(latencies, sizeof(latencies), "%s/%s", build ? build : "bench",
		 SIM_LATENCIES_DEFAULT);
	snprintf(trace, sizeof(trace), "%s/trace/sample", data ? data : "tests/data");
	return 0;
}

/* Runs cmd with argv (NULL-terminated), its stdout into out. Returns its
 * exit status. */
static int run(int (*cmd)(int, char **), const char *const *args, const char *out)
{
	char *argv[32];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	fflush(stdout);
	int saved = dup(1), fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 1);
	close(fd);
	int r = cmd(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return r;
}

static void test_bad_flags(void **state)
{
	static const char *const bad[][6] = {
		{ "simulate", NULL },
		{ "simulate", "--trace", trace, "--tenants", "everyone", NULL },
		{ "simulate", "--trace", trace, "--host-cores", "0", NULL },
		{ "simulate", "--trace", trace, "--tenant-max", "-1", NULL },
		{ "simulate", "--trace", trace, "--mechanism", "kvm", NULL },
		{ "simulate", "--trace", trace, "--mode", "warm", NULL },
		{ "simulate", "--trace", trace, "--no-such-flag", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(run(bench_simulate, bad[i], "/dev/null"), 2);
	const char *const manual[] = { "simulate", "--trace", trace, "--latencies", latencies,
				       "--policies", "manual", NULL };
	assert_int_equal(run(bench_simulate, manual, "/dev/null"), 2);
	const char *const burst_bad[] = { "burst", "--simulate", "--policies", "scale-out", NULL };
	assert_int_equal(run(bench_burst, burst_bad, "/dev/null"), 2);
}

/* The summary replay prints, with "simulated", and --compare against it. */
static void test_json_and_compare(void **state)
{
	char out[] = "/tmp/test_sim_cli.XXXXXX";
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	const char *const args[] = { "simulate", "--trace", trace, "--latencies", latencies,
				     "--minutes", "10", "--policies", "elastic,fixed:max,scale-out",
				     "--json", NULL };
	assert_int_equal(run(bench_simulate, args, out), 0);
	json_t *j = json_load_file(out, 0, NULL);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "simulated")));
	/* Persistent by default, as replay. */
	json_t *model = json_object_get(j, "model");
	assert_string_equal(json_string_value(json_object_get(model, "mode")), "persistent");
	json_t *pols = json_object_get(j, "policies");
	assert_int_equal(json_object_size(pols), 3);
	json_t *fixed = json_object_get(pols, "fixed:max"), *el = json_object_get(pols, "elastic");
	json_int_t calls = json_integer_value(json_object_get(el, "invocations"));
	assert_true(calls > 0);
	assert_int_equal(json_integer_value(json_object_get(fixed, "invocations")), calls);
	/* The over-provisioned VM allocates more than the elastic one. */
	double a_fixed = json_number_value(json_object_get(json_object_get(fixed, "vcpu_s"),
							   "allocated"));
	double a_el = json_number_value(json_object_get(json_object_get(el, "vcpu_s"),
							"allocated"));
	assert_true(a_fixed > a_el);
	json_decref(j);

	/* Compared with itself (as printed), every error is 0 and no warning
	 * is due. */
	char cmp[] = "/tmp/test_sim_cli.XXXXXX";
	fd = mkstemp(cmp);
	assert_true(fd >= 0);
	close(fd);
	const char *const args2[] = { "simulate", "--trace", trace, "--latencies", latencies,
				      "--minutes", "10", "--policies", "elastic,fixed:max,scale-out",
				      "--json", "--compare", out, NULL };
	assert_int_equal(run(bench_simulate, args2, cmp), 0);
	j = json_load_file(cmp, 0, NULL);
	json_t *c = json_object_get(json_object_get(j, "compare"), "elastic");
	assert_non_null(c);
	json_t *err = json_object_get(json_object_get(c, "vcpu_s_allocated"), "error");
	assert_true(json_is_number(err) && fabs(json_number_value(err)) < 1e-5);
	json_decref(j);
	unlink(out);
	unlink(cmp);
}

static void test_burst_simulated(void **state)
{
	char out[] = "/tmp/test_sim_cli.XXXXXX";
	int fd = mkstemp(out);
	assert_true(fd >= 0);
	close(fd);
	const char *const args[] = { "burst",    "--simulate",    "--tasks", "4",
				     "--task-ms", "20000",        "--latencies", latencies,
				     "--policies", "elastic,periodic:1000", "--json", NULL };
	assert_int_equal(run(bench_burst, args, out), 0);
	json_t *j = json_load_file(out, 0, NULL);
	json_t *pols = json_object_get(j, "policies");
	double el = json_number_value(json_object_get(json_object_get(pols, "elastic"), "loss"));
	double per = json_number_value(
		json_object_get(json_object_get(pols, "periodic:1000"), "loss"));
	assert_true(el >= 0 && el < 0.05);
	assert_true(per > 0.15);
	json_decref(j);
	unlink(out);
}

/* A tenant's peak counts its overlapping calls, an end before a start at
 * the same instant. */
static void test_tenant_peaks(void **state)
{
	struct workload_call calls[] = {
		{ .at_ms = 0, .fn = 0, .duration_ms = 100 },
		{ .at_ms = 50, .fn = 0, .duration_ms = 100 },
		{ .at_ms = 100, .fn = 0, .duration_ms = 10 }, /* the first has ended */
		{ .at_ms = 60, .fn = 1, .duration_ms = 1 },
	};
	struct workload w = { .calls = calls, .n_calls = 4 };
	uint32_t tenant_of[] = { 0, 1 };
	int peaks[3];
	assert_int_equal(sim_tenant_peaks(&w, tenant_of, 3, 8, peaks), 0);
	assert_int_equal(peaks[0], 2);
	assert_int_equal(peaks[1], 1);
	assert_int_equal(peaks[2], 1); /* no call: 1 all the same */
	assert_int_equal(sim_tenant_peaks(&w, tenant_of, 3, 1, peaks), 0);
	assert_int_equal(peaks[0], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_json_and_compare),
		cmocka_unit_test(test_burst_simulated),
		cmocka_unit_test(test_tenant_peaks),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
