#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESULT_PREFIX "{\"result\":"
#define ERROR_PREFIX "{\"error\":"

/* The interpreter (looked up on PATH) and the launcher (under the launchers
 * folder) of a runtime with a handler. */
static int runtime_files(enum fn_runtime rt, const char **ret_interp, const char **ret_launcher)
{
	switch (rt) {
	case FN_RUNTIME_PYTHON3:
		*ret_interp = "python3";
		*ret_launcher = "python/launcher.py";
		return 0;
	case FN_RUNTIME_NODEJS:
		*ret_interp = "node";
		*ret_launcher = "nodejs/launcher.js";
		return 0;
	default: return -EINVAL;
	}
}

/* Finds the executable file name in the ':'-separated folders of list. */
static int path_find(const char *list, const char *name, char *out, size_t size)
{
	for (const char *p = list; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		struct stat st;
		if (n > 0 && snprintf(out, size, "%.*s/%s", (int)n, p, name) < (int)size &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		p = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

int runtime_command(enum fn_runtime rt, const char *launchers, const char *path_list,
		    const char *artifact, const char *handler, uint32_t memory_mib,
		    struct runtime_cmd *ret)
{
	const char *interp, *launcher;
	if (runtime_files(rt, &interp, &launcher) < 0)
		return -EINVAL;
	if (path_find(path_list, interp, ret->interp, sizeof(ret->interp)) < 0)
		return -ENOENT;
	struct stat st;
	if (snprintf(ret->launcher, sizeof(ret->launcher), "%s/%s", launchers, launcher) >=
		    (int)sizeof(ret->launcher) ||
	    stat(ret->launcher, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	int i = 0;
	ret->argv[i++] = ret->interp;
	if (rt == FN_RUNTIME_NODEJS && memory_mib) {
		/* The old space is most of a V8 heap, not all of it: a quarter
		 * is left for code, stacks and buffers, so the heap limit
		 * (a catchable failure) comes before the memory cgroup's kill. */
		uint32_t heap = memory_mib - memory_mib / 4;
		snprintf(ret->heap, sizeof(ret->heap), "--max-old-space-size=%u",
			 heap < 8 ? 8 : heap);
		ret->argv[i++] = ret->heap;
	}
	ret->argv[i++] = ret->launcher;
	ret->argv[i++] = (char *)artifact;
	ret->argv[i++] = (char *)handler;
	ret->argv[i] = NULL;
	return 0;
}

void runtime_input_flatten(uint8_t *input, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (input[i] == '\n' || input[i] == '\r')
			input[i] = ' ';
}

/* How many bytes of s to keep so that they take at most max bytes as a
 * JSON string's contents (escapes counted), ending on a whole UTF-8
 * character. The reply meta must fit the wire's meta limit whatever the
 * function put in its exception. */
static size_t json_cut(const char *s, size_t max)
{
	size_t cost = 0, n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		cost += strchr("\"\\\n\r\t\b\f", c) ? 2 : c < 0x20 ? 6 : 1; /* \n, \u0001 */
		if (cost > max)
			break;
	}
	if (!s[n])
		return n;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static const char *field_str(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : def;
}

/* {"error": {...}}: the exception, its traceback cut. */
static int read_error(const uint8_t *line, size_t len, struct runtime_reply *ret)
{
	json_t *j = json_loadb((const char *)line, len, 0, NULL);
	const json_t *e = json_object_get(j, "error");
	if (!json_is_object(e)) {
		json_decref(j);
		return -EBADMSG;
	}
	const char *type = field_str(e, "type", "Error"), *msg = field_str(e, "message", "");
	const char *tb = field_str(e, "traceback", "");
	json_t *exc = json_pack("{s:s%, s:s%, s:s%}", "type", type,
				json_cut(type, RUNTIME_TYPE_MAX), "message", msg,
				json_cut(msg, RUNTIME_MESSAGE_MAX), "traceback", tb,
				json_cut(tb, RUNTIME_TRACEBACK_MAX));
	json_decref(j);
	if (!exc)
		return -ENOMEM;
	*ret = (struct runtime_reply){ .raised = true, .exception = exc };
	return 0;
}

int runtime_reply_read(const uint8_t *line, size_t len, bool truncated, struct runtime_reply *ret)
{
	size_t rp = strlen(RESULT_PREFIX), ep = strlen(ERROR_PREFIX);
	if (len > ep && memcmp(line, ERROR_PREFIX, ep) == 0)
		return read_error(line, len, ret);
	if (len <= rp || memcmp(line, RESULT_PREFIX, rp) != 0)
		return -EBADMSG;
	/* The value is passed on as the launcher wrote it, unparsed. */
	if (truncated) {
		*ret = (struct runtime_reply){ .value_off = rp, .value_len = len - rp };
		return 0;
	}
	if (len < rp + 2 || line[len - 1] != '}')
		return -EBADMSG;
	*ret = (struct runtime_reply){ .value_off = rp, .value_len = len - rp - 1 };
	return 0;
}

void runtime_exception_text(const json_t *exception, char *out, size_t size)
{
	const char *type = field_str(exception, "type", "Error");
	const char *msg = field_str(exception, "message", "");
	int n = snprintf(out, size, "%s%s%s", type, *msg ? ": " : "", msg);
	if (n < 0 || (size_t)n < size)
		return;
	/* Cut: drop a last UTF-8 sequence that lost its tail. */
	size_t len = strlen(out), lead = len;
	while (lead > 0 && ((unsigned char)out[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	unsigned char c = (unsigned char)out[lead - 1];
	size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (len - (lead - 1) < need)
		out[lead - 1] = '\0';
}
