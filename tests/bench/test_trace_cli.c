#include <setjmp.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trace_cli.h"

#define MAX_ARGS 32

/* Parses argv (NULL-terminated, after the command's name) as a command with
 * one flag of its own, --url (value 'u'), would. Returns 0, 2 for a refused
 * flag or value, or -1 after a refused combination. */
static int parse(struct trace_cli *c, const char **args, const char **url)
{
	static const struct option mine[] = { { "url", required_argument, NULL, 'u' },
					      { NULL, 0, NULL, 0 } };
	struct option all[TRACE_CLI_N_OPTIONS + 1];
	assert_int_equal(trace_cli_options_join(mine, all, TRACE_CLI_N_OPTIONS + 1), 0);
	char *argv[MAX_ARGS] = { "replay" };
	int argc = 1;
	while (args[argc - 1])
		argv[argc] = (char *)args[argc - 1], argc++;
	argv[argc] = NULL;
	trace_cli_init(c);
	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "", all, NULL)) != -1) {
		if (opt == 'u') {
			*url = optarg;
			continue;
		}
		if (trace_cli_option(c, opt, optarg) != 1)
			return 2;
	}
	return trace_cli_check(c) < 0 ? -1 : 0;
}

static void test_all_flags(void **state)
{
	struct trace_cli c;
	const char *url = NULL;
	const char *args[] = { "--trace",
			       "dir",
			       "--day",
			       "3",
			       "--sample",
			       "20",
			       "--seed",
			       "42",
			       "--start-minute",
			       "480",
			       "--minutes",
			       "10",
			       "--time-scale",
			       "2.5",
			       "--target-cores",
			       "1.5",
			       "--uniform",
			       "--max-duration-ms",
			       "60000",
			       "--policies",
			       "elastic,fixed:2,periodic:1000",
			       "--json",
			       "--csv",
			       "out.csv",
			       "--plots",
			       "plots",
			       "--url",
			       "http://x",
			       NULL };
	assert_int_equal(parse(&c, args, &url), 0);
	assert_string_equal(c.trace, "dir");
	assert_int_equal(c.day, 3);
	assert_int_equal(c.wl.sample, 20);
	assert_int_equal(c.wl.functions, 0);
	assert_int_equal(c.wl.seed, 42);
	assert_int_equal(c.wl.start_minute, 480);
	assert_int_equal(c.wl.minutes, 10);
	assert_true(c.wl.time_scale == 2.5);
	assert_true(c.wl.target_cores == 1.5);
	assert_true(c.wl.rate_scale == 0);
	assert_true(c.wl.uniform);
	assert_true(c.wl.max_duration_ms == 60000);
	assert_int_equal(c.n_policies, 3);
	assert_string_equal(c.policies[0], "elastic");
	assert_string_equal(c.policies[1], "fixed:2");
	assert_string_equal(c.policies[2], "periodic:1000");
	assert_true(c.json);
	assert_string_equal(c.csv, "out.csv");
	assert_string_equal(c.plots, "plots");
	assert_string_equal(url, "http://x");
}

static void test_defaults(void **state)
{
	struct trace_cli c;
	const char *url = NULL;
	const char *args[] = { "--trace", "t.csv", "--functions", "all", NULL };
	assert_int_equal(parse(&c, args, &url), 0);
	assert_int_equal(c.wl.functions, 0);
	assert_int_equal(c.wl.seed, 1);
	assert_false(c.wl.uniform);
	assert_true(c.wl.max_duration_ms == 0);
	assert_int_equal(c.n_policies, 1);
	assert_string_equal(c.policies[0], "elastic");
	assert_false(c.json);
	assert_null(c.csv);
	assert_null(url);

	const char *first[] = { "--trace", "d", "--functions", "7", "--rate-scale", "0.25", NULL };
	assert_int_equal(parse(&c, first, &url), 0);
	assert_int_equal(c.wl.functions, 7);
	assert_true(c.wl.rate_scale == 0.25);
}

/* Each of these is refused, with one line on stderr. */
static void test_refused_values(void **state)
{
	static const char *const bad[][2] = {
		{ "--day", "x" },
		{ "--day", "100" },
		{ "--functions", "0" },
		{ "--functions", "some" },
		{ "--sample", "-3" },
		{ "--sample", "2x" },
		{ "--seed", "-1" },
		{ "--seed", "" },
		{ "--start-minute", "0" },
		{ "--minutes", "0" },
		{ "--minutes", " 5" },
		{ "--rate-scale", "0" },
		{ "--rate-scale", "1e3" },
		{ "--rate-scale", "-1" },
		{ "--rate-scale", "1001" },
		{ "--time-scale", "inf" },
		{ "--time-scale", "nan" },
		{ "--time-scale", "." },
		{ "--target-cores", "2 " },
		{ "--max-duration-ms", "0" },
		{ "--policies", "" },
		{ "--policies", "elastic," },
		{ "--policies", ",elastic" },
		{ "--policies", "elastic,,fixed:1" },
		{ "--policies", "manual" },
		{ "--policies", "elastic,bogus" },
		{ "--policies", "fixed:-1" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct trace_cli c;
		const char *url = NULL;
		const char *args[] = { "--trace", "d", bad[i][0], bad[i][1], NULL };
		int r = parse(&c, args, &url);
		if (r != 2)
			fail_msg("%s \"%s\" was accepted", bad[i][0], bad[i][1]);
	}
}

static void test_refused_combinations(void **state)
{
	struct trace_cli c;
	const char *url = NULL;
	const char *none[] = { "--sample", "3", NULL };
	assert_int_equal(parse(&c, none, &url), -1);
	const char *both_sel[] = { "--trace", "d", "--sample", "3", "--functions", "4", NULL };
	assert_int_equal(parse(&c, both_sel, &url), -1);
	const char *both_rate[] = {
		"--trace", "d", "--rate-scale", "2", "--target-cores", "4", NULL
	};
	assert_int_equal(parse(&c, both_rate, &url), -1);
	const char *unknown[] = { "--trace", "d", "--frobnicate", NULL };
	assert_int_equal(parse(&c, unknown, &url), 2);
}

static void test_policies_limit(void **state)
{
	char list[1024] = "";
	for (int i = 0; i <= TRACE_CLI_MAX_POLICIES; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sfixed:%d",
			 i ? "," : "", i);
	struct trace_cli c;
	const char *url = NULL;
	const char *args[] = { "--trace", "d", "--policies", list, NULL };
	assert_int_equal(parse(&c, args, &url), 2);
	/* One fewer fits. */
	*strrchr(list, ',') = '\0';
	assert_int_equal(parse(&c, args, &url), 0);
	assert_int_equal(c.n_policies, TRACE_CLI_MAX_POLICIES);
}

static void test_join_bounds(void **state)
{
	static const struct option mine[] = { { "a", no_argument, NULL, 'a' },
					      { "b", no_argument, NULL, 'b' },
					      { NULL, 0, NULL, 0 } };
	struct option out[TRACE_CLI_N_OPTIONS + 2];
	assert_int_equal(trace_cli_options_join(mine, out, TRACE_CLI_N_OPTIONS + 1), -ENOSPC);
	assert_int_equal(trace_cli_options_join(mine, out, TRACE_CLI_N_OPTIONS + 2), 0);
	assert_string_equal(out[0].name, "a");
	assert_string_equal(out[2].name, "trace");
	assert_null(out[TRACE_CLI_N_OPTIONS + 1].name);
	assert_int_equal(trace_cli_options_join(NULL, out, TRACE_CLI_N_OPTIONS), 0);
	assert_string_equal(out[0].name, "trace");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_flags),      cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_refused_values), cmocka_unit_test(test_refused_combinations),
		cmocka_unit_test(test_policies_limit), cmocka_unit_test(test_join_bounds),
	};
	return cmocka_run_group_tests_name("trace_cli", tests, NULL, NULL);
}
