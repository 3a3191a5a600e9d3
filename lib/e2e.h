/* End-to-end encryption between a tenant's client and the tenant's VMs, so
 * the controller, the host agent, QEMU and the host kernel store and relay
 * ciphertext only. One scheme, used by the CLI (encrypting), the guest
 * (decrypting, running, encrypting the result) and ditto-bench; docs/security.md
 * describes it byte for byte for other clients.
 *
 * Keys:
 * - each VM's guest generates an X25519 key pair at boot; its public key is
 *   bound into the VM's attestation report (e2e_report_data);
 * - the tenant's client keeps one 32-byte tenant secret; an artifact is
 *   sealed with a key derived from it (HKDF-SHA256, a random salt per
 *   artifact), and every encrypted invocation carries the tenant secret to
 *   the VM, inside the request, so any attested VM of the tenant, including
 *   one started later, can open the artifact;
 * - every invocation uses a fresh client X25519 key pair (e2e_client_key
 *   derives it from the tenant secret and the invocation id, so an
 *   asynchronous result can be opened later from the secret alone); the
 *   result and the log come back sealed to it;
 * - a confidential VM is bound to its tenant at launch: the host sets the
 *   launch's HOST_DATA (32 bytes, reported at offset 0xC0 of every
 *   attestation report) to e2e_host_data(tenant secret) =
 *   HKDF-SHA256(ikm = tenant secret, salt = "" (32 zero bytes),
 *   info = "ditto-e2e-v1 host-data"), a one-way commitment; the guest runs
 *   only requests whose tenant secret gives its HOST_DATA, and a client
 *   checks HOST_DATA in the report before it trusts the VM.
 *
 * Primitives: X25519 (RFC 7748; a private key is 32 bytes as that RFC takes
 * them, clamped when used; a shared secret of all zeros is refused),
 * HKDF-SHA256 (RFC 5869) with a 32-byte output, AES-256-GCM with a 12-byte
 * nonce and a 16-byte tag, SHA-512. Every nonce below is 12 random bytes
 * drawn for that message, except the wrap's (see there). Strings are ASCII
 * without their NUL unless a 0x00 is written out.
 *
 * Formats (integers little-endian). Every message starts with an 8-byte
 * header: 4 magic bytes, byte 4 the version (1), byte 5 as the format says,
 * bytes 6 and 7 zero; a reader refuses any other magic, version or nonzero
 * byte.
 * - sealed artifact: "DTOA", version 1, 3 zero bytes, salt[16], nonce[12],
 *   ciphertext, tag[16]; key = HKDF-SHA256(ikm = tenant secret, salt,
 *   info = "ditto-e2e-v1 artifact"); AAD = the 8-byte header. Its size is
 *   the executable's plus E2E_ARTIFACT_OVERHEAD; the platform names it by
 *   the SHA-256 of these sealed bytes.
 * - request: "DTOQ", version 1, recipients n (1..E2E_MAX_RECIPIENTS), 2 zero
 *   bytes, client_pub[32], n x {vm_pub[32], wrapped_cek[48]}, nonce[12],
 *   ciphertext, tag[16]. The plaintext is the tenant secret (32 bytes) then
 *   the function's input. A random 32-byte content key (CEK) encrypts it
 *   (AES-256-GCM); each recipient gets the CEK wrapped with
 *   KEK = HKDF-SHA256(ikm = X25519(client, vm), salt = client_pub || vm_pub,
 *   info = "ditto-e2e-v1 wrap") under AES-256-GCM with a zero nonce (each
 *   KEK is used once) and the same AAD: wrapped_cek is the CEK's 32
 *   ciphertext bytes then the tag. A VM finds its entry by its public key
 *   and opens the first entry that matches; entries of other VMs are not
 *   its concern (each is bound to its own key by its KEK).
 * - response part (the result, and separately the log): "DTOS", version 1,
 *   part (1 result, 2 log), 2 zero bytes, vm_pub[32], nonce[12],
 *   ciphertext, tag[16]; key = HKDF-SHA256(ikm = X25519(vm, client),
 *   salt = client_pub || vm_pub, info = "ditto-e2e-v1 response"): the
 *   shared secret is the request's wrap's, so a VM needs one X25519
 *   exchange per invocation; both parts use this key. Its size
 *   is the plaintext's plus E2E_RESPONSE_OVERHEAD; an empty result or log is
 *   still sealed.
 * - AAD of a request and of its response parts: "ditto-e2e-v1", 0x00, the
 *   invocation id, 0x00, the function's digest (hex SHA-256 of the sealed
 *   artifact, as the platform names it), then the 8-byte header of the
 *   message (so a part cannot be swapped for another).
 *
 * Every function returns 0 or -errno: -EINVAL for bad arguments, -EBADMSG
 * for a message that is malformed or fails authentication, -ENOKEY when a
 * request names no recipient with this VM's key, -ENOMEM, -EIO when
 * libcrypto fails. Outputs are malloc'd; nothing is logged. */
#ifndef DITTO_E2E_H
#define DITTO_E2E_H

#include <stddef.h>
#include <stdint.h>

#define E2E_KEY_SIZE 32
#define E2E_MAX_RECIPIENTS 64
/* Bytes a sealed message adds to its plaintext. */
#define E2E_ARTIFACT_OVERHEAD (8 + 16 + 12 + 16)
#define E2E_RESPONSE_OVERHEAD (8 + 32 + 12 + 16)

struct e2e_keypair {
	uint8_t pub[E2E_KEY_SIZE];
	uint8_t priv[E2E_KEY_SIZE];
};

/* What a request and its response are bound to. */
struct e2e_aad {
	const char *invocation_id;
	const char *digest;
};

enum e2e_part { E2E_PART_RESULT = 1, E2E_PART_LOG = 2 };

/* The key one request's response parts are sealed with, and the public key
 * of the VM that seals them. */
struct e2e_response_key {
	uint8_t key[E2E_KEY_SIZE];
	uint8_t vm_pub[E2E_KEY_SIZE];
};

/* A fresh X25519 key pair from the system's random source. */
int e2e_keypair_generate(struct e2e_keypair *ret);

/* The per-invocation client key pair: its private key is
 * HKDF-SHA256(ikm = tenant secret, salt = "" (which RFC 5869 reads as 32
 * zero bytes), info = "ditto-e2e-v1 client" || invocation id). */
int e2e_client_key(const uint8_t secret[E2E_KEY_SIZE], const char *invocation_id,
		   struct e2e_keypair *ret);

/* HOST_DATA committing a confidential VM to a tenant secret:
 * HKDF-SHA256(ikm = secret, salt = "", info = "ditto-e2e-v1 host-data"), 32
 * bytes; it reveals nothing of the secret. Only when libcrypto fails (out of
 * memory) is ret all zeros, a value no launch of a confidential tenant sets. */
void e2e_host_data(const uint8_t secret[E2E_KEY_SIZE], uint8_t ret[32]);

/* REPORT_DATA of an attestation report binding a VM's public key to a
 * verifier's nonce: SHA-512(nonce || pub). */
void e2e_report_data(const uint8_t *nonce, size_t nonce_len, const uint8_t pub[E2E_KEY_SIZE],
		     uint8_t ret[64]);

int e2e_artifact_seal(const uint8_t secret[E2E_KEY_SIZE], const void *plain, size_t len,
		      uint8_t **ret, size_t *ret_len);
int e2e_artifact_open(const uint8_t secret[E2E_KEY_SIZE], const void *sealed, size_t len,
		      uint8_t **ret, size_t *ret_len);

/* Seals input to every VM key in vm_pubs (n of them). */
int e2e_request_seal(const struct e2e_keypair *client, const uint8_t (*vm_pubs)[E2E_KEY_SIZE],
		     size_t n, const uint8_t secret[E2E_KEY_SIZE], const struct e2e_aad *aad,
		     const void *input, size_t len, uint8_t **ret, size_t *ret_len);

/* Opens a request with a VM's key pair: the tenant secret, the client's
 * public key (to seal the response to) and the input. */
int e2e_request_open(const struct e2e_keypair *vm, const struct e2e_aad *aad, const void *msg,
		     size_t len, uint8_t ret_secret[E2E_KEY_SIZE],
		     uint8_t ret_client_pub[E2E_KEY_SIZE], uint8_t **ret, size_t *ret_len);

/* e2e_request_open for a VM that then seals the response: instead of the
 * client's public key, the response key (ret_key), derived from the same
 * X25519 exchange as the request's wrap, so the VM does one exchange per
 * invocation rather than one per message (under TCG each costs about half a
 * millisecond). The caller wipes *ret_key after use. */
int e2e_request_open_key(const struct e2e_keypair *vm, const struct e2e_aad *aad, const void *msg,
			 size_t len, uint8_t ret_secret[E2E_KEY_SIZE],
			 struct e2e_response_key *ret_key, uint8_t **ret, size_t *ret_len);

/* Seals one response part to client_pub. e2e_response_seal_key does the
 * same with a key from e2e_request_open_key (the format is one). */
int e2e_response_seal(const struct e2e_keypair *vm, const uint8_t client_pub[E2E_KEY_SIZE],
		      const struct e2e_aad *aad, enum e2e_part part, const void *plain, size_t len,
		      uint8_t **ret, size_t *ret_len);
int e2e_response_seal_key(const struct e2e_response_key *key, const struct e2e_aad *aad,
			  enum e2e_part part, const void *plain, size_t len, uint8_t **ret,
			  size_t *ret_len);

/* Opens a response part with the client's key pair. vm_pubs lists the VM keys
 * the client sealed the request to (the ones it attested); a part from any
 * other key is refused with -EBADMSG. ret_vm, when not NULL, gets the index
 * of the VM key that sealed it. */
int e2e_response_open(const struct e2e_keypair *client, const uint8_t (*vm_pubs)[E2E_KEY_SIZE],
		      size_t n, const struct e2e_aad *aad, enum e2e_part part, const void *msg,
		      size_t len, uint8_t **ret, size_t *ret_len, size_t *ret_vm);

#endif
