/* The agent's end-to-end suite: a real ditto-agent process, real QEMU VMs
 * booting the real guest image, real QMP, HTTP on loopback. One binary built
 * from this folder, so the agent starts once for every file's tests. */
#ifndef DITTO_TESTS_AGENT_SUITE_H
#define DITTO_TESTS_AGENT_SUITE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_client.h"
#include "daemon_proc.h"
#include "sha256.h"

/* How long one call, a resize or a wait for a VM may take. */
#define STEP_MS 120000
/* How long a VM may take to stop or change state. */
#define STATE_MS 60000

/* The suite's agent, and the digests of the functions it holds. */
struct agent_suite {
	struct daemon_proc proc;
	struct api_client c;
	char echo[SHA256_HEX_SIZE], busy[SHA256_HEX_SIZE], sha[SHA256_HEX_SIZE],
		hello[SHA256_HEX_SIZE], sleeper[SHA256_HEX_SIZE], check[SHA256_HEX_SIZE],
		nap[SHA256_HEX_SIZE];
};

extern struct agent_suite S;

/* METHOD on the suite's agent with a printf-formatted path; the JSON reply
 * in *ret when ret is not NULL. Returns the status or -errno. */
int call(const char *method, json_t **ret, const char *body, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* {"error":{"code":...}} of a reply, or NULL. */
const char *error_code(json_t *e);

/* Starts a VM from a JSON spec and checks it is ready; returns its record. */
json_t *start_vm_spec(const char *tenant, const char *spec);
/* Starts a VM of 256 MiB with the mechanism and up to max_workers. */
void start_vm(const char *tenant, const char *mech, int max_workers);
/* Deletes it and waits until the tenant's name is free again. */
void stop_vm(const char *tenant);
/* Resizes and returns the report; checks the active count. */
json_t *resize(const char *tenant, int n);
/* Invokes and returns the reply (status 200 checked); cpu 0: any. */
json_t *invoke(const char *tenant, const char *digest, const char *mode, int cpu, int timeout_ms,
	       const char *input);
/* The reply says ok, and that it asked for and ran on cpu. */
void expect_ran_on(json_t *r, int cpu);
/* o's integer field key, which must be there. */
json_int_t int_field(json_t *o, const char *key);
/* All cores are back in the agent's budget. */
void expect_all_cores_free(void);

/* Waits until the VM is in state want; returns its record. */
json_t *wait_state(const char *tenant, const char *want);
/* Waits until the VM has n active worker vCPUs and no step under way;
 * returns its record. */
json_t *wait_workers(const char *tenant, int n);
/* Waits until one line of the log at path holds both a and b. */
void wait_log(const char *path, const char *a, const char *b);
/* How often needle occurs in the file at path, or -1. */
int count_in_file(const char *path, const char *needle);

/* Invocations on threads of their own, each through its own client. */
struct burst_arg {
	const char *url, *tenant, *digest, *input;
	const char *mode; /* NULL: the agent's default */
	int status, ran_on, cpu;
	char result_status[16];
};
struct burst {
	int n;
	pthread_t th[16];
	struct burst_arg args[16];
};
/* Starts n (up to 16) invocations of digest with input on tenant's VM. */
void burst_start(struct burst *b, int n, const char *url, const char *tenant, const char *digest,
		 const char *input);
/* The same in mode ("process", "persistent"). */
void burst_start_mode(struct burst *b, int n, const char *url, const char *tenant,
		      const char *digest, const char *mode, const char *input);
/* Waits for every one of them. */
void burst_join(struct burst *b);

/* The tests, by file. */
void test_status(void **state);
void test_hotplug_cycle(void **state);
void test_precreated_cycle(void **state);
void test_concurrent_invocations(void **state);
void test_functions_and_limits(void **state);
void test_invoke_memory_limit_and_hops(void **state);
void test_qemu_killed(void **state);
void test_guest_unresponsive(void **state);
void test_inflight_limit(void **state);
void test_hotplug_exhausted(void **state);
void test_delete_cancels_work(void **state);
void test_agent_crash_ends_vms(void **state);
void test_elastic_grows_and_shrinks(void **state);
void test_fixed_policy(void **state);
void test_scaling_update(void **state);
void test_elastic_hotplug_exhausted(void **state);
void test_elastic_cores_short(void **state);
void test_accounting(void **state);
void test_periodic_policy(void **state);
void test_controller_link(void **state);
void test_token_file(void **state);
void test_confidential_host(void **state);
void test_attest_and_capture(void **state);
void test_runtime_disk(void **state);
void test_runtime_disk_tampered(void **state);
void test_snp_options(void **state);
void test_ports_reach_their_cpu(void **state);
void test_ports_shrink_in_flight(void **state);

#endif
