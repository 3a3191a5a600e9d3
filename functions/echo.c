/* echo: answers each request with its input, byte for byte. The simplest
 * function there is, for checking the path from client to guest and back. */
#include "function.h"

static int echo(const char *input, size_t len, struct fn_result *result, const char **ret_error)
{
	result->verbatim = true;
	if (buf_append(&result->buf, input, len) < 0) {
		*ret_error = "out of memory";
		return -ENOMEM;
	}
	fprintf(stderr, "echo: bytes=%zu\n", len);
	return 0;
}

int main(void)
{
	return fn_main("echo", echo);
}
