#include "fakes/fake_qmp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/fake_loop.h"

const char fake_qmp_greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 2, \"minor\": 0, \"major\": 10}, "
	"\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n";

static void reply_to(struct fake_qmp *q, json_t *id, const json_t *reply)
{
	json_t *o = json_deep_copy(reply);
	json_object_set(o, "id", id);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_non_null(text);
	fake_qmp_send(q, text);
	fake_qmp_send(q, "\r\n");
	free(text);
}

/* Auto mode: answers each whole line the client has sent since the last. */
static void handle_commands(struct fake_qmp *q)
{
	char *nl;
	while ((nl = memchr(q->in + q->parsed, '\n', q->len - q->parsed))) {
		json_t *cmd = json_loadb(q->in + q->parsed, (size_t)(nl - (q->in + q->parsed)), 0,
					 NULL);
		q->parsed = (size_t)(nl + 1 - q->in);
		assert_non_null(cmd);
		const char *name = json_string_value(json_object_get(cmd, "execute"));
		assert_non_null(name);
		json_t *id = json_object_get(cmd, "id");
		if (strcmp(name, "qmp_capabilities") == 0) {
			json_t *ok = json_pack("{s:{}}", "return");
			reply_to(q, id, ok);
			json_decref(ok);
		} else {
			json_array_append(q->commands, cmd);
			json_t *reply = json_object_get(q->replies, name);
			if (!reply) {
				json_t *ok = json_pack("{s:{}}", "return");
				reply_to(q, id, ok);
				json_decref(ok);
			} else if (!json_is_null(reply)) {
				reply_to(q, id, reply);
			}
		}
		json_decref(cmd);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fake_qmp *q = h->data;
	*buf = uv_buf_init(q->in + q->len, (unsigned)(sizeof(q->in) - q->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fake_qmp *q = s->data;
	if (n > 0)
		q->len += (size_t)n;
	assert_true(q->len < sizeof(q->in));
	if (q->autoreply && q->open)
		handle_commands(q);
}

void fake_qmp_open(struct fake_qmp *q, uv_loop_t *loop, bool autoreply,
		   const struct qmp_client_ops *ops, void *data, struct qmp_client **ret)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->autoreply = autoreply;
	q->commands = json_array();
	q->replies = json_object();
	uv_pipe_t *p;
	fake_pipe_pair(loop, &p, &q->pipe, q);
	q->open = true;
	assert_int_equal(uv_read_start((uv_stream_t *)&q->pipe, on_alloc, on_read), 0);
	assert_int_equal(qmp_client_open(loop, p, ops, data, ret), 0);
	if (autoreply)
		fake_qmp_send(q, fake_qmp_greeting);
}

void fake_qmp_close(struct fake_qmp *q)
{
	if (q->open)
		uv_close((uv_handle_t *)&q->pipe, NULL);
	q->open = false;
	json_decref(q->commands);
	json_decref(q->replies);
	q->commands = q->replies = NULL;
}

void fake_qmp_send(struct fake_qmp *q, const char *text)
{
	size_t len = strlen(text);
	uv_buf_t b = uv_buf_init((char *)text, (unsigned)len);
	assert_int_equal(uv_try_write((uv_stream_t *)&q->pipe, &b, 1), (int)len);
}

size_t fake_qmp_lines(const struct fake_qmp *q)
{
	size_t n = 0;
	for (size_t i = 0; i < q->len; i++)
		n += q->in[i] == '\n';
	return n;
}

struct lines_wait {
	struct fake_qmp *q;
	size_t n;
	const char *cmd;
};

static bool has_lines(void *arg)
{
	struct lines_wait *w = arg;
	return fake_qmp_lines(w->q) >= w->n;
}

void fake_qmp_wait_lines(struct fake_qmp *q, size_t n)
{
	struct lines_wait w = { q, n, NULL };
	fake_run_until(q->loop, has_lines, &w, "lines from the QMP client");
}

void fake_qmp_on(struct fake_qmp *q, const char *cmd, const char *reply)
{
	json_t *r = reply ? json_loads(reply, 0, NULL) : json_null();
	assert_non_null(r);
	json_object_set_new(q->replies, cmd, r);
}

size_t fake_qmp_ncommands(const struct fake_qmp *q)
{
	return json_array_size(q->commands);
}

const char *fake_qmp_command(const struct fake_qmp *q, size_t i)
{
	return json_string_value(json_object_get(json_array_get(q->commands, i), "execute"));
}

json_t *fake_qmp_args(const struct fake_qmp *q, size_t i)
{
	return json_object_get(json_array_get(q->commands, i), "arguments");
}

size_t fake_qmp_count(const struct fake_qmp *q, const char *cmd)
{
	size_t n = 0;
	for (size_t i = 0; i < fake_qmp_ncommands(q); i++)
		n += strcmp(fake_qmp_command(q, i), cmd) == 0;
	return n;
}

static bool has_command(void *arg)
{
	struct lines_wait *w = arg;
	return fake_qmp_count(w->q, w->cmd) >= w->n;
}

void fake_qmp_wait_command(struct fake_qmp *q, const char *cmd, size_t n)
{
	struct lines_wait w = { q, n, cmd };
	fake_run_until(q->loop, has_command, &w, cmd);
}

void fake_qmp_answer(struct fake_qmp *q, size_t i, const char *reply)
{
	json_t *r = json_loads(reply, 0, NULL);
	assert_non_null(r);
	reply_to(q, json_object_get(json_array_get(q->commands, i), "id"), r);
	json_decref(r);
}

void fake_qmp_event(struct fake_qmp *q, const char *name, const char *data)
{
	json_t *ev = json_pack("{s:s, s:{s:i, s:i}}", "event", name, "timestamp", "seconds", 1,
			       "microseconds", 2);
	if (data)
		json_object_set_new(ev, "data", json_loads(data, 0, NULL));
	char *text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	fake_qmp_send(q, text);
	fake_qmp_send(q, "\r\n");
	free(text);
}
