#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "agent.h"
#include "api_int.h"
#include "encoding.h"
#include "log.h"
#include "vcpu.h"

#define SMALL_BODY_MAX (64 * 1024)

/* ---- responses -------------------------------------------------------------- */

void api_reply_json(struct request *r, unsigned status, json_t *body)
{
	r->status = status;
	free(r->resp);
	r->resp = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!r->resp) {
		/* Every request gets an answer, even when building it failed. */
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		r->resp = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"cannot build the reply\"}}");
	}
	r->resp_len = r->resp ? strlen(r->resp) : 0;
}

void api_reply_error(struct request *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A cut may have split a UTF-8 sequence; JSON strings must be whole. */
	size_t n = strlen(msg);
	while (n > 0 && !utf8_is_valid((const uint8_t *)msg, n))
		msg[--n] = '\0';
	api_reply_json(r, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

static enum MHD_Result send_reply(struct request *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
								    MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	r->resp = NULL; /* now the response's */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void run_mhd(struct api *api);
static void on_mhd_timer(uv_timer_t *t);

/* Completes a suspended request from a callback on the loop. MHD only acts
 * on a resumed connection when it next runs, so run it on the next turn of
 * the loop (not inline: we may be inside MHD's own callback). */
void api_resume(struct request *r)
{
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		uv_timer_start(&r->api->timer, on_mhd_timer, 0, 0);
	}
}

/* Parks the request until a callback answers it, unless one already did
 * (a callback may run before the call that takes it returns). */
void api_suspend(struct request *r)
{
	if (r->resp)
		return;
	r->suspended = true;
	MHD_suspend_connection(r->conn);
}

unsigned api_status_for_errno(int err, const char **code)
{
	switch (err) {
	case -ENOENT: *code = "not_found"; return MHD_HTTP_NOT_FOUND;
	case -EEXIST: *code = "exists"; return MHD_HTTP_CONFLICT;
	case -EINVAL: *code = "bad_request"; return MHD_HTTP_BAD_REQUEST;
	case -ERANGE: *code = "out_of_range"; return MHD_HTTP_BAD_REQUEST;
	case -EAGAIN: *code = "vm_not_ready"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	case -ENOSPC: *code = "no_capacity"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	case -EMLINK: *code = "hotplug_exhausted"; return MHD_HTTP_CONFLICT;
	case -EBUSY: *code = "too_many_requests"; return MHD_HTTP_TOO_MANY_REQUESTS;
	case -ECANCELED: *code = "cancelled"; return MHD_HTTP_CONFLICT;
	case -ENAMETOOLONG: *code = "bad_request"; return MHD_HTTP_BAD_REQUEST;
	case -EPIPE: case -ECONNRESET: *code = "vm_died"; return MHD_HTTP_BAD_GATEWAY;
	case -ETIMEDOUT: *code = "guest_timeout"; return MHD_HTTP_GATEWAY_TIMEOUT;
	case -EIO: *code = "step_failed"; return MHD_HTTP_BAD_GATEWAY;
	case -ESHUTDOWN: *code = "shutting_down"; return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: *code = "internal"; return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

void api_reply_errno(struct request *r, int err, const char *what)
{
	const char *code;
	unsigned st = api_status_for_errno(err, &code);
	api_reply_error(r, st, code, "%s: %s", what,
			err == -EMLINK || err == -ENOSPC ? vcpu_strerror(err) : strerror(-err));
}

/* ---- access ----------------------------------------------------------------------- */

/* Compares in time that depends on the length of want only, so the time an
 * answer takes does not tell how much of a guessed token was right. */
static bool secret_equal(const char *want, const char *got)
{
	size_t n = strlen(want), m = strlen(got);
	unsigned char diff = n != m;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? got[i] : 0);
	return diff == 0;
}

/* Every path but /healthz needs the agent's token, when it has one, as
 * "Authorization: Bearer TOKEN". */
static bool authorized(const struct agent *a, struct MHD_Connection *conn, const char *url)
{
	if (!a->token[0] || strcmp(url, "/healthz") == 0)
		return true;
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	h += strspn(h, " ");
	return secret_equal(a->token, h);
}

/* ---- routing ---------------------------------------------------------------------- */

/* Splits "/v1/a/b/c" into at most n segments; returns the count or -1. */
static int split_path(char *url, char **seg, int n)
{
	int k = 0;
	char *save = NULL;
	for (char *s = strtok_r(url, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (k == n)
			return -1;
		seg[k++] = s;
	}
	return k;
}

static size_t body_limit(const struct agent *a, const char *method, const char *url)
{
	if (strcmp(method, "PUT") == 0 && strncmp(url, "/v1/artifacts/", 14) == 0)
		return a->cfg.max_artifact;
	if (strcmp(method, "POST") == 0 && strstr(url, "/invoke"))
		return a->cfg.max_input;
	return SMALL_BODY_MAX;
}

static void route(struct request *r)
{
	char url[512];
	snprintf(url, sizeof(url), "%s", r->url);
	char *s[6];
	int n = split_path(url, s, 6);
	const char *m = r->method;
	bool get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0,
	     post = strcmp(m, "POST") == 0, del = strcmp(m, "DELETE") == 0;

	if (n == 1 && strcmp(s[0], "healthz") == 0 && get) {
		api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
		return;
	}
	if (n < 2 || strcmp(s[0], "v1") != 0)
		goto not_found;
	if (n == 2 && strcmp(s[1], "status") == 0 && get)
		return api_get_status(r);
	if (n == 2 && strcmp(s[1], "vms") == 0 && get)
		return api_list_vms(r);
	if (n == 3 && strcmp(s[1], "artifacts") == 0) {
		if (put)
			return api_put_artifact(r, s[2]);
		if (get)
			return api_get_artifact(r, s[2]);
		goto bad_method;
	}
	if (strcmp(s[1], "vms") != 0)
		goto not_found;
	if (n == 3) {
		if (put)
			return api_put_vm(r, s[2]);
		if (del)
			return api_delete_vm(r, s[2]);
		if (get)
			return api_get_vm(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "workers") == 0) {
		if (put)
			return api_put_workers(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "scaling") == 0) {
		if (put)
			return api_put_scaling(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "invoke") == 0) {
		if (post)
			return api_post_invoke(r, s[2]);
		goto bad_method;
	}
	if (n == 4 && strcmp(s[3], "restart") == 0) {
		if (post)
			return api_restart_vm(r, s[2]);
		goto bad_method;
	}
not_found:
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "no_route", "no such endpoint: %s %s", m, r->url);
	return;
bad_method:
	api_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "bad_method", "%s is not allowed on %s", m,
			r->url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api *api = cls;
	struct request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->api = api;
		r->conn = conn;
		r->method = method;
		snprintf(r->url, sizeof(r->url), "%s", url);
		r->limit = body_limit(api->agent, method, url);
		*con_cls = r;
		if (!authorized(api->agent, conn, url)) {
			/* Refused before the body is read, like an oversized one. */
			api_reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
					"missing or wrong token: send \"Authorization: Bearer <token>\"");
			r->dispatched = true;
			return send_reply(r);
		}
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > r->limit) {
			/* Refuse before reading a body we would throw away. */
			api_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
					"body of %s bytes is over the limit of %zu", cl, r->limit);
			r->dispatched = true;
			return send_reply(r);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->too_big || r->len + n > r->limit) {
			r->too_big = true;
			return MHD_YES;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			while (cap < r->len + n)
				cap *= 2;
			uint8_t *b = realloc(r->body, cap);
			if (!b)
				return MHD_NO;
			r->body = b;
			r->cap = cap;
		}
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		return MHD_YES;
	}
	if (r->resp && !r->suspended)
		return send_reply(r);
	if (r->dispatched)
		return MHD_YES;
	r->dispatched = true;
	if (r->too_big)
		api_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				"body is over the limit of %zu bytes", r->limit);
	else
		route(r);
	if (r->suspended)
		return MHD_YES;
	if (!r->resp)
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "no response");
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	if (r->status)
		log_debug("http method=%s url=%s status=%u", r->method, r->url, r->status);
	free(r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* ---- MHD on the libuv loop ------------------------------------------------------------ */

static void on_mhd_timer(uv_timer_t *t)
{
	run_mhd(t->data);
}

static void on_mhd_poll(uv_poll_t *p, int status, int events)
{
	run_mhd(p->data);
}

static void run_mhd(struct api *api)
{
	MHD_run(api->d);
	MHD_UNSIGNED_LONG_LONG to;
	if (MHD_get_timeout(api->d, &to) == MHD_YES)
		uv_timer_start(&api->timer, on_mhd_timer, to, 0);
	else
		uv_timer_stop(&api->timer);
}

int api_start(struct agent *a, struct api **ret, int *ret_port)
{
	struct api *api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->agent = a;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)a->cfg.port) };
	if (inet_pton(AF_INET, a->cfg.listen_addr, &sa.sin_addr) != 1) {
		free(api);
		return -EINVAL;
	}
	api->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO, 0, NULL,
				  NULL, on_request, api, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_END);
	if (!api->d) {
		free(api);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *port = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
	uv_poll_init(a->loop, &api->poll, info->epoll_fd);
	uv_timer_init(a->loop, &api->timer);
	api->poll.data = api->timer.data = api;
	uv_poll_start(&api->poll, UV_READABLE, on_mhd_poll);
	*ret_port = port ? port->port : a->cfg.port;
	*ret = api;
	return 0;
}

static void on_api_closed(uv_handle_t *h)
{
	struct api *api = h->data;
	if (++api->open_handles == 2)
		free(api);
}

void api_stop(struct api *api)
{
	if (!api)
		return;
	uv_poll_stop(&api->poll);
	MHD_stop_daemon(api->d);
	uv_close((uv_handle_t *)&api->poll, on_api_closed);
	uv_close((uv_handle_t *)&api->timer, on_api_closed);
}
