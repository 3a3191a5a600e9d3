/* The agent suite's fixture: one agent for the tests that share it, with the
 * sample functions uploaded, and whatever a test left running stopped after
 * it. */
#include "agent.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/procs.h"
#include "support/wait.h"
#include "util.h"

struct agent_suite S;

static void upload_file(const char *name, char digest[SHA256_HEX_SIZE])
{
	char path[512];
	snprintf(path, sizeof(path), "%s/functions/%s", test_build_dir(), name);
	void *buf;
	size_t len;
	assert_int_equal(file_read_all(path, &buf, &len), 0);
	assert_int_equal(api_client_put_artifact(&S.c, buf, len, digest), 201);
	free(buf);
}

static void upload_text(const char *text, char digest[SHA256_HEX_SIZE])
{
	assert_int_equal(api_client_put_artifact(&S.c, text, strlen(text), digest), 201);
}

static int setup(void **state)
{
	char dir[] = "/tmp/ditto-it.XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	/* Pings often and gives up soon, so the unresponsive-guest test is quick;
	 * captures the guest channels' bytes for the test that looks at them. */
	char capture[64];
	snprintf(capture, sizeof(capture), "%s/capture", dir);
	/* DITTO_IT_GUEST_PORTS runs the suite with that --guest-ports (single,
	 * per-cpu); unset, with the agent's default. */
	const char *ports = getenv("DITTO_IT_GUEST_PORTS");
	const char *extra[] = { "--ping-interval-ms",
				"300",
				"--ping-timeout-ms",
				"3000",
				"--max-inflight",
				"8",
				"--wire-capture",
				capture,
				ports ? "--guest-ports" : NULL,
				ports,
				NULL };
	if (proc_start_agent(&S.proc, dir, extra) < 0) {
		fprintf(stderr, "cannot start agent; see %s/agent.log\n", dir);
		return -1;
	}
	api_client_init(&S.c, S.proc.url);
	upload_file("echo", S.echo);
	upload_file("busy", S.busy);
	upload_file("sha256", S.sha);
	upload_file("hello.sh", S.hello);
	/* A function that leaves a child behind and never ends: the timeout
	 * must kill the whole process group. */
	upload_text("#!/bin/sh\nsleep 1000 &\nexec sleep 1001\n", S.sleeper);
	upload_text("#!/bin/sh\nsleep 1\necho '{}'\n", S.nap);
	upload_text("#!/bin/sh\nif pgrep sleep >/dev/null; then echo '{\"left\":true}'; "
		    "else echo '{\"left\":false}'; fi\n",
		    S.check);
	return 0;
}

static int teardown(void **state)
{
	api_client_free(&S.c);
	int st = daemon_proc_stop(&S.proc, SIGTERM, 60000);
	if (st != 0)
		fprintf(stderr, "agent did not stop cleanly: %d\n", st);
	return st == 0 ? 0 : -1;
}

static bool no_vms(void *data)
{
	json_t *vms;
	assert_int_equal(call("GET", &vms, NULL, "/v1/vms"), 200);
	size_t n = json_array_size(json_object_get(vms, "vms"));
	json_decref(vms);
	return n == 0;
}

/* After each test, whatever it left running goes, so that a failed test
 * does not hold cores the next one needs. */
static int stop_all(void **state)
{
	json_t *vms;
	if (call("GET", &vms, NULL, "/v1/vms") != 200)
		return -1;
	size_t i;
	json_t *vm;
	json_array_foreach(json_object_get(vms, "vms"), i, vm)
		call("DELETE", NULL, NULL, "/v1/vms/%s",
		     json_string_value(json_object_get(vm, "tenant")));
	json_decref(vms);
	wait_until(no_vms, NULL, STATE_MS, "every VM to stop");
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_status, stop_all),
		cmocka_unit_test_teardown(test_hotplug_cycle, stop_all),
		cmocka_unit_test_teardown(test_precreated_cycle, stop_all),
		cmocka_unit_test_teardown(test_concurrent_invocations, stop_all),
		cmocka_unit_test_teardown(test_ports_reach_their_cpu, stop_all),
		cmocka_unit_test_teardown(test_ports_shrink_in_flight, stop_all),
		cmocka_unit_test_teardown(test_functions_and_limits, stop_all),
		cmocka_unit_test_teardown(test_invoke_memory_limit_and_hops, stop_all),
		cmocka_unit_test_teardown(test_qemu_killed, stop_all),
		cmocka_unit_test_teardown(test_guest_unresponsive, stop_all),
		cmocka_unit_test_teardown(test_inflight_limit, stop_all),
		cmocka_unit_test_teardown(test_hotplug_exhausted, stop_all),
		cmocka_unit_test_teardown(test_delete_cancels_work, stop_all),
		cmocka_unit_test_teardown(test_elastic_grows_and_shrinks, stop_all),
		cmocka_unit_test_teardown(test_fixed_policy, stop_all),
		cmocka_unit_test_teardown(test_scaling_update, stop_all),
		cmocka_unit_test_teardown(test_elastic_hotplug_exhausted, stop_all),
		cmocka_unit_test_teardown(test_accounting, stop_all),
		cmocka_unit_test_teardown(test_periodic_policy, stop_all),
		cmocka_unit_test_teardown(test_confidential_host, stop_all),
		cmocka_unit_test_teardown(test_attest_and_capture, stop_all),
		cmocka_unit_test_teardown(test_runtime_disk, stop_all),
		cmocka_unit_test(test_runtime_disk_tampered),
		cmocka_unit_test(test_elastic_cores_short),
		cmocka_unit_test(test_controller_link),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_snp_options),
		cmocka_unit_test(test_agent_crash_ends_vms)
	};
	return cmocka_run_group_tests_name("agent end to end", tests, setup, teardown);
}
