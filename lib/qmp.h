/* QMP (QEMU Machine Protocol) codec: a pure parser and command builder.
 *
 * QMP is a stream of JSON objects, one per line ("\r\n" terminated by QEMU).
 * The first is the greeting {"QMP":{...}}; after "qmp_capabilities" the
 * stream interleaves command replies ({"return":..,"id":..} or
 * {"error":{"class","desc"},"id":..}) with asynchronous events
 * ({"event":..,"data":..,"timestamp":{seconds,microseconds}}).
 *
 * No I/O here: host-agent/qmp_client.c feeds bytes in and sends what
 * qmp_command_build() produces. */
#ifndef DITTO_QMP_H
#define DITTO_QMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define QMP_MAX_LINE (1024u * 1024u)

enum qmp_msg_kind {
	QMP_MSG_GREETING = 1,
	QMP_MSG_RETURN,
	QMP_MSG_ERROR,
	QMP_MSG_EVENT,
};

/* One parsed QMP message. Owns a reference to root; free with qmp_msg_clear(). */
struct qmp_msg {
	enum qmp_msg_kind kind;
	json_t *root; /* the whole object */
	uint64_t id;  /* RETURN/ERROR: our numeric command id; 0 if absent */
	bool has_id;
	json_t *value;         /* RETURN: "return"; EVENT: "data" (may be NULL); GREETING: "QMP" */
	const char *event;     /* EVENT: its name */
	const char *err_class; /* ERROR: error.class */
	const char *err_desc;  /* ERROR: error.desc */
	int64_t ts_sec, ts_usec; /* EVENT: timestamp */
};

/* Line splitter: accumulates bytes and yields complete lines. Memory stays
 * bounded by the complete lines not yet taken out plus about QMP_MAX_LINE:
 * the middle of an over-long line is discarded as it arrives. */
struct qmp_reader {
	struct buf buf;
	size_t off;     /* bytes at the front already taken out as lines */
	size_t partial; /* where the unterminated last line starts */
	bool overflow;  /* a line exceeded QMP_MAX_LINE; it is being discarded */
};

void qmp_reader_init(struct qmp_reader *r);
/* Frees the buffer; the reader may be initialised again. Accepts a reader
 * that was only zeroed. */
void qmp_reader_free(struct qmp_reader *r);
/* Returns 0 or -ENOMEM. */
int qmp_reader_feed(struct qmp_reader *r, const void *data, size_t len);
/* Takes the next line out (without its "\n" or "\r\n") into a malloc'd
 * NUL-terminated string. Returns 1 with *ret set, 0 when no complete line is
 * buffered, -EMSGSIZE once for a line over QMP_MAX_LINE (it is dropped, in
 * its place among the lines around it), or -ENOMEM (the line stays). */
int qmp_reader_next_line(struct qmp_reader *r, char **ret);

/* Parses one line. Returns 0 and fills *ret, or -EBADMSG when the line is not
 * a JSON object of one of the four kinds. An empty (or all-blank) line
 * returns -ENODATA. *ret is untouched on failure.
 * The kinds are told apart by their key, in this order: "QMP", "return",
 * "error" (needs error.class and error.desc strings), "event" (a string).
 * has_id is set only on replies with a non-negative integer "id", the only
 * kind this project sends; any other id is treated as absent. */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *ret);
/* Drops the reference to root and zeroes m. Accepts a zeroed m. */
void qmp_msg_clear(struct qmp_msg *m);

/* Builds "{"execute":cmd,"arguments":args,"id":id}\r\n" into a malloc'd
 * string (compact JSON, keys in that order, "arguments" left out when args is
 * NULL). args may be NULL; it is not stolen. Returns 0, -EINVAL when cmd is
 * not UTF-8 or args is not an object, or -ENOMEM. */
int qmp_command_build(const char *cmd, const json_t *args, uint64_t id, char **ret,
		      size_t *ret_len);

/* Helpers over parsed replies (pure functions over jansson values). */

/* One entry of query-hotpluggable-cpus. */
struct qmp_hotpluggable_cpu {
	char type[64];
	int64_t socket_id, core_id, thread_id; /* -1 when absent */
	bool plugged;                          /* has a qom-path */
	char qom_path[128];
};
/* Parses the "return" array of query-hotpluggable-cpus. Returns the number of
 * entries written to out (at most n; later entries are ignored), or -EBADMSG
 * when ret is not such an array or a type or qom-path does not fit (out may
 * then be partly written). */
int qmp_parse_hotpluggable_cpus(const json_t *ret, struct qmp_hotpluggable_cpu *out, size_t n);

/* One entry of query-cpus-fast. */
struct qmp_cpu_info {
	int64_t cpu_index;
	int64_t thread_id; /* the vCPU's host thread id */
	int64_t core_id;   /* props.core-id, -1 when absent */
	char qom_path[128];
};
/* Parses the "return" array of query-cpus-fast. Returns the count written (at
 * most n), or -EBADMSG as qmp_parse_hotpluggable_cpus() does. */
int qmp_parse_cpus_fast(const json_t *ret, struct qmp_cpu_info *out, size_t n);

#endif
