#include "qmp_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK (64 * 1024)

enum state {
	ST_GREETING,    /* waiting for {"QMP": ...} */
	ST_NEGOTIATING, /* qmp_capabilities sent */
	ST_READY,
	ST_CLOSING,
};

/* A command in flight. Commands are kept in the order they were issued,
 * which is also the order QEMU answers them in (no out-of-band use). */
struct pending {
	struct pending *next;
	uint64_t id;
	char *buf; /* the command's bytes while it is held back; NULL once sent */
	size_t len;
	uint64_t sent_ns;
	qmp_reply_fn cb;
	void *cb_data;
};

struct qmp_client {
	uv_pipe_t *pipe;
	const struct qmp_client_ops *ops;
	void *data;
	enum state state;
	bool ready_called;
	struct qmp_reader reader;
	struct pending *head, **tail;
	size_t npending;
	uint64_t next_id;
	uint64_t latency_ns; /* of the reply being delivered */
	char *rbuf;
};

struct write_req {
	uv_write_t req;
	struct qmp_client *c;
	char *buf;
};

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void on_pipe_closed(uv_handle_t *h)
{
	struct qmp_client *c = h->data;
	free(h);
	qmp_reader_free(&c->reader);
	free(c->rbuf);
	free(c);
}

static void call_ready(struct qmp_client *c, int status)
{
	if (c->ready_called)
		return;
	c->ready_called = true;
	if (c->ops->ready)
		c->ops->ready(c, status, c->data);
}

/* Takes the client down once: every pending command is answered with
 * status, then ready (if it never came) and closed with reason. */
static void shut(struct qmp_client *c, int reason, int status)
{
	if (c->state == ST_CLOSING)
		return;
	c->state = ST_CLOSING;
	uv_read_stop((uv_stream_t *)c->pipe);
	/* None of these commands got a reply; a reply callback that closed the
	 * client can still read its own latency once this returns. */
	uint64_t latency = c->latency_ns;
	c->latency_ns = 0;
	while (c->head) {
		struct pending *p = c->head;
		c->head = p->next;
		c->npending--;
		if (p->cb)
			p->cb(c, status, NULL, p->cb_data);
		free(p->buf);
		free(p);
	}
	c->tail = &c->head;
	c->latency_ns = latency;
	call_ready(c, reason);
	if (c->ops->closed)
		c->ops->closed(c, reason, c->data);
	uv_close((uv_handle_t *)c->pipe, on_pipe_closed);
}

void qmp_client_close(struct qmp_client *c)
{
	if (c)
		shut(c, -ECANCELED, -ECANCELED);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct qmp_client *c = w->c;
	free(w->buf);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		shut(c, status, -ECONNRESET);
}

/* Writes a command's bytes; the buffer is handed over (freed either way). */
static int send_pending(struct qmp_client *c, struct pending *p)
{
	struct write_req *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->buf = p->buf;
	uv_buf_t b = uv_buf_init(p->buf, (unsigned)p->len);
	p->buf = NULL;
	p->sent_ns = uv_hrtime();
	int r = uv_write(&w->req, (uv_stream_t *)c->pipe, &b, 1, on_written);
	if (r < 0) {
		free(w->buf);
		free(w);
	}
	return r;
}

static int pending_new(const char *cmd, const json_t *args, uint64_t id, qmp_reply_fn cb,
		       void *cb_data, struct pending **ret)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = qmp_command_build(cmd, args, id, &p->buf, &p->len);
	if (r < 0) {
		free(p);
		return r;
	}
	p->id = id;
	p->cb = cb;
	p->cb_data = cb_data;
	*ret = p;
	return 0;
}

/* Queues a user command at the tail; it is written at once when the session
 * is ready, else when the negotiation completes. */
static int enqueue(struct qmp_client *c, const char *cmd, json_t *args, qmp_reply_fn cb,
		   void *cb_data)
{
	struct pending *p;
	int r = pending_new(cmd, args, c->next_id, cb, cb_data, &p);
	if (r < 0)
		return r;
	if (c->state == ST_READY) {
		r = send_pending(c, p);
		if (r < 0) {
			free(p);
			return r;
		}
	}
	c->next_id++;
	*c->tail = p;
	c->tail = &p->next;
	c->npending++;
	return 0;
}

int qmp_client_execute(struct qmp_client *c, const char *cmd, json_t *args, qmp_reply_fn cb,
		       void *cb_data)
{
	int r = c->state == ST_CLOSING ? -ENOTCONN : enqueue(c, cmd, args, cb, cb_data);
	json_decref(args);
	return r;
}

/* Removes the pending command a reply answers. A reply without an id (QEMU
 * could not read a request) answers the oldest command sent. */
static struct pending *take_pending(struct qmp_client *c, const struct qmp_msg *m)
{
	for (struct pending **pp = &c->head; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;
		if (p->buf)
			break; /* held back, so neither it nor later ones were sent */
		if (m->has_id ? p->id == m->id : true) {
			*pp = p->next;
			if (c->tail == &p->next)
				c->tail = pp;
			c->npending--;
			return p;
		}
	}
	return NULL;
}

static void on_caps_reply(struct qmp_client *c, int status, const struct qmp_msg *reply,
			  void *cb_data)
{
	if (status == -EREMOTEIO) {
		shut(c, -EPROTO, -ECONNRESET);
		return;
	}
	if (status < 0)
		return; /* the client is already going down and says why */
	c->state = ST_READY;
	/* Commands issued before the negotiation go out now, in order. */
	for (struct pending *p = c->head; p; p = p->next) {
		if (!p->buf)
			continue;
		int r = send_pending(c, p);
		if (r < 0) {
			shut(c, r, -ECONNRESET);
			return;
		}
	}
	call_ready(c, 0);
}

static void on_greeting(struct qmp_client *c, const struct qmp_msg *m)
{
	if (m->kind != QMP_MSG_GREETING) {
		shut(c, -EPROTO, -ECONNRESET);
		return;
	}
	/* The negotiation takes id 0 and goes ahead of any user command held
	 * back so far, so ids go out in increasing order. */
	struct pending *p;
	int r = pending_new("qmp_capabilities", NULL, 0, on_caps_reply, NULL, &p);
	if (r == 0) {
		r = send_pending(c, p);
		if (r < 0)
			free(p);
	}
	if (r < 0) {
		shut(c, r, -ECONNRESET);
		return;
	}
	p->next = c->head;
	if (!c->head)
		c->tail = &p->next;
	c->head = p;
	c->npending++;
	c->state = ST_NEGOTIATING;
}

static void dispatch(struct qmp_client *c, const struct qmp_msg *m)
{
	if (c->state == ST_GREETING) {
		on_greeting(c, m);
		return;
	}
	if (m->kind == QMP_MSG_EVENT) {
		if (c->ops->event)
			c->ops->event(c, m, c->data);
		return;
	}
	if (m->kind != QMP_MSG_RETURN && m->kind != QMP_MSG_ERROR)
		return; /* a second greeting carries nothing to act on */
	struct pending *p = take_pending(c, m);
	if (!p)
		return; /* not ours: nothing waits for it */
	c->latency_ns = uv_hrtime() - p->sent_ns;
	if (p->cb)
		p->cb(c, m->kind == QMP_MSG_RETURN ? 0 : -EREMOTEIO, m, p->cb_data);
	c->latency_ns = 0;
	free(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct qmp_client *c = h->data;
	*buf = uv_buf_init(c->rbuf, READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct qmp_client *c = s->data;
	if (n < 0) {
		shut(c, n == UV_EOF ? -ECONNRESET : (int)n, -ECONNRESET);
		return;
	}
	int r = qmp_reader_feed(&c->reader, buf->base, (size_t)n);
	if (r < 0) {
		shut(c, r, -ECONNRESET);
		return;
	}
	while (c->state != ST_CLOSING) {
		char *line;
		r = qmp_reader_next_line(&c->reader, &line);
		if (r == 0)
			break;
		if (r < 0) {
			/* A dropped line may have been a reply that a command
			 * would wait for forever: give up on the session. */
			shut(c, r, -ECONNRESET);
			break;
		}
		struct qmp_msg m;
		r = qmp_parse_line(line, strlen(line), &m);
		free(line);
		if (r == -ENODATA)
			continue;
		if (r < 0) {
			shut(c, -EPROTO, -ECONNRESET);
			break;
		}
		dispatch(c, &m);
		qmp_msg_clear(&m);
	}
}

int qmp_client_open(uv_loop_t *loop, uv_pipe_t *pipe, const struct qmp_client_ops *ops, void *data,
		    struct qmp_client **ret)
{
	struct qmp_client *c = calloc(1, sizeof(*c));
	char *rbuf = malloc(READ_CHUNK);
	if (!c || !rbuf) {
		free(c);
		free(rbuf);
		uv_close((uv_handle_t *)pipe, free_handle);
		return -ENOMEM;
	}
	c->pipe = pipe;
	c->ops = ops;
	c->data = data;
	c->state = ST_GREETING;
	c->tail = &c->head;
	c->next_id = 1;
	c->rbuf = rbuf;
	qmp_reader_init(&c->reader);
	pipe->data = c;
	int r = uv_read_start((uv_stream_t *)pipe, on_alloc, on_read);
	if (r < 0) {
		/* No callback may run for a failed open: close quietly. */
		c->state = ST_CLOSING;
		uv_close((uv_handle_t *)pipe, on_pipe_closed);
		return r;
	}
	*ret = c;
	return 0;
}

uint64_t qmp_client_reply_latency_ns(const struct qmp_client *c)
{
	return c->latency_ns;
}

size_t qmp_client_pending(const struct qmp_client *c)
{
	return c->npending;
}
