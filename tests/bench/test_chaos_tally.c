/* ditto-bench chaos's judgements: which failed call says why, how an async
 * record's observations end (completed, failed, lost, twice), the kinds
 * list, and the report's JSON shape. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chaos.h"

static enum chaos_verdict sync_judge(enum chaos_net net, long http, const char *body,
				     const char *want, char *code)
{
	struct chaos_answer a = {
		.net = net, .http = http, .body = body, .len = body ? strlen(body) : 0
	};
	return chaos_sync_judge(&a, want, code);
}

static void test_sync_judge(void **state)
{
	char code[CHAOS_CODE_SIZE];
	const char *in = "{\"chaos\":7}";
	assert_int_equal(sync_judge(CHAOS_NET_OK, 200, in, in, code), CHAOS_OK);
	assert_int_equal(sync_judge(CHAOS_NET_OK, 200, "{\"chaos\":8}", in, code), CHAOS_UNCLEAR);
	assert_string_equal(code, "wrong_result");
	assert_int_equal(sync_judge(CHAOS_NET_OK, 502,
				    "{\"error\":{\"code\":\"host_lost\",\"message\":\"x\"}}", in,
				    code),
			 CHAOS_FAILED);
	assert_string_equal(code, "host_lost");
	assert_int_equal(sync_judge(CHAOS_NET_REFUSED, 0, NULL, in, code), CHAOS_FAILED);
	assert_string_equal(code, "connection_refused");
	assert_int_equal(sync_judge(CHAOS_NET_RESET, 0, NULL, in, code), CHAOS_FAILED);
	assert_string_equal(code, "connection_reset");
	assert_int_equal(sync_judge(CHAOS_NET_TIMEOUT, 0, NULL, in, code), CHAOS_FAILED);
	assert_string_equal(code, "timeout");
	/* An error without the JSON shape, or with an empty code, says nothing. */
	assert_int_equal(sync_judge(CHAOS_NET_OK, 500, "<html>oops</html>", in, code),
			 CHAOS_UNCLEAR);
	assert_string_equal(code, "unclear_http_500");
	assert_int_equal(sync_judge(CHAOS_NET_OK, 503, "{\"error\":{\"code\":\"\"}}", in, code),
			 CHAOS_UNCLEAR);
}

static void test_submit_judge(void **state)
{
	char code[CHAOS_CODE_SIZE], id[33];
	const char *ok = "{\"id\":\"0123456789abcdef0123456789abcdef\",\"status\":\"queued\"}";
	struct chaos_answer a = { .net = CHAOS_NET_OK, .http = 202, .body = ok, .len = strlen(ok) };
	assert_int_equal(chaos_submit_judge(&a, id, code), CHAOS_OK);
	assert_string_equal(id, "0123456789abcdef0123456789abcdef");
	a.body = "{\"id\":\"xyz\"}";
	a.len = strlen(a.body);
	assert_int_equal(chaos_submit_judge(&a, id, code), CHAOS_UNCLEAR);
	a.http = 503;
	a.body = "{\"error\":{\"code\":\"busy\"}}";
	a.len = strlen(a.body);
	assert_int_equal(chaos_submit_judge(&a, id, code), CHAOS_FAILED);
	assert_string_equal(code, "busy");
}

static void test_async_end(void **state)
{
	struct chaos_async a = { 0 };
	/* Never terminal: lost. */
	chaos_async_observe(&a, "queued", 0, false);
	chaos_async_observe(&a, "running", 0, false);
	assert_int_equal(chaos_async_end(&a), CHAOS_LOST);
	/* Terminal ok with its own result, seen the same twice: completed. */
	chaos_async_observe(&a, "ok", 100, true);
	chaos_async_observe(&a, "ok", 100, true);
	assert_int_equal(chaos_async_end(&a), CHAOS_COMPLETED);
	/* Another end time later: twice. */
	struct chaos_async b = a;
	chaos_async_observe(&b, "ok", 101, true);
	assert_int_equal(chaos_async_end(&b), CHAOS_TWICE);
	/* Back to running after it ended: twice. */
	b = a;
	chaos_async_observe(&b, "running", 0, false);
	assert_int_equal(chaos_async_end(&b), CHAOS_TWICE);
	/* Another outcome: twice. */
	b = a;
	chaos_async_observe(&b, "error", 100, false);
	assert_int_equal(chaos_async_end(&b), CHAOS_TWICE);
	/* Someone else's result: twice. */
	struct chaos_async c = { 0 };
	chaos_async_observe(&c, "ok", 5, false);
	assert_int_equal(chaos_async_end(&c), CHAOS_TWICE);
	/* An error that stays an error: failed; gone later changes nothing. */
	struct chaos_async d = { 0 };
	chaos_async_observe(&d, "error", 5, false);
	chaos_async_gone(&d);
	assert_int_equal(chaos_async_end(&d), CHAOS_ASYNC_FAILED);
	/* Failed counts as lost too, and makes the run unclean. */
	struct chaos_tally t = { 0 };
	chaos_tally_async(&t, CHAOS_COMPLETED);
	assert_true(chaos_tally_clean(&t));
	chaos_tally_async(&t, CHAOS_ASYNC_FAILED);
	assert_int_equal(t.async_failed, 1);
	assert_int_equal(t.async_lost, 1);
	assert_false(chaos_tally_clean(&t));
}

static void test_kinds(void **state)
{
	enum chaos_kind k[CHAOS_KINDS];
	int n;
	assert_int_equal(chaos_kinds_parse("freeze,qemu", k, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(k[0], CHAOS_FREEZE);
	assert_int_equal(k[1], CHAOS_QEMU);
	assert_int_equal(chaos_kinds_parse("qemu,agent,controller,freeze", k, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(chaos_kinds_parse("postgres,controller", k, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(k[0], CHAOS_POSTGRES);
	assert_string_equal(chaos_kind_name(k[0]), "postgres");
	assert_int_not_equal(chaos_kinds_parse("postgres,postgres", k, &n), 0);
	assert_int_not_equal(chaos_kinds_parse("qemu,qemu", k, &n), 0);
	assert_int_not_equal(chaos_kinds_parse("qemu,", k, &n), 0);
	assert_int_not_equal(chaos_kinds_parse("", k, &n), 0);
	assert_int_not_equal(chaos_kinds_parse("disk", k, &n), 0);
	assert_int_equal(chaos_kinds_parse("controller2,controller", k, &n), 0);
	assert_int_equal(k[0], CHAOS_CONTROLLER2);
	assert_string_equal(chaos_kind_name(k[0]), "controller2");
}

/* controller2 runs only on two controllers sharing a PostgreSQL store. */
static void test_kinds_check(void **state)
{
	enum chaos_kind c2[] = { CHAOS_QEMU, CHAOS_CONTROLLER2 }, pg[] = { CHAOS_POSTGRES };
	char err[160];
	assert_int_equal(chaos_kinds_check(c2, 2, true, 2, err, sizeof(err)), 0);
	assert_int_equal(chaos_kinds_check(c2, 1, false, 1, err, sizeof(err)), 0);
	assert_int_equal(chaos_kinds_check(c2, 2, true, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "controller2"));
	assert_int_equal(chaos_kinds_check(c2, 2, false, 2, err, sizeof(err)), -EINVAL);
	assert_int_equal(chaos_kinds_check(c2, 2, true, 3, err, sizeof(err)), -EINVAL);
	assert_int_equal(chaos_kinds_check(pg, 1, false, 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(chaos_kinds_check(pg, 1, true, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(chaos_kinds_check(c2, 1, false, 2, err, sizeof(err)), -EINVAL);
}

/* Only controller2 reports its leader failover times. */
static void test_failover_json(void **state)
{
	struct chaos_report r = { .accel = "tcg",
				  .n_kinds = 2,
				  .kinds = { CHAOS_CONTROLLER2, CHAOS_QEMU } };
	struct chaos_tally *t = &r.tally[CHAOS_CONTROLLER2];
	assert_int_equal(chaos_tally_failover(t, 900), 0);
	assert_int_equal(chaos_tally_failover(t, 100), 0);
	assert_int_equal(chaos_tally_failover(t, 3000), 0);
	json_t *j = chaos_report_json(&r);
	json_t *f = json_object_get(json_array_get(json_object_get(j, "kinds"), 0), "failover_ms");
	assert_int_equal(json_integer_value(json_object_get(f, "p50")), 900);
	assert_int_equal(json_integer_value(json_object_get(f, "max")), 3000);
	assert_null(json_object_get(json_array_get(json_object_get(j, "kinds"), 1), "failover_ms"));
	assert_true(t->failover_ms[0] == 900); /* the samples stay as added */
	json_decref(j);
	chaos_tally_free(t);
}

/* Codes past the table's room fold into "other"; the JSON has the
 * documented shape. */
static void test_report_json(void **state)
{
	struct chaos_report r = { .accel = "tcg",
				  .faults_per_kind = 2,
				  .rate = 20,
				  .n_kinds = 1,
				  .kinds = { CHAOS_AGENT } };
	struct chaos_tally *t = &r.tally[CHAOS_AGENT];
	t->faults = 2;
	t->sync_sent = 40;
	t->sync_ok = 40 - CHAOS_CODES - 2;
	t->sync_failed = CHAOS_CODES + 2;
	for (int i = 0; i < CHAOS_CODES + 2; i++) {
		char code[16];
		snprintf(code, sizeof(code), "c%d", i);
		chaos_tally_code(t, code);
	}
	assert_int_equal(chaos_tally_recovered(t, 100), 0);
	assert_int_equal(chaos_tally_recovered(t, 300), 0);
	json_t *j = chaos_report_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "accel")), "tcg");
	assert_int_equal(json_integer_value(json_object_get(j, "faults_per_kind")), 2);
	json_t *k = json_array_get(json_object_get(j, "kinds"), 0);
	assert_string_equal(json_string_value(json_object_get(k, "kind")), "agent");
	json_t *codes = json_object_get(json_object_get(k, "sync"), "codes");
	assert_int_equal(json_object_size(codes), CHAOS_CODES);
	assert_int_equal(json_integer_value(json_object_get(codes, "other")), 3);
	json_t *rec = json_object_get(k, "recover_ms");
	assert_int_equal(json_integer_value(json_object_get(rec, "max")), 300);
	assert_non_null(json_object_get(json_object_get(k, "async"), "twice"));
	json_decref(j);
	chaos_tally_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_judge),    cmocka_unit_test(test_submit_judge),
		cmocka_unit_test(test_async_end),     cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_report_json),   cmocka_unit_test(test_kinds_check),
		cmocka_unit_test(test_failover_json),
	};
	return cmocka_run_group_tests_name("chaos_tally", tests, NULL, NULL);
}
