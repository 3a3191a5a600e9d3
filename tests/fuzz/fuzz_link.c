/* The controller <-> agent link's frames (lib/agent_link on lib/wire's
 * decoder, link type set) on arbitrary byte streams.
 *
 * Input: a chunking seed (4 bytes), then the stream, decoded as the agent
 * and the controller read the link, fed in chunks drawn from the seed.
 * Every frame must be a link type, encode back through link_frame_append to
 * exactly the bytes it came from, and have its meta read by each of the
 * codec's readers without a crash, each answer within its contract. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "agent_link.h"
#include "fuzz.h"

static const char *const params[] = { "vm",  "artifact",   "mode", "timeout_ms", "memory_mib",
				      "cpu", "invocation", "e2e",  "runtime",    "handler" };

static void check_meta(const struct wire_frame *f)
{
	json_t *m = link_meta_parse(f);
	if (!m)
		return;
	FUZZ_CHECK(json_is_object(m));
	unsigned w = 0;
	if (link_hello_parse(m, &w) == 0)
		FUZZ_CHECK(w >= 1 && w <= LINK_WINDOW_MAX);
	size_t rlen = 0;
	if (link_result_split(m, f->hdr.body_len, &rlen) == 0)
		FUZZ_CHECK(rlen <= f->hdr.body_len);
	int st = link_error_status(m);
	FUZZ_CHECK(st == -EPROTO || (st >= 400 && st <= 599));
	char scratch[32];
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		const char *v = link_param(m, params[i], scratch, sizeof(scratch));
		FUZZ_CHECK((v == NULL) == (json_object_get(m, params[i]) == NULL));
	}
	json_decref(m);
}

static void check_frame(const struct wire_frame *f)
{
	FUZZ_CHECK(wire_type_in(WIRE_PROTO_LINK, f->hdr.type));
	FUZZ_CHECK(!wire_type_is_known(f->hdr.type));
	struct buf out = { 0 };
	FUZZ_CHECK(link_frame_append(&out, f->hdr.type, f->hdr.id, f->meta, f->hdr.meta_len,
				     f->body, f->hdr.body_len) == 0);
	FUZZ_CHECK(out.len == WIRE_HEADER_SIZE + (size_t)f->hdr.meta_len + f->hdr.body_len);
	FUZZ_CHECK(memcmp(out.data, f->meta - WIRE_HEADER_SIZE, out.len) == 0);
	buf_free(&out);
	check_meta(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct fuzz_chunks c = { .state = (uint32_t)fuzz_u16(&in) << 16 | fuzz_u16(&in) };
	c.max = 1 + c.state % 64;
	struct wire_decoder d;
	wire_decoder_init_proto(&d, WIRE_PROTO_LINK, WIRE_MAX_BODY);
	size_t errors = 0;
	for (size_t off = 0; off < in.n;) {
		size_t k = fuzz_chunk_next(&c);
		if (k > in.n - off)
			k = in.n - off;
		FUZZ_CHECK(wire_decoder_feed(&d, in.p + off, k) == 0);
		off += k;
		for (;;) {
			struct wire_frame f;
			int r = wire_decoder_next(&d, &f);
			if (r == 0)
				break;
			if (r == 1) {
				check_frame(&f);
				continue;
			}
			FUZZ_CHECK(r == WIRE_EBADMAGIC || r == WIRE_EBADVERSION ||
				   r == WIRE_EBADTYPE || r == WIRE_ETOOBIG || r == WIRE_ERESERVED);
			errors++;
		}
	}
	FUZZ_CHECK(errors <= in.n);
	wire_decoder_free(&d);
	return 0;
}
