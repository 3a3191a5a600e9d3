/* Invocations on the agent: the sample functions, both modes, timeouts
 * (which kill all a function started, sessions of its own included),
 * memory limits, the latency split by hop, and requests it refuses. */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A request the agent must refuse with status, and code when not NULL. */
struct refusal {
	const char *method, *body, *path;
	int status;
	const char *code;
};

static void expect_refusal(const struct refusal *f)
{
	json_t *e;
	assert_int_equal(call(f->method, &e, f->body, "%s", f->path), f->status);
	if (f->code)
		assert_string_equal(error_code(e), f->code);
	json_decref(e);
}

/* Bad requests: clear 4xx errors with a JSON body. */
static void expect_refusals(void)
{
	char missing[SHA256_HEX_SIZE], p[8][200];
	memset(missing, 'a', 64);
	missing[64] = '\0';
	snprintf(p[0], sizeof(p[0]), "/v1/vms/fn/invoke?artifact=%s", missing);
	snprintf(p[1], sizeof(p[1]), "/v1/vms/fn/invoke?artifact=%s&mode=fast", S.echo);
	snprintf(p[2], sizeof(p[2]), "/v1/vms/fn/invoke?artifact=%s&timeout_ms=0", S.echo);
	snprintf(p[3], sizeof(p[3]), "/v1/vms/fn/invoke?artifact=%s&timeout_ms=300001", S.echo);
	snprintf(p[4], sizeof(p[4]), "/v1/vms/fn/invoke?artifact=%s&cpu=7", S.echo);
	snprintf(p[5], sizeof(p[5]), "/v1/vms/nope/invoke?artifact=%s", S.echo);
	snprintf(p[6], sizeof(p[6]), "/v1/artifacts/%s", S.echo);
	const struct refusal refusals[] = {
		{ "POST", "{}", p[0], 404, "no_artifact" },
		{ "POST", "{}", "/v1/vms/fn/invoke?artifact=xyz", 400, NULL },
		{ "POST", "{}", p[1], 400, NULL },
		{ "POST", "{}", p[2], 400, NULL },
		{ "POST", "{}", p[3], 400, NULL },
		{ "POST", "{}", p[4], 400, NULL },
		{ "POST", "{}", p[5], 404, NULL },
		{ "PUT", "{\"count\":5}", "/v1/vms/fn/workers", 400, NULL },
		{ "PUT", "{\"count\":", "/v1/vms/fn/workers", 400, "bad_json" },
		{ "PUT", "{\"mechanism\":\"magic\"}", "/v1/vms/x", 400, NULL },
		{ "PUT", "{}", "/v1/vms/fn", 409, NULL },
		{ "GET", NULL, "/v1/nothing", 404, NULL },
		{ "PUT", "not the right bytes", p[6], 400, "digest_mismatch" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++)
		expect_refusal(&refusals[i]);

	/* Input over the limit (6 MiB by default) is refused with 413. */
	size_t big = (6u << 20) + 1;
	char *in = malloc(big);
	memset(in, 'x', big);
	char path[160];
	snprintf(path, sizeof(path), "/v1/vms/fn/invoke?artifact=%s", S.echo);
	json_t *e;
	assert_int_equal(api_client_call(&S.c, "POST", path, in, big, STEP_MS, &e), 413);
	json_decref(e);
	free(in);
}

/* A grandchild that left the function's process group (setsid) dies with
 * it too when it times out: the guest kills the function's cgroup. The
 * check waits up to 10 s in the guest for the kill to land. */
static void expect_session_killed(void)
{
	static const char leaver[] = "#!/bin/sh\n"
				     "setsid sh -c 'sleep 60' </dev/null >/dev/null 2>&1 &\n"
				     "exec sleep 1001\n";
	static const char check[] =
		"#!/bin/sh\n"
		"i=0\n"
		"while pgrep -f 'sleep 60' >/dev/null && [ $i -lt 100 ]; do\n"
		"  i=$((i + 1)); sleep 0.1\n"
		"done\n"
		"if pgrep -f 'sleep 60' >/dev/null; then echo '{\"left\":true}'; "
		"else echo '{\"left\":false}'; fi\n";
	char leaver_d[SHA256_HEX_SIZE], check_d[SHA256_HEX_SIZE];
	assert_int_equal(api_client_put_artifact(&S.c, leaver, strlen(leaver), leaver_d), 201);
	assert_int_equal(api_client_put_artifact(&S.c, check, strlen(check), check_d), 201);
	json_t *r = invoke("fn", leaver_d, "process", 1, 500, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "timeout");
	json_decref(r);
	r = invoke("fn", check_d, "process", 1, 30000, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"left\":false}\n");
	json_decref(r);
}

void test_functions_and_limits(void **state)
{
	start_vm("fn", "precreated", 1);
	json_decref(resize("fn", 1));

	json_t *r = invoke("fn", S.sha, "process", 1, 30000, "abc");
	expect_ran_on(r, 1);
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")),
			       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	json_decref(r);

	r = invoke("fn", S.hello, "process", 1, 30000, "{\"name\":\"ditto\"}");
	expect_ran_on(r, 1);
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "ditto"));
	json_decref(r);

	/* Long-lived mode: the first call starts the process (cold), the next
	 * reuses it. */
	r = invoke("fn", S.echo, "persistent", 1, 30000, "{\"n\":1}");
	expect_ran_on(r, 1);
	assert_true(json_is_true(json_object_get(r, "cold_start")));
	json_decref(r);
	r = invoke("fn", S.echo, "persistent", 1, 30000, "{\"n\":2}");
	expect_ran_on(r, 1);
	assert_false(json_is_true(json_object_get(r, "cold_start")));
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"n\":2}");
	json_decref(r);

	/* A function over its timeout is killed with its whole process group. */
	r = invoke("fn", S.sleeper, "process", 1, 500, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "timeout");
	json_decref(r);
	r = invoke("fn", S.check, "process", 1, 30000, "{}");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"left\":false}\n");
	json_decref(r);
	expect_session_killed();

	expect_refusals();

	/* Nothing was lost: the VM still serves. */
	r = invoke("fn", S.echo, "process", 1, 30000, "{\"still\":true}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("fn");
}

/* Invokes busy with a memory limit; returns the 200 reply. */
static json_t *invoke_limited(const char *tenant, const char *mode, int memory_mib,
			      const char *input)
{
	json_t *r;
	int st = call("POST", &r, input,
		      "/v1/vms/%s/invoke?artifact=%s&mode=%s&cpu=1&memory_mib=%d", tenant, S.busy,
		      mode, memory_mib);
	assert_int_equal(st, 200);
	return r;
}

/* memory_mib reaches the function (functions/busy touches the MiB it is
 * asked for): under it the function runs, over it the function fails and
 * the VM goes on serving. Every reply splits its latency by hop. */
void test_invoke_memory_limit_and_hops(void **state)
{
	start_vm("mem", "precreated", 1);
	json_decref(resize("mem", 1));

	json_t *r = invoke_limited("mem", "process", 32, "{\"mb\":8}");
	expect_ran_on(r, 1);
	/* guest_us and wall_us are on the guest's clock, agent_us on the
	 * host's: only the guest's may be compared. */
	assert_true(int_field(r, "guest_us") >=
		    int_field(r, "queued_us") + int_field(r, "wall_us"));
	assert_true(int_field(r, "agent_us") > 0);
	json_decref(r);

	r = invoke_limited("mem", "process", 32, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "error");
	assert_int_equal(int_field(r, "exit_code"), 1);
	assert_string_equal(json_string_value(json_object_get(r, "error")), "exit code 1");
	assert_non_null(strstr(json_string_value(json_object_get(r, "log")), "cannot allocate"));
	assert_true(int_field(r, "guest_us") >= int_field(r, "wall_us"));
	assert_true(int_field(r, "agent_us") > 0);
	json_decref(r);

	/* A long-lived process serves only the memory limit it was started
	 * with: under 32 MiB busy answers the failed allocation itself and goes
	 * on serving; a call with 1024 MiB gets a process of its own, with the
	 * room; the 32 MiB one is still warm. */
	r = invoke_limited("mem", "persistent", 32, "{\"mb\":64}");
	assert_string_equal(json_string_value(json_object_get(r, "status")), "ok");
	assert_true(json_is_true(json_object_get(r, "cold_start")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "\"error\""));
	json_decref(r);
	r = invoke_limited("mem", "persistent", 1024, "{\"mb\":64}");
	assert_true(json_is_true(json_object_get(r, "cold_start")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "\"mb\":64"));
	assert_null(strstr(json_string_value(json_object_get(r, "result")), "\"error\""));
	json_decref(r);
	r = invoke_limited("mem", "persistent", 32, "{\"mb\":8}");
	assert_false(json_is_true(json_object_get(r, "cold_start")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "result")), "\"mb\":8"));
	json_decref(r);

	const char *bad[] = { "0", "65537", "-5", "lots", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char path[200];
		snprintf(path, sizeof(path), "/v1/vms/mem/invoke?artifact=%s&memory_mib=%s", S.busy,
			 bad[i]);
		expect_refusal(&(struct refusal){ "POST", "{}", path, 400, "bad_parameter" });
	}

	/* Nothing was hurt: the same memory without a limit is fine. */
	r = invoke("mem", S.busy, "process", 1, 30000, "{\"mb\":64}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("mem");
}
