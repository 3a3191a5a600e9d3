/* The link: a persistent stream from the controller carrying many
 * invocations at once (lib/agent_link.h). It opens as GET /v1/link with
 * "Upgrade: ditto-link/1" on the API's own port, so it is authorised by the
 * same check as every route, once for the connection; MHD then hands the
 * socket over and this file serves it on the loop: INVOKE frames run
 * through api_invoke_start as the HTTP route's calls do, their answers go
 * back as RESULT or ERROR frames as they complete, all frames made ready in
 * one turn of the loop leaving in one write. A stream that breaks drops
 * only its own answers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "agent_link.h"
#include "api_int.h"
#include "httpd.h"
#include "log.h"

/* Bytes read from the socket per read call. */
#define READ_CHUNK (64 * 1024)
/* Bytes read per wake-up before the loop gets a turn. */
#define READ_BUDGET (1024 * 1024)

struct link_call;

struct api_link {
	struct api_server *srv;
	struct api_link *next, **pprev; /* on srv->links */
	MHD_socket fd;
	struct MHD_UpgradeResponseHandle *urh;
	uv_poll_t poll;
	uv_idle_t flush; /* active while out holds frames not yet tried */
	int handles_open;
	int events; /* what poll waits for */
	struct wire_decoder dec;
	struct buf out; /* frames to send, from out_off */
	size_t out_off;
	unsigned window;
	unsigned inflight;       /* INVOKEs not yet answered (or cancelled) */
	struct link_call *calls; /* those, for CANCEL and for a closing stream */
	bool closed;
};

/* An INVOKE on its way through the guest. */
struct link_call {
	struct api_link *link; /* NULL once cancelled or the stream closed */
	struct link_call *next, **pprev;
	uint32_t id;
};

static void call_unlink(struct link_call *c)
{
	if (!c->link)
		return;
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	c->link->inflight--;
	c->link = NULL;
}

/* ---- sending ------------------------------------------------------------------------ */

static void link_close(struct api_link *l);

static void on_poll(uv_poll_t *p, int status, int events);

static void want(struct api_link *l, int events)
{
	if (l->closed || events == l->events)
		return;
	l->events = events;
	uv_poll_start(&l->poll, events, on_poll);
}

/* Writes what out holds, as much as the socket takes now. */
static void flush_out(struct api_link *l)
{
	while (l->out_off < l->out.len) {
		ssize_t n = write(l->fd, l->out.data + l->out_off, l->out.len - l->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			want(l, UV_READABLE | UV_WRITABLE);
			return;
		}
		if (n < 0) {
			log_info("link_write_failed err=%s", strerror(errno));
			link_close(l);
			return;
		}
		l->out_off += (size_t)n;
	}
	buf_reset(&l->out);
	l->out_off = 0;
	want(l, UV_READABLE);
}

static void on_flush(uv_idle_t *h)
{
	struct api_link *l = h->data;
	uv_idle_stop(h);
	flush_out(l);
}

/* Queues a frame; it leaves with the others made ready in this turn of the
 * loop, in one write. */
static void send_json(struct api_link *l, uint8_t type, uint32_t id, const json_t *meta,
		      const void *body, size_t body_len)
{
	if (l->closed)
		return;
	int r = meta ? link_frame_append_json(&l->out, type, id, meta, body, body_len) : -ENOMEM;
	if (r < 0) {
		log_error("link_send_failed type=%s id=%u err=%s", wire_type_name(type), id,
			  strerror(-r));
		link_close(l);
		return;
	}
	if (!(l->events & UV_WRITABLE))
		uv_idle_start(&l->flush, on_flush);
}

static void send_fail(struct api_link *l, uint32_t id, const struct api_fail *f)
{
	json_t *reply = httpd_error_json(f->code, "%s", f->message);
	json_t *meta = reply ? link_error_meta(f->status, reply) : NULL;
	send_json(l, WIRE_LINK_ERROR, id, meta, NULL, 0);
	json_decref(meta);
	json_decref(reply);
}

static void send_error(struct api_link *l, uint32_t id, enum agent_err e, const char *msg)
{
	struct api_fail f = { .status = agent_err_status(e) };
	snprintf(f.code, sizeof(f.code), "%s", agent_err_name(e));
	snprintf(f.message, sizeof(f.message), "%s", msg);
	send_fail(l, id, &f);
}

/* ---- invocations -------------------------------------------------------------------- */

static void on_link_invoked(void *data, const struct api_fail *f, json_t *reply,
			    const uint8_t *body, size_t body_len)
{
	struct link_call *c = data;
	struct api_link *l = c->link;
	if (l) {
		call_unlink(c);
		if (f)
			send_fail(l, c->id, f);
		else
			send_json(l, WIRE_LINK_RESULT, c->id, reply, body, body_len);
	}
	free(c);
}

/* An INVOKE's meta as api_invoke_start reads parameters; integers are
 * written into scratch, one slot per parameter read. */
struct meta_src {
	json_t *meta;
	char scratch[12][24];
	unsigned used;
};

static const char *meta_get(void *src, const char *key)
{
	struct meta_src *m = src;
	char *s = m->scratch[m->used % 12];
	m->used++;
	return link_param(m->meta, key, s, sizeof(m->scratch[0]));
}

static void on_invoke(struct api_link *l, const struct wire_frame *fr)
{
	uint32_t id = fr->hdr.id;
	if (l->inflight >= l->window) {
		send_error(l, id, AGENT_E_TOO_MANY_REQUESTS,
			   "the stream's window of invocations in flight is full");
		return;
	}
	struct meta_src src = { .meta = link_meta_parse(fr) };
	char scratch[24];
	const char *vm = src.meta ? link_param(src.meta, "vm", scratch, sizeof(scratch)) : NULL;
	struct link_call *c = calloc(1, sizeof(*c));
	if (!src.meta || !vm || !*vm || !c) {
		send_error(l, id, c ? AGENT_E_BAD_REQUEST : AGENT_E_INTERNAL,
			   c ? "an INVOKE's meta must be a JSON object naming its \"vm\""
			     : "out of memory");
		json_decref(src.meta);
		free(c);
		return;
	}
	/* In the list first: the answer may come before the call returns. */
	*c = (struct link_call){ .link = l, .next = l->calls, .pprev = &l->calls, .id = id };
	if (l->calls)
		l->calls->pprev = &c->next;
	l->calls = c;
	l->inflight++;
	struct api_fail f;
	if (api_invoke_start(l->srv, vm, meta_get, &src, fr->body, fr->hdr.body_len,
			     uv_hrtime() / 1000, on_link_invoked, c, &f) < 0) {
		call_unlink(c);
		free(c);
		send_fail(l, id, &f);
	}
	json_decref(src.meta);
}

/* The controller gave up on an invocation: it is answered now, and the
 * guest's later answer dropped. */
static void on_cancel(struct api_link *l, uint32_t id)
{
	for (struct link_call *c = l->calls; c; c = c->next) {
		if (c->id != id)
			continue;
		call_unlink(c);
		send_error(l, id, AGENT_E_CANCELLED, "cancelled by the controller");
		return;
	}
}

/* ---- receiving ---------------------------------------------------------------------- */

/* Takes every complete frame out of the decoder; false when the stream must
 * close. */
static bool take_frames(struct api_link *l)
{
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(&l->dec, &f);
		if (r == 0)
			return true;
		if (r == WIRE_ETOOBIG) {
			char msg[160];
			snprintf(msg, sizeof(msg), "input of %u bytes is over the limit of %zu",
				 f.hdr.body_len, l->srv->cfg.max_input);
			send_error(l, f.hdr.id, AGENT_E_TOO_LARGE, msg);
			continue;
		}
		if (r < 0) {
			log_info("link_malformed err=%d", r);
			return false;
		}
		if (f.hdr.type == WIRE_LINK_INVOKE)
			on_invoke(l, &f);
		else if (f.hdr.type == WIRE_LINK_CANCEL)
			on_cancel(l, f.hdr.id);
		else
			send_error(l, f.hdr.id, AGENT_E_BAD_REQUEST,
				   "the agent takes only INVOKE and CANCEL frames");
		if (l->closed)
			return false;
	}
}

static bool feed(struct api_link *l, const void *p, size_t n)
{
	if (wire_decoder_feed(&l->dec, p, n) < 0) {
		log_error("link_feed_failed err=out_of_memory");
		return false;
	}
	return take_frames(l);
}

static void read_some(struct api_link *l)
{
	uint8_t buf[READ_CHUNK];
	for (size_t total = 0; total < READ_BUDGET;) {
		ssize_t n = read(l->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			if (n < 0)
				log_info("link_read_failed err=%s", strerror(errno));
			link_close(l);
			return;
		}
		total += (size_t)n;
		if (!feed(l, buf, (size_t)n)) {
			link_close(l);
			return;
		}
		/* A short read took all there was: the poll (level-triggered)
		 * says when more comes, without a read that fails EAGAIN. */
		if ((size_t)n < sizeof(buf))
			return;
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct api_link *l = p->data;
	if (status < 0) {
		link_close(l);
		return;
	}
	if (events & UV_WRITABLE)
		flush_out(l);
	if (!l->closed && (events & UV_READABLE))
		read_some(l);
}

/* ---- life cycle --------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
	struct api_link *l = h->data;
	if (--l->handles_open > 0)
		return;
	wire_decoder_free(&l->dec);
	buf_free(&l->out);
	free(l);
}

/* Ends the stream: its answers still to come are dropped, MHD closes the
 * socket. */
static void link_close(struct api_link *l)
{
	if (l->closed)
		return;
	l->closed = true;
	log_info("link_closed inflight=%u", l->inflight);
	while (l->calls)
		call_unlink(l->calls);
	*l->pprev = l->next;
	if (l->next)
		l->next->pprev = l->pprev;
	uv_close((uv_handle_t *)&l->poll, on_handle_closed);
	uv_close((uv_handle_t *)&l->flush, on_handle_closed);
	MHD_upgrade_action(l->urh, MHD_UPGRADE_ACTION_CLOSE);
}

void api_links_close(struct api_server *srv)
{
	while (srv->links)
		link_close(srv->links);
}

/* MHD hands over the connection after the 101. */
static void on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
			size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	struct api_server *srv = cls;
	struct api_link *l = calloc(1, sizeof(*l));
	if (!l) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	l->srv = srv;
	l->fd = sock;
	l->urh = urh;
	/* The window is the agent's limit per VM (--max-inflight): a stream
	 * never holds more than one VM could take. */
	l->window = srv->cfg.max_inflight;
	if (l->window < 1 || l->window > LINK_WINDOW_MAX)
		l->window = l->window ? LINK_WINDOW_MAX : LINK_WINDOW_DEFAULT;
	wire_decoder_init_proto(&l->dec, WIRE_PROTO_LINK, (uint32_t)srv->cfg.max_input);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	uv_loop_t *loop = srv->poll.loop;
	if (uv_poll_init_socket(loop, &l->poll, sock) < 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		free(l);
		return;
	}
	uv_idle_init(loop, &l->flush);
	l->poll.data = l->flush.data = l;
	l->handles_open = 2;
	l->next = srv->links;
	l->pprev = &srv->links;
	if (srv->links)
		srv->links->pprev = &l->next;
	srv->links = l;
	want(l, UV_READABLE);
	log_info("link_opened window=%u", l->window);
	json_t *hello = link_hello_meta(l->window);
	send_json(l, WIRE_LINK_HELLO, 0, hello, NULL, 0);
	json_decref(hello);
	if (extra_in_size && !feed(l, extra_in, extra_in_size))
		link_close(l);
}

/* Whether a comma-separated header value lists token (case-insensitive). */
static bool header_lists(const char *value, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = value; p && *p;) {
		p += strspn(p, " \t,");
		size_t k = strcspn(p, ",");
		size_t e = k;
		while (e && (p[e - 1] == ' ' || p[e - 1] == '\t'))
			e--;
		if (e == n && strncasecmp(p, token, n) == 0)
			return true;
		p += k;
	}
	return false;
}

void api_get_link(struct request *r, const char *unused)
{
	const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_UPGRADE);
	const char *conn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONNECTION);
	if (!up || strcasecmp(up, LINK_UPGRADE) != 0 || !header_lists(conn, "upgrade")) {
		api_reply_error(r, AGENT_E_BAD_REQUEST,
				"GET %s opens the link: send \"Connection: Upgrade\" and "
				"\"Upgrade: %s\"",
				LINK_PATH, LINK_UPGRADE);
		return;
	}
	r->upgrade = on_upgraded;
}
