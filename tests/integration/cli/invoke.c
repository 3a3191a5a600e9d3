/* Invocations on a platform `ditto up` started: sync and async, the list of
 * records, and functions that fail. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "support/procs.h"
#include "support/wait.h"

/* An invocation record to wait for, and the record once it is finished. */
struct record_wait {
	const char *id;
	json_t *rec;
};

static bool record_finished(void *data)
{
	struct record_wait *w = data;
	w->rec = plat_json(S.plat_key, ARGV("invocation", w->id, "--json"));
	const char *st = json_string_value(json_object_get(w->rec, "status"));
	if (st && strcmp(st, "queued") != 0 && strcmp(st, "running") != 0)
		return true;
	json_decref(w->rec);
	return false;
}

json_t *wait_record(const char *id)
{
	struct record_wait w = { id, NULL };
	wait_until(record_finished, &w, 120000, "the invocation's record");
	return w.rec;
}

void test_invoke(void **state)
{
	char echo[300], input[128];
	snprintf(echo, sizeof(echo), "%s/functions/echo", test_build_dir());
	struct run r;
	PLAT(&r, S.plat_key, "deploy", "echo", echo);
	expect_ok(&r);
	run_free(&r);

	/* The first call boots the tenant's VM. The result is printed as the
	 * function wrote it, ending a line. */
	PLAT(&r, S.plat_key, "invoke", "echo", "--data", "{\"x\":42}");
	expect_ok(&r);
	assert_string_equal(r.out, "{\"x\":42}\n");
	run_free(&r);

	json_t *o = plat_json(S.plat_key, ARGV("invoke", "echo", "--data", "{\"x\":43}", "--json"));
	char id[128];
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(o, "id")));
	assert_true(strlen(id) > 0);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_true(json_is_boolean(json_object_get(o, "cold_start")));
	assert_true(json_integer_value(json_object_get(json_object_get(o, "timing"), "total_us")) >
		    0);
	assert_string_equal(json_string_value(json_object_get(o, "result")), "{\"x\":43}");
	json_decref(o);

	/* Input from a file and from standard input; no --data sends {}. */
	snprintf(input, sizeof(input), "%s/input.json", S.dir);
	write_text(input, "{\"from\":\"file\"}", 0644);
	char at[140];
	snprintf(at, sizeof(at), "@%s", input);
	PLAT(&r, S.plat_key, "invoke", "echo", "--data", at);
	expect_ok(&r);
	assert_string_equal(r.out, "{\"from\":\"file\"}\n");
	run_free(&r);
	plat(&r, S.plat_key, "{\"from\":\"stdin\"}",
	     (const char *const[]){ "invoke", "echo", "--data", "@-", NULL });
	expect_ok(&r);
	assert_string_equal(r.out, "{\"from\":\"stdin\"}\n");
	run_free(&r);
	PLAT(&r, S.plat_key, "invoke", "echo");
	expect_ok(&r);
	assert_string_equal(r.out, "{}\n");
	run_free(&r);

	/* The synchronous call left a record. */
	PLAT(&r, S.plat_key, "invocation", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "Status:"));
	assert_non_null(strstr(r.out, "echo (version 1)"));
	assert_non_null(strstr(r.out, "{\"x\":43}"));
	run_free(&r);

	/* Asynchronous: the id at once, the outcome in the record. */
	PLAT(&r, S.plat_key, "invoke", "echo", "--async", "--data", "{\"later\":true}");
	expect_ok(&r);
	char async_id[128];
	snprintf(async_id, sizeof(async_id), "%.*s", (int)strcspn(r.out, "\n"), r.out);
	assert_string_equal(r.out + strlen(async_id), "\n");
	run_free(&r);
	o = wait_record(async_id);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_true(json_is_true(json_object_get(o, "async")));
	assert_string_equal(json_string_value(json_object_get(o, "result")), "{\"later\":true}");
	json_decref(o);

	plat_fails(S.plat_key, 1, "(not_found, HTTP 404)", ARGV("invoke", "nothing"));
}

void test_invocations(void **state)
{
	struct run r;
	PLAT(&r, S.plat_key, "invocations");
	expect_out(&r, "ID ", ARGV(" echo ", " ok "));
	run_free(&r);

	/* Paging: one record per page, the next page through the cursor. */
	json_t *o = plat_json(S.plat_key, ARGV("invocations", "echo", "--status", "ok", "--limit",
					       "1", "--json"));
	assert_int_equal(json_array_size(json_object_get(o, "invocations")), 1);
	const char *first = json_string_value(
		json_object_get(json_array_get(json_object_get(o, "invocations"), 0), "id"));
	const char *cursor = json_string_value(json_object_get(o, "next_cursor"));
	assert_true(cursor && *cursor);
	char first_id[128], cur[256];
	snprintf(first_id, sizeof(first_id), "%s", first);
	snprintf(cur, sizeof(cur), "%s", cursor);
	json_decref(o);
	o = plat_json(S.plat_key,
		      ARGV("invocations", "echo", "--limit", "1", "--cursor", cur, "--json"));
	const char *second = json_string_value(
		json_object_get(json_array_get(json_object_get(o, "invocations"), 0), "id"));
	assert_non_null(second);
	assert_string_not_equal(second, first_id);
	json_decref(o);

	plat_fails(S.plat_key, 1, "(bad_parameter, HTTP 400)",
		   ARGV("invocations", "--status", "bogus"));
	plat_fails(S.plat_key, 1, "(not_found, HTTP 404)", ARGV("invocation", "0000"));
}

/* A failing function exits 4, names its invocation, and its log is there. */
void test_function_failure(void **state)
{
	char art[128];
	snprintf(art, sizeof(art), "%s/fail.sh", S.dir);
	write_text(art, "#!/bin/sh\necho 'something broke' >&2\nexit 3\n", 0755);
	struct run r;
	PLAT(&r, S.plat_key, "deploy", "fail", art);
	expect_ok(&r);
	run_free(&r);
	PLAT(&r, S.plat_key, "invoke", "fail");
	expect_error(&r, 4, "(function_error, HTTP 502, invocation ");
	const char *at = strstr(r.err, ", invocation ") + 13;
	char id[128];
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(at, ")"), at);
	run_free(&r);

	PLAT(&r, S.plat_key, "logs", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "something broke\n"));
	run_free(&r);
	PLAT(&r, S.plat_key, "invocation", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "error"));
	run_free(&r);

	/* With --json the error object still reaches stdout for scripts. */
	PLAT(&r, S.plat_key, "invoke", "fail", "--json");
	assert_int_equal(r.status, 4);
	assert_true(one_line(r.err));
	json_t *o = out_json(&r);
	json_t *e = json_object_get(o, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "function_error");
	assert_true(json_is_string(json_object_get(e, "invocation")) ||
		    json_is_string(json_object_get(o, "invocation")));
	json_decref(o);
	run_free(&r);

	snprintf(art, sizeof(art), "%s/slow.sh", S.dir);
	write_text(art, "#!/bin/sh\nsleep 30\necho '{}'\n", 0755);
	PLAT(&r, S.plat_key, "deploy", "slow", art, "--timeout", "500");
	expect_ok(&r);
	run_free(&r);
	plat_fails(S.plat_key, 4, "(function_timeout, HTTP 504, invocation ",
		   ARGV("invoke", "slow"));
}

/* A Python function through the command line: its result printed, and a
 * raised exception a failed invocation whose error names it, whose record
 * shows its type, message and traceback, and whose log holds what it
 * printed. */
void test_python_exception(void **state)
{
	char art[128];
	snprintf(art, sizeof(art), "%s/raise.py", S.dir);
	write_text(art,
		   "def main(args):\n"
		   "    print('about to check', args.get('n'))\n"
		   "    if args.get('n', 0) > 5:\n"
		   "        raise ValueError('too big: %d' % args['n'])\n"
		   "    return {'n': args.get('n')}\n",
		   0644);
	struct run r;
	PLAT(&r, S.plat_key, "deploy", "raise", art);
	expect_out(&r, "deployed raise version 1 (python3, ", (const char *const[]){ NULL });
	run_free(&r);
	PLAT(&r, S.plat_key, "invoke", "raise", "{\"n\":2}");
	expect_ok(&r);
	assert_string_equal(r.out, "{\"n\":2}\n");
	run_free(&r);

	PLAT(&r, S.plat_key, "invoke", "raise", "{\"n\":7}");
	expect_error(&r, 4, "ValueError: too big: 7");
	const char *at = strstr(r.err, ", invocation ");
	assert_non_null(at);
	char id[128];
	snprintf(id, sizeof(id), "%.*s", (int)strcspn(at + 13, ")"), at + 13);
	run_free(&r);
	PLAT(&r, S.plat_key, "invocation", id);
	expect_out(&r, "ID:",
		   ARGV("Exception:    ValueError: too big: 7\n",
			"Traceback:    Traceback (most recent call last):\n",
			"raise ValueError('too big: %d' % args['n'])"));
	run_free(&r);
	PLAT(&r, S.plat_key, "logs", id);
	expect_ok(&r);
	assert_non_null(strstr(r.out, "about to check 7\n"));
	run_free(&r);
}

/* The tenant's VM as `tenant get --json` shows it runs the per-VM policy
 * of scale-out. */
static bool scaled_out(void *data)
{
	json_t *o = plat_json(S.plat_admin, ARGV("tenant", "get", "acme", "--json"));
	json_t *vm = json_object_get(o, "vm");
	const char *p = json_string_value(json_object_get(vm, "policy"));
	bool done = p && !strcmp(p, "fixed:1") && json_array_size(json_object_get(o, "vms")) >= 1;
	json_decref(o);
	return done;
}

/* Scale-out through the command line: the tenant's VM becomes a
 * one-worker VM, and `tenant get` lists the VMs. */
void test_scale_out(void **state)
{
	struct run r;
	PLAT(&r, S.plat_admin, "scale", "acme", "--policy", "scale-out:60000");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "policy scale-out:60000\n"));
	run_free(&r);
	/* The call runs on the VM there is, or on a new one-worker VM when
	 * the old one was stopped; either way a one-worker VM follows. */
	PLAT(&r, S.plat_key, "invoke", "echo", "--data", "{\"so\":1}");
	expect_ok(&r);
	assert_string_equal(r.out, "{\"so\":1}\n");
	run_free(&r);
	wait_until(scaled_out, NULL, 120000, "a one-worker VM");
	PLAT(&r, S.plat_key, "tenant", "get", "acme");
	expect_ok(&r);
	assert_non_null(strstr(r.out, "VMs:"));
	assert_non_null(strstr(r.out, "acme on local, "));
	assert_non_null(strstr(r.out, "vCPU-seconds:"));
	run_free(&r);
}
