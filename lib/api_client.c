#include "api_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http_client.h"
#include "util.h"

int api_client_init(struct api_client *c, const char *base_url)
{
	static bool global_done;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	c->curl = curl_easy_init();
	if (!c->curl)
		return -ENOMEM;
	snprintf(c->base, sizeof(c->base), "%s", base_url);
	c->bearer[0] = '\0';
	c->cancel = NULL;
	return 0;
}

void api_client_set_cancel(struct api_client *c, const atomic_bool *flag)
{
	c->cancel = flag;
}

/* libcurl's progress callback, which it also calls while a transfer waits;
 * non-zero aborts the transfer. */
static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return atomic_load((const atomic_bool *)data) ? 1 : 0;
}

int api_client_set_bearer(struct api_client *c, const char *token)
{
	if (!token || !*token) {
		c->bearer[0] = '\0';
		return 0;
	}
	size_t n = strlen(token);
	if (n >= sizeof(c->bearer))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
			return -EINVAL;
	memcpy(c->bearer, token, n + 1);
	return 0;
}

void api_client_free(struct api_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	return buf_append(data, p, size * n) < 0 ? 0 : size * n;
}

int api_client_call(struct api_client *c, const char *method, const char *path, const void *body,
		    size_t len, long timeout_ms, json_t **ret)
{
	CURL *h = c->curl;
	if (c->cancel && atomic_load(c->cancel))
		return -ECANCELED;
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c->base, path);
	struct buf s = { 0 };
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (c->bearer[0]) {
		char auth[160];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
	}
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		buf_free(&s);
		return http_client_errno(rc);
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (ret)
		*ret = s.data ? json_loadb((const char *)s.data, s.len, 0, NULL) : NULL;
	buf_free(&s);
	return (int)status;
}

int api_client_put_artifact(struct api_client *c, const void *data, size_t len,
			    char digest[SHA256_HEX_SIZE])
{
	sha256_hex(data, len, digest);
	char path[128];
	snprintf(path, sizeof(path), "/v1/artifacts/%s", digest);
	return api_client_call(c, "PUT", path, data, len, 60000, NULL);
}
