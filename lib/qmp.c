#include "qmp.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A partial line keeps at most this many bytes before its "\n": one more than
 * the limit plus room for a "\r", so that a truncated line still measures over
 * QMP_MAX_LINE after the "\r" is stripped and next_line() can report it. */
#define KEEP_MAX ((size_t)QMP_MAX_LINE + 2)

void qmp_reader_init(struct qmp_reader *r)
{
	*r = (struct qmp_reader){ 0 };
}

void qmp_reader_free(struct qmp_reader *r)
{
	buf_free(&r->buf);
	*r = (struct qmp_reader){ 0 };
}

static int reader_append(struct qmp_reader *r, const char *p, size_t n)
{
	/* Drop what was already taken out before growing. */
	if (n > r->buf.cap - r->buf.len && r->off > 0) {
		buf_drop_front(&r->buf, r->off);
		r->partial -= r->off;
		r->off = 0;
	}
	return buf_append(&r->buf, p, n);
}

int qmp_reader_feed(struct qmp_reader *r, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		const char *nl = memchr(p, '\n', len);
		size_t seg = nl ? (size_t)(nl - p) + 1 : len;
		size_t body = nl ? seg - 1 : seg;
		int e = 0;
		if (r->overflow) {
			/* The middle of an over-long line: only its end matters. */
			if (nl) {
				e = reader_append(r, "\n", 1);
				r->overflow = false;
				r->partial = r->buf.len;
			}
		} else {
			size_t have = r->buf.len - r->partial;
			if (have + body > KEEP_MAX) {
				e = reader_append(r, p, KEEP_MAX - have);
				if (e == 0 && nl) {
					e = reader_append(r, "\n", 1);
					r->partial = r->buf.len;
				} else if (e == 0) {
					r->overflow = true;
				}
			} else {
				e = reader_append(r, p, seg);
				if (nl)
					r->partial = r->buf.len;
			}
		}
		if (e < 0)
			return e;
		p += seg;
		len -= seg;
	}
	return 0;
}

int qmp_reader_next_line(struct qmp_reader *r, char **ret)
{
	if (r->off == r->partial)
		return 0;
	/* Every byte before partial belongs to a terminated line. */
	char *start = (char *)r->buf.data + r->off;
	char *nl = memchr(start, '\n', r->partial - r->off);
	size_t used = (size_t)(nl - start) + 1;
	size_t n = used - 1;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	char *line = NULL;
	if (n <= QMP_MAX_LINE) {
		line = malloc(n + 1);
		if (!line)
			return -ENOMEM; /* the line stays; the caller may retry */
		memcpy(line, start, n);
		line[n] = '\0';
	}
	r->off += used;
	if (r->off == r->buf.len) {
		/* All taken: start over cheaply. */
		buf_reset(&r->buf);
		r->off = r->partial = 0;
	}
	if (!line)
		return -EMSGSIZE;
	*ret = line;
	return 1;
}

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

static int parse_error(json_t *root, struct qmp_msg *m)
{
	json_t *err = json_object_get(root, "error");
	const char *cls = json_string_value(json_object_get(err, "class"));
	const char *desc = json_string_value(json_object_get(err, "desc"));
	if (!json_is_object(err) || !cls || !desc)
		return -EBADMSG;
	m->kind = QMP_MSG_ERROR;
	m->err_class = cls;
	m->err_desc = desc;
	return 0;
}

static int parse_event(json_t *root, struct qmp_msg *m)
{
	const char *name = json_string_value(json_object_get(root, "event"));
	if (!name)
		return -EBADMSG;
	m->kind = QMP_MSG_EVENT;
	m->event = name;
	m->value = json_object_get(root, "data");
	json_t *ts = json_object_get(root, "timestamp");
	m->ts_sec = json_integer_value(json_object_get(ts, "seconds"));
	m->ts_usec = json_integer_value(json_object_get(ts, "microseconds"));
	return 0;
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *ret)
{
	if (is_blank(line, len))
		return -ENODATA;
	json_t *root = json_loadb(line, len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		return -EBADMSG;
	}
	struct qmp_msg m = { .root = root };
	int r = 0;
	json_t *v;
	if ((v = json_object_get(root, "QMP"))) {
		m.kind = QMP_MSG_GREETING;
		m.value = v;
	} else if ((v = json_object_get(root, "return"))) {
		m.kind = QMP_MSG_RETURN;
		m.value = v;
	} else if (json_object_get(root, "error")) {
		r = parse_error(root, &m);
	} else if (json_object_get(root, "event")) {
		r = parse_event(root, &m);
	} else {
		r = -EBADMSG;
	}
	if (r < 0) {
		json_decref(root);
		return r;
	}
	if (m.kind == QMP_MSG_RETURN || m.kind == QMP_MSG_ERROR) {
		json_t *id = json_object_get(root, "id");
		if (json_is_integer(id) && json_integer_value(id) >= 0) {
			m.id = (uint64_t)json_integer_value(id);
			m.has_id = true;
		}
	}
	*ret = m;
	return 0;
}

void qmp_msg_clear(struct qmp_msg *m)
{
	json_decref(m->root);
	*m = (struct qmp_msg){ 0 };
}

int qmp_command_build(const char *cmd, const json_t *args, uint64_t id, char **ret, size_t *ret_len)
{
	if (args && !json_is_object(args))
		return -EINVAL;
	/* The command name goes through jansson so that it is escaped exactly
	 * as any other JSON string. */
	json_t *name = json_string(cmd);
	if (!name)
		return -EINVAL;
	char *name_text = json_dumps(name, JSON_ENCODE_ANY | JSON_COMPACT);
	json_decref(name);
	char *args_text = args ? json_dumps(args, JSON_COMPACT) : NULL;
	char *out = NULL;
	int n = -1;
	if (name_text && (!args || args_text))
		n = asprintf(&out, "{\"execute\":%s%s%s,\"id\":%" PRIu64 "}\r\n", name_text,
			     args ? ",\"arguments\":" : "", args ? args_text : "", id);
	free(name_text);
	free(args_text);
	if (n < 0)
		return -ENOMEM;
	*ret = out;
	*ret_len = (size_t)n;
	return 0;
}

/* Reads an optional integer member; -1 when absent. */
static int64_t int_or_none(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Copies a string into a fixed field; fails rather than truncate, because a
 * cut type or QOM path would name something else. */
static int copy_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return -EBADMSG;
	memcpy(dst, src, n + 1);
	return 0;
}

/* How many elements of the array ret to read into n slots (at most INT_MAX),
 * or -EBADMSG when ret is not an array. */
static int array_count(const json_t *ret, size_t n)
{
	if (!json_is_array(ret))
		return -EBADMSG;
	size_t count = json_array_size(ret);
	if (count > n)
		count = n;
	return count > INT_MAX ? INT_MAX : (int)count;
}

int qmp_parse_hotpluggable_cpus(const json_t *ret, struct qmp_hotpluggable_cpu *out, size_t n)
{
	int count = array_count(ret, n);
	for (int i = 0; i < count; i++) {
		const json_t *e = json_array_get(ret, i);
		const json_t *props = json_object_get(e, "props");
		const char *type = json_string_value(json_object_get(e, "type"));
		const json_t *qom = json_object_get(e, "qom-path");
		if (!type || !json_is_object(props) || (qom && !json_is_string(qom)))
			return -EBADMSG;
		struct qmp_hotpluggable_cpu *c = &out[i];
		*c = (struct qmp_hotpluggable_cpu){
			.socket_id = int_or_none(props, "socket-id"),
			.core_id = int_or_none(props, "core-id"),
			.thread_id = int_or_none(props, "thread-id"),
			.plugged = qom != NULL,
		};
		if (copy_field(c->type, sizeof(c->type), type) < 0 ||
		    (qom &&
		     copy_field(c->qom_path, sizeof(c->qom_path), json_string_value(qom)) < 0))
			return -EBADMSG;
	}
	return count;
}

int qmp_parse_cpus_fast(const json_t *ret, struct qmp_cpu_info *out, size_t n)
{
	int count = array_count(ret, n);
	for (int i = 0; i < count; i++) {
		const json_t *e = json_array_get(ret, i);
		const json_t *index = json_object_get(e, "cpu-index");
		const json_t *tid = json_object_get(e, "thread-id");
		const char *qom = json_string_value(json_object_get(e, "qom-path"));
		if (!json_is_integer(index) || !json_is_integer(tid) || !qom)
			return -EBADMSG;
		struct qmp_cpu_info *c = &out[i];
		*c = (struct qmp_cpu_info){
			.cpu_index = json_integer_value(index),
			.thread_id = json_integer_value(tid),
			.core_id = int_or_none(json_object_get(e, "props"), "core-id"),
		};
		if (copy_field(c->qom_path, sizeof(c->qom_path), qom) < 0)
			return -EBADMSG;
	}
	return count;
}
