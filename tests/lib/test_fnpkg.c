/* Runtimes, handlers, inference, and the zip reader on crafted, real and
 * hostile archives. */
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

#include "fnpkg.h"

/* ---- a zip writer for the tests: stored, empty entries ---- */

struct zipbuf {
	uint8_t b[64 * 1024];
	size_t n;
	size_t cd_off, eocd_off;
};

static void put16(struct zipbuf *z, unsigned v)
{
	z->b[z->n++] = (uint8_t)v;
	z->b[z->n++] = (uint8_t)(v >> 8);
}

static void put32(struct zipbuf *z, uint32_t v)
{
	put16(z, v & 0xffff);
	put16(z, v >> 16);
}

static void putn(struct zipbuf *z, const void *p, size_t n)
{
	memcpy(z->b + z->n, p, n);
	z->n += n;
}

/* Builds an archive of the NULL-terminated names. */
static void zip_make(struct zipbuf *z, const char *const *names)
{
	size_t offs[64], k = 0;
	z->n = 0;
	for (const char *const *p = names; *p; p++, k++) {
		offs[k] = z->n;
		put32(z, 0x04034b50);
		put16(z, 20), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
		put32(z, 0), put32(z, 0), put32(z, 0);
		put16(z, (unsigned)strlen(*p)), put16(z, 0);
		putn(z, *p, strlen(*p));
	}
	z->cd_off = z->n;
	k = 0;
	for (const char *const *p = names; *p; p++, k++) {
		put32(z, 0x02014b50);
		put16(z, 20), put16(z, 20), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
		put32(z, 0), put32(z, 0), put32(z, 0);
		put16(z, (unsigned)strlen(*p)), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
		put32(z, 0), put32(z, (uint32_t)offs[k]);
		putn(z, *p, strlen(*p));
	}
	z->eocd_off = z->n;
	put32(z, 0x06054b50);
	put16(z, 0), put16(z, 0), put16(z, (unsigned)k), put16(z, (unsigned)k);
	put32(z, (uint32_t)(z->eocd_off - z->cd_off)), put32(z, (uint32_t)z->cd_off);
	put16(z, 0);
}

static void set16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void set32(uint8_t *p, uint32_t v)
{
	set16(p, v & 0xffff);
	set16(p + 2, v >> 16);
}

/* Locates and indexes the first n bytes of buf as a whole file. */
static int zip_read(const uint8_t *buf, size_t n, struct fnpkg_zip *ret, char *why, size_t ws)
{
	struct fnpkg_zip_loc loc;
	size_t tail = n < FNPKG_ZIP_TAIL_MAX ? n : FNPKG_ZIP_TAIL_MAX;
	int r = fnpkg_zip_locate(buf + n - tail, tail, n, &loc, why, ws);
	if (r < 0)
		return r;
	return fnpkg_zip_index(buf + loc.cd_offset, loc.cd_size, &loc, ret, why, ws);
}

static int zip_read_all(struct zipbuf *z, struct fnpkg_zip *ret, char *why, size_t ws)
{
	return zip_read(z->b, z->n, ret, why, ws);
}

/* Checks an artifact, returning the resolved runtime's name or the refusal. */
static const char *check(struct zipbuf *z, const char *runtime, const char *handler, char out[256])
{
	struct fnpkg_zip zip;
	char why[200] = "";
	enum fn_runtime rt = FN_RUNTIME_UNKNOWN;
	if (runtime)
		assert_int_equal(fn_runtime_parse(runtime, &rt), 0);
	char h[FNPKG_HANDLER_SIZE];
	assert_int_equal(zip_read_all(z, &zip, why, sizeof(why)), 0);
	if (fnpkg_check_artifact(z->b, z->n, &zip, &rt, handler, h, why, sizeof(why)) < 0)
		snprintf(out, 256, "400 %s", why);
	else
		snprintf(out, 256, "%s %s", fn_runtime_name(rt), h);
	return out;
}

/* ---- tests ---- */

static void test_runtime_names(void **state)
{
	static const char *const names[] = { "binary", "shell", "python3", "nodejs" };
	for (int i = 0; i < 4; i++) {
		enum fn_runtime rt;
		assert_int_equal(fn_runtime_parse(names[i], &rt), 0);
		assert_string_equal(fn_runtime_name(rt), names[i]);
	}
	enum fn_runtime rt = FN_RUNTIME_SHELL;
	assert_int_equal(fn_runtime_parse("python", &rt), -EINVAL);
	assert_int_equal(fn_runtime_parse("Python3", &rt), -EINVAL);
	assert_int_equal(fn_runtime_parse("", &rt), -EINVAL);
	assert_int_equal(fn_runtime_parse(NULL, &rt), -EINVAL);
	assert_int_equal(rt, FN_RUNTIME_SHELL);
	assert_string_equal(fn_runtime_name(FN_RUNTIME_UNKNOWN), "unknown");
	assert_string_equal(fn_runtime_name((enum fn_runtime)99), "unknown");
	assert_true(fn_runtime_has_handler(FN_RUNTIME_PYTHON3));
	assert_false(fn_runtime_has_handler(FN_RUNTIME_SHELL));
}

static void test_handlers(void **state)
{
	char why[200];
	const enum fn_runtime py = FN_RUNTIME_PYTHON3, js = FN_RUNTIME_NODEJS;
	static const char *const py_ok[] = { "main", "mod.fn", "pkg.mod.fn", "_x.__main__", NULL };
	static const char *const py_bad[] = { "1a",  "a..b", ".a", "a.", "a-b",
					      "a/b", "a b",  "é",  NULL };
	static const char *const js_ok[] = { "main",         "$x",          "index.main",
					     "lib/util.run", "a-b_c/d.e.f", "index.js.main",
					     "./x.main",     NULL };
	static const char *const js_bad[] = { "/abs.main", "../up.main", "a//b.main", "a/.main",
					      "a/../b.fn", "x.1fn",      "a b.fn",    "x.",
					      ".fn",       NULL };
	for (const char *const *h = py_ok; *h; h++)
		assert_int_equal(fnpkg_check_handler(py, *h, why, sizeof(why)), 0);
	for (const char *const *h = py_bad; *h; h++) {
		why[0] = '\0';
		assert_int_equal(fnpkg_check_handler(py, *h, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "python3 handler"));
	}
	for (const char *const *h = js_ok; *h; h++)
		assert_int_equal(fnpkg_check_handler(js, *h, why, sizeof(why)), 0);
	for (const char *const *h = js_bad; *h; h++) {
		why[0] = '\0';
		assert_int_equal(fnpkg_check_handler(js, *h, why, sizeof(why)), -EINVAL);
		assert_non_null(strstr(why, "nodejs handler"));
	}
	/* None is always fine; binary and shell take none. */
	assert_int_equal(fnpkg_check_handler(FN_RUNTIME_BINARY, NULL, why, sizeof(why)), 0);
	assert_int_equal(fnpkg_check_handler(FN_RUNTIME_SHELL, "", NULL, 0), 0);
	assert_int_equal(fnpkg_check_handler(FN_RUNTIME_SHELL, "main", why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "runtime shell takes no handler: it runs the artifact");
	/* The length limit, exactly. */
	char h[FNPKG_HANDLER_MAX + 2];
	memset(h, 'a', FNPKG_HANDLER_MAX);
	h[FNPKG_HANDLER_MAX] = '\0';
	assert_int_equal(fnpkg_check_handler(py, h, NULL, 0), 0);
	h[FNPKG_HANDLER_MAX] = 'a';
	h[FNPKG_HANDLER_MAX + 1] = '\0';
	assert_int_equal(fnpkg_check_handler(js, h, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "handler is longer than 128 bytes");
}

static void test_infer_single_files(void **state)
{
	const uint8_t elf[] = "\177ELF\2\1\1", sh[] = "#!/bin/sh\necho",
		      py[] = "def main(a):", tiny[] = "#";
	char hd[FNPKG_HANDLER_SIZE], why[200];
	assert_int_equal(fnpkg_infer(elf, 7, NULL), FN_RUNTIME_BINARY);
	assert_int_equal(fnpkg_infer(sh, 5, NULL), FN_RUNTIME_SHELL);
	assert_int_equal(fnpkg_infer(py, 5, NULL), FN_RUNTIME_UNKNOWN);
	assert_int_equal(fnpkg_infer(tiny, 1, NULL), FN_RUNTIME_UNKNOWN);
	assert_int_equal(fnpkg_infer(elf, 0, NULL), FN_RUNTIME_UNKNOWN);

	enum fn_runtime rt = FN_RUNTIME_UNKNOWN;
	assert_int_equal(fnpkg_check_artifact(py, 12, NULL, &rt, NULL, hd, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "cannot infer the runtime: name it with "
				 "?runtime=python3|nodejs|binary|shell");
	assert_int_equal(fnpkg_check_artifact(sh, 14, NULL, &rt, NULL, hd, why, sizeof(why)), 0);
	assert_int_equal(rt, FN_RUNTIME_SHELL);
	assert_string_equal(hd, "");
	/* A single file's default handler is main; one given is kept. */
	rt = FN_RUNTIME_PYTHON3;
	assert_int_equal(fnpkg_check_artifact(py, 12, NULL, &rt, NULL, hd, why, sizeof(why)), 0);
	assert_string_equal(hd, "main");
	rt = FN_RUNTIME_NODEJS;
	assert_int_equal(fnpkg_check_artifact(sh, 14, NULL, &rt, "x.handle", hd, why, sizeof(why)),
			 0);
	assert_string_equal(hd, "x.handle");

	/* The bytes must suit a runtime named. */
	const struct {
		const char *runtime;
		const uint8_t *bytes;
		const char *why;
	} bad[] = {
		{ "binary", sh, "runtime binary needs an ELF executable" },
		{ "shell", py, "runtime shell needs a script starting with #!" },
		{ "python3", elf,
		  "runtime python3 was given an ELF executable: deploy it as binary" },
		{ "nodejs", elf,
		  "runtime nodejs was given an ELF executable: deploy it as binary" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fn_runtime_parse(bad[i].runtime, &rt), 0);
		assert_int_equal(fnpkg_check_artifact(bad[i].bytes, 5, NULL, &rt, NULL, hd, why,
						      sizeof(why)),
				 -EINVAL);
		assert_string_equal(why, bad[i].why);
	}
	rt = FN_RUNTIME_BINARY;
	assert_int_equal(fnpkg_check_artifact(elf, 7, NULL, &rt, "main", hd, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "runtime binary takes no handler: it runs the artifact");
}

static void test_zip_inference_and_targets(void **state)
{
	struct zipbuf z;
	char out[256];
	const char *py_main[] = { "__main__.py", "lib/", "lib/helper.py", NULL };
	zip_make(&z, py_main);
	assert_string_equal(check(&z, NULL, NULL, out), "python3 __main__.main");
	assert_string_equal(check(&z, NULL, "lib.helper.run", out), "python3 lib.helper.run");
	assert_string_equal(check(&z, "python3", "lib.nope.run", out),
			    "400 the zip holds no module lib.nope (lib/nope.py or "
			    "lib/nope/__init__.py) for handler lib.nope.run");
	assert_string_equal(check(&z, NULL, "main", out),
			    "400 a zip needs its handler as module.function, not \"main\"");
	const char *py_pkg[] = { "app/__init__.py", "app/views.py", NULL };
	zip_make(&z, py_pkg);
	assert_string_equal(check(&z, NULL, NULL, out),
			    "400 the zip has no __main__.py: name the handler as module.function");
	assert_string_equal(check(&z, NULL, "app.handle", out), "python3 app.handle");
	assert_string_equal(check(&z, NULL, "app.views.handle", out), "python3 app.views.handle");

	const char *js[] = { "index.js", "node_modules/left-pad/package.json",
			     "node_modules/left-pad/index.js", NULL };
	zip_make(&z, js);
	assert_string_equal(check(&z, NULL, NULL, out), "nodejs index.main");
	assert_string_equal(check(&z, NULL, "node_modules/left-pad.pad", out),
			    "nodejs node_modules/left-pad.pad");
	assert_string_equal(check(&z, "nodejs", "lib.run", out),
			    "400 the zip holds no lib.js, .mjs, .cjs, lib/index.js or "
			    "lib/package.json for handler lib.run");
	assert_string_equal(check(&z, "nodejs", "index.js.main", out), "nodejs index.js.main");
	const char *mjs[] = { "src/app.mjs", NULL };
	zip_make(&z, mjs);
	assert_string_equal(check(&z, NULL, NULL, out),
			    "400 the zip holds no index.js, .mjs, .cjs, index/index.js or "
			    "index/package.json for handler index.main");
	assert_string_equal(check(&z, NULL, "src/app.main", out), "nodejs src/app.main");

	const char *both[] = { "a.py", "b.js", NULL };
	zip_make(&z, both);
	assert_string_equal(check(&z, NULL, NULL, out),
			    "400 cannot infer the runtime: the zip holds both Python and Node.js "
			    "files; name it with ?runtime=python3|nodejs");
	assert_string_equal(check(&z, "python3", "a.main", out), "python3 a.main");
	const char *neither[] = { "README", NULL };
	zip_make(&z, neither);
	assert_string_equal(check(&z, NULL, NULL, out),
			    "400 cannot infer the runtime: the zip holds neither .py nor .js "
			    "files; name it with ?runtime=python3|nodejs");
	/* A zip is bytes a binary or shell runtime cannot run. */
	assert_string_equal(check(&z, "binary", NULL, out),
			    "400 runtime binary needs an ELF executable");
	/* package.json alone says Node.js; a name ending in it does not. */
	const char *pkg[] = { "package.json", "x.py", NULL };
	zip_make(&z, pkg);
	assert_string_equal(check(&z, NULL, "x.main", out),
			    "400 cannot infer the runtime: the zip holds both Python and Node.js "
			    "files; name it with ?runtime=python3|nodejs");
	const char *notpkg[] = { "mypackage.json", "x.py", NULL };
	zip_make(&z, notpkg);
	assert_string_equal(check(&z, NULL, "x.main", out), "python3 x.main");
}

/* Reads a zip whose bytes were tampered with; returns the refusal. */
static const char *refusal(const uint8_t *b, size_t n, char why[200])
{
	struct fnpkg_zip zip;
	why[0] = '\0';
	assert_int_equal(zip_read(b, n, &zip, why, 200), -EINVAL);
	return why;
}

static void test_zip_hostile(void **state)
{
	struct zipbuf z;
	char why[200];
	const char *names[] = { "a.py", "b.py", NULL };
	zip_make(&z, names);
	struct fnpkg_zip zip;
	assert_int_equal(zip_read_all(&z, &zip, why, sizeof(why)), 0);
	assert_int_equal(zip.entries, 2);
	assert_true(fnpkg_zip_has(&zip, "b.py"));
	assert_false(fnpkg_zip_has(&zip, "b.p"));
	assert_false(fnpkg_zip_has(&zip, "c.py"));

	/* Truncated anywhere: the end record is not where it must be. */
	for (size_t n = 0; n < z.n; n += 7)
		assert_non_null(strstr(refusal(z.b, n, why), "zip: "));
	assert_string_equal(refusal(z.b, z.n - 1, why),
			    "zip: no end-of-central-directory record (not a zip, or truncated)");

	/* Offsets and sizes past the end, counts beyond what fits. */
	struct zipbuf t = z;
	set32(t.b + t.eocd_off + 16, 0x7fff0000);
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: the central directory lies outside the file (bad offsets)");
	t = z;
	set32(t.b + t.eocd_off + 12, (uint32_t)(t.eocd_off - t.cd_off + 1));
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: the central directory lies outside the file (bad offsets)");
	t = z;
	set16(t.b + t.eocd_off + 8, 60000), set16(t.b + t.eocd_off + 10, 60000);
	assert_string_equal(refusal(t.b, t.n, why), "zip: 60000 entries, more than the limit of "
						    "20000");
	t = z;
	set16(t.b + t.eocd_off + 8, 3), set16(t.b + t.eocd_off + 10, 3);
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: 3 entries cannot fit in a central directory of 100 bytes");
	t = z;
	set16(t.b + t.eocd_off + 8, 1), set16(t.b + t.eocd_off + 10, 1);
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: the central directory holds more than its 1 entries");
	/* A name length running past the directory. */
	t = z;
	set16(t.b + t.cd_off + 46 + 4 + 28, 0xffff);
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: an entry runs past the central directory");
	/* A bad signature inside, a local header offset into the directory. */
	t = z;
	t.b[t.cd_off + 50] = 'X';
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: the central directory is malformed at byte 50");
	t = z;
	set32(t.b + t.cd_off + 42, (uint32_t)t.cd_off);
	assert_string_equal(refusal(t.b, t.n, why), "zip: entry \"a.py\" has a bad local header "
						    "offset");
	/* Zip64, in the end record, in an entry, or by its locator. */
	t = z;
	set16(t.b + t.eocd_off + 8, 0xffff), set16(t.b + t.eocd_off + 10, 0xffff);
	assert_string_equal(refusal(t.b, t.n, why), "zip: Zip64 archives are not supported");
	t = z;
	set32(t.b + t.cd_off + 24, 0xffffffffu);
	assert_string_equal(refusal(t.b, t.n, why), "zip: Zip64 archives are not supported");
	t = z;
	set32(t.b + t.eocd_off - 20, 0x07064b50);
	assert_string_equal(refusal(t.b, t.n, why), "zip: Zip64 archives are not supported");
	/* Several disks, encryption, a compression the launchers cannot read. */
	t = z;
	set16(t.b + t.eocd_off + 4, 1);
	assert_string_equal(refusal(t.b, t.n, why), "zip: multi-part archives are not supported");
	t = z;
	set16(t.b + t.cd_off + 8, 1);
	assert_string_equal(refusal(t.b, t.n, why), "zip: entry \"a.py\" is encrypted");
	t = z;
	set16(t.b + t.cd_off + 10, 14);
	assert_string_equal(refusal(t.b, t.n, why), "zip: entry \"a.py\" uses compression method "
						    "14 (only stored and deflate)");
	/* A comment that does not end at the end of the file. */
	t = z;
	set16(t.b + t.eocd_off + 20, 5);
	assert_string_equal(refusal(t.b, t.n, why),
			    "zip: no end-of-central-directory record (not a zip, or truncated)");
}

static void test_zip_unsafe_names(void **state)
{
	static const char *const bad[] = { "/etc/passwd", "../x.py", "a/../../x.py", "\\x.py",
					   "a\\..\\x.py" };
	char why[200], expect[200];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct zipbuf z;
		const char *names[] = { "ok.py", bad[i], NULL };
		zip_make(&z, names);
		snprintf(expect, sizeof(expect), "zip: entry \"%s\" has an unsafe name", bad[i]);
		assert_string_equal(refusal(z.b, z.n, why), expect);
	}
	/* Dots inside names are fine. */
	struct zipbuf z;
	const char *names[] = { "a..b.py", ".hidden/x.py", NULL };
	zip_make(&z, names);
	struct fnpkg_zip zip;
	assert_int_equal(zip_read_all(&z, &zip, why, sizeof(why)), 0);
}

static void test_zip_empty_and_comment(void **state)
{
	struct zipbuf z;
	const char *none[] = { NULL };
	zip_make(&z, none);
	assert_true(fnpkg_is_zip(z.b, z.n));
	struct fnpkg_zip zip;
	char why[200];
	assert_int_equal(zip_read_all(&z, &zip, why, sizeof(why)), 0);
	assert_int_equal(zip.entries, 0);
	assert_int_equal(fnpkg_zip_runtime(&zip), FN_RUNTIME_UNKNOWN);
	/* A comment holding a fake end record: the real one is found. */
	const char *names[] = { "x.js", NULL };
	zip_make(&z, names);
	uint8_t fake[22] = { 'P', 'K', 5, 6 };
	fake[20] = 5; /* its own comment would run past the end */
	set16(z.b + z.n - 2, sizeof(fake));
	memcpy(z.b + z.n, fake, sizeof(fake));
	z.n += sizeof(fake);
	assert_int_equal(zip_read_all(&z, &zip, why, sizeof(why)), 0);
	assert_int_equal(zip.entries, 1);
	assert_int_equal(fnpkg_zip_runtime(&zip), FN_RUNTIME_NODEJS);
	assert_false(fnpkg_is_zip((const uint8_t *)"PK\3", 3));
}

/* An archive Python's zipfile writes, deflated, with folders and a comment. */
static void test_zip_python_made(void **state)
{
	char dir[] = "/tmp/ditto-fnpkg-XXXXXX", cmd[512], path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f.zip", dir);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import zipfile,sys\n"
		 "with zipfile.ZipFile(sys.argv[1], \"w\", zipfile.ZIP_DEFLATED) as z:\n"
		 "  z.comment = b\"made by zipfile\"\n"
		 "  z.writestr(\"__main__.py\", \"def main(a): return a\\n\" * 50)\n"
		 "  z.writestr(\"pkg/\", \"\")\n"
		 "  z.writestr(\"pkg/mod.py\", \"x = 1\\n\")\n' %s",
		 path);
	if (system(cmd) != 0) {
		rmdir(dir);
		skip();
	}
	static uint8_t buf[1 << 16];
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	unlink(path);
	rmdir(dir);
	struct fnpkg_zip zip;
	char why[200], hd[FNPKG_HANDLER_SIZE];
	assert_int_equal(zip_read(buf, n, &zip, why, sizeof(why)), 0);
	assert_int_equal(zip.entries, 3);
	assert_true(fnpkg_zip_has(&zip, "pkg/mod.py"));
	enum fn_runtime rt = FN_RUNTIME_UNKNOWN;
	assert_int_equal(fnpkg_check_artifact(buf, n, &zip, &rt, NULL, hd, why, sizeof(why)), 0);
	assert_int_equal(rt, FN_RUNTIME_PYTHON3);
	assert_string_equal(hd, "__main__.main");
	assert_int_equal(fnpkg_check_artifact(buf, n, &zip, &rt, "pkg.mod.f", hd, why, sizeof(why)),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runtime_names),
		cmocka_unit_test(test_handlers),
		cmocka_unit_test(test_infer_single_files),
		cmocka_unit_test(test_zip_inference_and_targets),
		cmocka_unit_test(test_zip_hostile),
		cmocka_unit_test(test_zip_unsafe_names),
		cmocka_unit_test(test_zip_empty_and_comment),
		cmocka_unit_test(test_zip_python_made),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
