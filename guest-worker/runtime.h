/* The language runtimes a function may run on (python3, nodejs; their names
 * and handler syntax are lib/fnpkg's) besides an executable run directly
 * (binary, shell): each through its long-lived launcher (runtimes/), one
 * JSON line in and one out. This module builds a launcher's command line,
 * prepares the input line and reads the reply line. It is pure but for the
 * file checks of runtime_command(); it never logs. */
#ifndef DITTO_GUEST_RUNTIME_H
#define DITTO_GUEST_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fnpkg.h"

/* Where the runtime disk keeps the launchers (ditto-guest --launchers). */
#define RUNTIME_DEFAULT_LAUNCHERS "/opt/runtime/ditto"
/* The most an invocation's "exception" meta carries of each field, in bytes
 * of JSON (escapes counted): the reply meta stays well within WIRE_MAX_META. */
#define RUNTIME_TYPE_MAX 256
#define RUNTIME_MESSAGE_MAX (4 * 1024)
#define RUNTIME_TRACEBACK_MAX (16 * 1024)

/* A launcher's command line; argv points into the struct and into the
 * artifact and handler strings given to runtime_command(). */
struct runtime_cmd {
	char interp[PATH_MAX];
	char launcher[PATH_MAX];
	char heap[48]; /* nodejs: --max-old-space-size=MIB */
	char *argv[6];
};

/* Builds "INTERP [--max-old-space-size=N] LAUNCHERS/DIR/launcher.EXT
 * ARTIFACT HANDLER" for rt (python3 or nodejs), the interpreter ("python3",
 * "node") found as an executable file in path_list (PATH's form) and the
 * launcher in launchers. memory_mib (0: none) sets node's heap limit.
 * Returns 0, or -ENOENT when the interpreter or the launcher is missing
 * (the runtime is not installed). */
int runtime_command(enum fn_runtime rt, const char *launchers, const char *path_list,
		    const char *artifact, const char *handler, uint32_t memory_mib,
		    struct runtime_cmd *ret);

/* Makes input one line: each '\n' and '\r' becomes a space (valid JSON has
 * none inside its strings). */
void runtime_input_flatten(uint8_t *input, size_t len);

/* What a launcher's reply line says. */
struct runtime_reply {
	bool raised; /* {"error": ...}: the function raised */
	/* Not raised: the result VALUE's bytes within the line (unparsed). */
	size_t value_off, value_len;
	/* Raised: {"type","message","traceback"} (each cut to its
	 * RUNTIME_*_MAX); owned by the caller. */
	json_t *exception;
};

/* Reads a reply line (without its '\n'): {"result":VALUE} or
 * {"error":{...}}. truncated says the line was cut to the output cap: a
 * result is then the VALUE's bytes up to the cut. Returns 0, or -EBADMSG
 * when the line is neither (or an error reply does not parse), -ENOMEM. */
int runtime_reply_read(const uint8_t *line, size_t len, bool truncated, struct runtime_reply *ret);

/* Writes "TYPE: MESSAGE" of an exception (runtime_reply.exception) into
 * out, cut to fit. */
void runtime_exception_text(const json_t *exception, char *out, size_t size);

#endif
