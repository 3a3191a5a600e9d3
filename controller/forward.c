/* Relaying a request to its tenant's owner (forward.h), over a pooled
 * libcurl handle of the controller's link pool, whose kept-alive
 * connections to the other controllers are reused across requests. */
#include "forward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "controller_int.h"
#include "http_client.h"
#include "log.h"

#define FORWARDED_BY "X-Ditto-Forwarded-By"
#define CONNECT_MS 2000L
/* The longest a relayed call may take: a VM's placement and the longest
 * invocation, with room to spare. */
#define RELAY_MS ((long)PLACEMENT_TIMEOUT_MS + TIMEOUT_MAX + 30000L)

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && !strncasecmp(s, prefix, n);
}

bool forward_header_kept(const char *name)
{
	if (!strcasecmp(name, FORWARDED_BY))
		return false;
	return !strcasecmp(name, "Authorization") || !strcasecmp(name, "Content-Type") ||
	       has_prefix(name, strlen(name), "X-Ditto-");
}

bool forward_reply_header_kept(const char *name, size_t len)
{
	return (len == strlen("Retry-After") && has_prefix(name, len, "Retry-After")) ||
	       has_prefix(name, len, "X-Ditto-");
}

/* What a relay gathers: the request's headers and query, then the reply. */
struct relay {
	struct request *r;
	struct curl_slist *headers;
	struct buf url;
	CURL *h;
	struct buf body;
	int err; /* -ENOMEM when something could not be kept */
};

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct relay *y = cls;
	if (!forward_header_kept(key))
		return MHD_YES;
	char line[8192];
	snprintf(line, sizeof(line), "%s: %s", key, value ? value : "");
	struct curl_slist *l = curl_slist_append(y->headers, line);
	if (!l)
		y->err = -ENOMEM;
	else
		y->headers = l;
	return MHD_YES;
}

static enum MHD_Result on_query(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct relay *y = cls;
	char *k = curl_easy_escape(y->h, key, 0);
	char *v = value ? curl_easy_escape(y->h, value, 0) : NULL;
	bool first = !memchr(y->url.data, '?', y->url.len);
	if (!k || (value && !v) ||
	    buf_printf(&y->url, "%s%s%s%s", first ? "?" : "&", k, v ? "=" : "", v ? v : "") < 0)
		y->err = -ENOMEM;
	curl_free(k);
	curl_free(v);
	return MHD_YES;
}

static size_t on_reply_header(char *data, size_t size, size_t n, void *user)
{
	struct relay *y = user;
	size_t len = size * n;
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	size_t name_len = (size_t)(colon - data);
	if (name_len == strlen("Content-Type") && has_prefix(data, len, "Content-Type")) {
		const char *v = colon + 1;
		const char *end = data + len;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		snprintf(y->r->relayed_type, sizeof(y->r->relayed_type), "%.*s", (int)(end - v), v);
	} else if (forward_reply_header_kept(data, name_len) &&
		   buf_append(&y->r->extra_headers, data, len) < 0) {
		return 0;
	}
	return len;
}

static size_t on_reply_body(char *data, size_t size, size_t n, void *user)
{
	struct relay *y = user;
	return buf_append(&y->body, data, size * n) < 0 ? 0 : size * n;
}

/* Sets the relay's handle up for r to the owner at address. Returns 0 or
 * -ENOMEM. */
static int relay_prepare(struct relay *y, const char *address)
{
	struct request *r = y->r;
	char by[STORE_NAME_SIZE + 32];
	snprintf(by, sizeof(by), "%s: %s", FORWARDED_BY, r->ctl->id);
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, on_header, y);
	struct curl_slist *l = curl_slist_append(y->headers, by);
	y->headers = l ? l : y->headers;
	/* No "Expect: 100-continue": the owner reads every body it is sent. */
	l = l ? curl_slist_append(y->headers, "Expect:") : NULL;
	y->headers = l ? l : y->headers;
	if (!l || buf_printf(&y->url, "%s%s", address, r->path) < 0)
		return -ENOMEM;
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, on_query, y);
	if (y->err < 0 || buf_append(&y->url, "", 1) < 0)
		return -ENOMEM;
	CURL *h = y->h;
	curl_easy_setopt(h, CURLOPT_URL, (const char *)y->url.data);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, y->headers);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_reply_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, y);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_reply_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, y);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, RELAY_MS);
	if (r->body.data.len || strcmp(r->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body.data.data ? (char *)r->body.data.data
									   : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.data.len);
	}
	return 0;
}

/* Whether the call failed before the owner could have had the request: no
 * connection was made. */
static bool never_connected(CURL *h, CURLcode rc)
{
	if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
		return true;
	curl_off_t connect_us = 0;
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	return rc == CURLE_OPERATION_TIMEDOUT && connect_us == 0;
}

/* Relays r to the owner named owner at address. Returns true when r has its
 * reply, false when the owner could not be reached. */
static bool relay(struct request *r, const char *owner, const char *address)
{
	struct controller *c = r->ctl;
	struct relay y = { .r = r, .h = link_handle_get(c->links) };
	bool replied = true;
	int err = y.h ? relay_prepare(&y, address) : -ENOMEM;
	CURLcode rc = CURLE_OK;
	if (err == 0 && (rc = curl_easy_perform(y.h)) != CURLE_OK)
		err = http_client_errno(rc);
	if (err == 0) {
		long status = 0;
		curl_easy_getinfo(y.h, CURLINFO_RESPONSE_CODE, &status);
		if (buf_printf(&r->extra_headers, "X-Ditto-Forwarded-To: %s\r\n", owner) < 0 ||
		    buf_append(&y.body, "", 1) < 0) {
			reply_internal(r, "forward", -ENOMEM);
		} else {
			reply_raw(r, (unsigned)status,
				  r->relayed_type[0] ? r->relayed_type : "application/json",
				  (char *)y.body.data, y.body.len - 1);
			y.body = (struct buf){ 0 };
		}
		metrics_forward(c->metrics, METRICS_FORWARDED);
	} else if (err == -ENOMEM) {
		reply_internal(r, "forward", err);
	} else if (never_connected(y.h, rc)) {
		log_warn("forward_unreachable owner=%s address=%s err=%s", owner, address,
			 strerror(-err));
		metrics_forward(c->metrics, METRICS_FORWARD_LOCAL);
		buf_free(&r->extra_headers);
		r->relayed_type[0] = '\0';
		replied = false;
	} else {
		log_warn("forward_lost owner=%s address=%s err=%s", owner, address,
			 strerror(-err));
		metrics_forward(c->metrics, METRICS_FORWARD_LOST);
		buf_free(&r->extra_headers);
		reply_error(r, MHD_HTTP_BAD_GATEWAY, "controller_lost",
			    "controller %s, which serves this tenant, was lost during the call; "
			    "it may have run: retry if it is safe to",
			    owner);
	}
	curl_slist_free_all(y.headers);
	buf_free(&y.url);
	buf_free(&y.body);
	if (y.h)
		link_handle_put(c->links, y.h);
	return replied;
}

bool forward_request(struct request *r)
{
	struct controller *c = r->ctl;
	const char *tenant = r->route->owner == API_OWNER_PATH ? r->arg : r->tenant;
	if (!c->cluster || r->route->owner == API_ANY || !tenant[0])
		return false;
	/* Tenants that moved here bring their limits from the store. */
	if (forward_membership_moved(c))
		invoker_limits_reload(c->invoker);
	if (MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, FORWARDED_BY))
		return false;
	char owner[STORE_NAME_SIZE], address[STORE_ADDRESS_SIZE];
	if (cluster_owner(c->cluster, tenant, owner, address) < 0 || !strcmp(owner, c->id))
		return false;
	return relay(r, owner, address);
}

void forward_concurrency(struct request *r, const char *tenant, int concurrency)
{
	struct controller *c = r->ctl;
	char owner[STORE_NAME_SIZE], address[STORE_ADDRESS_SIZE], path[128], body[64];
	if (!c->cluster || cluster_owner(c->cluster, tenant, owner, address) < 0 ||
	    !strcmp(owner, c->id))
		return;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	snprintf(path, sizeof(path), "/v1/tenants/%s/scaling", tenant);
	snprintf(body, sizeof(body), "{\"concurrency\": %d}", concurrency);
	struct link_call call = { .address = address,
				  .token = httpd_bearer(h, STORE_TOKEN_SIZE - 1),
				  .method = "PUT",
				  .path = path,
				  .body = body,
				  .body_len = strlen(body),
				  .timeout_ms = 10000 };
	json_t *reply = NULL;
	int status = link_do(c->links, &call, &reply, NULL);
	json_decref(reply);
	if (status != MHD_HTTP_OK)
		log_warn("forward_concurrency_failed tenant=%s owner=%s status=%d", tenant, owner,
			 status);
}

bool forward_membership_moved(struct controller *c)
{
	uint64_t want = (c->cluster ? cluster_changes(c->cluster) : 0) + 1;
	/* Read first: the hot path writes nothing while nothing moved. */
	return atomic_load(&c->membership_seen) != want &&
	       atomic_exchange(&c->membership_seen, want) != want;
}
