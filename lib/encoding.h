/* Byte-string checks and encodings for putting opaque payloads into JSON. */
#ifndef DITTO_ENCODING_H
#define DITTO_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when p[0..n) is well-formed UTF-8 with no NUL byte (so it can be a
 * JSON string as is): no overlong forms, no surrogates, nothing past U+10FFFF. */
bool utf8_is_valid(const uint8_t *p, size_t n);

/* Standard base64 with padding, NUL-terminated, malloc'd; NULL on ENOMEM. */
char *base64_encode(const uint8_t *p, size_t n);

/* Decodes standard base64 (padding optional). Returns 0 with a malloc'd
 * buffer, -EINVAL for bad input or -ENOMEM. */
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

#endif
