/* The fleet without agents: why a tenant's VM cannot be placed reaches the
 * caller as an errno (no room, a failed start, not ready), hosts are
 * registered, shown and refused as the API needs, and only the tenants this
 * controller owns have their VMs looked after. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "fleet.h"
#include "fleet_int.h"
#include "link.h"
#include "metrics.h"
#include "store.h"
#include "support/files.h"
#include "util.h"

struct fixture {
	char dir[64];
	struct db db;
	struct link_pool *links;
	struct metrics *metrics;
	struct fleet *fleet;
	atomic_bool others; /* another controller owns the tenant "acme" */
};

static bool owns(void *data, const char *tenant)
{
	struct fixture *f = data;
	return strcmp(tenant, "acme") || !atomic_load(&f->others);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	if (scratch_dir(f->dir, sizeof(f->dir), "fleet") < 0)
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/ditto.db", f->dir);
	pthread_mutex_init(&f->db.lock, NULL);
	struct fleet_config cfg = {
		.host_timeout_ms = 60000,
		.boot_timeout_ms = 5000,
		.vm_memory_mib = 256,
		.artifacts_dir = f->dir,
		.owns = owns,
		.owns_data = f,
	};
	if (store_open(path, &f->db.store) < 0 || link_pool_new(&f->links) < 0 ||
	    metrics_new(&f->metrics) < 0 ||
	    fleet_new(&cfg, &f->db, f->links, f->metrics, &f->fleet) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fleet_free(f->fleet);
	metrics_free(f->metrics);
	link_pool_free(f->links);
	store_close(f->db.store);
	pthread_mutex_destroy(&f->db.lock);
	if (remove_tree(f->dir) < 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

static int acquire(struct fixture *f, const char *tenant, long wait_ms, char *why, size_t size)
{
	struct fleet_route route;
	uint64_t deadline = wait_ms ? time_now_us() + (uint64_t)wait_ms * 1000 : 0;
	int r = fleet_route_acquire(f->fleet, tenant, deadline, &route, why, size);
	if (r == 0)
		fleet_route_release(f->fleet, &route);
	return r;
}

/* With no host at all the placement finds no room: -ENOSPC, and why says so. */
static void test_no_room_is_enospc(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(store_tenant_create(f->db.store, "acme"), 0);
	char why[256] = "";
	assert_int_equal(acquire(f, "acme", 0, why, sizeof(why)), -EAGAIN);
	assert_int_equal(acquire(f, "acme", 10000, why, sizeof(why)), -ENOSPC);
	assert_non_null(strstr(why, "no host has room for tenant acme"));
	json_t *t = fleet_tenant_json(f->fleet, "acme");
	json_t *vm = json_object_get(t, "vm");
	assert_string_equal(json_string_value(json_object_get(vm, "state")), "none");
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "acme");
	assert_int_equal(json_array_size(json_object_get(t, "vms")), 1);
	json_decref(t);
}

/* A placement that fails for another reason is -EIO: a tenant the store does
 * not know, or a host that refuses the connection. */
static void test_failed_start_is_eio(void **state)
{
	struct fixture *f = *state;
	char why[256] = "", err[256] = "";
	assert_int_equal(acquire(f, "ghost", 10000, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "tenant ghost"));

	assert_int_equal(store_tenant_create(f->db.store, "acme"), 0);
	json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "id", "h1", "address",
				 "http://127.0.0.1:1", "cores", 4, "boot_id", "b1");
	json_t *host = NULL;
	assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(host, "state")), "up");
	json_decref(host);
	json_decref(body);
	assert_int_equal(acquire(f, "acme", 10000, why, sizeof(why)), -EIO);
	assert_non_null(strstr(why, "host h1"));
}

static void test_register_refusals(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"{\"id\":\"bad id\",\"address\":\"http://a\",\"cores\":1,\"boot_id\":\"b\"}",
		"{\"id\":\"h1\",\"address\":\"ftp://a\",\"cores\":1,\"boot_id\":\"b\"}",
		"{\"id\":\"h1\",\"address\":\"http://a\",\"cores\":0,\"boot_id\":\"b\"}",
		"{\"id\":\"h1\",\"address\":\"http://a\",\"cores\":1}",
		"{\"id\":\"h1\",\"address\":\"http://a\",\"cores\":1,\"boot_id\":\"b\",\"status\":1}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *body = json_loads(bad[i], 0, NULL);
		assert_non_null(body);
		json_t *host = NULL;
		char err[256] = "";
		assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)),
				 -EINVAL);
		assert_true(err[0] != '\0');
		json_decref(body);
	}
	json_t *hosts = fleet_hosts_json(f->fleet);
	assert_int_equal(json_array_size(json_object_get(hosts, "hosts")), 0);
	json_decref(hosts);
	json_t *hb = json_pack("{s:s}", "boot_id", "b");
	assert_int_equal(fleet_host_heartbeat(f->fleet, "h1", hb), -ENOENT);
	json_decref(hb);
}

/* A status of one VM named name, run pid, with its accounting. */
static json_t *status_of(const char *name, int pid, int alloc_ms, int busy_ms, int decisions)
{
	return json_pack("{s:[{s:s, s:s, s:i, s:i, s:{s:i, s:i}, s:{s:[i, i], s:[i, i], s:i, "
			 "s:i}}]}",
			 "vms", "tenant", name, "state", "ready", "pid", pid, "workers", 1,
			 "vcpu_ms", "allocated", alloc_ms, "busy", busy_ms, "decision_us", "le",
			 100, 1000, "counts", decisions, decisions, "count", decisions, "sum",
			 decisions * 50);
}

static void heartbeat(struct fixture *f, json_t *status)
{
	json_t *hb = json_pack("{s:s, s:o}", "boot_id", "b1", "status", status);
	assert_int_equal(fleet_host_heartbeat(f->fleet, "h1", hb), 0);
	json_decref(hb);
}

static double vcpu_s(struct fixture *f, const char *tenant, const char *kind)
{
	json_t *t = fleet_tenant_json(f->fleet, tenant);
	double x = json_number_value(json_object_get(json_object_get(t, "vcpu_s"), kind));
	json_decref(t);
	return x;
}

/* The agents' accounting sums per tenant over its VMs, and stays monotonic
 * when a VM restarts (its counters start again) or a late report of the run
 * before arrives; the metrics show the sums and the decision histogram. */
static void test_accounting_across_restarts(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:o}", "id", "h1", "address",
				 "http://127.0.0.1:1", "cores", 4, "boot_id", "b1", "status",
				 status_of("acme", 100, 1000, 400, 2));
	json_t *host = NULL;
	assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)), 0);
	json_decref(host);
	json_decref(body);
	assert_true(vcpu_s(f, "acme", "allocated") == 1.0);
	heartbeat(f, status_of("acme", 100, 3000, 900, 3));
	assert_true(vcpu_s(f, "acme", "allocated") == 3.0);
	assert_true(vcpu_s(f, "acme", "busy") == 0.9);
	/* A restart: the counters start again from 0, and all of them count. */
	heartbeat(f, status_of("acme", 200, 500, 100, 1));
	assert_true(vcpu_s(f, "acme", "allocated") == 3.5);
	/* A late report of the run before adds nothing. */
	heartbeat(f, status_of("acme", 100, 3500, 1000, 4));
	assert_true(vcpu_s(f, "acme", "allocated") == 3.5);
	assert_true(vcpu_s(f, "acme", "busy") == 1.0);
	json_t *t = fleet_tenant_json(f->fleet, "acme");
	json_t *vm = json_array_get(json_object_get(t, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "acme");
	assert_string_equal(json_string_value(json_object_get(vm, "host")), "h1");
	json_decref(t);
	struct buf out = { 0 };
	assert_int_equal(fleet_metrics(f->fleet, &out), 0);
	assert_int_equal(buf_printf(&out, "%c", '\0'), 0);
	const char *text = (const char *)out.data;
	assert_non_null(strstr(
		text, "ditto_tenant_vcpu_seconds_total{tenant=\"acme\",kind=\"allocated\"} 3.500"));
	assert_non_null(strstr(text, "ditto_scale_decision_seconds_bucket{le=\"0.0001\"} 4\n"));
	assert_non_null(strstr(text, "ditto_scale_decision_seconds_count 4\n"));
	buf_free(&out);
}

/* Removing a host with a VM: refused unless forced; forced, a route in
 * flight there sees its generation move (its call aborts), the route is
 * still released safely, the host is listed nowhere and its heartbeat is
 * refused until it registers again. */
static void test_host_remove(void **state)
{
	struct fixture *f = *state;
	char err[256], why[256];
	assert_int_equal(store_tenant_create(f->db.store, "acme"), 0);
	json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:{s:[{s:s, s:s, s:i}]}}", "id", "h1",
				 "address", "http://127.0.0.1:1", "cores", 4, "boot_id", "b1",
				 "status", "vms", "tenant", "acme", "state", "ready", "pid", 7);
	json_t *host = NULL;
	assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)), 0);
	json_decref(host);
	struct fleet_route route;
	assert_int_equal(fleet_route_acquire(f->fleet, "acme", 0, &route, why, sizeof(why)), 0);
	assert_string_equal(route.host_id, "h1");

	int vms = -1;
	host = NULL;
	assert_int_equal(fleet_host_remove(f->fleet, "h1", false, &host, &vms), -EBUSY);
	assert_int_equal(vms, 1);
	assert_null(host);
	assert_int_equal(atomic_load(route.gen), route.gen_expected);
	assert_int_equal(fleet_host_remove(f->fleet, "h1", true, &host, &vms), 0);
	assert_int_equal(vms, 1);
	assert_string_equal(json_string_value(json_object_get(host, "id")), "h1");
	json_decref(host);
	assert_true(atomic_load(route.gen) != route.gen_expected);
	fleet_route_release(f->fleet, &route);
	assert_int_equal(fleet_host_remove(f->fleet, "h1", true, &host, &vms), -ENOENT);

	json_t *list = fleet_hosts_json(f->fleet);
	assert_int_equal(json_array_size(json_object_get(list, "hosts")), 0);
	json_decref(list);
	json_t *hb = json_pack("{s:s}", "boot_id", "b1");
	assert_int_equal(fleet_host_heartbeat(f->fleet, "h1", hb), -ENOENT);
	struct store_host sh;
	assert_int_equal(store_host_get(f->db.store, "h1", &sh), -ENOENT);

	/* Registered again (the agent's answer to the 404), it is back. */
	assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)), 0);
	json_decref(host);
	assert_int_equal(fleet_host_heartbeat(f->fleet, "h1", hb), 0);
	list = fleet_hosts_json(f->fleet);
	assert_int_equal(json_array_size(json_object_get(list, "hosts")), 1);
	json_decref(list);
	json_decref(hb);
	json_decref(body);
}

/* One reconciler pass, as its thread runs them. */
static void reconcile(struct fixture *f)
{
	pthread_mutex_lock(&f->fleet->lock);
	fl_vms_reconcile(f->fleet, time_now_us());
	pthread_mutex_unlock(&f->fleet->lock);
}

/* The state h1's last status gives the VM named name, as the fleet keeps it
 * (a stop the fleet asked for marks it "stopping"). */
static const char *reported_state(struct fixture *f, const char *name)
{
	pthread_mutex_lock(&f->fleet->lock);
	json_t *vm = fl_reported_vm(fl_host_find(f->fleet, "h1"), name);
	const char *state = json_string_value(json_object_get(vm, "state"));
	pthread_mutex_unlock(&f->fleet->lock);
	return state ? state : "";
}

static size_t tenant_vms(struct fixture *f, const char *tenant)
{
	json_t *t = fleet_tenant_json(f->fleet, tenant);
	size_t n = json_array_size(json_object_get(t, "vms"));
	json_decref(t);
	return n;
}

/* A tenant another controller owns: its VM on a host is neither adopted
 * nor stopped as an orphan, while another tenant's is adopted; once the
 * tenant is owned here, the next heartbeat adopts its VM as it runs (a
 * route to it at once, no placement); owned elsewhere again, the idle VM is
 * forgotten, still running. */
static void test_owned_tenants_only(void **state)
{
	struct fixture *f = *state;
	char err[256], why[256];
	assert_int_equal(store_tenant_create(f->db.store, "acme"), 0);
	assert_int_equal(store_tenant_create(f->db.store, "bolt"), 0);
	atomic_store(&f->others, true);
	json_t *status = json_pack("{s:[{s:s, s:s, s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i}]}",
				   "vms", "tenant", "acme", "state", "ready", "pid", 7, "tenant",
				   "bolt", "state", "ready", "pid", 8, "tenant", "cold", "state",
				   "booting", "pid", 9);
	json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:O}", "id", "h1", "address",
				 "http://127.0.0.1:1", "cores", 4, "boot_id", "b1", "status",
				 status);
	json_t *host = NULL;
	assert_int_equal(fleet_host_register(f->fleet, body, &host, err, sizeof(err)), 0);
	json_decref(host);
	json_decref(body);
	assert_int_equal(tenant_vms(f, "acme"), 0);
	assert_int_equal(tenant_vms(f, "bolt"), 1);
	reconcile(f);
	assert_string_equal(reported_state(f, "acme"), "ready");
	/* Owned here but maybe placed by another a moment ago: no orphan
	 * while it boots. */
	assert_string_equal(reported_state(f, "cold"), "booting");
	assert_int_equal(acquire(f, "acme", 0, why, sizeof(why)), -EAGAIN);

	atomic_store(&f->others, false);
	heartbeat(f, json_incref(status));
	assert_int_equal(tenant_vms(f, "acme"), 1);
	struct fleet_route route;
	assert_int_equal(fleet_route_acquire(f->fleet, "acme", 0, &route, why, sizeof(why)), 0);
	assert_false(route.placed);
	assert_string_equal(route.host_id, "h1");

	/* Owned elsewhere with a call in flight: kept until it ends. */
	atomic_store(&f->others, true);
	reconcile(f);
	assert_int_equal(tenant_vms(f, "acme"), 1);
	fleet_route_release(f->fleet, &route);
	reconcile(f);
	assert_int_equal(tenant_vms(f, "acme"), 0);
	assert_int_equal(tenant_vms(f, "bolt"), 1);
	assert_string_equal(reported_state(f, "acme"), "ready");
	json_decref(status);
}

/* Each test gets a fixture of its own. */
#define FIXTURE_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = { FIXTURE_TEST(test_no_room_is_enospc),
					    FIXTURE_TEST(test_failed_start_is_eio),
					    FIXTURE_TEST(test_register_refusals),
					    FIXTURE_TEST(test_accounting_across_restarts),
					    FIXTURE_TEST(test_host_remove),
					    FIXTURE_TEST(test_owned_tenants_only) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
