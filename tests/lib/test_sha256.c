/* Unit tests for SHA-256: the FIPS 180-4 example vectors, hashed in one go and
 * fed in pieces split at awkward boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sha256.h"

static const char msg_448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg_896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			      "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static const char hex_empty[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char hex_abc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char hex_448[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
static const char hex_896[] = "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1";
static const char hex_million_a[] =
	"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

/* Hashes data fed in chunks of the given sizes, cycling through them. */
static void hash_in_chunks(const void *data, size_t len, const size_t *chunks, size_t n_chunks,
			   char ret_hex[SHA256_HEX_SIZE])
{
	struct sha256 ctx;
	uint8_t digest[SHA256_DIGEST_SIZE];
	const uint8_t *p = data;
	size_t off = 0;

	sha256_init(&ctx);
	for (size_t i = 0; off < len; i++) {
		size_t n = chunks[i % n_chunks];
		if (n > len - off)
			n = len - off;
		sha256_update(&ctx, p + off, n);
		off += n;
	}
	sha256_final(&ctx, digest);
	sha256_digest_to_hex(digest, ret_hex);
}

static void test_empty(void **state)
{
	char hex[SHA256_HEX_SIZE];
	sha256_hex("", 0, hex);
	assert_string_equal(hex, hex_empty);
	sha256_hex(NULL, 0, hex);
	assert_string_equal(hex, hex_empty);
}

static void test_abc(void **state)
{
	char hex[SHA256_HEX_SIZE];
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, hex_abc);
}

/* 448 bits leaves no room for the length in the last block, so the padding
 * spills into a second one. */
static void test_448_bits(void **state)
{
	char hex[SHA256_HEX_SIZE];
	assert_int_equal(strlen(msg_448) * 8, 448);
	sha256_hex(msg_448, strlen(msg_448), hex);
	assert_string_equal(hex, hex_448);
}

static void test_896_bits(void **state)
{
	char hex[SHA256_HEX_SIZE];
	assert_int_equal(strlen(msg_896) * 8, 896);
	sha256_hex(msg_896, strlen(msg_896), hex);
	assert_string_equal(hex, hex_896);
}

static void test_million_a(void **state)
{
	size_t len = 1000000;
	char *a = malloc(len);
	char hex[SHA256_HEX_SIZE];
	assert_non_null(a);
	memset(a, 'a', len);

	sha256_hex(a, len, hex);
	assert_string_equal(hex, hex_million_a);

	/* Chunk sizes that never line up with the 64-byte block. */
	static const size_t odd[] = { 1, 63, 65, 7, 127, 3 };
	hash_in_chunks(a, len, odd, sizeof(odd) / sizeof(odd[0]), hex);
	assert_string_equal(hex, hex_million_a);
	free(a);
}

/* Every split point of the two-block message, with empty updates mixed in,
 * must give the one-shot digest. */
static void test_every_split(void **state)
{
	size_t len = strlen(msg_896);
	for (size_t cut = 0; cut <= len; cut++) {
		struct sha256 ctx;
		uint8_t digest[SHA256_DIGEST_SIZE];
		char hex[SHA256_HEX_SIZE];

		sha256_init(&ctx);
		sha256_update(&ctx, msg_896, cut);
		sha256_update(&ctx, NULL, 0);
		sha256_update(&ctx, msg_896 + cut, len - cut);
		sha256_final(&ctx, digest);
		sha256_digest_to_hex(digest, hex);
		assert_string_equal(hex, hex_896);
	}
}

/* Byte-at-a-time feeding, and reuse of one context after sha256_init. */
static void test_bytewise_and_reuse(void **state)
{
	static const size_t one[] = { 1 };
	char hex[SHA256_HEX_SIZE];

	hash_in_chunks(msg_448, strlen(msg_448), one, 1, hex);
	assert_string_equal(hex, hex_448);
	hash_in_chunks("abc", 3, one, 1, hex);
	assert_string_equal(hex, hex_abc);
}

/* Lengths around the padding boundaries (55, 56, 63, 64, 65 bytes) must agree
 * between one-shot and split hashing, and differ from one another. */
static void test_padding_boundaries(void **state)
{
	static const size_t lens[] = { 55, 56, 57, 63, 64, 65, 119, 120, 128 };
	static const size_t split[] = { 5, 11 };
	char buf[128];
	char prev[SHA256_HEX_SIZE] = "";

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)('A' + i % 26);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char one_shot[SHA256_HEX_SIZE], pieces[SHA256_HEX_SIZE];
		sha256_hex(buf, lens[i], one_shot);
		hash_in_chunks(buf, lens[i], split, 2, pieces);
		assert_string_equal(one_shot, pieces);
		assert_string_not_equal(one_shot, prev);
		memcpy(prev, one_shot, sizeof(prev));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_empty),
					    cmocka_unit_test(test_abc),
					    cmocka_unit_test(test_448_bits),
					    cmocka_unit_test(test_896_bits),
					    cmocka_unit_test(test_million_a),
					    cmocka_unit_test(test_every_split),
					    cmocka_unit_test(test_bytewise_and_reuse),
					    cmocka_unit_test(test_padding_boundaries) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
