/* The Python and Node.js launchers (runtimes/) on the host's interpreters:
 * one JSON line in, {"result": ...} or {"error": {type, message, traceback}}
 * out, the handler's own output in the log, every load failure answered per
 * line. The guest runs the same files on the same protocol. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/files.h"
#include "util.h"

static char scratch[256];

struct run {
	json_t *replies; /* one parsed line each */
	char *log;
};

static void put(const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", scratch, name);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	char cmd[640];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	assert_int_equal(system(cmd), 0);
	*slash = '/';
	assert_int_equal(file_replace_text(path, text, 0644, false), 0);
}

/* Runs INTERP runtimes/LAUNCHER SOURCE [HANDLER] in the scratch folder with
 * input on stdin; every stdout line must be JSON. */
static void launch(struct run *r, const char *interp, const char *launcher, const char *source,
		   const char *handler, const char *input)
{
	char cwd[512], cmd[2048];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	put("in.txt", input);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && TMPDIR=. %s '%s/runtimes/%s' '%s' %s < in.txt > out.txt 2> log.txt",
		 scratch, interp, cwd, launcher, source, handler ? handler : "");
	assert_int_equal(system(cmd), 0);
	char path[512];
	void *out = NULL, *log = NULL;
	size_t n, m;
	snprintf(path, sizeof(path), "%s/out.txt", scratch);
	assert_int_equal(file_read_all(path, &out, &n), 0);
	snprintf(path, sizeof(path), "%s/log.txt", scratch);
	assert_int_equal(file_read_all(path, &log, &m), 0);
	r->replies = json_array();
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_t *j = json_loads(line, 0, NULL);
		if (!j)
			fail_msg("not a JSON line: %s", line);
		json_array_append_new(r->replies, j);
	}
	free(out);
	r->log = log;
}

static void run_free(struct run *r)
{
	json_decref(r->replies);
	free(r->log);
}

static const char *error_type(const struct run *r, size_t i)
{
	json_t *e = json_object_get(json_array_get(r->replies, i), "error");
	return json_string_value(json_object_get(e, "type"));
}

static const char *error_field(const struct run *r, size_t i, const char *key)
{
	json_t *e = json_object_get(json_array_get(r->replies, i), "error");
	return json_string_value(json_object_get(e, key));
}

/* The reply line i, compact, as the launcher wrote it. */
static char *reply_text(const struct run *r, size_t i)
{
	return json_dumps(json_array_get(r->replies, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
}

/* Launches with one line of input and checks the one reply line. */
static void expect_reply(const char *interp, const char *launcher, const char *source,
			 const char *handler, const char *input, const char *want)
{
	struct run r;
	launch(&r, interp, launcher, source, handler, input);
	assert_int_equal(json_array_size(r.replies), 1);
	char *s = reply_text(&r, 0);
	assert_string_equal(s, want);
	free(s);
	run_free(&r);
}

/* Zips files of the scratch folder (relative to dir) into the scratch file
 * zip, deflated unless stored; extra is more Python run on z. */
static void make_zip(const char *zip, const char *dir, const char *files, bool stored,
		     const char *extra)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/%s' && python3 -c \"import zipfile;"
		 "z=zipfile.ZipFile('%s/%s','w',zipfile.%s);[z.write(p) for p in (%s)];%s\"",
		 scratch, dir, scratch, zip, stored ? "ZIP_STORED" : "ZIP_DEFLATED", files, extra);
	assert_int_equal(system(cmd), 0);
}

static bool have(const char *interp)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", interp);
	return system(cmd) == 0;
}

static int setup(void **state)
{
	return scratch_dir(scratch, sizeof(scratch), "launchers");
}

static int teardown(void **state)
{
	return remove_tree(scratch);
}

static void test_python_calls(void **state)
{
	put("hello.py", "def main(args):\n    print('to the log')\n    return {'echo': args}\n");
	struct run r;
	launch(&r, "python3", "python/launcher.py", "hello.py", NULL, "{\"a\":1}\n[1,2]\n");
	assert_int_equal(json_array_size(r.replies), 2);
	char *s = json_dumps(json_array_get(r.replies, 0), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"result\":{\"echo\":{\"a\":1}}}");
	free(s);
	s = json_dumps(json_array_get(r.replies, 1), JSON_COMPACT);
	assert_string_equal(s, "{\"result\":{\"echo\":[1,2]}}");
	free(s);
	assert_non_null(strstr(r.log, "to the log"));
	run_free(&r);
}

static void test_python_failures(void **state)
{
	put("raises.py", "def main(args):\n    raise ValueError('bad input')\n");
	put("syntax.py", "def main(:\n");
	put("unserializable.py", "def main(args):\n    return {1, 2}\n");
	struct run r;
	launch(&r, "python3", "python/launcher.py", "raises.py", NULL, "{}\nnot json\n");
	assert_string_equal(error_type(&r, 0), "ValueError");
	assert_string_equal(error_field(&r, 0, "message"), "bad input");
	/* The traceback starts at the handler, not in the launcher. */
	assert_non_null(strstr(error_field(&r, 0, "traceback"), "raises.py\", line 2"));
	assert_null(strstr(error_field(&r, 0, "traceback"), "launcher.py"));
	assert_string_equal(error_type(&r, 1), "JSONDecodeError");
	run_free(&r);
	launch(&r, "python3", "python/launcher.py", "syntax.py", NULL, "{}\n{}\n");
	assert_int_equal(json_array_size(r.replies), 2); /* each call gets the reason */
	assert_string_equal(error_type(&r, 0), "SyntaxError");
	assert_string_equal(error_type(&r, 1), "SyntaxError");
	run_free(&r);
	launch(&r, "python3", "python/launcher.py", "raises.py", "other", "{}\n");
	assert_string_equal(error_type(&r, 0), "AttributeError");
	assert_non_null(strstr(error_field(&r, 0, "message"), "other"));
	run_free(&r);
	launch(&r, "python3", "python/launcher.py", "unserializable.py", NULL, "{}\n");
	assert_string_equal(error_type(&r, 0), "TypeError");
	run_free(&r);
}

/* A folder of modules (what a zip unpacks to), the handler named
 * module.function; a zip archive directly. */
static void test_python_modules(void **state)
{
	put("pkg/mylib/__init__.py", "def shout(s):\n    return s.upper()\n");
	put("pkg/app.py", "import mylib\ndef handle(args):\n    return mylib.shout(args['s'])\n");
	struct run r;
	launch(&r, "python3", "python/launcher.py", "pkg", "app.handle", "{\"s\":\"abc\"}\n");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(r.replies, 0), "result")), "ABC");
	run_free(&r);
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s/pkg' && python3 -c \"import zipfile;"
		 "z=zipfile.ZipFile('../f.zip','w');[z.write(p) for p in ('app.py',"
		 "'mylib/__init__.py')]\"",
		 scratch);
	assert_int_equal(system(cmd), 0);
	launch(&r, "python3", "python/launcher.py", "f.zip", "app.handle", "{\"s\":\"z\"}\n");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(r.replies, 0), "result")), "Z");
	run_free(&r);
	launch(&r, "python3", "python/launcher.py", "f.zip", "missing.handle", "{}\n");
	assert_string_equal(error_type(&r, 0), "ModuleNotFoundError");
	run_free(&r);
	launch(&r, "python3", "python/launcher.py", "f.zip", "handle", "{}\n");
	assert_string_equal(error_type(&r, 0), "ImportError"); /* needs module.function */
	run_free(&r);
}

/* What the guest hands a launcher: files named by digest, with no
 * extension; and the exact reply line, compact; an empty line is {}. */
static void test_python_digest_names(void **state)
{
	put("a1b2", "def main(args):\n    return {'got': args, 'n': [1, 2]}\n");
	expect_reply("python3", "python/launcher.py", "a1b2", "main", "\n",
		     "{\"result\":{\"got\":{},\"n\":[1,2]}}");
	struct run r;
	/* A zip with __main__.py: "main" is __main__.main, and its script part
	 * does not run. */
	put("z/__main__.py", "import helper\ndef main(args):\n    return helper.twice(args['x'])\n"
			     "if __name__ == '__main__':\n    print('script part')\n");
	put("z/helper.py", "def twice(x):\n    return 2 * x\n");
	make_zip("c3d4", "z", "'__main__.py','helper.py'", false, "");
	launch(&r, "python3", "python/launcher.py", "c3d4", "main", "{\"x\":21}\n");
	assert_int_equal(
		json_integer_value(json_object_get(json_array_get(r.replies, 0), "result")), 42);
	assert_null(strstr(r.log, "script part"));
	run_free(&r);
	/* The handler the controller fills in names the archive's __main__.py,
	 * not the launcher's own module. */
	expect_reply("python3", "python/launcher.py", "c3d4", "__main__.main", "{\"x\":4}\n",
		     "{\"result\":8}");
	expect_reply("python3", "python/launcher.py", "c3d4", "helper.twice", "3\n",
		     "{\"result\":6}");
	put("nan", "def main(args):\n    return float('nan')\n");
	launch(&r, "python3", "python/launcher.py", "nan", "main", "{}\n");
	assert_string_equal(error_type(&r, 0), "ValueError"); /* NaN is not JSON */
	run_free(&r);
}

static void test_node_digest_names(void **state)
{
	if (!have("node"))
		skip();
	put("e5f6", "exports.main = (a) => ({ cjs: a });\n");
	put("a7b8", "import os from 'os';\nexport async function main(a) {"
		    " return { esm: typeof os.cpus, a }; }\n");
	put("n/index.js", "const lib = require('./lib/x');\nexports.main = () => lib.v;\n");
	put("n/lib/x.js", "exports.v = 'deflated';\n");
	put("n/other.mjs", "export const main = (a) => a.s + '!';\n");
	expect_reply("node", "nodejs/launcher.js", "e5f6", "main", "\n",
		     "{\"result\":{\"cjs\":{}}}");
	expect_reply("node", "nodejs/launcher.js", "a7b8", "main", "{\"q\":1}\n",
		     "{\"result\":{\"esm\":\"function\",\"a\":{\"q\":1}}}");
	/* Zips named by digest, deflated and stored; "main" is index.main. */
	make_zip("c9d0", "n", "'index.js','lib/x.js','other.mjs'", false, "");
	make_zip("e1f2", "n", "'index.js','lib/x.js','other.mjs'", true, "");
	expect_reply("node", "nodejs/launcher.js", "c9d0", "main", "{}\n",
		     "{\"result\":\"deflated\"}");
	expect_reply("node", "nodejs/launcher.js", "e1f2", "other.main", "{\"s\":\"x\"}\n",
		     "{\"result\":\"x!\"}");
	struct run r;
	/* An entry that would land outside the folder fails the load. */
	make_zip("a3b4", "n", "'index.js',", false, "z.writestr('../evil.js','x')");
	launch(&r, "node", "nodejs/launcher.js", "a3b4", "main", "{}\n");
	assert_non_null(strstr(error_field(&r, 0, "message"), "../evil.js"));
	run_free(&r);
}

static void test_node(void **state)
{
	if (!have("node"))
		skip(); /* deploy/deps.sh installs it; say so rather than pass */
	put("hello.js", "exports.main = async (args) => { console.log('to the log');"
			" process.stdout.write('also the log\\n'); return { echo: args }; };\n");
	put("throws.mjs", "export function main(a) { throw new TypeError('nope'); }\n");
	put("syntax.js", "exports.main = (\n");
	put("nothing.js", "exports.main = () => undefined;\n");
	put("mod/node_modules/leftpad/index.js", "module.exports = (s) => '  ' + s;\n");
	put("mod/index.js", "const lp = require('leftpad');\n"
			    "exports.main = (a) => ({ pad: lp(a.s) });\n");
	struct run r;
	launch(&r, "node", "nodejs/launcher.js", "hello.js", NULL, "{\"a\":1}\n[1]\n");
	assert_int_equal(json_array_size(r.replies), 2);
	char *s = json_dumps(json_array_get(r.replies, 0), JSON_COMPACT);
	assert_string_equal(s, "{\"result\":{\"echo\":{\"a\":1}}}");
	free(s);
	assert_non_null(strstr(r.log, "to the log"));
	assert_non_null(strstr(r.log, "also the log"));
	run_free(&r);
	launch(&r, "node", "nodejs/launcher.js", "throws.mjs", NULL, "{}\n");
	assert_string_equal(error_type(&r, 0), "TypeError");
	assert_string_equal(error_field(&r, 0, "message"), "nope");
	assert_non_null(strstr(error_field(&r, 0, "traceback"), "throws.mjs"));
	run_free(&r);
	launch(&r, "node", "nodejs/launcher.js", "syntax.js", NULL, "{}\n{}\n");
	assert_int_equal(json_array_size(r.replies), 2);
	assert_string_equal(error_type(&r, 1), "SyntaxError");
	run_free(&r);
	launch(&r, "node", "nodejs/launcher.js", "hello.js", "absent", "{}\n");
	assert_string_equal(error_type(&r, 0), "TypeError");
	assert_non_null(strstr(error_field(&r, 0, "message"), "absent"));
	run_free(&r);
	launch(&r, "node", "nodejs/launcher.js", "nothing.js", NULL, "{}\n");
	assert_true(json_is_null(json_object_get(json_array_get(r.replies, 0), "result")));
	run_free(&r);
	launch(&r, "node", "nodejs/launcher.js", "mod", "index.main", "{\"s\":\"x\"}\n");
	s = json_dumps(json_array_get(r.replies, 0), JSON_COMPACT);
	assert_string_equal(s, "{\"result\":{\"pad\":\"  x\"}}");
	free(s);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_calls),
		cmocka_unit_test(test_python_failures),
		cmocka_unit_test(test_python_modules),
		cmocka_unit_test(test_node),
		cmocka_unit_test(test_python_digest_names),
		cmocka_unit_test(test_node_digest_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
