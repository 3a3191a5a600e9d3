/* A function's package (lib/fnpkg) on hostile artifacts: the zip locator,
 * the central directory's index, inference and the artifact check, in the
 * order the controller's package.c calls them, each reading only its own
 * exact-sized copy of the bytes (as read from a file), so any read past
 * them is caught.
 *
 * Input: a runtime selector byte, a handler length byte, the handler, then
 * the artifact. Checked: the directory the locator names lies within the
 * file and its limits; the index agrees with its own lookups; inference
 * follows the head's magic; an accepted artifact has a known runtime and a
 * handler that passes the handler check; every refusal says why. */
#include <errno.h>
#include <string.h>

#include "fnpkg.h"
#include "fuzz.h"

static void check_why(int r, const char *why)
{
	FUZZ_CHECK(memchr(why, '\0', 256) != NULL);
	if (r < 0)
		FUZZ_CHECK(r == -EINVAL && why[0] != '\0');
}

static void check_runtime_names(enum fn_runtime rt)
{
	enum fn_runtime back;
	const char *name = fn_runtime_name(rt);
	FUZZ_CHECK(name != NULL);
	if (rt == FN_RUNTIME_UNKNOWN) {
		FUZZ_CHECK(fn_runtime_parse(name, &back) == -EINVAL);
		return;
	}
	FUZZ_CHECK(fn_runtime_parse(name, &back) == 0 && back == rt);
	FUZZ_CHECK(strlen(name) < FNPKG_RUNTIME_SIZE);
}

/* Locates and indexes the zip in art[0..n); true with *zip filled. */
static bool index_zip(const uint8_t *art, size_t n, struct fnpkg_zip *zip, uint8_t **ret_cd)
{
	char why[256] = "";
	size_t tail_len = n < FNPKG_ZIP_TAIL_MAX ? n : FNPKG_ZIP_TAIL_MAX;
	uint8_t *tail = malloc(tail_len ? tail_len : 1);
	FUZZ_CHECK(tail);
	memcpy(tail, art + n - tail_len, tail_len);
	struct fnpkg_zip_loc loc;
	int r = fnpkg_zip_locate(tail, tail_len, n, &loc, why, sizeof(why));
	free(tail);
	check_why(r, why);
	if (r < 0)
		return false;
	/* Inside the file, before the end record (22 bytes at least). */
	FUZZ_CHECK(loc.cd_offset <= n && loc.cd_size <= n - loc.cd_offset);
	FUZZ_CHECK(loc.cd_offset + loc.cd_size + 22 <= n);
	FUZZ_CHECK(loc.entries <= FNPKG_ZIP_ENTRIES_MAX && loc.cd_size <= FNPKG_ZIP_CD_MAX);
	uint8_t *cd = malloc(loc.cd_size ? loc.cd_size : 1);
	FUZZ_CHECK(cd);
	memcpy(cd, art + loc.cd_offset, loc.cd_size);
	r = fnpkg_zip_index(cd, loc.cd_size, &loc, zip, why, sizeof(why));
	check_why(r, why);
	if (r < 0) {
		free(cd);
		return false;
	}
	FUZZ_CHECK(zip->cd == cd && zip->cd_len == loc.cd_size && zip->entries == loc.entries);
	FUZZ_CHECK(fnpkg_zip_has(zip, "__main__.py") == zip->has_main_py);
	FUZZ_CHECK(!zip->has_main_py || zip->has_py);
	enum fn_runtime zr = fnpkg_zip_runtime(zip);
	FUZZ_CHECK(zr == (zip->has_py && !zip->has_js   ? FN_RUNTIME_PYTHON3
			  : zip->has_js && !zip->has_py ? FN_RUNTIME_NODEJS
							: FN_RUNTIME_UNKNOWN));
	*ret_cd = cd;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	enum fn_runtime rt = (enum fn_runtime)(fuzz_byte(&in) % (FN_RUNTIME_UNKNOWN + 1));
	size_t hlen = fuzz_byte(&in) % (FNPKG_HANDLER_MAX + 16);
	if (hlen > in.n)
		hlen = in.n;
	char handler[FNPKG_HANDLER_MAX + 16];
	memcpy(handler, in.p, hlen);
	handler[hlen] = '\0';
	in.p += hlen;
	in.n -= hlen;
	const uint8_t *art = in.p;
	size_t n = in.n;

	check_runtime_names(rt);
	char why[256] = "";
	int r = fnpkg_check_handler(rt, handler, why, sizeof(why));
	check_why(r, why);
	if (r == 0 && handler[0])
		FUZZ_CHECK(fn_runtime_has_handler(rt) && strlen(handler) <= FNPKG_HANDLER_MAX);

	uint8_t head[FNPKG_HEAD_SIZE];
	size_t head_len = n < sizeof(head) ? n : sizeof(head);
	memcpy(head, art, head_len);
	struct fnpkg_zip zip;
	uint8_t *cd = NULL;
	bool indexed = fnpkg_is_zip(head, head_len) && index_zip(art, n, &zip, &cd);

	bool elf = head_len == 4 && memcmp(head, "\177ELF", 4) == 0;
	bool script = head_len >= 2 && memcmp(head, "#!", 2) == 0;
	enum fn_runtime inferred = fnpkg_infer(head, head_len, indexed ? &zip : NULL);
	FUZZ_CHECK((inferred == FN_RUNTIME_BINARY) == elf);
	FUZZ_CHECK((inferred == FN_RUNTIME_SHELL) == script);

	char resolved[FNPKG_HANDLER_SIZE];
	enum fn_runtime got = rt;
	r = fnpkg_check_artifact(head, head_len, indexed ? &zip : NULL, &got, handler, resolved,
				 why, sizeof(why));
	check_why(r, why);
	if (rt != FN_RUNTIME_UNKNOWN)
		FUZZ_CHECK(got == rt);
	if (r == 0) {
		FUZZ_CHECK(got != FN_RUNTIME_UNKNOWN);
		FUZZ_CHECK(memchr(resolved, '\0', sizeof(resolved)) != NULL);
		if (fn_runtime_has_handler(got))
			FUZZ_CHECK(resolved[0] &&
				   fnpkg_check_handler(got, resolved, why, sizeof(why)) == 0);
		else
			FUZZ_CHECK(resolved[0] == '\0');
		FUZZ_CHECK(got != FN_RUNTIME_BINARY || elf);
		FUZZ_CHECK(got != FN_RUNTIME_SHELL || script);
		FUZZ_CHECK(!fn_runtime_has_handler(got) || !elf);
	}
	free(cd);
	return 0;
}
