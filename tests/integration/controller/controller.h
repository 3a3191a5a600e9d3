/* The platform's end-to-end suite: the real ditto-controller, a real
 * ditto-agent registered with it, and real tenant VMs under QEMU, spoken to
 * over real HTTP on loopback. Each test waits on events with generous
 * deadlines (a VM boot under TCG takes seconds), never on fixed sleeps. One
 * binary built from this folder, so the platform starts once. */
#ifndef DITTO_TESTS_CONTROLLER_SUITE_H
#define DITTO_TESTS_CONTROLLER_SUITE_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/http.h"
#include "support/procs.h"

/* How long anything the platform does on its own may take. */
#define DEADLINE_MS 240000L

extern struct platform P;

/* Calls the controller as key (NULL: no key), with a body of len bytes or a
 * string. Returns the HTTP status, or -1 when no answer came. */
long call(const char *key, const char *method, const char *path, const void *body, size_t len,
	  struct http_reply *r);
long call_s(const char *key, const char *method, const char *path, const char *body,
	    struct http_reply *r);
/* Calls that must answer want; the reply is dropped. */
void expect_call(const char *key, const char *method, const char *path, const char *body,
		 long want);

const char *str(json_t *o, const char *key);
long long num(json_t *o, const char *key);

/* Creates a tenant with scaling settings (NULL: the defaults) and returns
 * its key. */
void tenant(const char *name, const char *scaling, char key[128]);
/* Deploys a file from BUILD/functions as name with the query's limits;
 * returns the version. */
long long deploy(const char *key, const char *name, const char *file, const char *query);
/* Deploys a script as name. */
void deploy_script(const char *key, const char *name, const char *script, const char *query);
/* Invokes name synchronously. Returns the status. */
long invoke(const char *key, const char *name, const char *input, struct http_reply *r);
/* Invokes name with {}, which must succeed; writes the path of its
 * record ("/v1/invocations/ID") into record. */
void invoke_ok(const char *key, const char *name, char record[128]);

/* Polls an invocation record until it is finished; returns it. */
json_t *await_record(const char *key, const char *id);
/* The host h1 as GET /v1/hosts shows it, or NULL. */
json_t *host_h1(void);
/* Waits until host h1 is in state. */
void await_host(const char *state);
/* The tenant's VM's active worker vCPUs as the controller reports them. */
long long workers_of(const char *name);
/* Waits until the controller says tenant name's VM runs on host. */
void await_vm_on(const char *key, const char *name, const char *host);
/* Waits until tenant key has at least n invocations matching the query
 * ("status=running", "function=busy&status=running"). */
void await_listed(const char *key, const char *query, size_t n);

/* A synchronous invocation on a thread of its own. */
struct bg_call {
	const char *key, *name, *input;
	long status;
	char code[64];
};
void *bg_invoke(void *arg);

/* Two long calls of busy in flight for a new tenant: one asynchronous, one
 * synchronous on a thread of its own. */
struct long_calls {
	char key[128];
	char async_id[64];
	struct bg_call sync;
	pthread_t thread;
};
/* Starts both calls with input and waits until both run. */
void long_calls_start(const char *name, const char *input, struct long_calls *lc);

/* The tests, by file. */
void test_host_registers(void **state);
void test_deploy_invoke_versions(void **state);
void test_async(void **state);
void test_isolation(void **state);
void test_metrics(void **state);
void test_errors(void **state);
void test_burst_grows_then_shrinks(void **state);
void test_scaling_live(void **state);
void test_drain_and_replace(void **state);
void test_controller_restart(void **state);
void test_controller_crash(void **state);
void test_agent_killed(void **state);
void test_scale_out_second_vm(void **state);
void test_scale_out_drain_and_loss(void **state);
void test_chosen_invocation_id(void **state);
void test_attestation_none(void **state);
/* The runtime tests' fixture: their tenant's worker vCPU kept warm during each, given back
 * after it. */
int runtimes_setup(void **state);
int runtimes_teardown(void **state);
#define runtimes_test(f) cmocka_unit_test_setup_teardown(f, runtimes_setup, runtimes_teardown)
void test_runtime_errors(void **state);
void test_runtime_python(void **state);
void test_runtime_nodejs(void **state);

#endif
