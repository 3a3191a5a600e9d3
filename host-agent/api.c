#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "agent_link.h"
#include "api_int.h"
#include "httpd.h"
#include "log.h"
#include "util.h"
#include "vcpu.h"

#define SMALL_BODY_MAX (64 * 1024)
/* A presented token longer than this is refused unread. */
#define TOKEN_MAX 1024

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
		r->resp = httpd_error_text("internal", "cannot build the reply", NULL);
	}
	r->resp_len = r->resp ? strlen(r->resp) : 0;
}

static void reply_error_v(struct request *r, unsigned status, const char *code, const char *fmt,
			  va_list ap)
{
	/* The message may carry bytes from the request (its path): the error
	 * body replaces what is not UTF-8, so it always builds. */
	api_reply_json(r, status, httpd_error_vjson(code, fmt, ap));
}

void api_reply_error(struct request *r, enum agent_err e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(r, agent_err_status(e), agent_err_name(e), fmt, ap);
	va_end(ap);
}

void api_reply_error_code(struct request *r, unsigned status, const char *code, const char *fmt,
			  ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_error_v(r, status, code, fmt, ap);
	va_end(ap);
}

void api_reply_fail(struct request *r, const struct api_fail *f)
{
	api_reply_error_code(r, f->status, f->code, "%s", f->message);
}

void api_reply_errno(struct request *r, int err, const char *what)
{
	struct api_fail f;
	api_fail_errno(&f, err, what);
	api_reply_fail(r, &f);
}

bool api_query_int(struct request *r, const char *key, long lo, long hi, long *val)
{
	struct api_fail f;
	const char *s = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
	if (api_param_int(s, key, lo, hi, val, &f))
		return true;
	api_reply_fail(r, &f);
	return false;
}

/* The 101 that hands the connection to r->upgrade. */
static enum MHD_Result send_upgrade(struct request *r)
{
	struct MHD_Response *resp = MHD_create_response_for_upgrade(r->upgrade, r->server);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, LINK_UPGRADE);
	enum MHD_Result ret = MHD_queue_response(r->conn, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* True when the request's connection was opened while the server already
 * had max_connections open (see on_connection). */
static bool conn_over(const struct request *r)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		r->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info && info->socket_context == r->server;
}

static enum MHD_Result send_reply(struct request *r)
{
	if (r->upgrade)
		return send_upgrade(r);
	struct MHD_Response *resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
								    MHD_RESPMEM_MUST_FREE);
	if (!resp)
		return MHD_NO;
	r->resp = NULL; /* now the response's */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (conn_over(r)) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	}
	enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void run_mhd(struct api_server *srv);
static void on_mhd_timer(uv_timer_t *t);

/* Completes a suspended request from a callback on the loop. MHD only acts
 * on a resumed connection when it next runs, so run it on the next turn of
 * the loop (not inline: we may be inside MHD's own callback). */
void api_resume(struct request *r)
{
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		uv_timer_start(&r->server->timer, on_mhd_timer, 0, 0);
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

/* ---- routing ---------------------------------------------------------------------- */

static void get_health(struct request *r, const char *arg)
{
	api_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Which of the server's limits a route's body is held to. */
enum body_limit {
	BODY_SMALL,    /* JSON bodies: SMALL_BODY_MAX */
	BODY_INPUT,    /* an invocation's input: cfg.max_input */
	BODY_ARTIFACT, /* an artifact: cfg.max_artifact */
};

/* One row per method and path. A handler gets the path's one "{}" segment
 * (a tenant or a digest) as arg, "" when it has none. */
struct api_route {
	struct httpd_route route;
	bool auth; /* needs the token, when the server has one */
	enum body_limit body;
	void (*handler)(struct request *r, const char *arg);
};

static const struct api_route routes[] = {
	{ { "GET", "/healthz" }, false, BODY_SMALL, get_health },
	{ { "GET", "/v1/status" }, true, BODY_SMALL, api_get_status },
	{ { "GET", "/v1/vms" }, true, BODY_SMALL, api_list_vms },
	{ { "GET", "/v1/vms/{}" }, true, BODY_SMALL, api_get_vm },
	{ { "PUT", "/v1/vms/{}" }, true, BODY_SMALL, api_put_vm },
	{ { "DELETE", "/v1/vms/{}" }, true, BODY_SMALL, api_delete_vm },
	{ { "POST", "/v1/vms/{}/restart" }, true, BODY_SMALL, api_restart_vm },
	{ { "PUT", "/v1/vms/{}/workers" }, true, BODY_SMALL, api_put_workers },
	{ { "PUT", "/v1/vms/{}/scaling" }, true, BODY_SMALL, api_put_scaling },
	{ { "GET", "/v1/vms/{}/attestation" }, true, BODY_SMALL, api_get_attestation },
	{ { "POST", "/v1/vms/{}/ping" }, true, BODY_SMALL, api_post_ping },
	{ { "POST", "/v1/vms/{}/invoke" }, true, BODY_INPUT, api_post_invoke },
	{ { "PUT", "/v1/artifacts/{}" }, true, BODY_ARTIFACT, api_put_artifact },
	{ { "GET", "/v1/artifacts/{}" }, true, BODY_SMALL, api_get_artifact },
	{ { "GET", LINK_PATH }, true, BODY_SMALL, api_get_link },
};

/* The path with empty segments dropped ("//v1/vms/" is "/v1/vms"), as the
 * agent has always read them. */
static void path_normalize(const char *url, char *out, size_t size)
{
	size_t n = 0;
	for (const char *p = url; *p && n + 1 < size;) {
		p += strspn(p, "/");
		size_t len = strcspn(p, "/");
		if (len == 0 || n + 1 + len >= size)
			break;
		out[n++] = '/';
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	if (n == 0 && size > 1)
		out[n++] = '/';
	out[n] = '\0';
}

/* Finds the request's row; r->route stays NULL with r->route_err -ENOENT or
 * -EPERM when there is none. */
static void route_find(struct request *r)
{
	char path[sizeof(r->url)];
	path_normalize(r->url, path, sizeof(path));
	struct httpd_args args;
	int i = httpd_route_find(routes, ARRAY_SIZE(routes), sizeof(routes[0]), r->method, path,
				 &args);
	if (i < 0) {
		r->route_err = i;
		return;
	}
	r->route = &routes[i];
	if (args.n > 0)
		httpd_arg_copy(&args, 0, r->arg, sizeof(r->arg));
}

static uint64_t body_limit(const struct request *r)
{
	const struct api_server *srv = r->server;
	switch (r->route ? r->route->body : BODY_SMALL) {
	case BODY_INPUT: return srv->cfg.max_input;
	case BODY_ARTIFACT: return srv->cfg.max_artifact;
	default: return SMALL_BODY_MAX;
	}
}

static void dispatch(struct request *r)
{
	if (r->route)
		r->route->handler(r, r->arg);
	else if (r->route_err == -EPERM)
		api_reply_error(r, AGENT_E_BAD_METHOD, "%s is not allowed on %s", r->method,
				r->url);
	else
		api_reply_error(r, AGENT_E_NO_ROUTE, "no such endpoint: %s %s", r->method, r->url);
}

/* ---- access ----------------------------------------------------------------------- */

/* Every route but /healthz needs the server's token, when it has one, as
 * "Authorization: Bearer TOKEN"; a path with no route needs it too, so that
 * one without the token learns nothing of the routes. */
static bool authorized(const struct request *r)
{
	const char *token = r->server->token;
	if (!token[0] || (r->route && !r->route->auth))
		return true;
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *got = httpd_bearer(h, TOKEN_MAX);
	return got && httpd_token_equal(token, got);
}

/* ---- the request's life cycle ------------------------------------------------------- */

/* Answers at once, before the body is read (MHD then closes the connection
 * rather than read a body nobody wants). */
static enum MHD_Result refuse(struct request *r)
{
	r->dispatched = true;
	return send_reply(r);
}

/* The first call for a request: its headers are in, its body is not. */
static enum MHD_Result on_headers(struct request *r)
{
	route_find(r);
	r->body.limit = body_limit(r);
	if (conn_over(r)) {
		api_reply_error_code(r, MHD_HTTP_SERVICE_UNAVAILABLE, "too_many_connections",
				     "over %u client connections are open; retry later",
				     r->server->cfg.max_connections);
		return refuse(r);
	}
	if (!authorized(r)) {
		api_reply_error(r, AGENT_E_UNAUTHORIZED,
				"missing or wrong token: send \"Authorization: Bearer <token>\"");
		return refuse(r);
	}
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	switch (httpd_content_length(cl, r->body.limit, &r->declared)) {
	case HTTPD_LENGTH_OK: break;
	case HTTPD_LENGTH_DRAIN:
		/* Read it and drop it, so the client is not reset while it still
		 * sends, and reads the 413 that follows; a client waiting for
		 * "100 Continue" gets the 413 instead and never sends it. */
		if (!httpd_expects_continue(MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_EXPECT))) {
			r->drain = true;
			break;
		}
		/* fall through */
	case HTTPD_LENGTH_TOO_LARGE:
		api_reply_error(r, AGENT_E_TOO_LARGE, "body of %s bytes is over the limit of %llu",
				cl, (unsigned long long)r->body.limit);
		return refuse(r);
	case HTTPD_LENGTH_BAD:
		api_reply_error(r, AGENT_E_BAD_REQUEST, "Content-Length must be a decimal number");
		return refuse(r);
	}
	return MHD_YES;
}

/* The last call for a request: its body is all in. */
static enum MHD_Result on_body_done(struct request *r)
{
	r->dispatched = true;
	if (r->drain)
		api_reply_error(r, AGENT_E_TOO_LARGE,
				"body of %llu bytes is over the limit of %llu",
				(unsigned long long)r->declared, (unsigned long long)r->body.limit);
	else if (r->body.too_big)
		api_reply_error(r, AGENT_E_TOO_LARGE, "body is over the limit of %llu bytes",
				(unsigned long long)r->body.limit);
	else
		dispatch(r);
	if (r->suspended)
		return MHD_YES;
	if (!r->resp && !r->upgrade)
		api_reply_error(r, AGENT_E_INTERNAL, "no response");
	return send_reply(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *srv = cls;
	struct request *r = *con_cls;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->server = srv;
		r->conn = conn;
		r->method = method;
		snprintf(r->url, sizeof(r->url), "%s", url);
		*con_cls = r;
		return on_headers(r);
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		/* Over the limit, the rest is counted and dropped (-EFBIG). */
		if (httpd_body_take(&r->body, upload, n, !r->drain) == -ENOMEM)
			return MHD_NO;
		return MHD_YES;
	}
	if (r->resp && !r->suspended)
		return send_reply(r);
	if (r->dispatched)
		return MHD_YES;
	return on_body_done(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *r = *con_cls;
	if (!r)
		return;
	if (r->status)
		log_debug("http method=%s url=%s status=%u", r->method, r->url, r->status);
	httpd_body_free(&r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

/* Counts the open client connections and marks each one opened while
 * max_connections were already open: its request is answered 503 with
 * Retry-After and the connection closed. Past the overflow room
 * (api_server_start), MHD stops accepting and new connections wait in the
 * kernel's listen backlog until one closes. On the loop's thread, as all
 * of MHD's calls. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct api_server *srv = cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = ++srv->connections > srv->cfg.max_connections ? srv : NULL;
	else if (srv->connections > 0)
		srv->connections--;
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

static void run_mhd(struct api_server *srv)
{
	MHD_run(srv->d);
	MHD_UNSIGNED_LONG_LONG to;
	if (MHD_get_timeout(srv->d, &to) == MHD_YES)
		uv_timer_start(&srv->timer, on_mhd_timer, to, 0);
	else
		uv_timer_stop(&srv->timer);
}

static void server_free(struct api_server *srv)
{
	free(srv->token);
	free(srv);
}

int api_server_start(uv_loop_t *loop, const struct api_server_config *cfg,
		     const struct api_server_ops *ops, void *data, struct api_server **ret,
		     int *ret_port)
{
	struct api_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->ops = *ops;
	srv->data = data;
	srv->cfg = *cfg;
	/* Only needed here, and not kept past the caller's call. */
	srv->cfg.listen_addr = NULL;
	srv->cfg.token = NULL;
	if (!srv->cfg.max_connections)
		srv->cfg.max_connections = API_MAX_CONNECTIONS;
	/* Room over the limit for connections that are answered 503 at once. */
	unsigned overflow = srv->cfg.max_connections / 4 + 16;
	srv->token = strdup(cfg->token ? cfg->token : "");
	if (!srv->token) {
		server_free(srv);
		return -ENOMEM;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
	if (inet_pton(AF_INET, cfg->listen_addr, &sa.sin_addr) != 1) {
		server_free(srv);
		return -EINVAL;
	}
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_TURBO;
	srv->d = MHD_start_daemon(flags, 0, NULL,
				  NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
				  (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
				  srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				  MHD_OPTION_CONNECTION_LIMIT, srv->cfg.max_connections + overflow,
				  MHD_OPTION_END);
	if (!srv->d) {
		server_free(srv);
		return -EADDRINUSE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_EPOLL_FD);
	const union MHD_DaemonInfo *port = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	uv_poll_init(loop, &srv->poll, info->epoll_fd);
	uv_timer_init(loop, &srv->timer);
	srv->poll.data = srv->timer.data = srv;
	srv->handles_open = 2;
	uv_poll_start(&srv->poll, UV_READABLE, on_mhd_poll);
	*ret_port = port ? port->port : cfg->port;
	*ret = srv;
	return 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
	struct api_server *srv = h->data;
	if (--srv->handles_open == 0)
		server_free(srv);
}

void api_server_stop(struct api_server *srv)
{
	if (!srv)
		return;
	api_links_close(srv);
	uv_poll_stop(&srv->poll);
	MHD_stop_daemon(srv->d);
	uv_close((uv_handle_t *)&srv->poll, on_server_handle_closed);
	uv_close((uv_handle_t *)&srv->timer, on_server_handle_closed);
}
