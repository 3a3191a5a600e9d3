/* The platform when a part of it goes: a host drained or lost, the
 * controller restarted or killed, an agent killed mid-invocation. */
#include "controller.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "support/wait.h"

static bool both_hosts_up(void *data)
{
	struct http_reply r;
	assert_int_equal(call_s(P.admin, "GET", "/v1/hosts", NULL, &r), 200);
	bool up = strstr((const char *)r.body.data, "\"id\":\"h2\"") &&
		  json_array_size(json_object_get(r.json, "hosts")) == 2;
	json_t *hosts = json_object_get(r.json, "hosts");
	for (size_t i = 0; up && i < json_array_size(hosts); i++)
		up = !strcmp(str(json_array_get(hosts, i), "state"), "up");
	http_reply_free(&r);
	return up;
}

/* A drained host's VMs move to another host, and a lost host's VMs are
 * placed again where there is room. */
void test_drain_and_replace(void **state)
{
	struct daemon_proc h2;
	const char *extra[] = { "--cores", "1", NULL };
	assert_int_equal(platform_agent_start(&P, &h2, "h2", extra), 0);
	char key[128];
	tenant("mover", "{\"max\":1}", key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{\"m\":1}'\n", NULL);
	/* Wait for h2, so the drain below has somewhere to go. */
	wait_until(both_hosts_up, NULL, DEADLINE_MS, "hosts h1 and h2 up");
	struct http_reply r;
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	http_reply_free(&r);
	assert_int_equal(call_s(key, "GET", "/v1/tenants/mover", NULL, &r), 200);
	char first[64];
	snprintf(first, sizeof(first), "%s", str(json_object_get(r.json, "vm"), "host"));
	http_reply_free(&r);
	const char *other = strcmp(first, "h1") ? "h1" : "h2";
	char path[128];
	snprintf(path, sizeof(path), "/v1/hosts/%s/drain", first);
	expect_call(P.admin, "POST", path, NULL, 200);
	await_vm_on(key, "mover", other);
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"m\":1"));
	http_reply_free(&r);
	expect_call(P.admin, "DELETE", path, NULL, 200);
	/* h2 goes away: whatever ran there is placed on h1 again. */
	daemon_proc_stop(&h2, SIGTERM, 20000);
	await_vm_on(key, "mover", "h1");
	expect_call(key, "POST", "/v1/functions/hi/invoke", "{}", 200);
}

/* A controller restart keeps tenants, keys, functions and records, and the
 * agent registers again on its own. */
void test_controller_restart(void **state)
{
	char key[128];
	tenant("durable", NULL, key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{\"d\":1}'\n", NULL);
	char path[128];
	invoke_ok(key, "hi", path);
	struct http_reply r;
	daemon_proc_stop(&P.controller, SIGTERM, 20000);
	assert_int_equal(platform_controller_start(&P), 0);
	assert_int_equal(call_s(key, "GET", path, NULL, &r), 200);
	assert_string_equal(str(r.json, "status"), "ok");
	http_reply_free(&r);
	await_host("up");
	assert_int_equal(invoke(key, "hi", "{}", &r), 200);
	assert_non_null(strstr((const char *)r.body.data, "\"d\":1"));
	http_reply_free(&r);
}

/* The controller killed mid-invocation: on restart the synchronous one is
 * failed with the reason, the asynchronous one runs again; killed again
 * while that second attempt runs, it runs a third time. */
void test_controller_crash(void **state)
{
	struct long_calls lc;
	long_calls_start("crashy", "{\"ms\":2000}", &lc);
	const char *key = lc.key;
	struct http_reply r;
	char sync_id[64] = "";
	assert_int_equal(call_s(key, "GET", "/v1/invocations?status=running", NULL, &r), 200);
	json_t *list = json_object_get(r.json, "invocations");
	for (size_t i = 0; i < json_array_size(list); i++)
		if (!json_is_true(json_object_get(json_array_get(list, i), "async")))
			snprintf(sync_id, sizeof(sync_id), "%s",
				 str(json_array_get(list, i), "id"));
	http_reply_free(&r);
	assert_int_equal(strlen(sync_id), 32);
	daemon_proc_stop(&P.controller, SIGKILL, 20000);
	pthread_join(lc.thread, NULL);
	assert_int_equal(lc.sync.status, -1); /* the connection dropped */
	assert_int_equal(platform_controller_start(&P), 0);
	json_t *rec = await_record(key, sync_id);
	assert_string_equal(str(rec, "status"), "error");
	assert_non_null(strstr(str(rec, "error"), "restarted"));
	json_decref(rec);
	await_listed(key, "status=running", 1); /* only the async one can run */
	daemon_proc_stop(&P.controller, SIGKILL, 20000);
	assert_int_equal(platform_controller_start(&P), 0);
	rec = await_record(key, lc.async_id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_int_equal(num(rec, "retries"), 2);
	json_decref(rec);
}

/* An agent killed mid-invocation: the synchronous caller gets a clear
 * error at once, the asynchronous invocation runs again when the agent is
 * back, and so does everything else. */
void test_agent_killed(void **state)
{
	struct long_calls lc;
	long_calls_start("fragile", "{\"ms\":4000}", &lc);
	const char *key = lc.key, *async_id = lc.async_id;
	daemon_proc_stop(&P.agent, SIGKILL, 20000);
	pthread_join(lc.thread, NULL);
	assert_int_equal(lc.sync.status, 502);
	assert_string_equal(lc.sync.code, "host_lost");
	await_host("down");
	assert_int_equal(platform_agent_start(&P, &P.agent, "h1", NULL), 0);
	await_host("up");
	json_t *rec = await_record(key, async_id);
	assert_string_equal(str(rec, "status"), "ok");
	/* More than once when the agent refused it while its VM booted. */
	assert_true(num(rec, "retries") >= 1);
	json_decref(rec);
	expect_call(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 200);
}
