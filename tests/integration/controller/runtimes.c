/* Python and Node.js functions end to end, each runtime through the same
 * steps: the samples (hello synchronously and asynchronously, with its print
 * as the log; the orders transform; the zip with a bundled module, its
 * runtime inferred), warm reuse of one launcher process across calls, an
 * exception, a timeout and a memory limit. One tenant VM serves them all. */
#include "runtimes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/wait.h"

const struct rt RT_PYTHON = {
	.runtime = "python3",
	.prefix = "py",
	.dir = "python",
	.ext = ".py",
	.probe = "import os\n"
		 "import time\n"
		 "\n"
		 "calls = 0\n"
		 "\n"
		 "\n"
		 "def main(args):\n"
		 "    global calls\n"
		 "    calls += 1\n"
		 "    if 'raise' in args:\n"
		 "        raise ValueError(args['raise'])\n"
		 "    if 'sleep_ms' in args:\n"
		 "        time.sleep(args['sleep_ms'] / 1000)\n"
		 "    if 'alloc_mb' in args:\n"
		 "        hog = bytearray(args['alloc_mb'] << 20)\n"
		 "        return {'allocated': len(hog) >> 20}\n"
		 "    print('probe call %d' % calls)\n"
		 "    return {'calls': calls, 'pid': os.getpid()}\n",
	.raise_type = "ValueError",
	.syntax_error = "def main(args):\n    return {'unclosed': (\n",
	.no_main = "def handler(args):\n    return args\n",
	.no_main_type = "AttributeError",
	.bad_handler = "9lives.main",
	.zip_missing = "nothere.main",
	.oom_type = "MemoryError",
};

const struct rt RT_NODEJS = {
	.runtime = "nodejs",
	.prefix = "js",
	.dir = "nodejs",
	.ext = ".js",
	.probe = "let calls = 0;\n"
		 "exports.main = async (args) => {\n"
		 "\tcalls += 1;\n"
		 "\tif (args.raise !== undefined)\n"
		 "\t\tthrow new RangeError(args.raise);\n"
		 "\tif (args.sleep_ms !== undefined)\n"
		 "\t\tawait new Promise((resolve) => setTimeout(resolve, args.sleep_ms));\n"
		 "\tif (args.alloc_mb !== undefined) {\n"
		 "\t\tconst hog = [];\n"
		 "\t\tfor (let i = 0; i < args.alloc_mb; i++)\n"
		 "\t\t\thog.push(new Array(131072).fill(i + 0.5));\n"
		 "\t\treturn { allocated: hog.length };\n"
		 "\t}\n"
		 "\tconsole.log(`probe call ${calls}`);\n"
		 "\treturn { calls, pid: process.pid };\n"
		 "};\n",
	.raise_type = "RangeError",
	.syntax_error = "exports.main = (args) => {\n\treturn { unclosed: (\n",
	.no_main = "exports.handler = (args) => args;\n",
	.no_main_type = "TypeError",
	.bad_handler = "../up.main",
	.zip_missing = "missing.main",
	.oom_type = NULL,
};

/* The runtime tests' tenant. Its policy keeps its one worker vCPU for 30 s
 * past a call during a test, so that the test's calls find their launchers
 * warm, and gives it back at once between tests, so that it holds no host
 * core while the suite's other tests run. */
#define RT_TENANT "polyglot"
#define RT_TESTING "{\"policy\":\"elastic:30000\"}"
#define RT_IDLE "{\"policy\":\"elastic:0\"}"

const char *rt_tenant(void)
{
	/* Made once for the file's tests: one VM for all of them. */
	static char key[128];
	if (key[0])
		return key;
	tenant(RT_TENANT, "{\"max\":1}", key);
	/* Boot the VM now, so the first call of each function times the
	 * runtime's start and not the VM's. */
	deploy_script(key, "boot", "#!/bin/sh\necho '{}'\n", NULL);
	expect_call(key, "POST", "/v1/functions/boot/invoke", "{}", 200);
	return key;
}

int runtimes_setup(void **state)
{
	rt_tenant();
	expect_call(P.admin, "PUT", "/v1/tenants/" RT_TENANT "/scaling", RT_TESTING, 200);
	return 0;
}

static bool rt_idle(void *data)
{
	return workers_of(RT_TENANT) == 0;
}

int runtimes_teardown(void **state)
{
	expect_call(P.admin, "PUT", "/v1/tenants/" RT_TENANT "/scaling", RT_IDLE, 200);
	wait_until(rt_idle, NULL, DEADLINE_MS, "the runtime tests' worker vCPU to go");
	return 0;
}

void rt_name(const struct rt *rt, const char *what, char name[64])
{
	snprintf(name, 64, "%s-%s", rt->prefix, what);
}

void rt_deploy_source(const struct rt *rt, const char *name, const char *src, const char *extra)
{
	char q[256];
	snprintf(q, sizeof(q), "runtime=%s%s%s", rt->runtime, extra ? "&" : "", extra ? extra : "");
	deploy_script(rt_tenant(), name, src, q);
}

json_t *rt_expect_exception(const char *key, struct http_reply *r, const char *type,
			    const char *message)
{
	json_t *err = json_object_get(r->json, "error");
	json_t *exc = json_object_get(err, "exception");
	if (r->status != 502 || !str(exc, "type") || !str(err, "message"))
		fail_msg("wanted a 502 with a %s exception, got %ld: %.*s", type, r->status,
			 (int)r->body.len, (const char *)r->body.data);
	assert_string_equal(http_error_code(r), "function_error");
	assert_string_equal(str(err, "invocation"), r->id);
	assert_null(strstr(str(err, "message"), "127"));
	assert_string_equal(str(exc, "type"), type);
	char want[256];
	snprintf(want, sizeof(want), "the function failed: %s: ", type);
	assert_memory_equal(str(err, "message"), want, strlen(want));
	if (message)
		assert_string_equal(str(exc, "message"), message);

	json_t *rec = await_record(key, r->id);
	assert_string_equal(str(rec, "status"), "error");
	json_t *rexc = json_object_get(rec, "exception");
	if (!str(rexc, "type") || !str(rexc, "message") || !str(rexc, "traceback"))
		fail_msg("the record of %s has no exception", r->id);
	assert_string_equal(str(rexc, "type"), type);
	assert_string_equal(str(rexc, "message"), str(exc, "message"));
	assert_non_null(strstr(str(rexc, "traceback"), type));
	return rec;
}

/* The reply from function name must be a 200; says what came instead. */
static void expect_ok(const struct http_reply *r, const char *name)
{
	if (r->status != 200)
		fail_msg("wanted a 200 from %s, got %ld: %.*s", name, r->status, (int)r->body.len,
			 (const char *)r->body.data);
}

/* The reply's body as JSON; the caller frees it. */
static json_t *body_json(const struct http_reply *r)
{
	json_t *j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	assert_non_null(j);
	return j;
}

/* A sample from BUILD/functions/DIR/ as rt's function name; query may be NULL. */
static void deploy_sample(const struct rt *rt, const char *name, const char *file,
			  const char *query)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", rt->dir, file);
	deploy(rt_tenant(), name, path, query);
}

/* The function as GET shows it has rt's runtime, and handler when not NULL. */
static void expect_function(const struct rt *rt, const char *name, const char *handler)
{
	char path[128];
	snprintf(path, sizeof(path), "/v1/functions/%s", name);
	struct http_reply r;
	assert_int_equal(call_s(rt_tenant(), "GET", path, NULL, &r), 200);
	assert_string_equal(str(r.json, "runtime"), rt->runtime);
	if (handler)
		assert_string_equal(str(r.json, "handler"), handler);
	http_reply_free(&r);
}

/* hello answers {"greeting": "Hello, <name>!"} and logs "greeting <name>". */
static void expect_greeting(const struct http_reply *r, const char *name, const char *greeting)
{
	expect_ok(r, name);
	json_t *out = body_json(r);
	assert_string_equal(str(out, "greeting"), greeting);
	json_decref(out);
}

static void expect_log(const char *key, const char *id, const char *line)
{
	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_non_null(strstr(str(rec, "log"), line));
	json_decref(rec);
}

/* The hello sample: synchronous (input over several lines, and none),
 * asynchronous, its print in the record's log. */
static void expect_hello(const struct rt *rt)
{
	const char *key = rt_tenant();
	char name[64], file[64], q[64];
	rt_name(rt, "hello", name);
	snprintf(file, sizeof(file), "hello%s", rt->ext);
	snprintf(q, sizeof(q), "runtime=%s", rt->runtime);
	deploy_sample(rt, name, file, q);
	expect_function(rt, name, "main");

	struct http_reply r;
	invoke(key, name, "{\n  \"name\": \"Ada\"\n}\n", &r);
	expect_greeting(&r, name, "Hello, Ada!");
	expect_log(key, r.id, "greeting Ada\n");
	http_reply_free(&r);
	invoke(key, name, "", &r);
	expect_greeting(&r, name, "Hello, world!");
	http_reply_free(&r);

	char path[128], id[64];
	snprintf(path, sizeof(path), "/v1/functions/%s/invoke?async=true", name);
	assert_int_equal(call_s(key, "POST", path, "{\"name\":\"Bo\"}", &r), 202);
	snprintf(id, sizeof(id), "%s", str(r.json, "id"));
	http_reply_free(&r);
	json_t *rec = await_record(key, id);
	assert_string_equal(str(rec, "status"), "ok");
	assert_true(json_is_true(json_object_get(rec, "async")));
	json_t *out = json_loads(str(rec, "result"), 0, NULL);
	assert_string_equal(str(out, "greeting"), "Hello, Bo!");
	assert_non_null(strstr(str(rec, "log"), "greeting Bo\n"));
	json_decref(out);
	json_decref(rec);
}

/* The orders sample: totals per customer, biggest first, in cents. */
static void expect_orders(const struct rt *rt)
{
	char name[64], file[64], q[64];
	rt_name(rt, "orders", name);
	snprintf(file, sizeof(file), "orders%s", rt->ext);
	snprintf(q, sizeof(q), "runtime=%s", rt->runtime);
	deploy_sample(rt, name, file, q);
	struct http_reply r;
	invoke(rt_tenant(), name,
	       "{\"orders\":[{\"customer\":\"bo\",\"amount\":7.5},"
	       "{\"customer\":\"ada\",\"amount\":12.5},"
	       "{\"customer\":\"cy\",\"amount\":0.1},"
	       "{\"customer\":\"ada\",\"amount\":7.5},"
	       "{\"customer\":\"cy\",\"amount\":0.2}]}",
	       &r);
	expect_ok(&r, name);
	json_t *out = body_json(&r);
	json_t *cs = json_object_get(out, "customers");
	static const char *const who[] = { "ada", "bo", "cy" };
	static const double total[] = { 20, 7.5, 0.3 };
	assert_int_equal(json_array_size(cs), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *c = json_array_get(cs, i);
		assert_string_equal(str(c, "customer"), who[i]);
		assert_true(json_number_value(json_object_get(c, "total")) == total[i]);
	}
	assert_int_equal(num(json_array_get(cs, 0), "orders"), 2);
	assert_int_equal(num(out, "orders"), 5);
	assert_true(json_number_value(json_object_get(out, "total")) == 27.8);
	json_decref(out);
	http_reply_free(&r);
}

/* The wordfreq zip, runtime inferred from its entries, default handler: its
 * handler imports the module bundled beside it. */
static void expect_zip(const struct rt *rt)
{
	char name[64];
	rt_name(rt, "wordfreq", name);
	deploy_sample(rt, name, "wordfreq.zip", "timeout=20000");
	expect_function(rt, name, NULL);
	struct http_reply r;
	invoke(rt_tenant(), name, "{\"text\":\"The cat and the hat\",\"top\":1}", &r);
	expect_ok(&r, name);
	json_t *out = body_json(&r);
	assert_int_equal(num(out, "words"), 5);
	json_t *top = json_array_get(json_object_get(out, "top"), 0);
	assert_string_equal(json_string_value(json_array_get(top, 0)), "the");
	assert_int_equal(json_integer_value(json_array_get(top, 1)), 2);
	json_decref(out);
	http_reply_free(&r);
}

/* Calls the probe with input and checks it answered {"calls": calls, "pid":
 * *pid} (sets *pid when 0) with the cold-start flag cold. */
static void expect_probe(const char *name, const char *input, long long calls, long long *pid,
			 const char *cold, const char *what)
{
	struct http_reply r;
	invoke(rt_tenant(), name, input, &r);
	expect_ok(&r, name);
	assert_string_equal(r.cold, cold);
	json_t *out = body_json(&r);
	assert_int_equal(num(out, "calls"), calls);
	if (!*pid)
		*pid = num(out, "pid");
	assert_int_equal(num(out, "pid"), *pid);
	json_decref(out);
	print_message("%s %s call: %s\n", name, what, r.timing);
	http_reply_free(&r);
}

/* One launcher serves every call: its module state lives on, through an
 * exception too, and its prints are each call's log. */
static void expect_warm_and_exception(const struct rt *rt)
{
	const char *key = rt_tenant();
	char name[64];
	rt_name(rt, "probe", name);
	rt_deploy_source(rt, name, rt->probe, NULL);
	long long pid = 0;
	expect_probe(name, "{}", 1, &pid, "true", "first");
	for (long long i = 2; i <= 4; i++)
		expect_probe(name, "{}", i, &pid, "false", "warm");

	struct http_reply r;
	invoke(key, name, "{\"raise\":\"boom\"}", &r);
	json_t *rec = rt_expect_exception(key, &r, rt->raise_type, "boom");
	assert_non_null(strstr(str(rec, "error"), "boom"));
	json_decref(rec);
	http_reply_free(&r);
	expect_probe(name, "{}", 6, &pid, "false", "warm");
	invoke(key, name, "{}", &r);
	expect_ok(&r, name);
	expect_log(key, r.id, "probe call 7\n");
	http_reply_free(&r);
}

/* Over its timeout the call answers 504 and the launcher is replaced (the
 * timeout leaves room for the new launcher's cold start under TCG). */
static void expect_timeout(const struct rt *rt)
{
	char name[64];
	rt_name(rt, "slow", name);
	rt_deploy_source(rt, name, rt->probe, "timeout=15000");
	struct http_reply r;
	assert_int_equal(invoke(rt_tenant(), name, "{\"sleep_ms\":120000}", &r), 504);
	assert_string_equal(http_error_code(&r), "function_timeout");
	http_reply_free(&r);
	long long pid = 0;
	expect_probe(name, "{}", 1, &pid, "true", "after-timeout");
}

/* Within its memory the function allocates; over it the call fails (with
 * the runtime's exception where it has one) and the function still serves. */
static void expect_memory_limit(const struct rt *rt)
{
	const char *key = rt_tenant();
	char name[64];
	rt_name(rt, "hungry", name);
	rt_deploy_source(rt, name, rt->probe, "memory=128&timeout=120000");
	struct http_reply r;
	invoke(key, name, "{\"alloc_mb\":16}", &r);
	expect_ok(&r, name);
	json_t *out = body_json(&r);
	assert_int_equal(num(out, "allocated"), 16);
	json_decref(out);
	http_reply_free(&r);

	invoke(key, name, "{\"alloc_mb\":1024}", &r);
	if (rt->oom_type) {
		json_decref(rt_expect_exception(key, &r, rt->oom_type, NULL));
	} else {
		assert_int_equal(r.status, 502);
		assert_string_equal(http_error_code(&r), "function_error");
		json_t *rec = await_record(key, r.id);
		assert_string_equal(str(rec, "status"), "error");
		json_decref(rec);
	}
	http_reply_free(&r);
	invoke(key, name, "{}", &r);
	expect_ok(&r, name);
	http_reply_free(&r);
}

static void expect_runtime(const struct rt *rt)
{
	expect_hello(rt);
	expect_orders(rt);
	expect_warm_and_exception(rt);
	expect_timeout(rt);
	expect_memory_limit(rt);
	expect_zip(rt);
}

void test_runtime_python(void **state)
{
	expect_runtime(&RT_PYTHON);
}

void test_runtime_nodejs(void **state)
{
	expect_runtime(&RT_NODEJS);
}
