/* The wire codec's frames: header layout, type names, the encoder's limits
 * and round trips of every type. */
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

static const uint8_t all_types[] = {
	WIRE_HELLO,       WIRE_CPU_EVENT,    WIRE_REPLY,       WIRE_ERROR,
	WIRE_PING,        WIRE_CPU_ACTIVATE, WIRE_CPU_STANDBY, WIRE_CPU_OFFLINE,
	WIRE_CPU_RELEASE, WIRE_ARTIFACT_PUT, WIRE_INVOKE,      WIRE_STATUS,
	WIRE_ATTEST,
};

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
	assert_false(wire_type_is_known(25));
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
	assert_int_equal(
		wire_encode(WIRE_PING, 1, "{}", 2, meta, (size_t)WIRE_MAX_BODY + 1, &f, &n),
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
		assert_int_equal(
			wire_encode(all_types[i], id, meta, strlen(meta), body, i * 20, &f, &n), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_type_names),
					    cmocka_unit_test(test_header_layout),
					    cmocka_unit_test(test_header_unpack_errors),
					    cmocka_unit_test(test_encode_limits),
					    cmocka_unit_test(test_round_trip_every_type),
					    cmocka_unit_test(test_zero_length_sections) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
