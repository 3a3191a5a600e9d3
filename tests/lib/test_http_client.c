/* libcurl's results as -errno: one map for every client. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "http_client.h"
#include "util.h"

static void test_map(void **state)
{
	static const struct {
		CURLcode rc;
		int err;
	} map[] = {
		{ CURLE_OK, 0 },
		{ CURLE_COULDNT_CONNECT, -ECONNREFUSED },
		{ CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH },
		{ CURLE_COULDNT_RESOLVE_PROXY, -EHOSTUNREACH },
		{ CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT },
		/* The CLI said -EIO here, the others -ECANCELED. */
		{ CURLE_ABORTED_BY_CALLBACK, -ECANCELED },
		/* Only the controller's link knew these. */
		{ CURLE_GOT_NOTHING, -ECONNRESET },
		{ CURLE_SEND_ERROR, -ECONNRESET },
		{ CURLE_RECV_ERROR, -ECONNRESET },
		{ CURLE_OUT_OF_MEMORY, -ENOMEM },
		{ CURLE_WRITE_ERROR, -ENOMEM },
		{ CURLE_URL_MALFORMAT, -EINVAL },
		{ CURLE_UNSUPPORTED_PROTOCOL, -EINVAL },
		{ CURLE_READ_ERROR, -EIO },
		{ CURLE_SSL_CONNECT_ERROR, -EIO },
		{ CURLE_HTTP2, -EIO },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		assert_int_equal(http_client_errno(map[i].rc), map[i].err);
	assert_int_equal(http_client_errno(-1), -EIO);
	assert_int_equal(http_client_errno(100000), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_map) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
