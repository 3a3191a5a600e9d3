/* The encodings (lib/encoding) both ways on arbitrary bytes.
 *
 * The input is taken as bytes and as text at once. Checked: the UTF-8
 * check agrees with jansson's; the sanitizer always gives valid UTF-8 that
 * fits, keeps valid text as it is and cuts only between characters; hex and
 * base64 round trip in both directions (bytes to text to bytes, and text
 * that decodes to bytes and back); payloads round trip through JSON. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "encoding.h"
#include "fuzz.h"

static void check_utf8(const uint8_t *p, size_t n)
{
	bool valid = utf8_is_valid(p, n);
	json_t *s = json_stringn((const char *)p, n);
	FUZZ_CHECK(valid == (s != NULL && memchr(p, '\0', n) == NULL));
	json_decref(s);

	/* Each input byte becomes at most U+FFFD's three bytes. */
	size_t big = 3 * n + 1;
	char *all = malloc(big);
	FUZZ_CHECK(all);
	size_t len = utf8_sanitize((const char *)p, n, all, big);
	FUZZ_CHECK(len < big && all[len] == '\0' && strlen(all) == len);
	FUZZ_CHECK(utf8_is_valid((const uint8_t *)all, len));
	if (valid)
		FUZZ_CHECK(len == n && memcmp(all, p, n) == 0);
	/* A smaller room cuts between characters: a prefix of the whole. */
	size_t room = n ? 1 + p[0] % 48 : 1;
	char cut[48];
	size_t k = utf8_sanitize((const char *)p, n, cut, room);
	FUZZ_CHECK(k < room && cut[k] == '\0' && k <= len);
	FUZZ_CHECK(memcmp(cut, all, k) == 0);
	FUZZ_CHECK(utf8_is_valid((const uint8_t *)cut, k));
	/* Nothing is cut that would have fitted: the next character (at most
	 * four bytes) did not. */
	FUZZ_CHECK(k == len || k + 4 >= room);
	free(all);
}

static void check_hex(const uint8_t *p, size_t n, const char *text)
{
	char *hex = malloc(2 * n + 1);
	uint8_t *back = malloc(n + 1);
	FUZZ_CHECK(hex && back);
	bytes_to_hex(p, n, hex);
	FUZZ_CHECK(strlen(hex) == 2 * n);
	FUZZ_CHECK(hex_to_bytes(hex, back, n) == 0 && memcmp(back, p, n) == 0);
	/* Text: it decodes only when it is exactly hex of that length, and then
	 * encodes back to itself in lower case. */
	size_t tn = strlen(text);
	int r = hex_to_bytes(text, back, tn / 2);
	bool is_hex = tn % 2 == 0;
	for (size_t i = 0; i < tn && is_hex; i++)
		is_hex = isxdigit((unsigned char)text[i]);
	FUZZ_CHECK((r == 0) == is_hex);
	if (r == 0) {
		bytes_to_hex(back, tn / 2, hex);
		for (size_t i = 0; i < tn; i++)
			FUZZ_CHECK(hex[i] == tolower((unsigned char)text[i]));
	}
	FUZZ_CHECK(hex_to_bytes(NULL, back, 0) == -EINVAL);
	free(hex);
	free(back);
}

static void check_base64(const uint8_t *p, size_t n)
{
	char *b64 = base64_encode(p, n);
	FUZZ_CHECK(b64 && strlen(b64) == (n + 2) / 3 * 4);
	uint8_t *back;
	size_t back_len;
	FUZZ_CHECK(base64_decode(b64, strlen(b64), &back, &back_len) == 0);
	FUZZ_CHECK(back_len == n && memcmp(back, p, n) == 0);
	free(back);
	free(b64);

	/* Text that decodes: its bytes encode to a text that decodes to them
	 * again, and there are as many as the digits carry. */
	uint8_t *dec;
	size_t dec_len;
	if (base64_decode((const char *)p, n, &dec, &dec_len) != 0)
		return;
	size_t digits = n;
	while (digits > 0 && p[digits - 1] == '=')
		digits--;
	FUZZ_CHECK(dec_len == digits * 6 / 8);
	b64 = base64_encode(dec, dec_len);
	FUZZ_CHECK(b64);
	FUZZ_CHECK(base64_decode(b64, strlen(b64), &back, &back_len) == 0);
	FUZZ_CHECK(back_len == dec_len && memcmp(back, dec, dec_len) == 0);
	free(back);
	free(b64);
	free(dec);
}

static void check_payload(const uint8_t *p, size_t n)
{
	json_t *o = json_object();
	FUZZ_CHECK(o);
	payload_to_json(o, "result", "result_encoding", p, n);
	/* Whatever the bytes, the object serialises. */
	char *text = json_dumps(o, JSON_COMPACT);
	FUZZ_CHECK(text);
	json_t *again = json_loads(text, 0, NULL);
	FUZZ_CHECK(again);
	uint8_t *back;
	size_t back_len;
	FUZZ_CHECK(payload_from_json(again, "result", "result_encoding", &back, &back_len) == 0);
	FUZZ_CHECK(back_len == n && (n == 0 || memcmp(back, p, n) == 0));
	free(back);
	json_decref(again);
	free(text);
	json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	FUZZ_CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	check_utf8(data, size);
	check_hex(data, size, text);
	check_base64(data, size);
	check_payload(data, size);
	free(text);
	return 0;
}
