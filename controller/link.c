#include "link.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "http_client.h"
#include "util.h"

#define POOL_MAX 256 /* idle handles kept; more callers just make new ones */

struct link_pool {
	pthread_mutex_t lock;
	CURL *idle[POOL_MAX];
	size_t n_idle;
};

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int link_pool_new(struct link_pool **ret)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, global_init);
	struct link_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	*ret = p;
	return 0;
}

void link_pool_free(struct link_pool *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_idle; i++)
		curl_easy_cleanup(p->idle[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

CURL *link_handle_get(struct link_pool *p)
{
	CURL *h = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->n_idle)
		h = p->idle[--p->n_idle];
	pthread_mutex_unlock(&p->lock);
	if (h) {
		/* Reset keeps the handle's live connections. */
		curl_easy_reset(h);
		return h;
	}
	return curl_easy_init();
}

void link_handle_put(struct link_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < POOL_MAX) {
		p->idle[p->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		curl_easy_cleanup(h);
}

static size_t on_data(char *data, size_t size, size_t n, void *user)
{
	return buf_append(user, data, size * n) < 0 ? 0 : size * n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct link_call *c = user;
	return atomic_load(c->gen) != c->gen_expected;
}

int link_do(struct link_pool *p, const struct link_call *c, json_t **ret_json, int64_t *ret_rtt_us)
{
	*ret_json = NULL;
	char url[1024], auth[256];
	if (snprintf(url, sizeof(url), "%s%s", c->address, c->path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	FILE *file = NULL;
	struct stat st;
	if (c->body_file) {
		file = fopen(c->body_file, "rbe");
		if (!file || fstat(fileno(file), &st) < 0) {
			int r = -errno;
			if (file)
				fclose(file);
			return r;
		}
	}
	CURL *h = link_handle_get(p);
	if (!h) {
		if (file)
			fclose(file);
		return -ENOMEM;
	}
	struct curl_slist *hdrs = NULL;
	/* No "Expect: 100-continue": the agents answer at once anyway, and the
	 * wait for it would cost a round trip on every call with a body. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (c->token && *c->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (c->body || file)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	struct buf reply = { 0 };
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	if (c->timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	if (c->gen) {
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c);
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	if (file) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READDATA, file);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	} else if (c->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
	uint64_t t0 = time_now_us();
	CURLcode rc = curl_easy_perform(h);
	if (ret_rtt_us)
		*ret_rtt_us = (int64_t)(time_now_us() - t0);
	long status = 0;
	int r;
	if (rc != CURLE_OK) {
		r = http_client_errno(rc);
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		r = (int)status;
		if (reply.len)
			*ret_json = json_loadb((const char *)reply.data, reply.len, 0, NULL);
	}
	curl_slist_free_all(hdrs);
	buf_free(&reply);
	if (file)
		fclose(file);
	/* A handle whose transfer failed may hold a broken connection; curl
	 * notices that itself on reuse, so it goes back to the pool too. */
	link_handle_put(p, h);
	return r;
}
