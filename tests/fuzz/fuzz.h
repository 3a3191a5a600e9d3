/* What the libFuzzer harnesses share: the entry point's prototype, a check
 * that reports a broken invariant as a finding, and a cursor that takes
 * parameters (sizes, selectors) off the front of an input.
 *
 * Each harness is one file, tests/fuzz/fuzz_NAME.c, linked with libFuzzer
 * and ASan+UBSan; its seeds live in tests/fuzz/corpus/NAME/. */
#ifndef DITTO_TESTS_FUZZ_H
#define DITTO_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding like a crash: libFuzzer saves the input
 * and the run fails. */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* The unread rest of an input. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* The next byte, or 0 once the input is used up. */
static inline uint8_t fuzz_byte(struct fuzz_in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* The next little-endian 16-bit value (missing bytes read as 0). */
static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t lo = fuzz_byte(in);
	return (uint16_t)(lo | (uint16_t)fuzz_byte(in) << 8);
}

/* A deterministic stream of chunk sizes in 1..max drawn from a seed, so one
 * input decodes the same way under every chunking a harness tries. */
struct fuzz_chunks {
	uint32_t state;
	size_t max;
};

static inline size_t fuzz_chunk_next(struct fuzz_chunks *c)
{
	/* xorshift32; a zero state would stay zero. */
	uint32_t x = c->state ? c->state : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->state = x;
	return 1 + x % c->max;
}

/* FNV-1a over bytes, chained from h: a short fingerprint of what a decoder
 * gave, to compare two decodings of one stream. */
static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}
#define FUZZ_FNV_INIT 0xcbf29ce484222325ull

#endif
