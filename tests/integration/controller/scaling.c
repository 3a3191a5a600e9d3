/* A tenant's worker vCPUs through the platform: a burst grows them and
 * idleness shrinks them; scaling changes reach a running VM. */
#include "controller.h"

#include <string.h>

#include "support/wait.h"

/* The most worker vCPUs a tenant was seen with. */
struct peak {
	const char *name;
	long long peak, want;
};

static bool peak_reached(void *data)
{
	struct peak *p = data;
	long long w = workers_of(p->name);
	p->peak = w > p->peak ? w : p->peak;
	return p->peak >= p->want;
}

static bool no_workers(void *name)
{
	return workers_of(name) == 0;
}

/* A burst grows the tenant's worker vCPUs; idleness shrinks them. */
void test_burst_grows_then_shrinks(void **state)
{
	char key[128];
	tenant("bursty", "{\"min\":0,\"max\":2,\"policy\":\"elastic:500\"}", key);
	deploy(key, "busy", "busy", "max_concurrency=8");
	expect_call(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 200);
	struct bg_call c[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		c[i] = (struct bg_call){ key, "busy", "{\"ms\":1500}", 0, "" };
		pthread_create(&t[i], NULL, bg_invoke, &c[i]);
	}
	struct peak p = { "bursty", 0, 2 };
	wait_until(peak_reached, &p, DEADLINE_MS, "two worker vCPUs");
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].status, 200);
	}
	assert_int_equal(p.peak, 2);
	wait_until(no_workers, (void *)"bursty", DEADLINE_MS, "no worker vCPUs");
}

static bool one_worker(void *name)
{
	return workers_of(name) == 1;
}

static bool on_hotplug(void *name)
{
	struct http_reply r;
	assert_int_equal(call_s(P.admin, "GET", "/v1/tenants/tunable", NULL, &r), 200);
	const char *m = str(json_object_get(r.json, "vm"), "mechanism");
	bool hot = m && !strcmp(m, "hotplug");
	http_reply_free(&r);
	return hot;
}

/* Scaling changes reach a running VM: new limits at once, a new mechanism
 * by a restart of the VM. */
void test_scaling_live(void **state)
{
	char key[128];
	const char *scaling = "/v1/tenants/tunable/scaling";
	tenant("tunable", "{\"min\":0,\"max\":2}", key);
	deploy_script(key, "hi", "#!/bin/sh\necho '{}'\n", NULL);
	expect_call(key, "POST", "/v1/functions/hi/invoke", "{}", 200);
	expect_call(P.admin, "PUT", scaling, "{\"min\":1}", 200);
	wait_until(one_worker, (void *)"tunable", DEADLINE_MS, "one worker vCPU");
	expect_call(P.admin, "PUT", scaling, "{\"min\":0,\"mechanism\":\"hotplug\"}", 200);
	wait_until(on_hotplug, (void *)"tunable", DEADLINE_MS, "the VM on hotplug");
	expect_call(key, "POST", "/v1/functions/hi/invoke", "{}", 200);
	expect_call(P.admin, "PUT", scaling, "{\"policy\":\"manual\"}", 400);
	expect_call(P.admin, "PUT", scaling, "{\"size\":3}", 400);
}
