/* SHA-256 (FIPS 180-4), pure C with no dependencies, so the static sample
 * functions and the guest can hash without linking a crypto library. */
#ifndef DITTO_SHA256_H
#define DITTO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64
#define SHA256_HEX_SIZE (2 * SHA256_DIGEST_SIZE + 1)

/* The running state of one hash. Treat the fields as private. */
struct sha256 {
	uint32_t h[8];
	uint64_t total;                   /* bytes hashed so far */
	uint8_t block[SHA256_BLOCK_SIZE]; /* a partial block awaiting more input */
	size_t used;                      /* bytes held in block */
};

/* Starts a new hash in ctx (any previous state is discarded). */
void sha256_init(struct sha256 *ctx);

/* Feeds len bytes of data; any split of the input into calls gives the same
 * digest. data may be NULL when len is 0. */
void sha256_update(struct sha256 *ctx, const void *data, size_t len);

/* Writes the digest of everything fed since sha256_init to ret_digest. ctx is
 * spent afterwards: call sha256_init before reusing it. */
void sha256_final(struct sha256 *ctx, uint8_t ret_digest[SHA256_DIGEST_SIZE]);

/* Hashes len bytes of data in one go and writes the digest as 64 lower-case
 * hex digits and a NUL to ret_hex. */
void sha256_hex(const void *data, size_t len, char ret_hex[SHA256_HEX_SIZE]);

/* Writes the 32-byte digest as 64 lower-case hex digits and a NUL. */
void sha256_digest_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char ret_hex[SHA256_HEX_SIZE]);

#endif
