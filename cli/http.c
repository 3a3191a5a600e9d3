#include "http.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http_client.h"

#define CONNECT_TIMEOUT_MS 10000L

_Static_assert(sizeof(((struct http_client *)0)->error) >= CURL_ERROR_SIZE,
	       "curl's error buffer size");

int http_client_init(struct http_client *c, const char *base_url, const char *key)
{
	*c = (struct http_client){ 0 };
	size_t n = strlen(base_url);
	while (n > 0 && base_url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(c->base))
		return -EINVAL;
	memcpy(c->base, base_url, n);
	c->base[n] = '\0';
	if (key && *key) {
		for (const char *p = key; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return -EINVAL;
		if (snprintf(c->auth, sizeof(c->auth), "Authorization: Bearer %s", key) >=
		    (int)sizeof(c->auth))
			return -EINVAL;
	}
	c->curl = curl_easy_init();
	return c->curl ? 0 : -ENOMEM;
}

void http_client_free(struct http_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void http_response_free(struct http_response *r)
{
	buf_free(&r->body);
	buf_free(&r->headers);
	r->status = 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *data)
{
	struct buf *b = data;
	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* Keeps only the final answer's headers: a new status line (after a
 * "100 Continue", say) starts the list again. */
static size_t on_header(char *p, size_t size, size_t n, void *data)
{
	struct buf *b = data;
	size_t len = size * n;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
		buf_reset(b);
	return buf_append(b, p, len) == 0 ? len : 0;
}

/* Reads the upload; a read error aborts the transfer rather than passing for
 * the end of the file, which would send a short body. */
static size_t on_read(char *p, size_t size, size_t n, void *data)
{
	FILE *f = data;
	size_t got = fread(p, 1, size * n, f);
	if (got == 0 && ferror(f))
		return CURL_READFUNC_ABORT;
	return got;
}

int http_perform(struct http_client *c, const struct http_request *rq, struct http_response *ret)
{
	CURL *h = c->curl;
	char url[4096], ctype[128];
	*ret = (struct http_response){ 0 };
	c->error[0] = '\0';
	if (snprintf(url, sizeof(url), "%s%s", c->base, rq->path) >= (int)sizeof(url)) {
		snprintf(c->error, sizeof(c->error), "request path too long");
		return -ENAMETOOLONG;
	}
	snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		 rq->content_type ? rq->content_type : "application/json");
	struct curl_slist *hdrs = curl_slist_append(NULL, ctype);
	if (hdrs && ((c->auth[0] && !curl_slist_append(hdrs, c->auth)) ||
		     (rq->header && !curl_slist_append(hdrs, rq->header)))) {
		curl_slist_free_all(hdrs);
		hdrs = NULL;
	}
	if (!hdrs) {
		snprintf(c->error, sizeof(c->error), "out of memory");
		return -ENOMEM;
	}

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &ret->body);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &ret->headers);
	if (rq->upload) {
		/* CURLOPT_UPLOAD streams the file with its length announced,
		 * so the controller can refuse an oversized one before reading. */
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, rq->upload);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->upload_len);
	} else if (rq->body || strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);

	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		if (!c->error[0])
			snprintf(c->error, sizeof(c->error), "%s", curl_easy_strerror(rc));
		http_response_free(ret);
		return http_client_errno(rc);
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
	return 0;
}

bool http_response_header(const struct http_response *r, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	const char *p = (const char *)r->headers.data, *end = p + r->headers.len;
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		if ((size_t)(next - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1, *ve = eol ? eol : end;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t vlen = (size_t)(ve - v);
			if (vlen >= size)
				return false;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = next;
	}
	return false;
}

int http_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
			     ch == '~';
		size_t need = plain ? 1 : 3;
		if (size - o <= need)
			return -ENAMETOOLONG;
		if (plain) {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	if (o >= size)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}
