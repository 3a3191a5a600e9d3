/* The QMP codec (lib/qmp): the line reader on arbitrary byte streams in
 * arbitrary chunkings, the message parser on every line, the reply helpers
 * on every "return", and the command builder on what the lines hold.
 *
 * Input: a chunking seed (4 bytes), then the stream. The reader must give
 * the same lines fed whole and fed in chunks, none holding a newline; a
 * parsed message must be one of the four kinds with the fields its kind
 * promises; a command built from a line's text must read back as itself. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "encoding.h"
#include "fuzz.h"
#include "qmp.h"

static void check_helpers(const json_t *ret)
{
	struct qmp_hotpluggable_cpu hp[3];
	int n = qmp_parse_hotpluggable_cpus(ret, hp, 3);
	FUZZ_CHECK(n == -EBADMSG || (n >= 0 && n <= 3));
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK(memchr(hp[i].type, '\0', sizeof(hp[i].type)) != NULL);
		FUZZ_CHECK(memchr(hp[i].qom_path, '\0', sizeof(hp[i].qom_path)) != NULL);
	}
	struct qmp_cpu_info ci[3];
	n = qmp_parse_cpus_fast(ret, ci, 3);
	FUZZ_CHECK(n == -EBADMSG || (n >= 0 && n <= 3));
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(memchr(ci[i].qom_path, '\0', sizeof(ci[i].qom_path)) != NULL);
}

/* The command builder on a name taken from the line: what it builds is one
 * line of JSON that reads back with the same name, arguments and id. */
static void check_build(const char *line, size_t len, const json_t *args, uint64_t id)
{
	char *out;
	size_t out_len;
	int r = qmp_command_build(line, args, id, &out, &out_len);
	bool text = utf8_is_valid((const uint8_t *)line, len);
	if (!text || (args && !json_is_object(args))) {
		FUZZ_CHECK(r == -EINVAL);
		return;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(out_len == strlen(out) && out_len >= 2);
	FUZZ_CHECK(out[out_len - 2] == '\r' && out[out_len - 1] == '\n');
	FUZZ_CHECK(memchr(out, '\n', out_len - 1) == NULL);
	json_t *o = json_loadb(out, out_len, 0, NULL);
	FUZZ_CHECK(json_is_object(o));
	const char *cmd = json_string_value(json_object_get(o, "execute"));
	FUZZ_CHECK(cmd && strcmp(cmd, line) == 0);
	FUZZ_CHECK((uint64_t)json_integer_value(json_object_get(o, "id")) == id);
	json_t *a = json_object_get(o, "arguments");
	FUZZ_CHECK(args ? json_equal(a, args) : a == NULL);
	json_decref(o);
	free(out);
}

static void check_line(const char *line, uint64_t *id)
{
	size_t len = strlen(line);
	struct qmp_msg m;
	memset(&m, 0, sizeof(m));
	int r = qmp_parse_line(line, len, &m);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENODATA);
	json_t *args = NULL;
	if (r == 0) {
		FUZZ_CHECK(json_is_object(m.root));
		switch (m.kind) {
		case QMP_MSG_GREETING: break;
		case QMP_MSG_RETURN:
			FUZZ_CHECK(m.value != NULL);
			check_helpers(m.value);
			break;
		case QMP_MSG_ERROR: FUZZ_CHECK(m.err_class && m.err_desc); break;
		case QMP_MSG_EVENT: FUZZ_CHECK(m.event != NULL); break;
		default: FUZZ_CHECK(!"unknown kind");
		}
		if (m.has_id)
			FUZZ_CHECK(m.kind == QMP_MSG_RETURN || m.kind == QMP_MSG_ERROR);
		else
			FUZZ_CHECK(m.id == 0);
		args = m.root;
	}
	check_build(line, len, args, (*id)++);
	qmp_msg_clear(&m);
	FUZZ_CHECK(m.root == NULL);
}

/* Reads every line of p[0..n) in chunks drawn from c (whole when NULL);
 * checks each when check, and returns a fingerprint of them. */
static uint64_t read_lines(const uint8_t *p, size_t n, struct fuzz_chunks *c, bool check)
{
	struct qmp_reader rd;
	uint64_t h = FUZZ_FNV_INIT, id = 0;
	qmp_reader_init(&rd);
	for (size_t off = 0; off < n;) {
		size_t k = c ? fuzz_chunk_next(c) : n - off;
		if (k > n - off)
			k = n - off;
		FUZZ_CHECK(qmp_reader_feed(&rd, p + off, k) == 0);
		off += k;
		char *line;
		int r;
		while ((r = qmp_reader_next_line(&rd, &line)) != 0) {
			h = fuzz_fnv(h, &r, sizeof(r));
			if (r != 1) {
				FUZZ_CHECK(r == -EMSGSIZE);
				continue;
			}
			FUZZ_CHECK(strchr(line, '\n') == NULL);
			h = fuzz_fnv(h, line, strlen(line) + 1);
			if (check)
				check_line(line, &id);
			free(line);
		}
	}
	qmp_reader_free(&rd);
	return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_chunks c = { .state = (uint32_t)fuzz_u16(&in) << 16 | fuzz_u16(&in) };
	c.max = 1 + c.state % 96;
	uint64_t whole = read_lines(in.p, in.n, NULL, true);
	FUZZ_CHECK(read_lines(in.p, in.n, &c, false) == whole);
	return 0;
}
