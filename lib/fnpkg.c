#include "fnpkg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EOCD_SIG 0x06054b50u
#define EOCD_SIZE 22
#define Z64_LOCATOR_SIG 0x07064b50u
#define Z64_LOCATOR_SIZE 20
#define CENTRAL_SIG 0x02014b50u
#define CENTRAL_SIZE 46
#define LOCAL_SIZE 30

static const char *const runtime_names[] = {
	[FN_RUNTIME_BINARY] = "binary",
	[FN_RUNTIME_SHELL] = "shell",
	[FN_RUNTIME_PYTHON3] = "python3",
	[FN_RUNTIME_NODEJS] = "nodejs",
};

/* Sets why (when there is room) and returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t why_size, const char *fmt,
							...)
{
	if (why && why_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *fn_runtime_name(enum fn_runtime rt)
{
	if ((unsigned)rt >= sizeof(runtime_names) / sizeof(runtime_names[0]))
		return "unknown";
	return runtime_names[rt];
}

int fn_runtime_parse(const char *name, enum fn_runtime *ret_rt)
{
	for (size_t i = 0; name && i < sizeof(runtime_names) / sizeof(runtime_names[0]); i++)
		if (!strcmp(name, runtime_names[i])) {
			*ret_rt = (enum fn_runtime)i;
			return 0;
		}
	return -EINVAL;
}

bool fn_runtime_has_handler(enum fn_runtime rt)
{
	return rt == FN_RUNTIME_PYTHON3 || rt == FN_RUNTIME_NODEJS;
}

/* ---- handlers ------------------------------------------------------------ */

static bool is_alpha_(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [A-Za-z_][A-Za-z0-9_]* over s[0..n), with '$' too when dollar. */
static bool is_identifier(const char *s, size_t n, bool dollar)
{
	if (n == 0 || !(is_alpha_(s[0]) || (dollar && s[0] == '$')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_alpha_(s[i]) && !is_digit(s[i]) && !(dollar && s[i] == '$'))
			return false;
	return true;
}

static bool python_handler_ok(const char *h)
{
	for (const char *seg = h;;) {
		const char *dot = strchr(seg, '.');
		size_t n = dot ? (size_t)(dot - seg) : strlen(seg);
		if (!is_identifier(seg, n, false))
			return false;
		if (!dot)
			return true;
		seg = dot + 1;
	}
}

/* A relative path [A-Za-z0-9_./-]+ over s[0..n): no leading '/', no empty
 * or ".." segment. */
static bool node_file_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '/')
		return false;
	size_t seg = 0; /* where the current segment starts */
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '/') {
			if (i == seg || (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.'))
				return false;
			seg = i + 1;
		} else if (!is_alpha_(s[i]) && !is_digit(s[i]) && s[i] != '.' && s[i] != '-') {
			return false;
		}
	}
	return true;
}

static bool node_handler_ok(const char *h)
{
	const char *dot = strrchr(h, '.');
	if (!dot)
		return is_identifier(h, strlen(h), true);
	return node_file_ok(h, (size_t)(dot - h)) && is_identifier(dot + 1, strlen(dot + 1), true);
}

int fnpkg_check_handler(enum fn_runtime rt, const char *handler, char *why, size_t why_size)
{
	if (!handler || !handler[0])
		return 0;
	if (!fn_runtime_has_handler(rt))
		return refuse(why, why_size, "runtime %s takes no handler: it runs the artifact",
			      fn_runtime_name(rt));
	if (strlen(handler) > FNPKG_HANDLER_MAX)
		return refuse(why, why_size, "handler is longer than %d bytes", FNPKG_HANDLER_MAX);
	if (rt == FN_RUNTIME_PYTHON3 && !python_handler_ok(handler))
		return refuse(why, why_size,
			      "a python3 handler is module.function: dotted identifiers "
			      "[A-Za-z_][A-Za-z0-9_]*");
	if (rt == FN_RUNTIME_NODEJS && !node_handler_ok(handler))
		return refuse(why, why_size,
			      "a nodejs handler is function or file.function: file a relative "
			      "path [A-Za-z0-9_./-] without \"..\" or empty segments, function "
			      "[A-Za-z_$][A-Za-z0-9_$]*");
	return 0;
}

/* ---- zip archives -------------------------------------------------------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool fnpkg_is_zip(const uint8_t *head, size_t head_len)
{
	return head_len >= 4 && head[0] == 'P' && head[1] == 'K' &&
	       ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6));
}

/* The offset in tail of the end record: the last signature whose comment
 * ends exactly at the end of the file. -1 when there is none. */
static long eocd_find(const uint8_t *tail, size_t tail_len)
{
	if (tail_len < EOCD_SIZE)
		return -1;
	for (size_t i = tail_len - EOCD_SIZE + 1; i-- > 0;)
		if (le32(tail + i) == EOCD_SIG && i + EOCD_SIZE + le16(tail + i + 20) == tail_len)
			return (long)i;
	return -1;
}

int fnpkg_zip_locate(const uint8_t *tail, size_t tail_len, uint64_t file_size,
		     struct fnpkg_zip_loc *ret_loc, char *why, size_t why_size)
{
	if (tail_len > file_size)
		return refuse(why, why_size, "zip: the tail is longer than the file");
	long at = eocd_find(tail, tail_len);
	if (at < 0)
		return refuse(why, why_size,
			      "zip: no end-of-central-directory record (not a zip, or truncated)");
	const uint8_t *e = tail + at;
	uint64_t eocd_off = file_size - tail_len + (uint64_t)at;
	uint16_t disk = le16(e + 4), cd_disk = le16(e + 6), here = le16(e + 8),
		 total = le16(e + 10);
	uint32_t cd_size = le32(e + 12), cd_off = le32(e + 16);
	if (total == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu ||
	    (at >= Z64_LOCATOR_SIZE && le32(e - Z64_LOCATOR_SIZE) == Z64_LOCATOR_SIG))
		return refuse(why, why_size, "zip: Zip64 archives are not supported");
	if (disk != 0 || cd_disk != 0 || here != total)
		return refuse(why, why_size, "zip: multi-part archives are not supported");
	if (total > FNPKG_ZIP_ENTRIES_MAX)
		return refuse(why, why_size, "zip: %u entries, more than the limit of %d", total,
			      FNPKG_ZIP_ENTRIES_MAX);
	if (cd_size > FNPKG_ZIP_CD_MAX)
		return refuse(why, why_size,
			      "zip: a central directory of %u bytes, more than the limit of %u",
			      cd_size, FNPKG_ZIP_CD_MAX);
	if ((uint64_t)cd_off + cd_size > eocd_off)
		return refuse(why, why_size,
			      "zip: the central directory lies outside the file (bad offsets)");
	if ((uint64_t)total * CENTRAL_SIZE > cd_size)
		return refuse(why, why_size,
			      "zip: %u entries cannot fit in a central directory of %u bytes",
			      total, cd_size);
	*ret_loc =
		(struct fnpkg_zip_loc){ .cd_offset = cd_off, .cd_size = cd_size, .entries = total };
	return 0;
}

static bool ends_with(const uint8_t *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

static bool name_is_safe(const uint8_t *s, size_t n)
{
	if (n == 0 || s[0] == '/' || s[0] == '\\' || memchr(s, '\0', n))
		return false;
	size_t seg = 0;
	for (size_t i = 0; i <= n; i++)
		if (i == n || s[i] == '/' || s[i] == '\\') {
			if (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.')
				return false;
			seg = i + 1;
		}
	return true;
}

/* Notes what kind of file an entry's name is. */
static void note_kind(struct fnpkg_zip *z, const uint8_t *name, size_t n)
{
	if (ends_with(name, n, ".py"))
		z->has_py = true;
	if (ends_with(name, n, ".js") || ends_with(name, n, ".mjs") || ends_with(name, n, ".cjs") ||
	    (ends_with(name, n, "package.json") && (n == 12 || name[n - 13] == '/')))
		z->has_js = true;
	if (n == 11 && !memcmp(name, "__main__.py", 11))
		z->has_main_py = true;
}

/* Checks the central header at cd[off..) and returns its full length
 * (0 after refusing). */
static size_t entry_check(const uint8_t *cd, size_t cd_len, size_t off,
			  const struct fnpkg_zip_loc *loc, char *why, size_t why_size)
{
	if (cd_len - off < CENTRAL_SIZE || le32(cd + off) != CENTRAL_SIG) {
		refuse(why, why_size, "zip: the central directory is malformed at byte %zu", off);
		return 0;
	}
	const uint8_t *h = cd + off;
	size_t len = CENTRAL_SIZE + (size_t)le16(h + 28) + le16(h + 30) + le16(h + 32);
	const uint8_t *name = h + CENTRAL_SIZE;
	size_t name_len = le16(h + 28);
	if (len > cd_len - off) {
		refuse(why, why_size, "zip: an entry runs past the central directory");
		return 0;
	}
	int nl = name_len > 200 ? 200 : (int)name_len;
	uint16_t method = le16(h + 10);
	if (!name_is_safe(name, name_len))
		refuse(why, why_size, "zip: entry \"%.*s\" has an unsafe name", nl, name);
	else if (le16(h + 8) & 1)
		refuse(why, why_size, "zip: entry \"%.*s\" is encrypted", nl, name);
	else if (le32(h + 20) == 0xffffffffu || le32(h + 24) == 0xffffffffu ||
		 le32(h + 42) == 0xffffffffu || le16(h + 34) == 0xffff)
		refuse(why, why_size, "zip: Zip64 archives are not supported");
	else if (method != 0 && method != 8)
		refuse(why, why_size,
		       "zip: entry \"%.*s\" uses compression method %u (only stored and deflate)",
		       nl, name, method);
	else if (le16(h + 34) != 0 || (uint64_t)le32(h + 42) + LOCAL_SIZE > loc->cd_offset)
		refuse(why, why_size, "zip: entry \"%.*s\" has a bad local header offset", nl,
		       name);
	else
		return len;
	return 0;
}

int fnpkg_zip_index(const uint8_t *cd, size_t cd_len, const struct fnpkg_zip_loc *loc,
		    struct fnpkg_zip *ret_zip, char *why, size_t why_size)
{
	if (cd_len != loc->cd_size)
		return refuse(why, why_size, "zip: the central directory is truncated");
	struct fnpkg_zip z = { .cd = cd, .cd_len = cd_len, .entries = loc->entries };
	size_t off = 0;
	for (uint32_t i = 0; i < loc->entries; i++) {
		size_t len = entry_check(cd, cd_len, off, loc, why, why_size);
		if (!len)
			return -EINVAL;
		note_kind(&z, cd + off + CENTRAL_SIZE, le16(cd + off + 28));
		off += len;
	}
	if (off != cd_len)
		return refuse(why, why_size,
			      "zip: the central directory holds more than its %u entries",
			      loc->entries);
	*ret_zip = z;
	return 0;
}

bool fnpkg_zip_has(const struct fnpkg_zip *zip, const char *name)
{
	size_t n = strlen(name), off = 0;
	for (uint32_t i = 0; i < zip->entries; i++) {
		const uint8_t *h = zip->cd + off;
		size_t name_len = le16(h + 28);
		if (name_len == n && !memcmp(h + CENTRAL_SIZE, name, n))
			return true;
		off += CENTRAL_SIZE + name_len + le16(h + 30) + le16(h + 32);
	}
	return false;
}

enum fn_runtime fnpkg_zip_runtime(const struct fnpkg_zip *zip)
{
	if (zip->has_py && !zip->has_js)
		return FN_RUNTIME_PYTHON3;
	if (zip->has_js && !zip->has_py)
		return FN_RUNTIME_NODEJS;
	return FN_RUNTIME_UNKNOWN;
}

static bool is_elf(const uint8_t *head, size_t n)
{
	return n >= 4 && !memcmp(head, "\177ELF", 4);
}

static bool is_script(const uint8_t *head, size_t n)
{
	return n >= 2 && head[0] == '#' && head[1] == '!';
}

enum fn_runtime fnpkg_infer(const uint8_t *head, size_t head_len, const struct fnpkg_zip *zip)
{
	if (is_elf(head, head_len))
		return FN_RUNTIME_BINARY;
	if (is_script(head, head_len))
		return FN_RUNTIME_SHELL;
	if (zip && fnpkg_is_zip(head, head_len))
		return fnpkg_zip_runtime(zip);
	return FN_RUNTIME_UNKNOWN;
}

/* Whether the zip holds prefix + one of the suffixes. */
static bool zip_has_any(const struct fnpkg_zip *zip, const char *prefix, size_t prefix_len,
			const char *const *suffixes)
{
	char name[FNPKG_HANDLER_SIZE + 32];
	for (const char *const *s = suffixes; *s; s++) {
		int n = snprintf(name, sizeof(name), "%.*s%s", (int)prefix_len, prefix, *s);
		if (n > 0 && (size_t)n < sizeof(name) && fnpkg_zip_has(zip, name))
			return true;
	}
	return false;
}

/* Checks that a zip holds the handler's module (python3) or file (nodejs). */
static int zip_check_target(const struct fnpkg_zip *zip, enum fn_runtime rt, const char *handler,
			    char *why, size_t why_size)
{
	static const char *const py[] = { ".py", "/__init__.py", NULL };
	static const char *const js[] = { "",          ".js",           ".mjs", ".cjs",
					  "/index.js", "/package.json", NULL };
	const char *dot = strrchr(handler, '.');
	if (!dot)
		return refuse(why, why_size, "a zip needs its handler as %s.function, not \"%s\"",
			      rt == FN_RUNTIME_PYTHON3 ? "module" : "file", handler);
	size_t n = (size_t)(dot - handler);
	if (rt == FN_RUNTIME_NODEJS) {
		if (zip_has_any(zip, handler, n, js))
			return 0;
		return refuse(why, why_size,
			      "the zip holds no %.*s.js, .mjs, .cjs, %.*s/index.js or "
			      "%.*s/package.json for handler %s",
			      (int)n, handler, (int)n, handler, (int)n, handler, handler);
	}
	char path[FNPKG_HANDLER_SIZE];
	memcpy(path, handler, n);
	path[n] = '\0';
	for (char *p = path; *p; p++)
		if (*p == '.')
			*p = '/';
	if (zip_has_any(zip, path, n, py))
		return 0;
	return refuse(why, why_size,
		      "the zip holds no module %.*s (%s.py or %s/__init__.py) for "
		      "handler %s",
		      (int)n, handler, path, path, handler);
}

/* The handler to run when none is given; "" when there is none. */
static const char *default_handler(enum fn_runtime rt, const struct fnpkg_zip *zip)
{
	if (!fn_runtime_has_handler(rt))
		return "";
	if (!zip)
		return "main";
	if (rt == FN_RUNTIME_NODEJS)
		return "index.main";
	return zip->has_main_py ? "__main__.main" : "";
}

/* Checks that the bytes suit the runtime. */
static int bytes_check(const uint8_t *head, size_t head_len, enum fn_runtime rt, char *why,
		       size_t why_size)
{
	if (rt == FN_RUNTIME_BINARY && !is_elf(head, head_len))
		return refuse(why, why_size, "runtime binary needs an ELF executable");
	if (rt == FN_RUNTIME_SHELL && !is_script(head, head_len))
		return refuse(why, why_size, "runtime shell needs a script starting with #!");
	if (fn_runtime_has_handler(rt) && is_elf(head, head_len))
		return refuse(why, why_size,
			      "runtime %s was given an ELF executable: deploy it as binary",
			      fn_runtime_name(rt));
	return 0;
}

int fnpkg_check_artifact(const uint8_t *head, size_t head_len, const struct fnpkg_zip *zip,
			 enum fn_runtime *rt, const char *handler,
			 char ret_handler[FNPKG_HANDLER_SIZE], char *why, size_t why_size)
{
	if (!fnpkg_is_zip(head, head_len))
		zip = NULL;
	enum fn_runtime r = *rt;
	if (r == FN_RUNTIME_UNKNOWN)
		r = fnpkg_infer(head, head_len, zip);
	if (r == FN_RUNTIME_UNKNOWN)
		return refuse(why, why_size,
			      zip ? "cannot infer the runtime: the zip holds %s; name it with "
				    "?runtime=python3|nodejs"
				  : "cannot infer the runtime%s: name it with "
				    "?runtime=python3|nodejs|binary|shell",
			      zip ? (zip->has_py ? "both Python and Node.js files"
						 : "neither .py nor .js files")
				  : "");
	if ((unsigned)r >= FN_RUNTIME_UNKNOWN)
		return refuse(why, why_size, "unknown runtime");
	*rt = r;
	int e = fnpkg_check_handler(r, handler, why, why_size);
	if (e == 0)
		e = bytes_check(head, head_len, r, why, why_size);
	if (e < 0)
		return e;
	const char *h = handler && handler[0] ? handler : default_handler(r, zip);
	if (zip && fn_runtime_has_handler(r)) {
		if (!h[0])
			return refuse(why, why_size,
				      "the zip has no __main__.py: name the handler as "
				      "module.function");
		if (zip_check_target(zip, r, h, why, why_size) < 0)
			return -EINVAL;
	}
	snprintf(ret_handler, FNPKG_HANDLER_SIZE, "%s", h);
	return 0;
}
