/* Reading the meta of a guest request (lib/wire.h): integer fields, and a
 * WIRE_INVOKE's options into an invocation, with the wire error each bad
 * field gets. */
#ifndef DITTO_GUEST_INVOKE_META_H
#define DITTO_GUEST_INVOKE_META_H

#include <stdbool.h>

#include <jansson.h>

#include "agent_api.h"
#include "cpuctl.h"
#include "runner.h"

#define INVOKE_DEFAULT_MAX_OUTPUT (1024 * 1024)
#define INVOKE_MAX_MAX_OUTPUT (16 * 1024 * 1024)

/* Why a request's meta was refused: the wire error to answer with. */
struct invoke_meta_err {
	enum agent_err code;
	char message[192];
};

/* Reads an integer field in [min, max]; def when absent and not required.
 * Returns 0 or -EINVAL. */
int meta_int(const json_t *m, const char *key, bool required, json_int_t def, json_int_t min,
	     json_int_t max, json_int_t *ret);

/* Reads a WIRE_INVOKE's "runtime", "handler" (checked: runtime.h),
 * "mode" (default persistent with a runtime, else process), "timeout_ms",
 * "max_output", "memory_mib", "cpu" (a present worker of cpus) and
 * "invocation" into inv, and "e2e" into *ret_e2e (true needs "invocation").
 * Returns 0, or -EINVAL with the error in *err. */
int invoke_meta_read(const json_t *m, const struct cpuctl *cpus, struct inv *inv, bool *ret_e2e,
		     struct invoke_meta_err *err);

/* Reads a request's "digest" (64 lowercase hex digits) into inv->digest.
 * Returns 0, or -EINVAL with the error in *err. */
int invoke_meta_digest(const json_t *m, struct inv *inv, struct invoke_meta_err *err);

/* Gives a plain (not end-to-end encrypted) invocation its input, a copy of
 * the len bytes at body. Returns 0, or -ENOMEM with the error in *err. */
int invoke_plain_input(struct inv *inv, const void *body, size_t len, struct invoke_meta_err *err);

/* Refuses a newline in a persistent executable's one line of input (a
 * launcher's input is made one line instead, runtime.h). Returns 0, or
 * -EINVAL with the error in *err. */
int invoke_input_check(const struct inv *inv, struct invoke_meta_err *err);

#endif
