#include "invoke_meta.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "wire.h"

static int refuse(struct invoke_meta_err *err, enum agent_err code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct invoke_meta_err *err, enum agent_err code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	err->code = code;
	return -EINVAL;
}

int meta_int(const json_t *m, const char *key, bool required, json_int_t def, json_int_t min,
	     json_int_t max, json_int_t *ret)
{
	const json_t *v = json_object_get(m, key);
	if (!v) {
		if (required)
			return -EINVAL;
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return -EINVAL;
	*ret = json_integer_value(v);
	return 0;
}

/* "e2e" and "invocation". */
static int read_e2e(const json_t *m, struct inv *inv, bool *ret_e2e, struct invoke_meta_err *err)
{
	const json_t *e = json_object_get(m, "e2e"), *v = json_object_get(m, "invocation");
	const char *s = json_string_value(v);
	if ((e && !json_is_boolean(e)) ||
	    (v && (!s || !*s || strlen(s) != json_string_length(v) || strlen(s) > INV_ID_MAX)))
		return refuse(
			err, AGENT_E_BAD_REQUEST,
			"\"e2e\" must be a boolean and \"invocation\" a string of 1..%d bytes",
			INV_ID_MAX);
	*ret_e2e = json_is_true(e);
	if (*ret_e2e && !s)
		return refuse(err, AGENT_E_BAD_REQUEST,
			      "an \"e2e\" invocation needs \"invocation\"");
	snprintf(inv->invocation, sizeof(inv->invocation), "%s", s ? s : "");
	return 0;
}

/* "runtime" (absent: binary, the artifact runs itself) and "handler". */
static int read_runtime(const json_t *m, struct inv *inv, struct invoke_meta_err *err)
{
	const json_t *rt = json_object_get(m, "runtime"), *h = json_object_get(m, "handler");
	if (rt && fn_runtime_parse(json_string_value(rt), &inv->runtime) < 0)
		return refuse(
			err, AGENT_E_BAD_REQUEST,
			"\"runtime\" must be \"python3\", \"nodejs\", \"binary\" or \"shell\"");
	/* The launcher's default: "main", a zip's own default target. */
	if (!h && fn_runtime_has_handler(inv->runtime))
		snprintf(inv->handler, sizeof(inv->handler), "main");
	if (!h)
		return 0;
	const char *s = json_string_value(h);
	char why[160];
	if (!s || !*s || strlen(s) != json_string_length(h))
		return refuse(err, AGENT_E_BAD_REQUEST, "\"handler\" must be a non-empty string");
	if (fnpkg_check_handler(inv->runtime, s, why, sizeof(why)) < 0)
		return refuse(err, AGENT_E_BAD_REQUEST, "\"handler\": %s", why);
	snprintf(inv->handler, sizeof(inv->handler), "%s", s);
	return 0;
}

int invoke_meta_read(const json_t *m, const struct cpuctl *cpus, struct inv *inv, bool *ret_e2e,
		     struct invoke_meta_err *err)
{
	if (read_runtime(m, inv, err) < 0)
		return -EINVAL;
	/* A runtime's launcher is long-lived unless asked otherwise. */
	const json_t *mode_v = json_object_get(m, "mode");
	const char *mode = mode_v                                  ? json_string_value(mode_v)
			   : !fn_runtime_has_handler(inv->runtime) ? "process"
								   : "persistent";
	if (mode && strcmp(mode, "process") == 0)
		inv->mode = INV_PROCESS;
	else if (mode && strcmp(mode, "persistent") == 0)
		inv->mode = INV_PERSISTENT;
	else
		return refuse(err, AGENT_E_BAD_REQUEST,
			      "\"mode\" must be \"process\" or \"persistent\"");
	json_int_t timeout_ms, max_output, memory_mib, want_cpu;
	if (meta_int(m, "timeout_ms", false, INVOKE_TIMEOUT_DEFAULT_MS, 0, UINT32_MAX,
		     &timeout_ms) < 0 ||
	    meta_int(m, "max_output", false, INVOKE_DEFAULT_MAX_OUTPUT, 0, INVOKE_MAX_MAX_OUTPUT,
		     &max_output) < 0)
		return refuse(err, AGENT_E_BAD_REQUEST,
			      "\"timeout_ms\" and \"max_output\" must be integers in range");
	if (meta_int(m, "memory_mib", false, 0, 1, WIRE_MAX_MEMORY_MIB, &memory_mib) < 0)
		return refuse(err, AGENT_E_BAD_REQUEST,
			      "\"memory_mib\" must be an integer in 1..%d", WIRE_MAX_MEMORY_MIB);
	if (meta_int(m, "cpu", false, 0, 1, cpus->ncpus - 1, &want_cpu) < 0)
		return refuse(err, AGENT_E_NO_SUCH_CPU, "\"cpu\" must name a worker CPU, 1..%d",
			      cpus->ncpus - 1);
	if (want_cpu > 0 && !cpuctl_is_worker(cpus, (int)want_cpu))
		return refuse(err, AGENT_E_NO_SUCH_CPU, "cpu %d is not present", (int)want_cpu);
	inv->timeout_ms = (uint32_t)timeout_ms;
	inv->max_output = (size_t)max_output;
	inv->want_cpu = (int)want_cpu;
	inv->memory_mib = (uint32_t)memory_mib;
	return read_e2e(m, inv, ret_e2e, err);
}

int invoke_meta_digest(const json_t *m, struct inv *inv, struct invoke_meta_err *err)
{
	const char *digest = json_string_value(json_object_get(m, "digest"));
	if (!digest || !artifact_digest_is_valid(digest))
		return refuse(err, AGENT_E_BAD_REQUEST,
			      "\"digest\" must be 64 lowercase hex digits");
	memcpy(inv->digest, digest, sizeof(inv->digest));
	return 0;
}

int invoke_input_check(const struct inv *inv, struct invoke_meta_err *err)
{
	if (inv->mode == INV_PERSISTENT && !fn_runtime_has_handler(inv->runtime) &&
	    inv->input_len && memchr(inv->input, '\n', inv->input_len))
		return refuse(err, AGENT_E_BAD_INPUT,
			      "persistent mode takes one line of input: it must not contain a "
			      "newline");
	return 0;
}

int invoke_plain_input(struct inv *inv, const void *body, size_t len, struct invoke_meta_err *err)
{
	inv->input = len ? malloc(len) : NULL;
	if (len && !inv->input) {
		refuse(err, AGENT_E_IO_ERROR, "out of memory");
		return -ENOMEM;
	}
	if (len)
		memcpy(inv->input, body, len);
	inv->input_len = len;
	return 0;
}
