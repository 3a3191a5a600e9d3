/* Streams of wire frames for the wire codec's tests: frames built by the
 * encoder or raw headers that bypass its checks, and a check of a decoded
 * frame. Included by each test_wire_*.c (each its own binary). */
#ifndef DITTO_TESTS_LIB_WIRE_STREAM_H
#define DITTO_TESTS_LIB_WIRE_STREAM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

/* A growable byte string used to assemble streams of frames. */
struct stream {
	uint8_t *data;
	size_t len;
};

static inline void stream_add(struct stream *s, const void *p, size_t n)
{
	s->data = realloc(s->data, s->len + n);
	assert_non_null(s->data);
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

static inline void stream_add_frame(struct stream *s, uint8_t type, uint32_t id, const char *meta,
				    const void *body, size_t body_len)
{
	uint8_t *f;
	size_t n;
	assert_int_equal(
		wire_encode(type, id, meta, meta ? strlen(meta) : 0, body, body_len, &f, &n), 0);
	stream_add(s, f, n);
	free(f);
}

/* Appends a raw header (bypassing the encoder's checks) and no sections. */
static inline void stream_add_raw_header(struct stream *s, uint8_t version, uint8_t type,
					 uint16_t reserved, uint32_t id, uint32_t meta_len,
					 uint32_t body_len)
{
	uint8_t h[WIRE_HEADER_SIZE];
	struct wire_header hdr = {
		.version = version,
		.type = type,
		.id = id,
		.meta_len = meta_len,
		.body_len = body_len,
	};
	wire_header_pack(&hdr, h);
	h[6] = (uint8_t)reserved;
	h[7] = (uint8_t)(reserved >> 8);
	stream_add(s, h, sizeof(h));
}

static inline void assert_frame(const struct wire_frame *f, uint8_t type, uint32_t id,
				const char *meta, const void *body, size_t body_len)
{
	assert_int_equal(f->hdr.version, WIRE_VERSION);
	assert_int_equal(f->hdr.type, type);
	assert_int_equal(f->hdr.id, id);
	assert_int_equal(f->hdr.meta_len, strlen(meta));
	assert_non_null(f->meta);
	if (strlen(meta))
		assert_memory_equal(f->meta, meta, strlen(meta));
	assert_int_equal(f->hdr.body_len, body_len);
	if (body_len)
		assert_memory_equal(f->body, body, body_len);
}

#endif
