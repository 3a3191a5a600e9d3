/* What the project's libcurl clients share: one map from libcurl's result
 * codes to -errno, so the CLI, the controller's agent links and the agent
 * client report the same failure the same way. */
#ifndef DITTO_HTTP_CLIENT_H
#define DITTO_HTTP_CLIENT_H

/* -errno for a CURLcode (passed as int so this header needs no curl.h):
 * 0 for CURLE_OK; -ECONNREFUSED (could not connect), -EHOSTUNREACH (could
 * not resolve), -ETIMEDOUT, -ECANCELED (aborted by a callback), -ECONNRESET
 * (sent or received nothing, reset), -ENOMEM (out of memory, or a write
 * callback refused the data: the project's refuse only when they cannot
 * allocate), -EINVAL (bad URL or protocol), -EIO for anything else (a read
 * callback's error included). */
int http_client_errno(int curl_code);

#endif
