/* The agent-controller contract: error codes, their statuses, the errno
 * map the agent answers with and what the controller retries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent_api.h"
#include "util.h"

static void test_names_round_trip(void **state)
{
	for (int e = 1; e < AGENT_E_COUNT; e++) {
		const char *name = agent_err_name((enum agent_err)e);
		assert_non_null(name);
		assert_true(name[0] != '\0');
		assert_int_equal(agent_err_parse(name), e);
		unsigned st = agent_err_status((enum agent_err)e);
		assert_true(st >= 400 && st <= 599);
		/* Every name is unique. */
		for (int f = 1; f < e; f++)
			assert_string_not_equal(name, agent_err_name((enum agent_err)f));
	}
	assert_string_equal(agent_err_name(AGENT_E_UNKNOWN), "");
	assert_int_equal(agent_err_status(AGENT_E_UNKNOWN), 500);
	assert_int_equal(agent_err_parse(NULL), AGENT_E_UNKNOWN);
	assert_int_equal(agent_err_parse(""), AGENT_E_UNKNOWN);
	assert_int_equal(agent_err_parse("no_such_code"), AGENT_E_UNKNOWN);
	assert_int_equal(agent_err_parse("NO_VM"), AGENT_E_UNKNOWN);
	/* Out of range values read as unknown, not past the table. */
	assert_string_equal(agent_err_name(AGENT_E_COUNT), "");
	assert_string_equal(agent_err_name((enum agent_err)(-1)), "");
	assert_int_equal(agent_err_status(AGENT_E_COUNT), 500);
	assert_int_equal(agent_err_retry(AGENT_E_COUNT), AGENT_RETRY_NO);
}

/* Every code either daemon sends, with the status the agent answers with. */
static void test_codes(void **state)
{
	/* clang-format off */
	static const struct {
		const char *name;
		unsigned status;
	} codes[] = {
		{ "not_found", 404 },	      { "no_route", 404 },	    { "no_vm", 404 },
		{ "no_artifact", 404 },	      { "artifact_missing", 404 },  { "exists", 409 },
		{ "bad_request", 400 },	      { "bad_parameter", 400 },	    { "bad_field", 400 },
		{ "bad_json", 400 },	      { "bad_digest", 400 },	    { "digest_mismatch", 400 },
		{ "bad_tenant", 400 },	      { "empty", 400 },		    { "out_of_range", 400 },
		{ "unauthorized", 401 },      { "bad_method", 405 },	    { "too_large", 413 },
		{ "too_many_requests", 429 }, { "cancelled", 409 },	    { "hotplug_exhausted", 409 },
		{ "policy_active", 409 },     { "stopping", 409 },	    { "vm_not_ready", 503 },
		{ "no_capacity", 503 },	      { "shutting_down", 503 },	    { "vm_died", 502 },
		{ "vm_failed", 502 },	      { "step_failed", 502 },	    { "guest_timeout", 504 },
		{ "guest_error", 502 },	      { "internal", 500 },	    { "malformed", 502 },
		{ "too_big", 502 },	      { "bad_input", 400 },	    { "no_such_cpu", 400 },
		{ "cpu_unavailable", 409 },   { "cpu_removed", 502 },	    { "online_failed", 502 },
		{ "offline_failed", 502 },    { "probe_failed", 502 },	    { "queue_full", 429 },
		{ "io_error", 502 },	      { "unsupported", 409 },
	};
	/* clang-format on */
	assert_int_equal(ARRAY_SIZE(codes), AGENT_E_COUNT - 1);
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		enum agent_err e = agent_err_parse(codes[i].name);
		assert_int_not_equal(e, AGENT_E_UNKNOWN);
		assert_int_equal(agent_err_status(e), codes[i].status);
	}
}

/* The agent's errno map as it was before it moved here. */
static void test_from_errno(void **state)
{
	static const struct {
		int err;
		const char *code;
		unsigned status;
	} map[] = {
		{ -ENOENT, "not_found", 404 },
		{ -EEXIST, "exists", 409 },
		{ -EINVAL, "bad_request", 400 },
		{ -ERANGE, "out_of_range", 400 },
		{ -EAGAIN, "vm_not_ready", 503 },
		{ -ENOSPC, "no_capacity", 503 },
		{ -EMLINK, "hotplug_exhausted", 409 },
		{ -EBUSY, "too_many_requests", 429 },
		{ -ECANCELED, "cancelled", 409 },
		{ -ENAMETOOLONG, "bad_request", 400 },
		{ -EPIPE, "vm_died", 502 },
		{ -ECONNRESET, "vm_died", 502 },
		{ -ETIMEDOUT, "guest_timeout", 504 },
		{ -EIO, "step_failed", 502 },
		{ -ESHUTDOWN, "shutting_down", 503 },
		{ -ENOMEM, "internal", 500 },
		{ -EPERM, "internal", 500 },
		{ 0, "internal", 500 },
		{ ENOENT, "internal", 500 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		enum agent_err e = agent_err_from_errno(map[i].err);
		assert_string_equal(agent_err_name(e), map[i].code);
		assert_int_equal(agent_err_status(e), map[i].status);
	}
}

static void test_retry(void **state)
{
	assert_int_equal(agent_err_retry(AGENT_E_NO_ARTIFACT), AGENT_RETRY_ARTIFACT);
	assert_int_equal(agent_err_retry(AGENT_E_ARTIFACT_MISSING), AGENT_RETRY_ARTIFACT);
	assert_int_equal(agent_err_retry(AGENT_E_NO_VM), AGENT_RETRY_REROUTE);
	assert_int_equal(agent_err_retry(AGENT_E_VM_DIED), AGENT_RETRY_REROUTE);
	assert_int_equal(agent_err_retry(AGENT_E_CANCELLED), AGENT_RETRY_REROUTE);
	int artifact = 0, reroute = 0;
	for (int e = 0; e < AGENT_E_COUNT; e++) {
		enum agent_retry r = agent_err_retry((enum agent_err)e);
		artifact += r == AGENT_RETRY_ARTIFACT;
		reroute += r == AGENT_RETRY_REROUTE;
	}
	assert_int_equal(artifact, 2);
	assert_int_equal(reroute, 3);
	assert_int_equal(agent_err_retry(AGENT_E_UNKNOWN), AGENT_RETRY_NO);
	assert_int_equal(agent_err_retry(AGENT_E_VM_FAILED), AGENT_RETRY_NO);
}

static void test_timeouts(void **state)
{
	/* The controller waits longer than the agent guards. */
	assert_true(AGENT_GRACE_MS > AGENT_GUARD_MS);
	assert_true(INVOKE_TIMEOUT_DEFAULT_MS <= INVOKE_TIMEOUT_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_names_round_trip),
					    cmocka_unit_test(test_codes),
					    cmocka_unit_test(test_from_errno),
					    cmocka_unit_test(test_retry),
					    cmocka_unit_test(test_timeouts) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
