/* The wire decoder: input in chunks of any size, and its recovery from
 * every kind of bad frame (bad magic, version, reserved bytes, unknown
 * types, oversized sections, partial headers). */
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
#include "wire_stream.h"

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

/* What feeding a stream whole decodes to: each result in order (1 for a frame, else the
 * error) with its frame, which points into the decoder. */
struct decoded {
	struct wire_decoder d;
	int n;
	int codes[8];
	struct wire_frame frames[8];
};

/* Feeds @s whole to a fresh decoder in @out, then drains frames and errors in order and
 * checks that their results are the n in want. The caller frees out->d. */
static void decode_whole(struct decoded *out, const struct stream *s, const int *want, int n)
{
	int r;
	wire_decoder_init(&out->d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&out->d, s->data, s->len), 0);
	out->n = 0;
	while (out->n < 8 && (r = wire_decoder_next(&out->d, &out->frames[out->n])) != 0)
		out->codes[out->n++] = r;
	assert_int_equal(out->n, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(out->codes[i], want[i]);
}

static void test_bad_magic_resync(void **state)
{
	struct stream s = { 0 };
	/* Garbage including a partial magic, then a good frame. */
	stream_add(&s, "garbage DT DTO junk", 19);
	stream_add_frame(&s, WIRE_PING, 5, "{}", NULL, 0);
	stream_add(&s, "\x00\x01", 2);
	stream_add_frame(&s, WIRE_STATUS, 6, "{}", NULL, 0);

	struct decoded got;
	decode_whole(&got, &s, (const int[]){ WIRE_EBADMAGIC, 1, WIRE_EBADMAGIC, 1 }, 4);
	assert_frame(&got.frames[1], WIRE_PING, 5, "{}", NULL, 0);
	assert_frame(&got.frames[3], WIRE_STATUS, 6, "{}", NULL, 0);
	wire_decoder_free(&got.d);

	/* The same, byte by byte: still one error per garbage run, and a magic
	 * split across feeds is found. */
	struct wire_decoder d;
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

	struct decoded got;
	decode_whole(&got, &s, (const int[]){ WIRE_EBADVERSION, 1, WIRE_ERESERVED, 1 }, 4);
	assert_int_equal(got.frames[1].hdr.id, 2);
	assert_int_equal(got.frames[3].hdr.id, 4);
	wire_decoder_free(&got.d);
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

	struct decoded got;
	decode_whole(&got, &s, (const int[]){ WIRE_EBADTYPE, 1 }, 2);
	assert_int_equal(got.frames[0].hdr.type, 99);
	assert_int_equal(got.frames[0].hdr.id, 41);
	assert_null(got.frames[0].meta);
	assert_null(got.frames[0].body);
	assert_frame(&got.frames[1], WIRE_PING, 42, "{}", NULL, 0);
	wire_decoder_free(&got.d);
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
		assert_true(d.buf.cap <= 4096);
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

/* A decoder holding nearly SIZE_MAX bytes refuses more instead of letting
 * its length wrap. No real buffer is behind it, and it is never touched. */
static void test_size_guard(void **state)
{
	struct wire_decoder d;
	wire_decoder_init(&d, 1000);
	d.buf = (struct buf){ .data = NULL, .len = SIZE_MAX - 4, .cap = SIZE_MAX - 4 };
	assert_int_equal(wire_decoder_feed(&d, "DTO1DTO1DTO1", 12), -ENOMEM);
	assert_int_equal(d.buf.len, SIZE_MAX - 4);
	assert_null(d.buf.data);
	wire_decoder_init(&d, 1000);
	wire_decoder_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_feed_byte_by_byte),
					    cmocka_unit_test(test_feed_odd_chunks),
					    cmocka_unit_test(test_several_frames_one_feed),
					    cmocka_unit_test(test_bad_magic_resync),
					    cmocka_unit_test(test_bad_version_and_reserved),
					    cmocka_unit_test(test_unknown_type_skipped),
					    cmocka_unit_test(test_oversized_body_skipped_in_pieces),
					    cmocka_unit_test(test_oversized_meta),
					    cmocka_unit_test(test_partial_header_waits),
					    cmocka_unit_test(test_size_guard) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
