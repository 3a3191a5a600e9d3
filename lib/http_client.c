#include "http_client.h"

#include <errno.h>

#include <curl/curl.h>

int http_client_errno(int curl_code)
{
	switch (curl_code) {
	case CURLE_OK: return 0;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_ABORTED_BY_CALLBACK: return -ECANCELED;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR: return -ECONNRESET;
	/* The clients' write callbacks refuse data only when they cannot
	 * allocate room for it. */
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY: return -ENOMEM;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL: return -EINVAL;
	default: return -EIO;
	}
}
