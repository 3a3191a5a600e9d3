/* End-to-end tests of the controller's HTTP API (api_fixture.h) for
 * runtimes and handlers at deploy: each refusal with its code and message,
 * inference from the bytes (zips made by Python's zipfile), the defaults,
 * and the function's JSON. No agent runs. */
#include "api_fixture.h"

#define PY "def main(args):\n    return args\n"
#define SH "#!/bin/sh\necho '{}'\n"
#define NO_INFER "cannot infer the runtime: name it with ?runtime=python3|nodejs|binary|shell"

struct zip {
	char data[4096]; /* MAX_ARTIFACT */
	size_t len;
};

static const char *field(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Writes a zip of the entries (NULL-terminated) with Python's zipfile,
 * deflated, and reads it into z. */
static void zip_make(struct fixture *f, struct zip *z, const char *const *entries)
{
	char path[128], cmd[1024];
	snprintf(path, sizeof(path), "%s/t.zip", f->dir);
	int n = snprintf(cmd, sizeof(cmd),
			 "python3 -c 'import sys, zipfile\n"
			 "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED) as z:\n"
			 "  for e in sys.argv[2:]: z.writestr(e, \"x = 1\\n\")' %s",
			 path);
	for (const char *const *e = entries; *e; e++)
		n += snprintf(cmd + n, sizeof(cmd) - (size_t)n, " '%s'", *e);
	assert_true((size_t)n < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
	FILE *fp = fopen(path, "rb");
	assert_non_null(fp);
	z->len = fread(z->data, 1, sizeof(z->data), fp);
	assert_true(z->len > 0 && z->len < sizeof(z->data));
	fclose(fp);
	unlink(path);
}

/* PUTs len bytes (0: a string) to path and checks a 400 with code and
 * message; nothing is deployed. */
static void expect_refused(struct fixture *f, const char *token, const char *path, const char *body,
			   size_t len, const char *code, const char *message)
{
	json_t *o;
	assert_int_equal(call(f, token, "PUT", path, body, len, &o), 400);
	assert_string_equal(error_code(o), code);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(o, "error"), "message")),
		message);
	json_decref(o);
}

/* PUTs and checks the runtime, handler (NULL: null) and mode deployed. */
static void expect_deployed(struct fixture *f, const char *token, const char *path,
			    const char *body, size_t len, const char *runtime, const char *handler,
			    const char *mode)
{
	json_t *o;
	assert_int_equal(call(f, token, "PUT", path, body, len, &o), 201);
	assert_string_equal(field(o, "runtime"), runtime);
	if (handler)
		assert_string_equal(field(o, "handler"), handler);
	else
		assert_true(json_is_null(json_object_get(o, "handler")));
	assert_string_equal(field(json_object_get(o, "limits"), "mode"), mode);
	json_decref(o);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	static const char elf[] = "\177ELF\2\1\1\0\0\0";
	/* The query's values: bad_parameter. */
	expect_refused(f, key, "/v1/functions/x?runtime=ruby", PY, 0, "bad_parameter",
		       "runtime must be python3, nodejs, binary or shell");
	expect_refused(f, key, "/v1/functions/x?runtime=shell&handler=main", SH, 0, "bad_parameter",
		       "runtime shell takes no handler: it runs the artifact");
	expect_refused(f, key, "/v1/functions/x?handler=", PY, 0, "bad_parameter",
		       "handler must be 1..128 bytes");
	char path[300];
	snprintf(path, sizeof(path), "/v1/functions/x?runtime=python3&handler=%0129d", 0);
	expect_refused(f, key, path, PY, 0, "bad_parameter", "handler must be 1..128 bytes");
	expect_refused(f, key, "/v1/functions/x?runtime=python3&handler=a-b", PY, 0,
		       "bad_parameter",
		       "a python3 handler is module.function: dotted identifiers "
		       "[A-Za-z_][A-Za-z0-9_]*");
	expect_refused(f, key, "/v1/functions/x?runtime=nodejs&handler=../up.main", PY, 0,
		       "bad_parameter",
		       "a nodejs handler is function or file.function: file a relative path "
		       "[A-Za-z0-9_./-] without \"..\" or empty segments, function "
		       "[A-Za-z_$][A-Za-z0-9_$]*");
	/* A handler without a runtime meets the inferred one's rules. */
	expect_refused(f, key, "/v1/functions/x?handler=main", elf, sizeof(elf), "bad_parameter",
		       "runtime binary takes no handler: it runs the artifact");
	/* The bytes: bad_function. */
	expect_refused(f, key, "/v1/functions/x", PY, 0, "bad_function", NO_INFER);
	expect_refused(f, key, "/v1/functions/x?mode=persistent", PY, 0, "bad_function", NO_INFER);
	expect_refused(f, key, "/v1/functions/x?runtime=binary", SH, 0, "bad_function",
		       "runtime binary needs an ELF executable");
	expect_refused(f, key, "/v1/functions/x?runtime=shell", PY, 0, "bad_function",
		       "runtime shell needs a script starting with #!");
	expect_refused(f, key, "/v1/functions/x?runtime=python3", elf, sizeof(elf), "bad_function",
		       "runtime python3 was given an ELF executable: deploy it as binary");
	expect_refused(f, key, "/v1/functions/x?runtime=nodejs", elf, sizeof(elf), "bad_function",
		       "runtime nodejs was given an ELF executable: deploy it as binary");
	/* Sealed bytes: the runtime must be named to take a handler. */
	expect_refused(f, key, "/v1/functions/x?encrypted=true&handler=main", "sealed", 0,
		       "bad_parameter", "runtime binary takes no handler: it runs the artifact");
	/* Nothing was deployed. */
	assert_int_equal(call(f, key, "GET", "/v1/functions/x", NULL, 0, NULL), 404);
}

static void test_zip_refusals(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	struct zip z;
	static const char *const both[] = { "a.py", "b.js", NULL };
	zip_make(f, &z, both);
	expect_refused(f, key, "/v1/functions/x", z.data, z.len, "bad_function",
		       "cannot infer the runtime: the zip holds both Python and Node.js files; "
		       "name it with ?runtime=python3|nodejs");
	static const char *const pkg[] = { "app/__init__.py", "app/views.py", NULL };
	zip_make(f, &z, pkg);
	expect_refused(f, key, "/v1/functions/x", z.data, z.len, "bad_function",
		       "the zip has no __main__.py: name the handler as module.function");
	expect_refused(f, key, "/v1/functions/x?handler=app.models.main", z.data, z.len,
		       "bad_function",
		       "the zip holds no module app.models (app/models.py or "
		       "app/models/__init__.py) for handler app.models.main");
	expect_refused(f, key, "/v1/functions/x?handler=main", z.data, z.len, "bad_function",
		       "a zip needs its handler as module.function, not \"main\"");
	static const char *const js[] = { "lib/app.js", "package.json", NULL };
	zip_make(f, &z, js);
	expect_refused(f, key, "/v1/functions/x", z.data, z.len, "bad_function",
		       "the zip holds no index.js, .mjs, .cjs, index/index.js or "
		       "index/package.json for handler index.main");
	/* A zip that does not parse: cut short, its end record gone. */
	expect_refused(f, key, "/v1/functions/x?runtime=nodejs&handler=lib/app.main", z.data,
		       z.len - 10, "bad_function",
		       "zip: no end-of-central-directory record (not a zip, or truncated)");
	/* Or with its directory's offset past the end. */
	z.data[z.len - 3] = (char)0x7f;
	expect_refused(f, key, "/v1/functions/x?handler=lib/app.main", z.data, z.len,
		       "bad_function",
		       "zip: the central directory lies outside the file (bad offsets)");
	assert_int_equal(call(f, key, "GET", "/v1/functions/x", NULL, 0, NULL), 404);
}

static void test_inference_and_defaults(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	static const char elf[] = "\177ELF\2\1\1\0\0\0";
	/* Binaries and scripts as before: no handler, one process per call. */
	expect_deployed(f, key, "/v1/functions/b", elf, sizeof(elf), "binary", NULL, "process");
	expect_deployed(f, key, "/v1/functions/s", SH, 0, "shell", NULL, "process");
	expect_deployed(f, key, "/v1/functions/s?mode=persistent", SH, 0, "shell", NULL,
			"persistent");
	/* A lone source file names its runtime; the launcher stays warm. */
	expect_deployed(f, key, "/v1/functions/p?runtime=python3", PY, 0, "python3", "main",
			"persistent");
	expect_deployed(f, key, "/v1/functions/p?runtime=python3&handler=handle&mode=process", PY,
			0, "python3", "handle", "process");
	expect_deployed(f, key, "/v1/functions/n?runtime=nodejs&handler=$run", "exports.$run=1", 0,
			"nodejs", "$run", "persistent");
	/* Python with a shebang is a shell script unless named. */
	expect_deployed(f, key, "/v1/functions/q", "#!/usr/bin/python3\n" PY, 0, "shell", NULL,
			"process");

	struct zip z;
	static const char *const py[] = { "__main__.py", "pkg/__init__.py", "pkg/mod.py", NULL };
	zip_make(f, &z, py);
	expect_deployed(f, key, "/v1/functions/pz", z.data, z.len, "python3", "__main__.main",
			"persistent");
	expect_deployed(f, key, "/v1/functions/pz?handler=pkg.mod.run", z.data, z.len, "python3",
			"pkg.mod.run", "persistent");
	expect_deployed(f, key, "/v1/functions/pz?handler=pkg.run", z.data, z.len, "python3",
			"pkg.run", "persistent");
	static const char *const js[] = { "index.js", "node_modules/left-pad/package.json",
					  "node_modules/left-pad/index.js", NULL };
	zip_make(f, &z, js);
	expect_deployed(f, key, "/v1/functions/nz", z.data, z.len, "nodejs", "index.main",
			"persistent");
	expect_deployed(f, key, "/v1/functions/nz?handler=node_modules/left-pad.pad", z.data, z.len,
			"nodejs", "node_modules/left-pad.pad", "persistent");

	/* Sealed bytes are not inspected: binary unless named. */
	expect_deployed(f, key, "/v1/functions/e?encrypted=true", "sealed", 0, "binary", NULL,
			"process");
	expect_deployed(f, key, "/v1/functions/e?encrypted=true&runtime=python3", "sealed", 0,
			"python3", "main", "persistent");
	expect_deployed(f, key, "/v1/functions/e?encrypted=true&runtime=nodejs&handler=x.y",
			"sealed", 0, "nodejs", "x.y", "persistent");
}

/* Each version keeps its own runtime and handler; GET and the list show
 * them beside every field they showed before. */
static void test_function_json(void **state)
{
	struct fixture *f = *state;
	char key[128];
	make_tenant(f, "acme", key);
	expect_deployed(f, key, "/v1/functions/fn?runtime=python3&handler=mod.go", PY, 0, "python3",
			"mod.go", "persistent");
	expect_deployed(f, key, "/v1/functions/fn", SH, 0, "shell", NULL, "process");
	json_t *o;
	assert_int_equal(call(f, key, "GET", "/v1/functions/fn?version=1", NULL, 0, &o), 200);
	assert_string_equal(field(o, "runtime"), "python3");
	assert_string_equal(field(o, "handler"), "mod.go");
	static const char *const keys[] = { "name",      "version",    "digest",
					    "size",      "created_ms", "limits",
					    "encrypted", "runtime",    "handler" };
	assert_int_equal(json_object_size(o), sizeof(keys) / sizeof(keys[0]));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(o, keys[i]));
	json_decref(o);
	assert_int_equal(call(f, key, "GET", "/v1/functions", NULL, 0, &o), 200);
	json_t *fn = json_array_get(json_object_get(o, "functions"), 0);
	assert_int_equal(json_integer_value(json_object_get(fn, "version")), 2);
	assert_string_equal(field(fn, "runtime"), "shell");
	assert_true(json_is_null(json_object_get(fn, "handler")));
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FIXTURE_TEST(test_refusals),
		FIXTURE_TEST(test_zip_refusals),
		FIXTURE_TEST(test_inference_and_defaults),
		FIXTURE_TEST(test_function_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
