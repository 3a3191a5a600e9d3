/* The controller <-> agent link's codec (lib/agent_link): frames batched
 * into one buffer and decoded back, the type sets kept apart, and each
 * frame's meta built and read. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_link.h"

static void next_frame(struct wire_decoder *d, uint8_t type, uint32_t id, const char *meta,
		       const void *body, size_t body_len)
{
	struct wire_frame f;
	assert_int_equal(wire_decoder_next(d, &f), 1);
	assert_int_equal(f.hdr.type, type);
	assert_int_equal(f.hdr.id, id);
	assert_int_equal(f.hdr.meta_len, strlen(meta));
	assert_memory_equal(f.meta, meta, strlen(meta));
	assert_int_equal(f.hdr.body_len, body_len);
	if (body_len)
		assert_memory_equal(f.body, body, body_len);
}

/* Several frames appended to one buffer come out of one feed in order, and
 * the body's bytes (not text, not JSON) arrive as they were. */
static void test_batch_round_trip(void **state)
{
	static const uint8_t input[] = { 0, 0xff, '"', '\n', 0x80 };
	struct buf out = { 0 };
	assert_int_equal(link_frame_append(&out, WIRE_LINK_INVOKE, 7, "{\"vm\":\"t\"}", 10, input,
					   sizeof(input)),
			 0);
	json_t *m = json_pack("{s:i}", "result_len", 2);
	assert_int_equal(link_frame_append_json(&out, WIRE_LINK_RESULT, 7, m, "okLOG", 5), 0);
	json_decref(m);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_CANCEL, 8, "{}", 2, NULL, 0), 0);
	assert_int_equal(out.len, 3 * WIRE_HEADER_SIZE + 10 + sizeof(input) + 16 + 5 + 2);

	struct wire_decoder d;
	wire_decoder_init_proto(&d, WIRE_PROTO_LINK, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, out.data, out.len), 0);
	next_frame(&d, WIRE_LINK_INVOKE, 7, "{\"vm\":\"t\"}", input, sizeof(input));
	next_frame(&d, WIRE_LINK_RESULT, 7, "{\"result_len\":2}", "okLOG", 5);
	next_frame(&d, WIRE_LINK_CANCEL, 8, "{}", NULL, 0);
	struct wire_frame f;
	assert_int_equal(wire_decoder_next(&d, &f), 0);
	wire_decoder_free(&d);
	buf_free(&out);
}

/* A link frame on a guest channel, or a guest frame on the link, is an
 * unknown type there; the encoder writes only link types. */
static void test_type_sets_apart(void **state)
{
	assert_true(wire_type_in(WIRE_PROTO_LINK, WIRE_LINK_HELLO));
	assert_false(wire_type_in(WIRE_PROTO_LINK, WIRE_INVOKE));
	assert_false(wire_type_in(WIRE_PROTO_GUEST, WIRE_LINK_INVOKE));
	assert_false(wire_type_is_known(WIRE_LINK_RESULT));
	assert_false(wire_type_in(7, WIRE_INVOKE));
	assert_string_equal(wire_type_name(WIRE_LINK_CANCEL), "link_cancel");

	struct buf out = { 0 };
	assert_int_equal(link_frame_append(&out, WIRE_INVOKE, 1, "{}", 2, NULL, 0), -EINVAL);
	assert_int_equal(out.len, 0);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_INVOKE, 1, "{}", 2, NULL, 0), 0);

	struct wire_decoder d;
	wire_decoder_init(&d, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, out.data, out.len), 0);
	struct wire_frame f;
	assert_int_equal(wire_decoder_next(&d, &f), WIRE_EBADTYPE);
	assert_int_equal(f.hdr.id, 1);
	wire_decoder_free(&d);

	uint8_t *g;
	size_t n;
	assert_int_equal(wire_encode(WIRE_PING, 3, "{}", 2, NULL, 0, &g, &n), 0);
	wire_decoder_init_proto(&d, WIRE_PROTO_LINK, WIRE_MAX_BODY);
	assert_int_equal(wire_decoder_feed(&d, g, n), 0);
	assert_int_equal(wire_decoder_next(&d, &f), WIRE_EBADTYPE);
	/* The decoder keeps its type set when freed and used again. */
	wire_decoder_free(&d);
	assert_int_equal(wire_decoder_feed(&d, out.data, out.len), 0);
	assert_int_equal(wire_decoder_next(&d, &f), 1);
	wire_decoder_free(&d);
	free(g);
	buf_free(&out);
}

static void test_append_limits(void **state)
{
	struct buf out = { 0 };
	assert_int_equal(link_frame_append(&out, WIRE_LINK_HELLO, 0, "{}", 2, NULL, 0), 0);
	size_t len = out.len;
	assert_int_equal(
		link_frame_append(&out, WIRE_LINK_RESULT, 1, "x", WIRE_MAX_META + 1, NULL, 0),
		-EMSGSIZE);
	assert_int_equal(link_frame_append(&out, WIRE_LINK_RESULT, 1, "{}", 2, "x",
					   (size_t)WIRE_MAX_BODY + 1),
			 -EMSGSIZE);
	assert_int_equal(out.len, len);
	buf_free(&out);
}

static json_t *parse_one(const char *meta)
{
	struct wire_frame f = { .hdr = { .meta_len = (uint32_t)strlen(meta) }, .meta = meta };
	return link_meta_parse(&f);
}

static void test_meta_parse(void **state)
{
	json_t *o = parse_one("");
	assert_true(json_is_object(o) && json_object_size(o) == 0);
	json_decref(o);
	assert_null(parse_one("[1]"));
	assert_null(parse_one("{\"a\":1,\"a\":2}"));
	assert_null(parse_one("{\"a\":"));
}

static void test_hello(void **state)
{
	unsigned w = 0;
	json_t *m = link_hello_meta(64);
	assert_int_equal(link_hello_parse(m, &w), 0);
	assert_int_equal(w, 64);
	json_decref(m);
	static const char *const bad[] = {
		"{\"version\":2,\"window\":4}",
		"{\"version\":1,\"window\":0}",
		"{\"version\":1,\"window\":65537}",
		"{\"version\":1}",
		"{\"window\":4}",
		"{\"version\":\"1\",\"window\":4}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = parse_one(bad[i]);
		assert_non_null(m);
		w = 99;
		assert_int_equal(link_hello_parse(m, &w), -EPROTO);
		assert_int_equal(w, 99);
		json_decref(m);
	}
}

/* INVOKE's meta reads back, parameter by parameter, as the query string
 * would have carried it. */
static void test_invoke_params(void **state)
{
	struct link_invoke p = {
		.vm = "acme",
		.artifact = "ab12",
		.mode = "persistent",
		.timeout_ms = 1500,
		.memory_mib = 64,
		.invocation = "0123",
		.e2e = true,
		.runtime = "python3",
	};
	json_t *m = link_invoke_meta(&p);
	assert_non_null(m);
	char s[32];
	assert_string_equal(link_param(m, "vm", s, sizeof(s)), "acme");
	assert_string_equal(link_param(m, "artifact", s, sizeof(s)), "ab12");
	assert_string_equal(link_param(m, "mode", s, sizeof(s)), "persistent");
	assert_string_equal(link_param(m, "timeout_ms", s, sizeof(s)), "1500");
	assert_string_equal(link_param(m, "memory_mib", s, sizeof(s)), "64");
	assert_string_equal(link_param(m, "invocation", s, sizeof(s)), "0123");
	assert_string_equal(link_param(m, "e2e", s, sizeof(s)), "1");
	assert_string_equal(link_param(m, "runtime", s, sizeof(s)), "python3");
	assert_string_equal(link_param(m, "handler", s, sizeof(s)), "");
	assert_null(link_param(m, "cpu", s, sizeof(s)));
	json_decref(m);

	struct link_invoke bare = { .vm = "v", .artifact = "a" };
	m = link_invoke_meta(&bare);
	assert_int_equal(json_object_size(m), 2);
	assert_null(link_param(m, "handler", s, sizeof(s)));
	assert_null(link_param(m, "e2e", s, sizeof(s)));
	json_decref(m);

	m = parse_one("{\"timeout_ms\":[1],\"cpu\":-3,\"e2e\":false,\"mode\":null}");
	assert_string_equal(link_param(m, "timeout_ms", s, sizeof(s)), "");
	assert_string_equal(link_param(m, "cpu", s, sizeof(s)), "-3");
	assert_string_equal(link_param(m, "e2e", s, sizeof(s)), "0");
	assert_string_equal(link_param(m, "mode", s, sizeof(s)), "");
	json_decref(m);
}

static void test_result_and_error(void **state)
{
	size_t n = 99;
	json_t *m = parse_one("{\"status\":\"ok\",\"result_len\":3}");
	assert_int_equal(link_result_split(m, 5, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(link_result_split(m, 2, &n), -EPROTO);
	json_decref(m);
	m = parse_one("{\"result_len\":-1}");
	assert_int_equal(link_result_split(m, 5, &n), -EPROTO);
	json_decref(m);
	m = parse_one("{}");
	assert_int_equal(link_result_split(m, 0, &n), -EPROTO);
	json_decref(m);

	json_t *reply = parse_one("{\"error\":{\"code\":\"no_vm\",\"message\":\"none\"}}");
	m = link_error_meta(404, reply);
	json_decref(reply);
	assert_int_equal(link_error_status(m), 404);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "error"), "code")),
			    "no_vm");
	json_decref(m);
	m = link_error_meta(500, NULL);
	assert_int_equal(link_error_status(m), 500);
	json_decref(m);
	static const char *const bad[] = { "{\"status\":200,\"error\":{}}", "{\"status\":404}",
					   "{\"status\":\"404\",\"error\":{}}",
					   "{\"status\":600,\"error\":{}}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = parse_one(bad[i]);
		assert_int_equal(link_error_status(m), -EPROTO);
		json_decref(m);
	}
}

/* The upgrade that opens the link, and reading its answer's head. */
static void test_upgrade(void **state)
{
	char req[256];
	int n = link_upgrade_request(req, sizeof(req), "10.0.0.2", "tok");
	assert_true(n > 0 && (size_t)n == strlen(req));
	assert_non_null(strstr(req, "GET /v1/link HTTP/1.1\r\n"));
	assert_non_null(strstr(req, "\r\nUpgrade: ditto-link/1\r\n"));
	assert_non_null(strstr(req, "\r\nAuthorization: Bearer tok\r\n\r\n"));
	n = link_upgrade_request(req, sizeof(req), "h", NULL);
	assert_null(strstr(req, "Authorization"));
	assert_string_equal(req + n - 4, "\r\n\r\n");
	assert_int_equal(link_upgrade_request(req, 40, "h", "tok"), -ENAMETOOLONG);

	int st = 0;
	size_t len = 99;
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nDTO1";
	assert_int_equal(link_upgrade_response(ok, 0, &st, &len), 0);
	assert_int_equal(link_upgrade_response(ok, 20, &st, &len), 0);
	assert_int_equal(link_upgrade_response(ok, sizeof(ok) - 1, &st, &len), sizeof(ok) - 5);
	assert_int_equal(st, 101);
	assert_int_equal(len, 0);
	static const char no[] = "HTTP/1.1 401 Unauthorized\r\ncontent-LENGTH:  12\r\n\r\n";
	assert_int_equal(link_upgrade_response(no, sizeof(no) - 1, &st, &len), sizeof(no) - 1);
	assert_int_equal(st, 401);
	assert_int_equal(len, 12);
	static const char *const bad[] = { "HELLO\r\n\r\n", "HTTP/1.1 1x1 ?\r\n\r\n",
					   "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(link_upgrade_response(bad[i], strlen(bad[i]), &st, &len), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_round_trip),
		cmocka_unit_test(test_type_sets_apart),
		cmocka_unit_test(test_append_limits),
		cmocka_unit_test(test_meta_parse),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_invoke_params),
		cmocka_unit_test(test_result_and_error),
		cmocka_unit_test(test_upgrade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
