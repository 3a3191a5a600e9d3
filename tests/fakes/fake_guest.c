#include "fakes/fake_guest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakes/fake_loop.h"

static void answer(struct fake_guest *g, const struct fake_guest_frame *f)
{
	const struct fake_guest_rule *r = &g->rules[f->type];
	if (!r->set && f->type == WIRE_ATTEST)
		fake_guest_send(g, WIRE_REPLY, f->id,
				"{\"type\":\"none\",\"public_key\":\"" FAKE_GUEST_PUBLIC_KEY "\"}");
	else if (!r->set)
		fake_guest_send(g, WIRE_REPLY, f->id, "{}");
	else if (!r->hold)
		fake_guest_send_body(g, r->type, f->id, r->meta, r->body, r->body_len);
}

static void take_frames(struct fake_guest *g)
{
	struct wire_frame f;
	int r;
	while ((r = wire_decoder_next(&g->dec, &f)) == 1) {
		assert_true(g->n_frames < FAKE_GUEST_MAX_FRAMES);
		struct fake_guest_frame *rec = &g->frames[g->n_frames++];
		rec->type = f.hdr.type;
		rec->id = f.hdr.id;
		rec->body_len = f.hdr.body_len;
		rec->meta = f.hdr.meta_len ? json_loadb(f.meta, f.hdr.meta_len, 0, NULL)
					   : json_object();
		assert_non_null(rec->meta);
		if (g->autoreply)
			answer(g, rec);
	}
	assert_int_equal(r, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct fake_guest *g = h->data;
	*buf = uv_buf_init(g->rbuf, sizeof(g->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct fake_guest *g = s->data;
	if (n <= 0 || !g->open)
		return;
	assert_int_equal(wire_decoder_feed(&g->dec, buf->base, (size_t)n), 0);
	take_frames(g);
}

void fake_guest_open(struct fake_guest *g, uv_loop_t *loop, bool autoreply,
		     const struct guest_chan_ops *ops, void *data, struct guest_chan **ret)
{
	memset(g, 0, sizeof(*g));
	g->loop = loop;
	g->autoreply = autoreply;
	wire_decoder_init(&g->dec, WIRE_MAX_BODY);
	uv_pipe_t *p;
	fake_pipe_pair(loop, &p, &g->pipe, g);
	g->open = true;
	assert_int_equal(uv_read_start((uv_stream_t *)&g->pipe, on_alloc, on_read), 0);
	assert_int_equal(guest_chan_open(loop, p, ops, data, ret), 0);
}

void fake_guest_close(struct fake_guest *g)
{
	if (g->open)
		uv_close((uv_handle_t *)&g->pipe, NULL);
	g->open = false;
	wire_decoder_free(&g->dec);
	for (size_t i = 0; i < g->n_frames; i++)
		json_decref(g->frames[i].meta);
	g->n_frames = 0;
	for (size_t i = 0; i < 256; i++) {
		free(g->rules[i].meta);
		free(g->rules[i].body);
	}
	memset(g->rules, 0, sizeof(g->rules));
}

void fake_guest_send_body(struct fake_guest *g, uint8_t type, uint32_t id, const char *meta,
			  const void *body, size_t body_len)
{
	uint8_t *buf;
	size_t len;
	assert_int_equal(wire_encode(type, id, meta, strlen(meta), body, body_len, &buf, &len), 0);
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	assert_int_equal(uv_try_write((uv_stream_t *)&g->pipe, &b, 1), (int)len);
	free(buf);
}

void fake_guest_send(struct fake_guest *g, uint8_t type, uint32_t id, const char *meta)
{
	fake_guest_send_body(g, type, id, meta, NULL, 0);
}

static void set_rule(struct fake_guest *g, uint8_t type, bool hold, uint8_t reply, char *meta)
{
	struct fake_guest_rule *r = &g->rules[type];
	free(r->meta);
	free(r->body);
	*r = (struct fake_guest_rule){ .set = true, .hold = hold, .type = reply, .meta = meta };
}

void fake_guest_on_body(struct fake_guest *g, uint8_t type, const char *meta, const void *body,
			size_t len)
{
	set_rule(g, type, false, WIRE_REPLY, strdup(meta));
	struct fake_guest_rule *r = &g->rules[type];
	r->body = malloc(len ? len : 1);
	assert_non_null(r->body);
	memcpy(r->body, body, len);
	r->body_len = len;
}

void fake_guest_on(struct fake_guest *g, uint8_t type, const char *meta)
{
	set_rule(g, type, !meta, WIRE_REPLY, meta ? strdup(meta) : NULL);
}

void fake_guest_on_error(struct fake_guest *g, uint8_t type, const char *code)
{
	char *meta = NULL;
	assert_true(asprintf(&meta, "{\"code\":\"%s\",\"message\":\"refused\"}", code) > 0);
	set_rule(g, type, false, WIRE_ERROR, meta);
}

size_t fake_guest_count(const struct fake_guest *g, uint8_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n_frames; i++)
		n += g->frames[i].type == type;
	return n;
}

const struct fake_guest_frame *fake_guest_frame(const struct fake_guest *g, size_t i)
{
	assert_true(i < g->n_frames);
	return &g->frames[i];
}

int fake_guest_cpu(const struct fake_guest *g, size_t i)
{
	return (int)json_integer_value(json_object_get(fake_guest_frame(g, i)->meta, "cpu"));
}

struct frames_wait {
	struct fake_guest *g;
	int type; /* -1: any */
	size_t n;
};

static bool has_frames(void *arg)
{
	struct frames_wait *w = arg;
	size_t n = w->type < 0 ? w->g->n_frames : fake_guest_count(w->g, (uint8_t)w->type);
	return n >= w->n;
}

void fake_guest_wait_frames(struct fake_guest *g, size_t n)
{
	struct frames_wait w = { g, -1, n };
	fake_run_until(g->loop, has_frames, &w, "frames from the agent");
}

void fake_guest_wait_type(struct fake_guest *g, uint8_t type, size_t n)
{
	struct frames_wait w = { g, type, n };
	fake_run_until(g->loop, has_frames, &w, wire_type_name(type));
}

void fake_guest_answer(struct fake_guest *g, size_t i, const char *meta)
{
	fake_guest_send(g, WIRE_REPLY, fake_guest_frame(g, i)->id, meta);
}
