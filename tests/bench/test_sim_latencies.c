/* The simulator's latencies file: what it accepts and what it refuses. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

static int parse(const char *text, struct sim_latencies *l, char *err, size_t len)
{
	return sim_latencies_parse(text, strlen(text), l, err, len);
}

static void test_good_file(void **state)
{
	const char *text =
		"{\"accel\":\"tcg\",\"qemu\":\"10.0.2\",\"source\":\"ditto-bench vcpu\","
		"\"mechanisms\":{\"precreated\":{\"grow_ms\":[55.5,60],\"grow_standby_ms\":[0.4],"
		"\"shrink_ms\":[31],\"boot_ms\":[2000,2100,1900],\"call_ms\":[],"
		"\"touch_ms_per_mib\":[2.5,3],\"warm_call_ms\":[1.5,2,2.5,3]},"
		"\"hotplug\":{\"grow_ms\":[79],\"shrink_ms\":[45.5],\"boot_ms\":[2000]}}}";
	struct sim_latencies l;
	char err[200] = "";
	assert_int_equal(parse(text, &l, err, sizeof(err)), 0);
	assert_string_equal(l.accel, "tcg");
	assert_string_equal(l.qemu, "10.0.2");
	assert_int_equal(l.n_mech, 2);
	const struct sim_mech_lat *m = sim_latencies_mech(&l, "precreated");
	assert_non_null(m);
	assert_int_equal(m->step[SIM_GROW].n, 2);
	assert_float_equal(m->step[SIM_GROW].ms[0], 55.5, 1e-12);
	assert_int_equal(m->step[SIM_BOOT].n, 3);
	assert_int_equal(m->step[SIM_CALL].n, 0);
	assert_int_equal(m->step[SIM_TOUCH].n, 2);
	assert_int_equal(m->step[SIM_WARM_CALL].n, 4);
	assert_float_equal(m->step[SIM_WARM_CALL].ms[0], 1.5, 1e-12);
	m = sim_latencies_mech(&l, "hotplug");
	assert_non_null(m);
	assert_int_equal(m->step[SIM_GROW_STANDBY].n, 0);
	assert_int_equal(m->step[SIM_WARM_CALL].n, 0); /* optional */
	assert_float_equal(m->step[SIM_SHRINK].ms[0], 45.5, 1e-12);
	sim_latencies_free(&l);
	sim_latencies_free(&l); /* twice is harmless */
}

static void test_bad_files(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{}",
		"{\"mechanisms\":{}}",
		"{\"mechanisms\":[]}",
		/* unknown mechanism */
		"{\"mechanisms\":{\"kvm\":{\"grow_ms\":[1],\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		/* a required step missing or empty */
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"shrink_ms\":[1]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[],\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		/* samples that are not ms */
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[-1],\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[\"5\"],\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1e9],\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":5,\"shrink_ms\":[1],\"boot_ms\":[1]}}}",
		/* warm calls that are not ms */
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"shrink_ms\":[1],\"boot_ms\":[1],"
		"\"warm_call_ms\":[-0.5]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"shrink_ms\":[1],\"boot_ms\":[1],"
		"\"warm_call_ms\":[null]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"shrink_ms\":[1],\"boot_ms\":[1],"
		"\"warm_call_ms\":{}}}}",
		/* an unknown key, a duplicate */
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"shrink_ms\":[1],\"boot_ms\":[1],"
		"\"grow\":[1]}}}",
		"{\"mechanisms\":{\"hotplug\":{\"grow_ms\":[1],\"grow_ms\":[2],\"shrink_ms\":[1],"
		"\"boot_ms\":[1]}}}",
		/* three mechanisms */
		"{\"mechanisms\":{\"hotplug\":{},\"precreated\":{},\"other\":{}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sim_latencies l;
		memset(&l, 0x5a, sizeof(l));
		struct sim_latencies before = l;
		char err[200] = "";
		assert_int_equal(parse(bad[i], &l, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		if (strstr(bad[i], "warm_call_ms"))
			assert_non_null(strstr(err, "warm_call_ms")); /* names the field */
		assert_memory_equal(&l, &before, sizeof(l)); /* untouched */
	}
}

static void test_load_missing(void **state)
{
	struct sim_latencies l;
	char err[200] = "";
	assert_int_equal(sim_latencies_load("/nonexistent/lat.json", &l, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/lat.json"));
}

/* The shipped default (as the build installs it beside ditto-bench, or in
 * the source tree) parses and has both mechanisms' required steps. */
static void test_shipped_default(void **state)
{
	char path[1024];
	const char *build = getenv("DITTO_BUILD");
	snprintf(path, sizeof(path), "%s/%s", build ? build : "bench", SIM_LATENCIES_DEFAULT);
	struct sim_latencies l;
	char err[200] = "";
	assert_int_equal(sim_latencies_load(path, &l, err, sizeof(err)), 0);
	assert_non_null(sim_latencies_mech(&l, "precreated"));
	assert_non_null(sim_latencies_mech(&l, "hotplug"));
	sim_latencies_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_shipped_default),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
