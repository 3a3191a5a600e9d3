/* The agent <-> guest wire decoder (lib/wire) on arbitrary byte streams.
 *
 * Input: a body limit byte, a chunking seed (4 bytes), then the stream.
 * The stream is decoded twice, fed whole and fed in chunks drawn from the
 * seed; both must give the same frames and errors in the same order. Every
 * frame must lie within what was fed, respect the limits, and encode back
 * to exactly the bytes it was decoded from. */
#include <stdbool.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

/* What a decoder gave, in order: a fingerprint and a count. */
struct outcome {
	uint64_t hash;
	size_t frames, errors;
};

static void check_frame(const struct wire_frame *f, uint32_t max_body)
{
	FUZZ_CHECK(wire_type_is_known(f->hdr.type));
	FUZZ_CHECK(wire_type_name(f->hdr.type) != NULL);
	FUZZ_CHECK(f->hdr.version == WIRE_VERSION);
	FUZZ_CHECK(f->hdr.meta_len <= WIRE_MAX_META);
	FUZZ_CHECK(f->hdr.body_len <= max_body);
	/* The sections follow their header in the decoder's buffer: encoding
	 * the frame again gives those very bytes. */
	uint8_t *enc;
	size_t n;
	FUZZ_CHECK(wire_encode(f->hdr.type, f->hdr.id, f->meta, f->hdr.meta_len, f->body,
			       f->hdr.body_len, &enc, &n) == 0);
	FUZZ_CHECK(n == WIRE_HEADER_SIZE + (size_t)f->hdr.meta_len + f->hdr.body_len);
	FUZZ_CHECK(memcmp(enc, f->meta - WIRE_HEADER_SIZE, n) == 0);
	free(enc);
	char *meta = wire_frame_meta_dup(f);
	FUZZ_CHECK(meta && strlen(meta) <= f->hdr.meta_len);
	free(meta);
}

/* Hashes a header field by field: the struct's padding holds whatever the
 * stack held, which differs between two decodes of the same bytes. */
static uint64_t hash_header(uint64_t h, const struct wire_header *w)
{
	const uint32_t v[] = { w->version, w->type, w->id, w->meta_len, w->body_len };
	return fuzz_fnv(h, v, sizeof(v));
}

/* Takes every frame and error out of d into o. */
static void drain(struct wire_decoder *d, uint32_t max_body, struct outcome *o)
{
	for (;;) {
		struct wire_frame f;
		int r = wire_decoder_next(d, &f);
		if (r == 0)
			return;
		o->hash = fuzz_fnv(o->hash, &r, sizeof(r));
		if (r == 1) {
			check_frame(&f, max_body);
			o->frames++;
			o->hash = hash_header(o->hash, &f.hdr);
			o->hash = fuzz_fnv(o->hash, f.meta, f.hdr.meta_len);
			o->hash = fuzz_fnv(o->hash, f.body, f.hdr.body_len);
			continue;
		}
		FUZZ_CHECK(r == WIRE_EBADMAGIC || r == WIRE_EBADVERSION || r == WIRE_EBADTYPE ||
			   r == WIRE_ETOOBIG || r == WIRE_ERESERVED);
		/* A frame whose extent is known keeps its header, for the reply. */
		if (r == WIRE_EBADTYPE || r == WIRE_ETOOBIG) {
			FUZZ_CHECK(f.meta == NULL && f.body == NULL);
			o->hash = hash_header(o->hash, &f.hdr);
		}
		o->errors++;
	}
}

static struct outcome decode(const uint8_t *p, size_t n, uint32_t max_body, struct fuzz_chunks *c)
{
	struct wire_decoder d;
	struct outcome o = { FUZZ_FNV_INIT, 0, 0 };
	wire_decoder_init(&d, max_body);
	for (size_t off = 0; off < n;) {
		size_t k = c ? fuzz_chunk_next(c) : n - off;
		if (k > n - off)
			k = n - off;
		FUZZ_CHECK(wire_decoder_feed(&d, p + off, k) == 0);
		off += k;
		drain(&d, max_body, &o);
	}
	/* Each error skips at least one byte, so n bytes give at most n. */
	FUZZ_CHECK(o.errors <= n);
	wire_decoder_free(&d);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	/* Small limits reach the oversized-frame path with short inputs. */
	uint8_t lim = fuzz_byte(&in);
	uint32_t max_body = lim == 0xff ? WIRE_MAX_BODY : lim;
	struct fuzz_chunks c = { .state = (uint32_t)fuzz_u16(&in) << 16 | fuzz_u16(&in) };
	c.max = 1 + c.state % 64;

	struct outcome whole = decode(in.p, in.n, max_body, NULL);
	struct outcome chunked = decode(in.p, in.n, max_body, &c);
	FUZZ_CHECK(whole.frames == chunked.frames);
	FUZZ_CHECK(whole.errors == chunked.errors);
	FUZZ_CHECK(whole.hash == chunked.hash);
	return 0;
}
