/* sha256: answers {"sha256":"<hex>"}, the SHA-256 of the input bytes (in
 * persistent mode, of the line without its newline). */
#include "function.h"
#include "sha256.h"

static int hash(const char *input, size_t len, struct fn_result *result, const char **ret_error)
{
	char hex[SHA256_HEX_SIZE];

	sha256_hex(input, len, hex);
	if (buf_printf(&result->buf, "{\"sha256\":\"%s\"}", hex) < 0) {
		*ret_error = "out of memory";
		return -ENOMEM;
	}
	fprintf(stderr, "sha256: bytes=%zu sha256=%s\n", len, hex);
	return 0;
}

int main(void)
{
	return fn_main("sha256", hash);
}
