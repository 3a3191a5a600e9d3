/* Hosts: registration, heartbeats, down and draining flags, listing. */
#include "store_fixture.h"

static void test_hosts(void **state)
{
	struct store *s = ((struct fixture *)*state)->s;
	assert_int_equal(store_host_register(s, "h2", "10.0.0.2:7000", 8), 0);
	assert_int_equal(store_host_register(s, "h1", "10.0.0.1:7000", 2), 0);
	assert_int_equal(store_host_register(s, "bad/id", "x", 2), -EINVAL);
	assert_int_equal(store_host_register(s, "h3", "", 2), -EINVAL);
	assert_int_equal(store_host_register(s, "h3", "x", 0), -EINVAL);

	struct store_host h;
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	int64_t seen = h.last_seen_ms;
	assert_false(h.down);
	assert_false(h.draining);
	clock_pass(seen);
	assert_int_equal(store_host_heartbeat(s, "h1"), 0);
	assert_int_equal(store_host_heartbeat(s, "nope"), -ENOENT);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_true(h.last_seen_ms > seen);

	assert_int_equal(store_host_set_down(s, "h1", true), 0);
	assert_int_equal(store_host_set_draining(s, "h1", true), 0);
	assert_int_equal(store_host_set_down(s, "nope", true), -ENOENT);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_true(h.down);
	assert_true(h.draining);
	/* A heartbeat brings a host back up; draining is the operator's call. */
	assert_int_equal(store_host_heartbeat(s, "h1"), 0);
	assert_int_equal(store_host_register(s, "h1", "10.0.0.9:7000", 4), 0);
	assert_int_equal(store_host_get(s, "h1", &h), 0);
	assert_false(h.down);
	assert_true(h.draining);
	assert_string_equal(h.address, "10.0.0.9:7000");
	assert_int_equal(h.cores, 4);
	assert_int_equal(store_host_set_draining(s, "h1", false), 0);

	struct store_host *list;
	size_t n;
	assert_int_equal(store_host_list(s, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "h1");
	assert_false(list[0].draining);
	assert_string_equal(list[1].id, "h2");
	assert_int_equal(list[1].cores, 8);
	free(list);

	/* Deleted, it is gone; registering makes it anew, not draining. */
	assert_int_equal(store_host_set_draining(s, "h2", true), 0);
	assert_int_equal(store_host_delete(s, "h2"), 0);
	assert_int_equal(store_host_delete(s, "h2"), -ENOENT);
	assert_int_equal(store_host_get(s, "h2", &h), -ENOENT);
	assert_int_equal(store_host_heartbeat(s, "h2"), -ENOENT);
	assert_int_equal(store_host_register(s, "h2", "10.0.0.2:7000", 8), 0);
	assert_int_equal(store_host_get(s, "h2", &h), 0);
	assert_false(h.draining);
}

int main(void)
{
	const struct CMUnitTest both[] = { cmocka_unit_test(test_hosts) };
	return store_run(both, 1, NULL, 0);
}
