/* The errors of Python and Node.js functions: what deploy refuses with a 400
 * (an unknown runtime, a handler of the wrong syntax or where none belongs,
 * bytes whose runtime cannot be inferred or that do not fit it, a zip
 * lacking the handler's module), and what only running can tell, a failed
 * invocation naming the reason (a syntax error, a missing handler function). */
#include "runtimes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/procs.h"
#include "util.h"

/* PUT /v1/functions/NAME?QUERY with len bytes must answer 400 code. */
static void expect_refused(const char *name, const char *query, const void *body, size_t len,
			   const char *code)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/functions/%s?%s", name, query);
	struct http_reply r;
	assert_int_equal(call(rt_tenant(), "PUT", path, body, len, &r), 400);
	assert_string_equal(http_error_code(&r), code);
	assert_non_null(str(json_object_get(r.json, "error"), "message"));
	http_reply_free(&r);
}

/* The bytes of BUILD/functions/FILE; the caller frees them. */
static void *sample(const char *file, size_t *len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/functions/%s", test_build_dir(), file);
	void *data;
	assert_int_equal(file_read_all(path, &data, len), 0);
	return data;
}

/* What deploy refuses whatever the runtime. */
static void expect_deploy_refusals(void)
{
	static const char py[] = "def main(args):\n    return args\n";
	expect_refused("x", "runtime=ruby", py, strlen(py), "bad_parameter");
	expect_refused("x", "runtime=shell&handler=main", "#!/bin/sh\n", 10, "bad_parameter");
	/* A lone source file cannot tell its runtime; a shell script needs #!. */
	expect_refused("x", "mode=persistent", py, strlen(py), "bad_function");
	expect_refused("x", "runtime=shell", py, strlen(py), "bad_function");

	size_t len;
	void *elf = sample("echo", &len);
	expect_refused("x", "runtime=python3", elf, len, "bad_function");
	expect_refused("x", "runtime=nodejs", elf, len, "bad_function");
	expect_refused("x", "runtime=binary&handler=main", elf, len, "bad_parameter");
	free(elf);
	/* Node's zip holds no __main__.py: as Python it has no default handler. */
	void *zip = sample("nodejs/wordfreq.zip", &len);
	expect_refused("x", "runtime=python3", zip, len, "bad_function");
	free(zip);
}

/* What deploy refuses for rt: a bad handler, a zip without the handler's
 * module. */
static void expect_rt_refusals(const struct rt *rt)
{
	char q[256];
	snprintf(q, sizeof(q), "runtime=%s&handler=%s", rt->runtime, rt->bad_handler);
	expect_refused("x", q, rt->no_main, strlen(rt->no_main), "bad_parameter");

	char file[64];
	snprintf(file, sizeof(file), "%s/wordfreq.zip", rt->dir);
	size_t len;
	void *zip = sample(file, &len);
	snprintf(q, sizeof(q), "runtime=%s&handler=%s", rt->runtime, rt->zip_missing);
	expect_refused("x", q, zip, len, "bad_function");
	snprintf(q, sizeof(q), "handler=%s", rt->zip_missing);
	expect_refused("x", q, zip, len, "bad_function");
	free(zip);
}

/* A function that cannot load fails each invocation with the reason, as the
 * loading error's exception. */
static void expect_load_failure(const struct rt *rt, const char *what, const char *src,
				const char *type, const char *mention)
{
	const char *key = rt_tenant();
	char name[64];
	rt_name(rt, what, name);
	rt_deploy_source(rt, name, src, NULL);
	for (int i = 0; i < 2; i++) {
		struct http_reply r;
		invoke(key, name, "{}", &r);
		json_t *rec = rt_expect_exception(key, &r, type, NULL);
		if (mention)
			assert_non_null(
				strstr(str(json_object_get(rec, "exception"), "message"), mention));
		assert_null(strstr(str(rec, "error"), "127"));
		json_decref(rec);
		http_reply_free(&r);
	}
}

void test_runtime_errors(void **state)
{
	expect_deploy_refusals();
	const struct rt *const rts[] = { &RT_PYTHON, &RT_NODEJS };
	for (size_t i = 0; i < 2; i++) {
		expect_rt_refusals(rts[i]);
		expect_load_failure(rts[i], "syntax", rts[i]->syntax_error, "SyntaxError", NULL);
		expect_load_failure(rts[i], "nomain", rts[i]->no_main, rts[i]->no_main_type,
				    "main");
	}
	/* Nothing refused was stored. */
	expect_call(rt_tenant(), "GET", "/v1/functions/x", NULL, 404);
}
