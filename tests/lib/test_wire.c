/* Unit tests for the wire codec: layout, round trips, chunked input and the
 * decoder's recovery from every kind of bad frame. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static const uint8_t all_types[] = {
	WIRE_HELLO, WIRE_CPU_EVENT, WIRE_REPLY, WIRE_ERROR, WIRE_PING, WIRE_CPU_ACTIVATE,
	WIRE_CPU_STANDBY, WIRE_CPU_OFFLINE, WIRE_CPU_RELEASE, WIRE_ARTIFACT_PUT, WIRE_INVOKE,
	WIRE_STATUS,
};

/* A growable byte string used to assemble streams of frames. */
struct stream {
	uint8_t *data;
	size_t len;
};

static void stream_add(struct stream *s, const void *p, size_t n)
{
	s->data = realloc(s->data, s->len + n);
	assert_non_null(s->data);
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

static void stream_add_frame(struct stream *s, uint8_t type, uint32_t id, const char *meta,
			     const void *body, size_t body_len)
{
	uint8_t *f;
	size_t n;
	assert_int_equal(wire_encode(type, id, meta, meta ? strlen(meta) : 0, body, body_len, &f,
				     &n),
			 0);
	stream_add(s, f, n);
	free(f);
}

/* Appends a raw header (bypassing the encoder's checks) and no sections. */
static void stream_add_raw_header(struct stream *s, uint8_t version, uint8_t type,
				  uint16_t reserved, uint32_t id, uint32_t meta_len,
				  uint32_t body_len)
{
	uint8_t h[WIRE_HEADER_SIZE];
	struct wire_header hdr = {
		.version = version, .type = type, .id = id, .meta_len = meta_len,
		.body_len = body_len,
	};
	wire_header_pack(&hdr, h);
	h[6] = (uint8_t)reserved;
	h[7] = (uint8_t)(reserved >> 8);
	stream_add(s, h, sizeof(h));
}

static void assert_frame(const struct wire_frame *f, uint8_t type, uint32_t id, const char *meta,
			 const void *body, size_t body_len)
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

static void test_type_names(void **state)
{
	for (size_t i = 0; i < sizeof(all_types); i++) {
		assert_true(wire_type_is_known(all_types[i]));
		assert_non_null(wire_type_name(all_types[i]));
	}
	assert_string_equal(wire_type_name(WIRE_INVOKE), "invoke");
	assert_false(wire_type_is_known(0));
	assert_false(wire_type_is_known(5));
	assert_false(wire_type_is_known(15));
	assert_false(wire_type_is_known(24));
	assert_false(wire_type_is_known(255));
	assert_null(wire_type_name(200));
}

static void test_header_layout(void **state)
{
	struct wire_header h = {
		.version = WIRE_VERSION,
		.type = WIRE_INVOKE,
		.id = 0x04030201,
		.meta_len = 0x0000a0b0,
		.body_len = 0x01020304,
	};
	uint8_t out[WIRE_HEADER_SIZE];
	memset(out, 0xee, sizeof(out));
	wire_header_pack(&h, out);
	static const uint8_t want[WIRE_HEADER_SIZE] = {
		0x44, 0x54, 0x4f, 0x31, /* "DTO1" */
		0x01,                   /* version */
		22,                     /* WIRE_INVOKE */
		0x00, 0x00,             /* reserved */
		0x01, 0x02, 0x03, 0x04, /* id, little-endian */
		0xb0, 0xa0, 0x00, 0x00, /* meta_len */
		0x04, 0x03, 0x02, 0x01, /* body_len */
	};
	assert_memory_equal(out, want, sizeof(want));

	struct wire_header back;
	assert_int_equal(wire_header_unpack(out, WIRE_MAX_BODY, &back), 0);
	assert_int_equal(back.version, WIRE_VERSION);
	assert_int_equal(back.type, WIRE_INVOKE);
	assert_int_equal(back.id, 0x04030201);
	assert_int_equal(back.meta_len, 0xa0b0);
	assert_int_equal(back.body_len, 0x01020304);
}

static void test_header_unpack_errors(void **state)
{
	struct wire_header h = { .version = WIRE_VERSION, .type = WIRE_PING, .id = 9 };
	uint8_t buf[WIRE_HEADER_SIZE];
	struct wire_header out = { .id = 12345 };

	wire_header_pack(&h, buf);
	buf[0] = 'X';
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), WIRE_EBADMAGIC);
	assert_int_equal(out.id, 12345); /* untouched */

	wire_header_pack(&h, buf);
	buf[4] = 2;
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), WIRE_EBADVERSION);
	assert_int_equal(out.id, 12345);

	wire_header_pack(&h, buf);
	buf[7] = 1;
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), WIRE_ERESERVED);
	assert_int_equal(out.id, 12345);

	wire_header_pack(&h, buf);
	buf[5] = 99;
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), WIRE_EBADTYPE);
	assert_int_equal(out.id, 9);
	assert_int_equal(out.type, 99);

	h.body_len = 101;
	h.id = 10;
	wire_header_pack(&h, buf);
	assert_int_equal(wire_header_unpack(buf, 100, &out), WIRE_ETOOBIG);
	assert_int_equal(out.id, 10);
	assert_int_equal(out.body_len, 101);
	assert_int_equal(wire_header_unpack(buf, 101, &out), 0);

	h.body_len = 0;
	h.meta_len = WIRE_MAX_META + 1;
	wire_header_pack(&h, buf);
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), WIRE_ETOOBIG);
	h.meta_len = WIRE_MAX_META;
	wire_header_pack(&h, buf);
	assert_int_equal(wire_header_unpack(buf, WIRE_MAX_BODY, &out), 0);
}

static void test_encode_limits(void **state)
{
	uint8_t *f = (uint8_t *)"sentinel";
	uint8_t *orig = f;
	size_t n = 77;
	static char meta[WIRE_MAX_META + 1];
	memset(meta, ' ', sizeof(meta));

	assert_int_equal(wire_encode(0, 1, "{}", 2, NULL, 0, &f, &n), -EINVAL);
	assert_int_equal(wire_encode(99, 1, "{}", 2, NULL, 0, &f, &n), -EINVAL);
	assert_int_equal(wire_encode(WIRE_PING, 1, meta, WIRE_MAX_META + 1, NULL, 0, &f, &n),
			 -EMSGSIZE);
	/* The size check comes before any copy, so the body is never read. */
	assert_int_equal(wire_encode(WIRE_PING, 1, "{}", 2, meta, (size_t)WIRE_MAX_BODY + 1, &f,
				     &n),
			 -EMSGSIZE);
	assert_ptr_equal(f, orig);
	assert_int_equal(n, 77);

	assert_int_equal(wire_encode(WIRE_PING, 1, meta, WIRE_MAX_META, NULL, 0, &f, &n), 0);
	assert_int_equal(n, WIRE_HEADER_SIZE + WIRE_MAX_META);
	free(f);
}

static void test_round_trip_every_type(void **state)
{
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	for (size_t i = 0; i < sizeof(all_types); i++) {
		char meta[64];
		snprintf(meta, sizeof(meta), "{\"i\":%zu}", i);
		uint8_t body[300];
		for (size_t k = 0; k < sizeof(body); k++)
			body[k] = (uint8_t)(k * 7 + i);
		uint32_t id = 0x80000000u + (uint32_t)i;
		uint8_t *f;
		size_t n;
		assert_int_equal(wire_encode(all_types[i], id, meta, strlen(meta), body, i * 20, &f,
					     &n),
				 0);
		assert_int_equal(n, WIRE_HEADER_SIZE + strlen(meta) + i * 20);
		assert_int_equal(wire_decoder_feed(&d, f, n), 0);
		free(f);
		struct wire_frame fr;
		assert_int_equal(wire_decoder_next(&d, &fr), 1);
		assert_frame(&fr, all_types[i], id, meta, body, i * 20);
		char *dup = wire_frame_meta_dup(&fr);
		assert_string_equal(dup, meta);
		free(dup);
		assert_int_equal(wire_decoder_next(&d, &fr), 0);
	}
	wire_decoder_free(&d);
}

static void test_zero_length_sections(void **state)
{
	struct stream s = { 0 };
	stream_add_frame(&s, WIRE_PING, 1, NULL, NULL, 0);
	stream_add_frame(&s, WIRE_REPLY, 2, "{}", NULL, 0);
	stream_add_frame(&s, WIRE_INVOKE, 3, NULL, "xy", 2);
	assert_int_equal(s.len, 3 * WIRE_HEADER_SIZE + 2 + 2);

	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	struct wire_frame fr;
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_PING, 1, "", NULL, 0);
	char *dup = wire_frame_meta_dup(&fr);
	assert_string_equal(dup, "");
	free(dup);
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_REPLY, 2, "{}", NULL, 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_INVOKE, 3, "", "xy", 2);
	assert_int_equal(wire_decoder_next(&d, &fr), 0);
	wire_decoder_free(&d);
	free(s.data);
}

static uint8_t sample_big[70000];

static void fill_sample_big(void)
{
	for (size_t i = 0; i < sizeof(sample_big); i++)
		sample_big[i] = (uint8_t)(i ^ (i >> 8));
}

/* Builds a stream of several frames with varied sizes. */
static void build_sample_stream(struct stream *s)
{
	fill_sample_big();
	stream_add_frame(s, WIRE_HELLO, 0, "{\"version\":1}", NULL, 0);
	stream_add_frame(s, WIRE_INVOKE, 7, "{\"digest\":\"ab\"}", "input", 5);
	stream_add_frame(s, WIRE_ARTIFACT_PUT, 8, "{}", sample_big, sizeof(sample_big));
	stream_add_frame(s, WIRE_PING, 9, NULL, NULL, 0);
}

static void check_sample_frame(int *seen, const struct wire_frame *fr)
{
	switch (*seen) {
	case 0: assert_frame(fr, WIRE_HELLO, 0, "{\"version\":1}", NULL, 0); break;
	case 1: assert_frame(fr, WIRE_INVOKE, 7, "{\"digest\":\"ab\"}", "input", 5); break;
	case 2: assert_frame(fr, WIRE_ARTIFACT_PUT, 8, "{}", sample_big, sizeof(sample_big)); break;
	case 3: assert_frame(fr, WIRE_PING, 9, "", NULL, 0); break;
	default: fail_msg("unexpected extra frame");
	}
	(*seen)++;
}

/* Feeds the stream in chunks of the given sizes (cycled) and checks every
 * frame comes out exactly once, in order. */
static void feed_in_chunks(const size_t *sizes, size_t nsizes)
{
	struct stream s = { 0 };
	build_sample_stream(&s);
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	int seen = 0;
	size_t pos = 0, k = 0;
	while (pos < s.len) {
		size_t n = sizes[k++ % nsizes];
		if (n > s.len - pos)
			n = s.len - pos;
		assert_int_equal(wire_decoder_feed(&d, s.data + pos, n), 0);
		pos += n;
		struct wire_frame fr;
		int r;
		while ((r = wire_decoder_next(&d, &fr)) == 1)
			check_sample_frame(&seen, &fr);
		assert_int_equal(r, 0);
	}
	assert_int_equal(seen, 4);
	wire_decoder_free(&d);
	free(s.data);
}

static void test_feed_byte_by_byte(void **state)
{
	static const size_t one[] = { 1 };
	feed_in_chunks(one, 1);
}

static void test_feed_odd_chunks(void **state)
{
	static const size_t odd[] = { 3, 17, 1, 19, 20, 21, 4093, 7 };
	feed_in_chunks(odd, sizeof(odd) / sizeof(odd[0]));
	static const size_t header_sized[] = { WIRE_HEADER_SIZE };
	feed_in_chunks(header_sized, 1);
}

static void test_several_frames_one_feed(void **state)
{
	static const size_t all[] = { SIZE_MAX };
	feed_in_chunks(all, 1);
}

/* Feeds the stream whole, then drains frames and errors in order. */
static int next_all(struct wire_decoder *d, int *codes, struct wire_frame *frames, int max)
{
	int n = 0, r;
	struct wire_frame fr;
	while (n < max && (r = wire_decoder_next(d, &fr)) != 0) {
		codes[n] = r;
		frames[n] = fr;
		n++;
	}
	return n;
}

static void test_bad_magic_resync(void **state)
{
	struct stream s = { 0 };
	/* Garbage including a partial magic, then a good frame. */
	stream_add(&s, "garbage DT DTO junk", 19);
	stream_add_frame(&s, WIRE_PING, 5, "{}", NULL, 0);
	stream_add(&s, "\x00\x01", 2);
	stream_add_frame(&s, WIRE_STATUS, 6, "{}", NULL, 0);

	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	int codes[8];
	struct wire_frame frames[8];
	int n = next_all(&d, codes, frames, 8);
	assert_int_equal(n, 4);
	assert_int_equal(codes[0], WIRE_EBADMAGIC);
	assert_int_equal(codes[1], 1);
	assert_frame(&frames[1], WIRE_PING, 5, "{}", NULL, 0);
	assert_int_equal(codes[2], WIRE_EBADMAGIC);
	assert_int_equal(codes[3], 1);
	assert_frame(&frames[3], WIRE_STATUS, 6, "{}", NULL, 0);
	wire_decoder_free(&d);

	/* The same, byte by byte: still one error per garbage run, and a magic
	 * split across feeds is found. */
	wire_decoder_init(&d, WIRE_MAX_BODY);
	int errors = 0, good = 0;
	for (size_t i = 0; i < s.len; i++) {
		assert_int_equal(wire_decoder_feed(&d, s.data + i, 1), 0);
		struct wire_frame fr;
		int r;
		while ((r = wire_decoder_next(&d, &fr)) != 0) {
			if (r == WIRE_EBADMAGIC)
				errors++;
			else if (r == 1)
				good++;
			else
				fail_msg("unexpected result %d", r);
		}
	}
	assert_int_equal(errors, 2);
	assert_int_equal(good, 2);
	wire_decoder_free(&d);
	free(s.data);
}

static void test_bad_version_and_reserved(void **state)
{
	struct stream s = { 0 };
	stream_add_raw_header(&s, 2, WIRE_PING, 0, 1, 0, 0);
	stream_add_frame(&s, WIRE_PING, 2, "{}", NULL, 0);
	stream_add_raw_header(&s, WIRE_VERSION, WIRE_PING, 0x100, 3, 2, 0);
	stream_add(&s, "{}", 2);
	stream_add_frame(&s, WIRE_PING, 4, "{}", NULL, 0);

	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	int codes[8];
	struct wire_frame frames[8];
	int n = next_all(&d, codes, frames, 8);
	assert_int_equal(n, 4);
	assert_int_equal(codes[0], WIRE_EBADVERSION);
	assert_int_equal(codes[1], 1);
	assert_int_equal(frames[1].hdr.id, 2);
	assert_int_equal(codes[2], WIRE_ERESERVED);
	assert_int_equal(codes[3], 1);
	assert_int_equal(frames[3].hdr.id, 4);
	wire_decoder_free(&d);
	free(s.data);
}

static void test_unknown_type_skipped(void **state)
{
	struct stream s = { 0 };
	stream_add_raw_header(&s, WIRE_VERSION, 99, 0, 41, 3, 4);
	/* Its sections contain a magic, which must not be mistaken for a frame. */
	stream_add(&s, "DTO", 3);
	stream_add(&s, "1abc", 4);
	stream_add_frame(&s, WIRE_PING, 42, "{}", NULL, 0);

	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	int codes[8];
	struct wire_frame frames[8];
	int n = next_all(&d, codes, frames, 8);
	assert_int_equal(n, 2);
	assert_int_equal(codes[0], WIRE_EBADTYPE);
	assert_int_equal(frames[0].hdr.type, 99);
	assert_int_equal(frames[0].hdr.id, 41);
	assert_null(frames[0].meta);
	assert_null(frames[0].body);
	assert_int_equal(codes[1], 1);
	assert_frame(&frames[1], WIRE_PING, 42, "{}", NULL, 0);
	wire_decoder_free(&d);
	free(s.data);
}

static void test_oversized_body_skipped_in_pieces(void **state)
{
	const uint32_t max_body = 1000;
	const uint32_t body_len = 1000000;
	struct wire_decoder d;
	wire_decoder_init(&d, max_body);

	struct stream s = { 0 };
	stream_add_raw_header(&s, WIRE_VERSION, WIRE_ARTIFACT_PUT, 0, 77, 2, body_len);
	stream_add(&s, "{}", 2);
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	struct wire_frame fr;
	assert_int_equal(wire_decoder_next(&d, &fr), WIRE_ETOOBIG);
	assert_int_equal(fr.hdr.id, 77);
	assert_int_equal(fr.hdr.type, WIRE_ARTIFACT_PUT);
	assert_int_equal(fr.hdr.body_len, body_len);
	assert_null(fr.body);

	/* The body arrives in pieces, some of them looking like frames; the
	 * last piece ends the body and carries the start of a good frame. */
	uint8_t *good;
	size_t good_len;
	assert_int_equal(wire_encode(WIRE_PING, 78, "{}", 2, NULL, 0, &good, &good_len), 0);
	uint8_t piece[4096];
	memset(piece, 'D', sizeof(piece));
	size_t left = body_len;
	while (left > 100) {
		size_t n = left - 100 < sizeof(piece) ? left - 100 : sizeof(piece);
		if (left == body_len)
			memcpy(piece, good, good_len);
		assert_int_equal(wire_decoder_feed(&d, piece, n), 0);
		assert_int_equal(wire_decoder_next(&d, &fr), 0);
		/* Skipped bytes are never buffered. */
		assert_true(d.cap <= 4096);
		left -= n;
		memset(piece, 'D', sizeof(piece));
	}
	uint8_t tail[100 + 64];
	memset(tail, 'x', 100);
	memcpy(tail + 100, good, good_len);
	assert_int_equal(wire_decoder_feed(&d, tail, 100 + 5), 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 0);
	assert_int_equal(wire_decoder_feed(&d, tail + 105, good_len - 5), 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_PING, 78, "{}", NULL, 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 0);
	free(good);
	free(s.data);
	wire_decoder_free(&d);
}

static void test_oversized_meta(void **state)
{
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	struct stream s = { 0 };
	stream_add_raw_header(&s, WIRE_VERSION, WIRE_INVOKE, 0, 5, WIRE_MAX_META + 1, 3);
	char *meta = calloc(1, WIRE_MAX_META + 1 + 3);
	assert_non_null(meta);
	stream_add(&s, meta, WIRE_MAX_META + 1 + 3);
	free(meta);
	stream_add_frame(&s, WIRE_PING, 6, "{}", NULL, 0);
	/* Whole stream in one feed: the skipped frame is already buffered. */
	assert_int_equal(wire_decoder_feed(&d, s.data, s.len), 0);
	struct wire_frame fr;
	assert_int_equal(wire_decoder_next(&d, &fr), WIRE_ETOOBIG);
	assert_int_equal(fr.hdr.id, 5);
	assert_int_equal(fr.hdr.meta_len, WIRE_MAX_META + 1);
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_PING, 6, "{}", NULL, 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 0);
	wire_decoder_free(&d);
	free(s.data);
}

static void test_partial_header_waits(void **state)
{
	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	uint8_t *f;
	size_t n;
	assert_int_equal(wire_encode(WIRE_STATUS, 3, "{\"a\":1}", 7, "b", 1, &f, &n), 0);
	struct wire_frame fr;
	assert_int_equal(wire_decoder_next(&d, &fr), 0);
	for (size_t i = 0; i + 1 < n; i++) {
		assert_int_equal(wire_decoder_feed(&d, f + i, 1), 0);
		assert_int_equal(wire_decoder_next(&d, &fr), 0);
	}
	assert_int_equal(wire_decoder_feed(&d, f + n - 1, 1), 0);
	assert_int_equal(wire_decoder_next(&d, &fr), 1);
	assert_frame(&fr, WIRE_STATUS, 3, "{\"a\":1}", "b", 1);
	free(f);
	wire_decoder_free(&d);
	/* Freeing twice (or an unused decoder) is harmless. */
	wire_decoder_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_header_unpack_errors),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_zero_length_sections),
		cmocka_unit_test(test_feed_byte_by_byte),
		cmocka_unit_test(test_feed_odd_chunks),
		cmocka_unit_test(test_several_frames_one_feed),
		cmocka_unit_test(test_bad_magic_resync),
		cmocka_unit_test(test_bad_version_and_reserved),
		cmocka_unit_test(test_unknown_type_skipped),
		cmocka_unit_test(test_oversized_body_skipped_in_pieces),
		cmocka_unit_test(test_oversized_meta),
		cmocka_unit_test(test_partial_header_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
