/* deploy's runtime and handler: the runtime a file's name implies (.py,
 * .js, .mjs, .cjs), --runtime over it, nothing sent when neither says (the
 * controller infers it from the bytes), the handler sent as given; an
 * encrypted deploy names the runtime its name or its bytes show (ELF, #!, a
 * zip) and is refused with one line, before any secret is made, when they
 * show none. functions, get and invocation show the runtime, the handler
 * and an exception with its traceback. The commands run in this process
 * against a stand-in controller that records what it was sent
 * (fake_api.h).
 *
 * Compiles the CLI's modules in, as test_cli does. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../cli/cli.c"
#include "../../cli/cmd_function.c"
#include "../../cli/cmd_invocation.c"
#include "../../cli/cmd_sealed.c"
#include "../../cli/http.c"
#include "../../cli/output.c"
#include "../../cli/sealed.c"
#include "fake_api.h"

/* The stand-in controller answers every deploy with a function. */
static json_t *fake_answer(const char *method, const char *url, const json_t *body)
{
	return json_pack("{s:s, s:i, s:s, s:s, s:i}", "name", "f", "version", 3, "runtime",
			 "python3", "digest", "0123456789abcdef", "size", 12);
}

static int setup(void **state)
{
	return fake_setup("deploy");
}

/* Writes len bytes into DIR/name; the path into path (300 bytes). */
static const char *file_in_dir(const char *name, const void *bytes, size_t len, char *path)
{
	snprintf(path, 300, "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	fclose(f);
	return path;
}

#define ELF "\177ELF\002\001\001"
#define SCRIPT "#!/bin/sh\necho '{}'\n"
#define PY "def main(args):\n    return args\n"

static void put_le(uint8_t *p, uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A zip holding one stored entry, name, with text: local header, central
 * directory, end record. Returns its length. */
static size_t make_zip(const char *name, const char *text, uint8_t *out)
{
	size_t nl = strlen(name), tl = strlen(text), n = 0;
	memset(out, 0, 30 + 46 + 22 + 2 * nl + tl);
	put_le(out, 0x04034b50, 4);
	put_le(out + 4, 20, 2);
	put_le(out + 18, (uint32_t)tl, 4);
	put_le(out + 22, (uint32_t)tl, 4);
	put_le(out + 26, (uint32_t)nl, 2);
	memcpy(out + 30, name, nl);
	memcpy(out + 30 + nl, text, tl);
	n = 30 + nl + tl;
	uint8_t *cd = out + n;
	put_le(cd, 0x02014b50, 4);
	put_le(cd + 4, 20, 2);
	put_le(cd + 6, 20, 2);
	put_le(cd + 20, (uint32_t)tl, 4);
	put_le(cd + 24, (uint32_t)tl, 4);
	put_le(cd + 28, (uint32_t)nl, 2);
	memcpy(cd + 46, name, nl);
	uint8_t *end = cd + 46 + nl;
	put_le(end, 0x06054b50, 4);
	put_le(end + 8, 1, 2);
	put_le(end + 10, 1, 2);
	put_le(end + 12, (uint32_t)(46 + nl), 4);
	put_le(end + 16, (uint32_t)n, 4);
	return n + 46 + nl + 22;
}

/* Deploys file with the extra arguments (at most 6); it must succeed.
 * Returns the query the controller got (static storage). */
static const char *deployed(const char *file, const char *a1, const char *a2, const char *a3,
			    const char *a4)
{
	static char query[1024];
	struct ran r = run(&cmd_deploy,
			   ARGV("deploy", "f", file, a1 ? a1 : "--json", a2 ? a2 : "--json",
				a3 ? a3 : "--json", a4 ? a4 : "--json"));
	if (r.code != 0)
		fail_msg("deploy %s: exit %d: %s", file, r.code, r.err);
	assert_string_equal(r.request, "PUT /v1/functions/f");
	snprintf(query, sizeof(query), "%s", r.query);
	json_decref(r.body);
	return query;
}

static void test_runtime_from_name(void **state)
{
	char p[300];
	assert_string_equal(
		deployed(file_in_dir("hello.py", PY, strlen(PY), p), NULL, NULL, NULL, NULL),
		"runtime=python3");
	const char *js[] = { "a.js", "b.mjs", "c.cjs" };
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(deployed(file_in_dir(js[i], "exports.main = a => a;\n", 23, p),
					     NULL, NULL, NULL, NULL),
				    "runtime=nodejs");
	/* The flag wins over the name; the handler goes as given. */
	file_in_dir("x.py", PY, strlen(PY), p);
	assert_string_equal(deployed(p, "--runtime", "shell", NULL, NULL), "runtime=shell");
	assert_string_equal(deployed(p, "--handler", "pkg.mod.fn", "--mode", "process"),
			    "mode=process&runtime=python3&handler=pkg.mod.fn");
	file_in_dir("lib.js", "", 0, p);
	assert_string_equal(deployed(p, "--handler", "lib/util.$main", NULL, NULL),
			    "runtime=nodejs&handler=lib/util.$main");
	/* A name that says nothing: the controller infers the runtime. */
	assert_string_equal(deployed(file_in_dir("echo", ELF, 7, p), NULL, NULL, NULL, NULL), "");
	assert_string_equal(deployed(file_in_dir("py.", PY, strlen(PY), p), NULL, NULL, NULL, NULL),
			    "");
	assert_string_equal(deployed(file_in_dir(".py", PY, strlen(PY), p), NULL, NULL, NULL, NULL),
			    "");
	assert_string_equal(deployed(p, "--handler", "a.b", NULL, NULL), "handler=a.b");

	/* What deploy prints names the runtime. */
	struct ran r = run(&cmd_deploy, ARGV("deploy", "f", p));
	assert_int_equal(r.code, 0);
	assert_non_null(strstr(r.out, "deployed f version 3 (python3, 12 B, sha256"));
	json_decref(r.body);
}

static void test_refusals(void **state)
{
	char p[300];
	file_in_dir("h.py", PY, strlen(PY), p);
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--runtime", "ruby"),
		"--runtime must be python3, nodejs, binary or shell, got \"ruby\"");
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--runtime", "Python3"), "--runtime must be");
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--handler", "a..b"), "--handler: ");
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--handler", "1x"), "--handler: ");
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--runtime", "binary", "--handler", "main"),
		"--handler: ");
	file_in_dir("h.js", "", 0, p);
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--handler", "../up.main"), "--handler: ");
	refused(&cmd_deploy, ARGV("deploy", "f", p, "--handler", "/abs.main"), "--handler: ");
}

static void test_encrypted_names_runtime(void **state)
{
	char p[300], key[300];
	snprintf(key, sizeof(key), "%s/t.e2e-key", dir);
	const char *enc = "--encrypted", *kf = "--e2e-key";
	/* Refused first: nothing shows the runtime of these bytes. */
	const char *unknown[] = { "hello world\n", "PK\x03\x04 not a zip" };
	for (size_t i = 0; i < 2; i++) {
		file_in_dir("blob", unknown[i], strlen(unknown[i]), p);
		refused(&cmd_deploy, ARGV("deploy", "f", p, enc, kf, key),
			"cannot infer the runtime of");
		refused(&cmd_deploy, ARGV("deploy", "f", p, enc, kf, key),
			"name it with --runtime python3|nodejs|binary|shell");
	}
	assert_int_equal(access(key, F_OK), -1);

	assert_string_equal(deployed(file_in_dir("echo", ELF, 7, p), enc, kf, key, NULL),
			    "encrypted=true&runtime=binary");
	assert_string_equal(
		deployed(file_in_dir("run", SCRIPT, strlen(SCRIPT), p), enc, kf, key, NULL),
		"encrypted=true&runtime=shell");
	assert_string_equal(deployed(file_in_dir("h.py", PY, strlen(PY), p), enc, kf, key, NULL),
			    "runtime=python3&encrypted=true");
	uint8_t zip[512];
	size_t len = make_zip("__main__.py", PY, zip);
	assert_string_equal(deployed(file_in_dir("app", zip, len, p), enc, kf, key, NULL),
			    "encrypted=true&runtime=python3");
	len = make_zip("index.js", "exports.main = a => a;\n", zip);
	assert_string_equal(deployed(file_in_dir("app", zip, len, p), enc, kf, key, NULL),
			    "encrypted=true&runtime=nodejs");
	/* Named, the flag is what is sent, whatever the bytes. */
	file_in_dir("blob", "hello\n", 6, p);
	assert_string_equal(deployed(p, enc, kf, key, "--runtime=nodejs"),
			    "runtime=nodejs&encrypted=true");
	/* The body is sealed: not the file's bytes. */
	struct ran r = run(&cmd_deploy, ARGV("deploy", "f", p, enc, kf, key, "--runtime", "shell"));
	assert_int_equal(r.code, 0);
	assert_true(r.body_len > 6);
	json_decref(r.body);
}

/* Prints a label/value block (fill on o) into a string (the caller frees). */
static char *block_text(cli_block_fn *fill, const json_t *o)
{
	struct table t;
	table_init(&t, 2);
	fill(&t, o);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(table_print(&t, f), 0);
	fclose(f);
	table_free(&t);
	return text;
}

static void test_show_runtime_handler(void **state)
{
	json_t *fn = json_pack("{s:s, s:i, s:s, s:s}", "name", "f", "version", 2, "runtime",
			       "nodejs", "handler", "lib/util.main");
	char *text = block_text(function_block, fn);
	assert_non_null(strstr(text, "Runtime:       nodejs\n"));
	assert_non_null(strstr(text, "Handler:       lib/util.main\n"));
	free(text);
	struct table t;
	table_init(&t, 3);
	function_row(&t, fn);
	assert_true(t.ncells >= 3);
	assert_string_equal(t.cells[2], "nodejs");
	table_free(&t);
	/* binary and shell have no handler (null); an old controller no runtime. */
	json_object_set_new(fn, "handler", json_null());
	json_object_del(fn, "runtime");
	text = block_text(function_block, fn);
	assert_non_null(strstr(text, "Runtime:       -\n"));
	assert_non_null(strstr(text, "Handler:       -\n"));
	free(text);
	json_decref(fn);
}

static void test_invocation_exception(void **state)
{
	json_t *rec = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "id", "abc", "status", "error",
		"error", "code", "function_error", "message", "the function failed: KeyError: 'x'",
		"exception", "type", "KeyError", "message", "'x'", "traceback",
		"Traceback (most recent call last):\n  File \"f.py\", line 2, in main\n"
		"KeyError: 'x'\n");
	char *text = block_text(invocation_block, rec);
	assert_non_null(strstr(text, "Exception:    KeyError: 'x'\n"));
	assert_non_null(strstr(text, "Traceback:    Traceback (most recent call last):\n"
				     "                File \"f.py\", line 2, in main\n"
				     "              KeyError: 'x'\n"));
	free(text);
	/* No exception, no rows; a type alone stands alone. */
	json_t *ex = json_pack("{s:s}", "type", "Error");
	json_object_set_new(rec, "exception", ex);
	text = block_text(invocation_block, rec);
	assert_non_null(strstr(text, "Exception:    Error\n"));
	assert_null(strstr(text, "Traceback:"));
	free(text);
	json_object_del(rec, "exception");
	text = block_text(invocation_block, rec);
	assert_null(strstr(text, "Exception:"));
	free(text);
	json_decref(rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_from_name),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_encrypted_names_runtime),
		cmocka_unit_test(test_show_runtime_handler),
		cmocka_unit_test(test_invocation_exception),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
