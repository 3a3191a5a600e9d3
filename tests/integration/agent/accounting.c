/* What the agent counts of a VM's worker vCPUs (vCPU-ms allocated and busy,
 * the decision latency) and the sampling policy, on real VMs. */
#include "agent.h"

#include <stdio.h>
#include <string.h>

/* The VM's "vcpu_ms" readings. */
static void vcpu_ms(const char *tenant, json_int_t *alloc, json_int_t *busy, json_t **ret_vm)
{
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
	json_t *u = json_object_get(vm, "vcpu_ms");
	*alloc = int_field(u, "allocated");
	*busy = int_field(u, "busy");
	*ret_vm = vm;
}

/* decision_us is lib/hist's form: cumulative counts ending at the count. */
static json_int_t decisions(json_t *vm)
{
	json_t *h = json_object_get(vm, "decision_us");
	json_t *counts = json_object_get(h, "counts");
	assert_int_equal(json_array_size(json_object_get(h, "le")) + 1, json_array_size(counts));
	json_int_t n = int_field(h, "count");
	assert_int_equal(json_integer_value(json_array_get(counts, json_array_size(counts) - 1)),
			 n);
	return n;
}

/* A burst on an elastic VM whose policy asks for a standby: the standby is
 * the policy's, allocated vCPU-ms grow while workers hold cores, busy ones
 * stay within them, and the grow counted a decision. The invoke reply says
 * how many workers there were and what was used so far. */
void test_accounting(void **state)
{
	json_t *vm = start_vm_spec("acct", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					   "\"standby\":0,\"policy\":\"elastic:300:standby=2\"}");
	assert_int_equal(int_field(vm, "standby"), 2);
	assert_string_equal(json_string_value(json_object_get(vm, "policy")),
			    "elastic:300:standby=2");
	json_decref(vm);
	json_int_t a0, b0, a1, b1;
	vcpu_ms("acct", &a0, &b0, &vm);
	assert_int_equal(decisions(vm), 0);
	json_decref(vm);

	struct burst b;
	burst_start(&b, 2, S.proc.url, "acct", S.busy, "{\"ms\":1500}");
	burst_join(&b);
	for (int i = 0; i < b.n; i++)
		assert_int_equal(b.args[i].status, 200);
	json_t *r = invoke("acct", S.busy, "process", 0, 30000, "{\"ms\":200}");
	assert_true(int_field(r, "workers") >= 1);
	json_t *ru = json_object_get(r, "vcpu_ms");
	assert_true(int_field(ru, "busy") <= int_field(ru, "allocated"));
	json_decref(r);

	json_decref(wait_workers("acct", 0));
	vcpu_ms("acct", &a1, &b1, &vm);
	assert_true(a1 > a0);
	assert_true(b1 > b0);
	assert_true(b1 <= a1);
	assert_true(decisions(vm) >= 1);
	json_decref(vm);
	/* Nothing holds a core now: the reading stays put. */
	json_int_t a2, b2;
	vcpu_ms("acct", &a2, &b2, &vm);
	assert_int_equal(a2, a1);
	assert_int_equal(b2, b1);
	json_decref(vm);
}

/* periodic:MS grows one worker per tick toward the demand and gives them
 * back one per idle period. */
void test_periodic_policy(void **state)
{
	json_decref(start_vm_spec("per", "{\"mechanism\":\"precreated\",\"max_workers\":2,"
					 "\"policy\":\"periodic:500\"}"));
	struct burst b;
	burst_start(&b, 2, S.proc.url, "per", S.busy, "{\"ms\":3000}");
	wait_log(S.proc.log, "vm_scale tenant=per from=0 to=1 ", "reason=tick");
	wait_log(S.proc.log, "vm_scale tenant=per from=1 to=2 ", "reason=tick");
	burst_join(&b);
	for (int i = 0; i < b.n; i++)
		assert_int_equal(b.args[i].status, 200);
	wait_log(S.proc.log, "vm_scale tenant=per from=2 to=1 ", "reason=tick");
	wait_log(S.proc.log, "vm_scale tenant=per from=1 to=0 ", "reason=tick");
	/* Never more than one step at a time. */
	assert_int_equal(count_in_file(S.proc.log, "vm_scale tenant=per from=0 to=2 "), 0);
	assert_int_equal(count_in_file(S.proc.log, "vm_scale tenant=per from=2 to=0 "), 0);
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/per"), 200);
	assert_true(decisions(vm) >= 1); /* the first tick answered the burst */
	json_decref(vm);
}
