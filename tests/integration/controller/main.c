/* The platform suite's fixture: a controller and agent h1, started once. */
#include "controller.h"

#include <stdlib.h>

#include <curl/curl.h>

struct platform P;

static int setup(void **state)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return platform_start(&P) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	platform_stop(&P);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_host_registers),
					    cmocka_unit_test(test_drain_and_replace),
					    cmocka_unit_test(test_deploy_invoke_versions),
					    cmocka_unit_test(test_async),
					    cmocka_unit_test(test_chosen_invocation_id),
					    cmocka_unit_test(test_attestation_none),
					    cmocka_unit_test(test_isolation),
					    cmocka_unit_test(test_errors),
					    runtimes_test(test_runtime_errors),
					    runtimes_test(test_runtime_python),
					    runtimes_test(test_runtime_nodejs),
					    cmocka_unit_test(test_burst_grows_then_shrinks),
					    cmocka_unit_test(test_scaling_live),
					    cmocka_unit_test(test_scale_out_second_vm),
					    cmocka_unit_test(test_scale_out_drain_and_loss),
					    cmocka_unit_test(test_metrics),
					    cmocka_unit_test(test_controller_restart),
					    cmocka_unit_test(test_controller_crash),
					    cmocka_unit_test(test_agent_killed) };
	/* DITTO_TEST_ONLY=PATTERN runs the tests whose names match (cmocka's
	 * wildcards), on the same platform. */
	const char *only = getenv("DITTO_TEST_ONLY");
	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, setup, teardown);
}
