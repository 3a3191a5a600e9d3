/* A function's package: its runtime (how the guest runs it), its handler
 * (what the launcher loads) and what its artifact's bytes say of both.
 *
 * Pure: no I/O and no allocation. The caller reads the bytes: the head of
 * the artifact for inference, and for a zip archive its tail (where the
 * end-of-central-directory record is) and then its central directory, which
 * the zip functions check against a hostile file and index in place.
 * Every refusal comes with one line of text (why) fit for an API's 400
 * message; why may be NULL when the caller does not want it. */
#ifndef DITTO_FNPKG_H
#define DITTO_FNPKG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fn_runtime {
	FN_RUNTIME_BINARY, /* an ELF executable, run directly */
	FN_RUNTIME_SHELL,  /* a script with a #! line, run directly */
	FN_RUNTIME_PYTHON3,
	FN_RUNTIME_NODEJS,
	FN_RUNTIME_UNKNOWN, /* not named: to be inferred, or not inferable */
};

/* A handler is 1..FNPKG_HANDLER_MAX bytes. */
#define FNPKG_HANDLER_MAX 128
#define FNPKG_HANDLER_SIZE (FNPKG_HANDLER_MAX + 1)
/* The longest runtime name with its NUL ("python3"). */
#define FNPKG_RUNTIME_SIZE 8
/* How many bytes of the head inference looks at. */
#define FNPKG_HEAD_SIZE 4
/* The most a zip's end-of-central-directory record and its comment take at
 * the end of the file, with room for the Zip64 locator before them: read
 * min(size, FNPKG_ZIP_TAIL_MAX) bytes of the tail for fnpkg_zip_locate. */
#define FNPKG_ZIP_TAIL_MAX (20 + 22 + 65535)
/* The most entries and central-directory bytes a function's zip may have. */
#define FNPKG_ZIP_ENTRIES_MAX 20000
#define FNPKG_ZIP_CD_MAX (8u << 20)

/* The runtime's name ("binary", "shell", "python3", "nodejs"); "unknown" for
 * FN_RUNTIME_UNKNOWN or a value out of range. */
const char *fn_runtime_name(enum fn_runtime rt);
/* Parses a runtime name (exactly one of the four). Returns 0 or -EINVAL. */
int fn_runtime_parse(const char *name, enum fn_runtime *ret_rt);
/* Whether the runtime runs through a launcher that loads a handler
 * (python3, nodejs). */
bool fn_runtime_has_handler(enum fn_runtime rt);

/* Checks a handler's syntax for a runtime: NULL or "" (none: the default)
 * is fine for every runtime; otherwise only python3 and nodejs take one,
 * 1..FNPKG_HANDLER_MAX bytes:
 *   python3: dotted identifiers, [A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*
 *   nodejs:  function or file.function; file [A-Za-z0-9_./-]+ with no ".."
 *            or empty segment and no leading "/", function [A-Za-z_$][A-Za-z0-9_$]*.
 * Returns 0, or -EINVAL with why. */
int fnpkg_check_handler(enum fn_runtime rt, const char *handler, char *why, size_t why_size);

/* Where a zip's central directory is, from its end-of-central-directory
 * record. */
struct fnpkg_zip_loc {
	uint64_t cd_offset; /* from the start of the file */
	uint32_t cd_size;
	uint32_t entries;
};

/* A zip's central directory, checked entry by entry and indexed in place. */
struct fnpkg_zip {
	const uint8_t *cd; /* borrowed: the central directory's bytes */
	size_t cd_len;
	uint32_t entries;
	bool has_py;      /* a .py entry */
	bool has_js;      /* a .js, .mjs or .cjs entry, or a package.json */
	bool has_main_py; /* __main__.py at the top */
};

/* Whether the head of an artifact starts as a zip archive does (a local
 * file header, or the end record of an empty archive). */
bool fnpkg_is_zip(const uint8_t *head, size_t head_len);

/* Finds the end-of-central-directory record in tail, the last tail_len
 * bytes of a file of file_size bytes, and checks where it puts the central
 * directory: inside the file, before the record, at most
 * FNPKG_ZIP_ENTRIES_MAX entries and FNPKG_ZIP_CD_MAX bytes, one disk, and
 * not Zip64 (refused with that reason). Returns 0 with ret_loc, or -EINVAL
 * with why. */
int fnpkg_zip_locate(const uint8_t *tail, size_t tail_len, uint64_t file_size,
		     struct fnpkg_zip_loc *ret_loc, char *why, size_t why_size);

/* Checks the central directory loc names (cd: its loc->cd_size bytes) entry
 * by entry: every header inside it and as many as loc says, names of
 * 1..65535 bytes without NUL, "..", a leading "/" or "\", local headers
 * before the directory, no encryption, no Zip64 fields, compression stored
 * or deflate (what the launchers read). Returns 0 with ret_zip borrowing cd,
 * or -EINVAL with why. */
int fnpkg_zip_index(const uint8_t *cd, size_t cd_len, const struct fnpkg_zip_loc *loc,
		    struct fnpkg_zip *ret_zip, char *why, size_t why_size);

/* Whether the zip has an entry named exactly name. */
bool fnpkg_zip_has(const struct fnpkg_zip *zip, const char *name);

/* The runtime a zip's entries say: python3 when it has .py entries and no
 * Node.js ones, nodejs for the reverse, else FN_RUNTIME_UNKNOWN. */
enum fn_runtime fnpkg_zip_runtime(const struct fnpkg_zip *zip);

/* Infers the runtime from an artifact's head (its first head_len bytes,
 * FNPKG_HEAD_SIZE are enough) and, for a zip, its index: ELF -> binary,
 * "#!" -> shell, a zip -> fnpkg_zip_runtime, else FN_RUNTIME_UNKNOWN. */
enum fn_runtime fnpkg_infer(const uint8_t *head, size_t head_len, const struct fnpkg_zip *zip);

/* Checks an artifact against its runtime and handler and resolves both:
 * *rt FN_RUNTIME_UNKNOWN is inferred (fnpkg_infer); the handler (NULL or
 * "": the default) must suit the runtime (fnpkg_check_handler) and the
 * bytes: binary needs ELF, shell a "#!" line, python3 and nodejs anything
 * but ELF; a zip (zip: its index, NULL when the head is not a zip's) must
 * hold the handler's module or file, and without a handler its default
 * target (python3: __main__.main when it has __main__.py, nodejs:
 * index.main). Returns 0 with *rt resolved and ret_handler the handler to
 * run ("" for binary and shell, else the default filled in), or -EINVAL
 * with why; *rt is the inferred runtime from the moment it is known, even
 * when a later check refuses (so the caller can tell a handler that does
 * not suit it from bytes that do not). */
int fnpkg_check_artifact(const uint8_t *head, size_t head_len, const struct fnpkg_zip *zip,
			 enum fn_runtime *rt, const char *handler,
			 char ret_handler[FNPKG_HANDLER_SIZE], char *why, size_t why_size);

#endif
