/* VMs on the agent: status, growing and shrinking worker vCPUs by hand with
 * either mechanism, invocations spread over them, the limits on them. */
#include "agent.h"

#include <string.h>

void test_status(void **state)
{
	json_t *st;
	assert_int_equal(call("GET", &st, NULL, "/v1/status"), 200);
	const char *accel = json_string_value(json_object_get(st, "accel"));
	assert_true(strcmp(accel, "tcg") == 0 || strcmp(accel, "kvm") == 0);
	assert_int_equal(strlen(json_string_value(json_object_get(st, "image_digest"))), 64);
	assert_true(json_integer_value(json_object_get(json_object_get(st, "cores"), "total")) >=
		    1);
	json_decref(st);
}

/* Grows to n, checks the step, and runs a function on the new vCPU. */
static void grow_and_run(const char *tenant, const char *mech, int n)
{
	json_t *rep = resize(tenant, n);
	json_t *step = json_array_get(json_object_get(rep, "steps"), 0);
	int cpu = (int)json_integer_value(json_object_get(step, "cpu"));
	assert_int_equal(cpu, n);
	assert_string_equal(json_string_value(json_object_get(step, "action")), "grow");
	assert_true(json_integer_value(json_object_get(step, "active_us")) > 0);
	assert_true(json_integer_value(json_object_get(step, "core")) >= 0);
	if (strcmp(mech, "hotplug") == 0) {
		assert_true(json_integer_value(json_object_get(step, "added_us")) > 0);
		assert_true(json_integer_value(json_object_get(step, "seen_us")) > 0);
	}
	json_decref(rep);

	json_t *r = invoke(tenant, S.echo, "process", cpu, 30000, "{\"x\":42}");
	expect_ran_on(r, cpu);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "{\"x\":42}");
	json_decref(r);
}

/* Grows 0 -> 1 -> 2, runs a function on each new vCPU, shrinks to 0, and
 * grows once more (a re-plug after an unplug). */
static void cycle(const char *tenant, const char *mech)
{
	start_vm(tenant, mech, 2);
	for (int round = 0; round < 2; round++) {
		for (int n = 1; n <= 2; n++)
			grow_and_run(tenant, mech, n);
		json_t *vm;
		assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
		assert_int_equal(json_integer_value(json_object_get(vm, "workers")), 2);
		json_decref(vm);

		json_t *rep = resize(tenant, 0);
		assert_int_equal(json_array_size(json_object_get(rep, "steps")), 2);
		json_decref(rep);
	}
	/* Every core went back to the budget. */
	expect_all_cores_free();
	stop_vm(tenant);
}

void test_hotplug_cycle(void **state)
{
	cycle("hot", "hotplug");
}

void test_precreated_cycle(void **state)
{
	cycle("pre", "precreated");
}

/* Runs a burst of n invocations on a new VM with two worker vCPUs. */
static void burst_on_two(const char *tenant, struct burst *b, int n, const char *digest,
			 const char *input)
{
	start_vm(tenant, "precreated", 2);
	json_decref(resize(tenant, 2));
	burst_start(b, n, S.proc.url, tenant, digest, input);
	burst_join(b);
}

void test_concurrent_invocations(void **state)
{
	struct burst b;
	burst_on_two("burst", &b, 8, S.busy, "{\"ms\":100,\"mb\":1}");
	bool used[3] = { false };
	for (int i = 0; i < b.n; i++) {
		assert_int_equal(b.args[i].status, 200);
		assert_string_equal(b.args[i].result_status, "ok");
		assert_true(b.args[i].ran_on == 1 || b.args[i].ran_on == 2);
		used[b.args[i].ran_on] = true;
	}
	/* Eight invocations over two free worker vCPUs use both. */
	assert_true(used[1] && used[2]);
	stop_vm("burst");
}

/* The per-VM limit on invocations in flight (8 for this agent) answers 429
 * beyond it and loses nothing within it. */
void test_inflight_limit(void **state)
{
	struct burst b;
	burst_on_two("busy", &b, 10, S.nap, "{}");
	int ok = 0, limited = 0;
	for (int i = 0; i < b.n; i++) {
		if (b.args[i].status == 200) {
			assert_string_equal(b.args[i].result_status, "ok");
			ok++;
		} else {
			assert_int_equal(b.args[i].status, 429);
			limited++;
		}
	}
	/* Each call sleeps a second and two run at a time, so all ten arrive
	 * while the first eight are in flight. */
	assert_int_equal(ok, 8);
	assert_int_equal(limited, 2);
}

/* QEMU creates at most hotplug_slots vCPUs over a VM's life: the agent says
 * so instead of letting QEMU abort. */
void test_hotplug_exhausted(void **state)
{
	json_t *vm;
	const char *spec = "{\"mechanism\":\"hotplug\",\"max_workers\":1,\"hotplug_slots\":2}";
	assert_int_equal(call("PUT", &vm, spec, "/v1/vms/slots"), 201);
	assert_int_equal(json_integer_value(json_object_get(vm, "hotplug_remaining")), 1);
	json_decref(vm);
	json_decref(resize("slots", 1));
	json_decref(resize("slots", 0));
	json_t *e;
	assert_int_equal(call("PUT", &e, "{\"count\":1}", "/v1/vms/slots/workers"), 409);
	assert_string_equal(error_code(e), "hotplug_exhausted");
	json_decref(e);
	/* A restart gives the VM a fresh life. */
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/slots/restart"), 201);
	json_decref(vm);
	json_decref(resize("slots", 1));
}
