/* The CLI suite's fixture: one controller for the first group, and the
 * folder of the platform `ditto up` starts for the second. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "support/procs.h"

struct cli_suite S;

static int setup(void)
{
	snprintf(S.dir, sizeof(S.dir), "/tmp/ditto-cli-XXXXXX");
	if (!mkdtemp(S.dir))
		return -1;
	char bin[600], data[128];
	snprintf(bin, sizeof(bin), "%s/ditto", test_build_dir());
	if (access(bin, X_OK) < 0) {
		fprintf(stderr, "missing %s: build it first (make %s)\n", bin, bin);
		return -1;
	}
	snprintf(data, sizeof(data), "%s/controller", S.dir);
	const char *const extra[] = { "--max-artifact", MAX_ARTIFACT, NULL };
	if (proc_start_controller(&S.ctl, data, 0, extra, S.admin) < 0) {
		fprintf(stderr, "the controller did not start; see %s\n", S.ctl.log);
		return -1;
	}
	return 0;
}

static int teardown(void)
{
	int st = daemon_proc_stop(&S.ctl, SIGTERM, 10000);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", S.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", S.dir);
	return st == 0 ? 0 : -1;
}

static int platform_setup(void **state)
{
	snprintf(S.plat_dir, sizeof(S.plat_dir), "%s/platform", S.dir);
	snprintf(S.wire_dir, sizeof(S.wire_dir), "%s/wire", S.plat_dir);
	return 0;
}

static int platform_teardown(void **state)
{
	/* Stops a platform a failed test left running. */
	struct run r;
	run_as(&r, NULL, NULL, ARGV("down", "--data-dir", S.plat_dir));
	run_free(&r);
	return 0;
}

int main(void)
{
	const struct CMUnitTest controller[] = {
		cmocka_unit_test(test_help),        cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_unreachable), cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_tenants),     cmocka_unit_test(test_keys),
		cmocka_unit_test(test_scale),       cmocka_unit_test(test_confidential),
		cmocka_unit_test(test_functions),   cmocka_unit_test(test_runtimes),
		cmocka_unit_test(test_env_file)
	};
	const struct CMUnitTest platform[] = {
		cmocka_unit_test(test_up),          cmocka_unit_test(test_invoke),
		cmocka_unit_test(test_invocations), cmocka_unit_test(test_function_failure),
		cmocka_unit_test(test_e2e),         cmocka_unit_test(test_python_exception),
		cmocka_unit_test(test_scale_out),   cmocka_unit_test(test_hosts_drain),
		cmocka_unit_test(test_down),        cmocka_unit_test(test_up_failure),
	};
	/* One controller serves both groups; the platform has its own. */
	if (setup() < 0)
		return 1;
	int failed = cmocka_run_group_tests_name("cli against a controller", controller, NULL,
						 NULL);
	failed += cmocka_run_group_tests_name("cli with a platform", platform, platform_setup,
					      platform_teardown);
	const struct CMUnitTest postgres[] = { cmocka_unit_test(test_up_postgres) };
	failed += cmocka_run_group_tests_name("cli with a platform on PostgreSQL", postgres,
					      pg_platform_setup, pg_platform_teardown);
	if (teardown() < 0)
		failed++;
	return failed;
}
