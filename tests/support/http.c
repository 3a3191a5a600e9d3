#include "support/http.h"

#include <string.h>
#include <strings.h>

#include <curl/curl.h>

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct http_reply *r = data;
	return buf_append(&r->body, p, size * n) < 0 ? 0 : size * n;
}

/* Copies the value of header name from one header line, if it is that one. */
static void header_value(const char *line, size_t n, const char *name, char *out, size_t out_size)
{
	size_t k = strlen(name);
	if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	const char *v = line + k + 1;
	while (*v == ' ')
		v++;
	size_t len = (size_t)(line + n - v);
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
		len--;
	snprintf(out, out_size, "%.*s", (int)len, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *data)
{
	struct http_reply *r = data;
	header_value(p, size * n, "X-Ditto-Invocation-Id", r->id, sizeof(r->id));
	header_value(p, size * n, "X-Ditto-Cold-Start", r->cold, sizeof(r->cold));
	header_value(p, size * n, "X-Ditto-Timing", r->timing, sizeof(r->timing));
	header_value(p, size * n, "X-Ditto-Forwarded-To", r->forwarded_to,
		     sizeof(r->forwarded_to));
	header_value(p, size * n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	header_value(p, size * n, "Content-Type", r->content_type, sizeof(r->content_type));
	return size * n;
}

long http_call(const char *base, const char *key, const char *method, const char *path,
	       const void *body, size_t len, struct http_reply *r)
{
	return http_call_header(base, key, NULL, method, path, body, len, r);
}

long http_call_header(const char *base, const char *key, const char *header, const char *method,
		      const char *path, const void *body, size_t len, struct http_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->status = -1;
	char url[512], auth[200];
	snprintf(url, sizeof(url), "%s%s", base, path);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	if (key) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (header)
		hdrs = curl_slist_append(hdrs, header);
	/* A body is opaque bytes unless the caller's header says otherwise
	 * (libcurl would declare it a form). */
	if (body && !(header && !strncasecmp(header, "Content-Type:", 13)))
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	if (r->body.len)
		r->json = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	return r->status;
}

void http_reply_free(struct http_reply *r)
{
	buf_free(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *http_error_code(const struct http_reply *r)
{
	return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}
