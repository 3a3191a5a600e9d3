/* Warm invocations over the worker vCPUs' own ports (--guest-ports per-cpu;
 * under single the same calls must pass through the control port): they
 * reach the CPU that runs them, and a shrink while they are in flight loses
 * none. */
#include "agent.h"

#include "support/wait.h"

/* The VM's record; whether its calls may take worker CPU ports. */
static json_t *vm_record(const char *tenant, bool *ret_per_cpu)
{
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
	*ret_per_cpu = json_object_get(vm, "port_invocations") != NULL;
	return vm;
}

/* A VM with two active worker vCPUs that ran fn once, persistent: its
 * artifact is in the guest, so warm calls may go straight to a port. */
static void two_warm_cpus(const char *tenant, const char *fn, const char *input)
{
	start_vm(tenant, "precreated", 2);
	json_decref(resize(tenant, 2));
	json_t *r = invoke(tenant, fn, "persistent", 0, 60000, input);
	assert_string_equal(json_string_value(json_object_get(r, "status")), "ok");
	json_decref(r);
}

static void expect_all_ok(const struct burst *b, bool used[3])
{
	for (int i = 0; i < b->n; i++) {
		assert_int_equal(b->args[i].status, 200);
		assert_string_equal(b->args[i].result_status, "ok");
		assert_true(b->args[i].ran_on == 1 || b->args[i].ran_on == 2);
		/* The CPU the guest gave it is the one it ran on. */
		assert_int_equal(b->args[i].cpu, b->args[i].ran_on);
		used[b->args[i].ran_on] = true;
	}
}

void test_ports_reach_their_cpu(void **state)
{
	two_warm_cpus("ports", S.echo, "warm");
	struct burst b;
	burst_start_mode(&b, 8, S.proc.url, "ports", S.echo, "persistent", "{\"n\":1}");
	burst_join(&b);
	bool used[3] = { false };
	expect_all_ok(&b, used);
	assert_true(used[1] && used[2]);
	bool per_cpu;
	json_t *vm = vm_record("ports", &per_cpu);
	if (per_cpu) {
		/* Every warm call of the burst went down a worker CPU's port. */
		assert_int_equal(int_field(vm, "port_invocations"), 8);
		assert_int_equal(int_field(vm, "port_resent"), 0);
	}
	assert_int_equal(int_field(vm, "inflight"), 0);
	json_decref(vm);
	stop_vm("ports");
}

static bool all_in_flight(void *n)
{
	bool per_cpu;
	json_t *vm = vm_record("shrink", &per_cpu);
	json_int_t inflight = json_integer_value(json_object_get(vm, "inflight"));
	json_decref(vm);
	return inflight == *(int *)n;
}

/* Calls queued on the port of the CPU that goes are answered by the other
 * one; nothing is lost or failed. */
void test_ports_shrink_in_flight(void **state)
{
	two_warm_cpus("shrink", S.busy, "{\"ms\":1}");
	struct burst b;
	int n = 8;
	burst_start_mode(&b, n, S.proc.url, "shrink", S.busy, "persistent",
			 "{\"ms\":400,\"mb\":1}");
	wait_until(all_in_flight, &n, STEP_MS, "eight calls in flight");
	json_decref(resize("shrink", 1));
	burst_join(&b);
	bool used[3] = { false };
	expect_all_ok(&b, used);
	bool per_cpu;
	json_t *vm = vm_record("shrink", &per_cpu);
	/* Four calls went to each port, one at a time at 400 ms each, and the
	 * shrink came as soon as all were sent: the leaving CPU's port still
	 * held some, which the control port ran instead. */
	if (per_cpu)
		assert_true(int_field(vm, "port_resent") >= 1);
	assert_int_equal(int_field(vm, "inflight"), 0);
	assert_int_equal(int_field(vm, "workers"), 1);
	json_decref(vm);
	stop_vm("shrink");
}
