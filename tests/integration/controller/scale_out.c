/* Several VMs per tenant under scale-out: a second one-worker VM when every
 * VM is busy, records that name the VM, a drain and a lost host that move
 * and re-place both, and idle VMs stopped after the keep-alive. */
#include "controller.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "support/wait.h"

/* The tenant's "vms" as the admin sees them; *ret_r holds them. */
static json_t *vms_of(const char *name, struct http_reply *ret_r)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	assert_int_equal(call_s(P.admin, "GET", path, NULL, ret_r), 200);
	return json_object_get(ret_r->json, "vms");
}

/* What a wait on a tenant's VMs looks for: n VMs, all ready on host (NULL:
 * anywhere). */
struct vms_wait {
	const char *name, *host;
	size_t n;
};

static bool vms_are(void *data)
{
	struct vms_wait *w = data;
	struct http_reply r;
	json_t *vms = vms_of(w->name, &r);
	bool ok = json_array_size(vms) == w->n;
	for (size_t i = 0; ok && i < w->n; i++) {
		json_t *vm = json_array_get(vms, i);
		const char *h = str(vm, "host");
		ok = h && (!w->host || !strcmp(h, w->host)) && !strcmp(str(vm, "state"), "ready");
	}
	http_reply_free(&r);
	return ok;
}

static void await_vms(const char *name, size_t n, const char *host)
{
	struct vms_wait w = { name, host, n };
	wait_until(vms_are, &w, DEADLINE_MS, "the tenant's VMs");
}

/* Makes a scale-out tenant with busy deployed, and starts two calls of
 * busy with input at once, each on a thread of its own. */
struct pair {
	struct bg_call c[2];
	pthread_t t[2];
};

static void pair_start(struct pair *p, const char *name, const char *scaling, char key[128],
		       const char *input)
{
	tenant(name, scaling, key);
	deploy(key, "busy", "busy", "max_concurrency=4");
	for (int i = 0; i < 2; i++) {
		p->c[i] = (struct bg_call){ key, "busy", input, 0, "" };
		pthread_create(&p->t[i], NULL, bg_invoke, &p->c[i]);
	}
}

static void pair_join(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		pthread_join(p->t[i], NULL);
		assert_int_equal(p->c[i].status, 200);
	}
}

/* Both running calls ran on VMs of their own, named in their records. */
static void expect_two_vms_in_records(const char *key, const char *name)
{
	struct http_reply r;
	assert_int_equal(call_s(key, "GET", "/v1/invocations?status=running", NULL, &r), 200);
	json_t *list = json_object_get(r.json, "invocations");
	assert_int_equal(json_array_size(list), 2);
	const char *a = str(json_array_get(list, 0), "vm"), *b = str(json_array_get(list, 1), "vm");
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, name, strlen(name)), 0);
	assert_int_equal(strncmp(b, name, strlen(name)), 0);
	http_reply_free(&r);
}

/* The agents' accounting reached the tenant and its records: each record
 * names its VM's one worker and vCPU-milliseconds, and the tenant's
 * vCPU-seconds add up its VMs' 12 s of work. Returns them allocated. */
static double expect_accounted(const char *key, const char *name)
{
	struct http_reply r;
	assert_int_equal(call_s(key, "GET", "/v1/invocations?status=ok&limit=2", NULL, &r), 200);
	json_t *list = json_object_get(r.json, "invocations");
	assert_int_equal(json_array_size(list), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *rec = json_array_get(list, i);
		assert_int_equal(num(rec, "workers"), 1);
		assert_true(num(json_object_get(rec, "vcpu_ms"), "allocated") > 0);
	}
	http_reply_free(&r);
	char path[128];
	snprintf(path, sizeof(path), "/v1/tenants/%s", name);
	assert_int_equal(call_s(P.admin, "GET", path, NULL, &r), 200);
	json_t *v = json_object_get(r.json, "vcpu_s");
	double alloc = json_number_value(json_object_get(v, "allocated"));
	double busy = json_number_value(json_object_get(v, "busy"));
	http_reply_free(&r);
	assert_true(busy >= 15.0); /* more than one VM's share */
	assert_true(alloc >= busy);
	return alloc;
}

/* A scale-out tenant with max 2 gets a second VM under two concurrent slow
 * calls, both run at once on VMs named TENANT and TENANT.K, and the VMs are
 * stopped once idle past the keep-alive. */
void test_scale_out_second_vm(void **state)
{
	char key[128];
	struct pair p;
	/* Long enough for both VMs to boot while the first call runs. */
	pair_start(&p, "fanout", "{\"max\":2,\"policy\":\"scale-out:1000\"}", key,
		   "{\"ms\":12000}");
	await_listed(key, "status=running", 2);
	expect_two_vms_in_records(key, "fanout");
	struct http_reply r;
	json_t *vms = vms_of("fanout", &r);
	assert_int_equal(json_array_size(vms), 2);
	assert_string_equal(str(json_array_get(vms, 0), "name"), "fanout");
	assert_string_equal(str(json_object_get(r.json, "vm"), "name"), "fanout");
	assert_string_equal(str(json_object_get(r.json, "vm"), "policy"), "fixed:1");
	http_reply_free(&r);
	pair_join(&p);
	double alloc = expect_accounted(key, "fanout");
	/* Idle past the keep-alive, every VM goes, the last one too, and
	 * what they used stays counted. */
	await_vms("fanout", 0, NULL);
	assert_true(expect_accounted(key, "fanout") >= alloc);
	expect_call(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 200);
	await_vms("fanout", 0, NULL);
}

/* Draining a host with two VMs of a tenant moves both; losing the host
 * they moved to places both again. */
void test_scale_out_drain_and_loss(void **state)
{
	char key[128];
	struct pair p;
	pair_start(&p, "movers", "{\"max\":2,\"policy\":\"scale-out:600000\"}", key,
		   "{\"ms\":3000}");
	pair_join(&p);
	await_vms("movers", 2, "h1");

	struct daemon_proc h2;
	const char *extra[] = { "--cores", "0-1", NULL };
	assert_int_equal(platform_agent_start(&P, &h2, "h2", extra), 0);
	expect_call(P.admin, "POST", "/v1/hosts/h1/drain", NULL, 200);
	await_vms("movers", 2, "h2");
	expect_call(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 200);
	expect_call(P.admin, "DELETE", "/v1/hosts/h1/drain", NULL, 200);

	daemon_proc_stop(&h2, SIGTERM, 20000);
	await_vms("movers", 2, "h1");
	expect_call(key, "POST", "/v1/functions/busy/invoke", "{\"ms\":1}", 200);
	/* No keep-alive: both go at once. */
	expect_call(P.admin, "PUT", "/v1/tenants/movers/scaling", "{\"policy\":\"scale-out:0\"}",
		    200);
	await_vms("movers", 0, NULL);
}
