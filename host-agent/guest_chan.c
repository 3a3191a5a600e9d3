#include "guest_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define SWEEP_MS 200

struct pending {
	struct pending *next;
	uint32_t id;
	uint64_t deadline; /* uv_now() ms; 0 = none */
	guest_reply_fn cb;
	void *data;
};

struct guest_chan {
	uv_loop_t *loop;
	uv_pipe_t *pipe;
	uv_timer_t sweep;
	/* Frames a turn of the loop queued, written together just before the
	 * loop next waits: a burst of requests costs the guest one wake-up. */
	struct buf outq;
	uv_prepare_t flush;
	const struct guest_chan_ops *ops;
	void *data;
	struct wire_decoder dec;
	struct pending *pending;
	uint32_t next_id;
	int handles_open;
	bool closing;
	char *rbuf;
	int capture_to, capture_from; /* guest_chan_capture's files, or -1 */
};

struct write_req {
	uv_write_t req;
	struct guest_chan *ch;
	uint8_t *buf;
	size_t len;
};

static void finish_pending(struct guest_chan *ch, int status)
{
	while (ch->pending) {
		struct pending *p = ch->pending;
		ch->pending = p->next;
		p->cb(ch, status, NULL, NULL, p->data);
		free(p);
	}
}

static void on_handle_closed(uv_handle_t *h)
{
	struct guest_chan *ch = h->data;
	if (h == (uv_handle_t *)ch->pipe)
		free(ch->pipe);
	if (--ch->handles_open > 0)
		return;
	wire_decoder_free(&ch->dec);
	buf_free(&ch->outq);
	free(ch->rbuf);
	if (ch->capture_to >= 0)
		close(ch->capture_to);
	if (ch->capture_from >= 0)
		close(ch->capture_from);
	free(ch);
}

static void shut(struct guest_chan *ch, int reason)
{
	if (ch->closing)
		return;
	ch->closing = true;
	finish_pending(ch, -ECONNRESET);
	if (ch->ops->closed)
		ch->ops->closed(ch, reason, ch->data);
	uv_close((uv_handle_t *)&ch->sweep, on_handle_closed);
	uv_close((uv_handle_t *)&ch->flush, on_handle_closed);
	uv_close((uv_handle_t *)ch->pipe, on_handle_closed);
}

void guest_chan_close(struct guest_chan *ch)
{
	if (ch)
		shut(ch, -ECANCELED);
}

static struct pending *take_pending(struct guest_chan *ch, uint32_t id)
{
	for (struct pending **pp = &ch->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct pending *p = *pp;
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void dispatch(struct guest_chan *ch, const struct wire_frame *f)
{
	json_t *meta = NULL;
	if (f->meta && f->hdr.meta_len > 0)
		meta = json_loadb(f->meta, f->hdr.meta_len, 0, NULL);
	bool is_reply = f->hdr.type == WIRE_REPLY || f->hdr.type == WIRE_ERROR;
	struct pending *p = is_reply && f->hdr.id ? take_pending(ch, f->hdr.id) : NULL;
	if (p) {
		p->cb(ch, f->hdr.type == WIRE_REPLY ? 0 : -EREMOTEIO, f, meta, p->data);
		free(p);
	} else if (is_reply && f->hdr.id) {
		/* The answer to a request whose deadline passed: its caller has
		 * been told already. */
	} else if (ch->ops->message) {
		ch->ops->message(ch, f, meta, ch->data);
	}
	json_decref(meta);
}

/* Appends bytes to a capture file (fd -1: none). */
static void capture(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (fd >= 0 && len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

static int capture_open(const char *dir, const char *name, const char *suffix)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s.%s", dir, name, suffix) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

int guest_chan_capture(struct guest_chan *ch, const char *dir, const char *name)
{
	int to = capture_open(dir, name, "to-guest");
	if (to < 0)
		return to;
	int from = capture_open(dir, name, "from-guest");
	if (from < 0) {
		close(to);
		return from;
	}
	if (ch->capture_to >= 0)
		close(ch->capture_to);
	if (ch->capture_from >= 0)
		close(ch->capture_from);
	ch->capture_to = to;
	ch->capture_from = from;
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct guest_chan *ch = h->data;
	buf->base = ch->rbuf;
	buf->len = READ_CHUNK;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct guest_chan *ch = s->data;
	if (n < 0) {
		shut(ch, n == UV_EOF ? -ECONNRESET : (int)n);
		return;
	}
	if (n == 0)
		return;
	capture(ch->capture_from, buf->base, (size_t)n);
	if (wire_decoder_feed(&ch->dec, buf->base, (size_t)n) < 0) {
		shut(ch, -ENOMEM);
		return;
	}
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(&ch->dec, &f);
		if (r == 0 || ch->closing)
			break;
		if (r < 0) {
			/* The guest sent a bad frame: report it as an unsolicited
			 * message with no meta so the VM layer can log it. */
			if (ch->ops->message) {
				struct wire_frame bad = { .hdr = { .type = 0, .id = 0 } };
				ch->ops->message(ch, &bad, NULL, ch->data);
			}
			continue;
		}
		dispatch(ch, &f);
	}
}

static void on_sweep(uv_timer_t *t)
{
	struct guest_chan *ch = t->data;
	uint64_t now = uv_now(ch->loop);
	struct pending **pp = &ch->pending;
	while (*pp) {
		struct pending *p = *pp;
		if (p->deadline && now >= p->deadline) {
			*pp = p->next;
			p->cb(ch, -ETIMEDOUT, NULL, NULL, p->data);
			free(p);
			if (ch->closing)
				return;
		} else {
			pp = &p->next;
		}
	}
}

int guest_chan_open(uv_loop_t *loop, uv_pipe_t *pipe, const struct guest_chan_ops *ops, void *data,
		    struct guest_chan **ret)
{
	struct guest_chan *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->rbuf = malloc(READ_CHUNK);
	if (!ch->rbuf) {
		free(ch);
		return -ENOMEM;
	}
	ch->loop = loop;
	ch->pipe = pipe;
	ch->ops = ops;
	ch->data = data;
	ch->next_id = 1;
	ch->capture_to = ch->capture_from = -1;
	wire_decoder_init(&ch->dec, WIRE_MAX_BODY);
	pipe->data = ch;
	uv_timer_init(loop, &ch->sweep);
	ch->sweep.data = ch;
	uv_prepare_init(loop, &ch->flush);
	ch->flush.data = ch;
	ch->handles_open = 3;
	uv_timer_start(&ch->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
	uv_unref((uv_handle_t *)&ch->sweep);
	int r = uv_read_start((uv_stream_t *)pipe, on_alloc, on_read);
	if (r < 0) {
		shut(ch, r);
		return r;
	}
	*ret = ch;
	return 0;
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct guest_chan *ch = w->ch;
	free(w->buf);
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		shut(ch, status);
}

/* Writes every queued frame in one write. */
static void on_flush(uv_prepare_t *h)
{
	struct guest_chan *ch = h->data;
	uv_prepare_stop(h);
	if (ch->closing || ch->outq.len == 0)
		return;
	struct write_req *w = calloc(1, sizeof(*w));
	if (!w) {
		shut(ch, -ENOMEM);
		return;
	}
	/* The write takes the queue's buffer; the next frame starts a new one. */
	w->ch = ch;
	w->buf = ch->outq.data;
	w->len = ch->outq.len;
	ch->outq = (struct buf){ 0 };
	uv_buf_t buf = uv_buf_init((char *)w->buf, (unsigned)w->len);
	capture(ch->capture_to, buf.base, buf.len);
	int r = uv_write(&w->req, (uv_stream_t *)ch->pipe, &buf, 1, on_written);
	if (r < 0) {
		free(w->buf);
		free(w);
		shut(ch, r);
	}
}

/* Queues one frame for on_flush. Returns 0, -EMSGSIZE or -ENOMEM (nothing
 * queued). */
static int queue_frame(struct guest_chan *ch, uint8_t type, uint32_t id, const char *meta,
		       const void *body, size_t body_len)
{
	size_t meta_len = strlen(meta);
	uint8_t hdr[WIRE_HEADER_SIZE];
	int r = wire_header_encode(type, id, meta_len, body_len, hdr);
	if (r < 0)
		return r;
	size_t old_len = ch->outq.len;
	if (buf_append(&ch->outq, hdr, sizeof(hdr)) < 0 ||
	    buf_append(&ch->outq, meta, meta_len) < 0 ||
	    buf_append(&ch->outq, body, body_len) < 0) {
		ch->outq.len = old_len;
		return -ENOMEM;
	}
	if (old_len == 0)
		uv_prepare_start(&ch->flush, on_flush);
	return 0;
}

int guest_chan_request(struct guest_chan *ch, uint8_t type, json_t *meta, const void *body,
		       size_t body_len, uint64_t timeout_ms, guest_reply_fn cb, void *data)
{
	char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	json_decref(meta);
	if (ch->closing) {
		free(text);
		return -ENOTCONN;
	}
	if (!wire_type_is_known(type)) {
		free(text);
		return -EINVAL;
	}
	struct pending *p = calloc(1, sizeof(*p));
	if (!p) {
		free(text);
		return -ENOMEM;
	}
	uint32_t id = ch->next_id++;
	if (ch->next_id == 0)
		ch->next_id = 1;
	int r = queue_frame(ch, type, id, text ? text : "{}", body, body_len);
	free(text);
	if (r < 0) {
		free(p);
		return r;
	}
	p->id = id;
	p->cb = cb;
	p->data = data;
	p->deadline = timeout_ms ? uv_now(ch->loop) + timeout_ms : 0;
	p->next = ch->pending;
	ch->pending = p;
	return 0;
}
