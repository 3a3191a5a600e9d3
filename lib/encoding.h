/* Byte-string checks and encodings for putting opaque payloads into JSON. */
#ifndef DITTO_ENCODING_H
#define DITTO_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* True when p[0..n) is well-formed UTF-8 with no NUL byte (so it can be a
 * JSON string as is): no overlong forms, no surrogates, nothing past U+10FFFF. */
bool utf8_is_valid(const uint8_t *p, size_t n);

/* Copies in[0..n) into out as well-formed UTF-8 with no NUL byte, for text
 * that may carry any bytes (a request's path, say) on its way into JSON:
 * each ill-formed sequence (its longest well-formed start, or one byte) and
 * each NUL becomes U+FFFD. Stops before the first character that does not
 * fit, so a cut never splits one. out is always NUL-terminated when size >
 * 0. Returns the length written, without the NUL. */
size_t utf8_sanitize(const char *in, size_t n, char *out, size_t size);

/* Writes n bytes as 2n lower-case hex digits and a NUL to out. */
void bytes_to_hex(const uint8_t *p, size_t n, char *out);
/* Decodes exactly 2n hex digits (either case) into n bytes. Returns 0, or
 * -EINVAL when s is NULL, of another length, or not hex (out may then be
 * partly written). */
int hex_to_bytes(const char *s, uint8_t *out, size_t n);
/* Standard base64 with padding, NUL-terminated, malloc'd; NULL on ENOMEM. */
char *base64_encode(const uint8_t *p, size_t n);

/* Decodes standard base64 (padding optional). Returns 0 with a malloc'd
 * buffer, -EINVAL for bad input or -ENOMEM. */
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

/* Puts opaque bytes into a JSON object as o[key], a string when they are
 * valid UTF-8 (the usual case: a JSON result) and base64 otherwise, and
 * says which in o[enc_key] ("utf-8" or "base64"). NULL p is empty. */
void payload_to_json(json_t *o, const char *key, const char *enc_key, const uint8_t *p, size_t n);
/* The reverse: decodes o[key] as o[enc_key] says into malloc'd bytes (NULL
 * with length 0 when o[key] is missing). Returns 0, -EINVAL for bad base64
 * or -ENOMEM. */
int payload_from_json(json_t *o, const char *key, const char *enc_key, uint8_t **ret,
		      size_t *ret_len);

#endif
