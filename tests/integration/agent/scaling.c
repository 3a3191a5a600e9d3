/* Scaling policies on the agent: elastic growth and shrinkage, fixed sizes,
 * live changes to limits and policy, and growth that runs out of vCPUs or
 * cores. */
#include "agent.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "support/procs.h"
#include "util.h"

static void expect_scaling(json_t *vm, int min, int max, const char *policy)
{
	assert_int_equal(json_integer_value(json_object_get(vm, "min_workers")), min);
	assert_int_equal(json_integer_value(json_object_get(vm, "max_workers")), max);
	assert_string_equal(json_string_value(json_object_get(vm, "policy")), policy);
}

/* Puts a scaling body; returns the status, with the reply in *ret. */
static int put_scaling(const char *tenant, const char *body, json_t **ret)
{
	return call("PUT", ret, body, "/v1/vms/%s/scaling", tenant);
}

/* Puts a scaling body that must be taken; checks the VM's scaling after. */
static void rescale(const char *tenant, const char *body, int min, int max, const char *policy)
{
	json_t *vm;
	assert_int_equal(put_scaling(tenant, body, &vm), 200);
	if (policy)
		expect_scaling(vm, min, max, policy);
	json_decref(vm);
}

/* Puts a scaling body that must be refused with 400 and code. */
static void rescale_refused(const char *tenant, const char *body, const char *code)
{
	json_t *e;
	assert_int_equal(put_scaling(tenant, body, &e), 400);
	assert_string_equal(error_code(e), code);
	json_decref(e);
}

/* Elastic from nothing: two invocations of a busy function at once make the
 * VM grow to two worker vCPUs, each invocation runs on its own, and the VM
 * gives both back once they have been idle a keep-alive. */
void test_elastic_grows_and_shrinks(void **state)
{
	json_t *vm = start_vm_spec("elastic", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					      "\"min_workers\":0,\"policy\":\"elastic:300\"}");
	expect_scaling(vm, 0, 2, "elastic:300");
	assert_int_equal(json_integer_value(json_object_get(vm, "max_workers_limit")), 2);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 0);
	json_decref(vm);

	struct burst b;
	burst_start(&b, 2, S.proc.url, "elastic", S.busy, "{\"ms\":3000}");
	/* Each needs 3 s of CPU, so the VM is seen at two while they run. */
	json_decref(wait_workers("elastic", 2));
	burst_join(&b);
	for (int i = 0; i < b.n; i++) {
		assert_int_equal(b.args[i].status, 200);
		assert_string_equal(b.args[i].result_status, "ok");
		assert_true(b.args[i].ran_on >= 1 && b.args[i].ran_on <= 2);
	}
	assert_int_not_equal(b.args[0].ran_on, b.args[1].ran_on);

	vm = wait_workers("elastic", 0);
	assert_int_equal(json_integer_value(json_object_get(vm, "inflight")), 0);
	json_decref(vm);
	/* Every core went back. */
	expect_all_cores_free();
}

/* fixed:N holds N whatever the demand, follows a new N and the bounds, and
 * refuses manual resizes while it is in force. */
void test_fixed_policy(void **state)
{
	json_t *vm = start_vm_spec("fixed", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					    "\"policy\":\"fixed:1\"}");
	expect_scaling(vm, 0, 2, "fixed:1");
	json_decref(vm);
	json_decref(wait_workers("fixed", 1));

	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"count\":2}", "/v1/vms/fixed/workers"), 409);
	assert_string_equal(error_code(e), "policy_active");
	json_decref(e);

	json_t *r = invoke("fixed", S.echo, "process", 0, 30000, "{\"n\":1}");
	expect_ran_on(r, 1);
	json_decref(r);
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/fixed"), 200);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 1);
	json_decref(vm);

	rescale("fixed", "{\"policy\":\"fixed:2\"}", 0, 2, "fixed:2");
	json_decref(wait_workers("fixed", 2));
	/* A lower maximum wins over the policy's N. */
	rescale("fixed", "{\"max_workers\":1}", 0, 1, "fixed:2");
	json_decref(wait_workers("fixed", 1));
	/* The VM's size is still 2: the maximum may go back up without a restart. */
	rescale("fixed", "{\"max_workers\":2}", 0, 0, NULL);
	json_decref(wait_workers("fixed", 2));
}

/* The checks on scaling changes; nothing changes when they refuse. */
static void expect_scaling_refusals(void)
{
	json_t *e;
	assert_int_equal(put_scaling("limits", "{\"max_workers\":3}", &e), 400);
	assert_string_equal(error_code(e), "out_of_range");
	assert_non_null(
		strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
		       "restarted"));
	json_decref(e);
	rescale_refused("limits", "{\"min_workers\":2,\"max_workers\":1}", "bad_field");
	static const char *const bad[] = {
		"{\"policy\":\"elastic:-1\"}",
		"{\"policy\":\"fixed:129\"}",
		"{\"policy\":5}",
		"{\"policy\":\"scale-out\"}",
		"{\"min_workers\":-1}",
		"{\"max_workers\":\"2\"}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		rescale_refused("limits", bad[i], "bad_field");
	assert_int_equal(put_scaling("nobody", "{}", &e), 404);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"policy\":\"sometimes\"}", "/v1/vms/x"), 400);
	json_decref(e);
	assert_int_equal(call("PUT", &e, "{\"max_workers\":1,\"min_workers\":2}", "/v1/vms/x"),
			 400);
	json_decref(e);
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/limits"), 200);
	expect_scaling(vm, 0, 2, "manual");
	json_decref(vm);
}

/* Changing limits and policy on a running VM, the checks on them, and the
 * minimum kept through a restart. */
void test_scaling_update(void **state)
{
	json_t *vm = start_vm_spec("limits", "{\"mechanism\":\"precreated\",\"max_workers\":2}");
	expect_scaling(vm, 0, 2, "manual");
	json_decref(vm);
	expect_scaling_refusals();

	/* Under manual the bounds still hold: a minimum grows the VM, and a
	 * count outside them is refused. */
	rescale("limits", "{\"min_workers\":1}", 1, 2, "manual");
	json_decref(wait_workers("limits", 1));
	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"count\":0}", "/v1/vms/limits/workers"), 400);
	assert_string_equal(error_code(e), "out_of_range");
	json_decref(e);
	json_decref(resize("limits", 2));
	rescale("limits", "{\"max_workers\":1}", 0, 0, NULL);
	json_decref(wait_workers("limits", 1));

	/* Elastic with no demand at all goes down to its minimum. */
	rescale("limits", "{\"min_workers\":0,\"max_workers\":2,\"policy\":\"elastic:300\"}", 0, 2,
		"elastic:300");
	json_decref(wait_workers("limits", 0));

	/* Limits stay through a restart, and the minimum is applied once the
	 * new guest is ready. */
	rescale("limits", "{\"min_workers\":1}", 0, 0, NULL);
	json_decref(wait_workers("limits", 1));
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/limits/restart"), 201);
	expect_scaling(vm, 1, 2, "elastic:300");
	json_decref(vm);
	json_decref(wait_workers("limits", 1));
	/* Back to manual: the operator resizes again. */
	rescale("limits", "{\"policy\":\"manual\",\"min_workers\":0}", 0, 0, NULL);
	json_decref(resize("limits", 0));
}

/* A hotplug VM that can create no more vCPUs stops growing and keeps the
 * worker it has, so invocations still run. */
void test_elastic_hotplug_exhausted(void **state)
{
	json_t *vm = start_vm_spec("hx", "{\"mechanism\":\"hotplug\",\"max_workers\":1,"
					 "\"hotplug_slots\":2,\"policy\":\"elastic:0\"}");
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 1);
	json_decref(vm);
	json_t *r = invoke("hx", S.echo, "process", 0, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
	wait_log(S.proc.log, "vm_scale_limited tenant=hx ", "reason=hotplug_exhausted");
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/hx"), 200);
	assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 1);
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 0);
	json_decref(vm);
	r = invoke("hx", S.echo, "process", 0, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
}

/* With one free core, an elastic VM that wants two worker vCPUs grows to
 * one, says why once, and runs everything there. A second agent owns a
 * budget of one core. */
void test_elastic_cores_short(void **state)
{
	char dir[] = "/tmp/ditto-it-short.XXXXXX";
	assert_non_null(mkdtemp(dir));
	const char *extra[] = { "--cores", "0", NULL };
	struct daemon_proc a;
	assert_int_equal(proc_start_agent(&a, dir, extra), 0);
	struct api_client c;
	api_client_init(&c, a.url);
	const char *spec =
		"{\"mechanism\":\"precreated\",\"max_workers\":2,\"policy\":\"elastic:300\"}";
	json_t *vm = NULL;
	assert_int_equal(
		api_client_call(&c, "PUT", "/v1/vms/short", spec, strlen(spec), STEP_MS, &vm), 201);
	json_decref(vm);
	char digest[SHA256_HEX_SIZE];
	assert_int_equal(api_client_put_artifact(&c, "#!/bin/sh\nsleep 1\necho '{}'\n", 27, digest),
			 201);

	struct burst b;
	burst_start(&b, 2, a.url, "short", digest, "{}");
	wait_log(a.log, "vm_scale_limited tenant=short wanted=2 workers=", "reason=no_capacity");
	burst_join(&b);
	for (int i = 0; i < b.n; i++) {
		assert_int_equal(b.args[i].status, 200);
		assert_string_equal(b.args[i].result_status, "ok");
		assert_int_equal(b.args[i].ran_on, 1);
	}
	assert_int_equal(count_in_file(a.log, "reason=no_capacity"), 1);
	api_client_free(&c);
	assert_int_equal(daemon_proc_stop(&a, SIGTERM, 60000), 0);
}
