/* When things go wrong under the agent: QEMU killed, a guest frozen, a VM
 * deleted with work in flight, the agent itself killed. */
#include "agent.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "support/procs.h"
#include "support/wait.h"

/* The pid of the VM's QEMU. */
static pid_t qemu_of(const char *tenant)
{
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", tenant), 200);
	pid_t pid = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
	assert_true(pid > 0);
	return pid;
}

void test_qemu_killed(void **state)
{
	start_vm("crash", "hotplug", 1);
	assert_int_equal(kill(qemu_of("crash"), SIGKILL), 0);
	json_t *vm = wait_state("crash", "dead");
	assert_non_null(strstr(json_string_value(json_object_get(vm, "reason")), "signal 9"));
	json_decref(vm);

	/* Invocations fail clearly while it is dead... */
	json_t *e;
	assert_int_equal(call("POST", &e, "{}", "/v1/vms/crash/invoke?artifact=%s", S.echo), 503);
	json_decref(e);
	/* ...and it comes back when asked. */
	assert_int_equal(call("POST", &vm, NULL, "/v1/vms/crash/restart"), 201);
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "ready");
	json_decref(vm);
	json_decref(resize("crash", 1));
	json_t *r = invoke("crash", S.echo, "process", 1, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
	stop_vm("crash");
}

/* A guest that stops answering (its QEMU frozen) is reported, and is
 * taken back when it answers again. */
void test_guest_unresponsive(void **state)
{
	start_vm("frozen", "precreated", 1);
	pid_t pid = qemu_of("frozen");
	assert_int_equal(kill(pid, SIGSTOP), 0);
	json_t *vm = wait_state("frozen", "unresponsive");
	assert_non_null(strstr(json_string_value(json_object_get(vm, "reason")), "ping"));
	json_decref(vm);
	assert_int_equal(kill(pid, SIGCONT), 0);
	json_decref(wait_state("frozen", "ready"));
	json_decref(resize("frozen", 1));
	json_t *r = invoke("frozen", S.echo, "process", 1, 30000, "{}");
	expect_ran_on(r, 1);
	json_decref(r);
}

static bool one_in_flight(void *tenant)
{
	json_t *vm;
	assert_int_equal(call("GET", &vm, NULL, "/v1/vms/%s", (const char *)tenant), 200);
	json_int_t inflight = json_integer_value(json_object_get(vm, "inflight"));
	json_decref(vm);
	return inflight == 1;
}

/* Deleting a VM answers the work it still had with a clear cancellation. */
void test_delete_cancels_work(void **state)
{
	start_vm("gone", "precreated", 1);
	json_decref(resize("gone", 1));
	struct burst b;
	burst_start(&b, 1, S.proc.url, "gone", S.sleeper, "{}");
	/* Wait until the invocation is in the guest, then delete. */
	wait_until(one_in_flight, (void *)"gone", STATE_MS, "the invocation to reach the guest");
	assert_int_equal(call("DELETE", NULL, NULL, "/v1/vms/gone"), 200);
	burst_join(&b);
	assert_int_equal(b.args[0].status, 409);
}

/* Running, as opposed to gone or a zombie nobody has reaped yet (the
 * orphaned QEMU's new parent decides when that happens). */
static bool process_runs(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *end = strrchr(buf, ')');
	return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

static bool process_ended(void *pid)
{
	return !process_runs(*(pid_t *)pid);
}

/* A crashed agent takes its VMs with it, so no QEMU keeps cores that no
 * agent manages. A second agent is used, since this one is killed. */
void test_agent_crash_ends_vms(void **state)
{
	char dir[] = "/tmp/ditto-it-crash.XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct daemon_proc other;
	assert_int_equal(proc_start_agent(&other, dir, NULL), 0);
	struct api_client c;
	api_client_init(&c, other.url);
	json_t *vm = NULL;
	const char *spec = "{\"max_workers\":1}";
	assert_int_equal(
		api_client_call(&c, "PUT", "/v1/vms/orphan", spec, strlen(spec), STEP_MS, &vm),
		201);
	pid_t qemu = (pid_t)json_integer_value(json_object_get(vm, "pid"));
	json_decref(vm);
	api_client_free(&c);
	assert_true(qemu > 0);
	assert_true(process_runs(qemu));
	assert_int_equal(daemon_proc_stop(&other, SIGKILL, STATE_MS), 128 + SIGKILL);
	wait_until(process_ended, &qemu, 30000, "the orphaned QEMU to end");
}
