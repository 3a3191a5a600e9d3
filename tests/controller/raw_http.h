/* Requests written byte for byte to the controller on loopback, for what a
 * well-behaved client library would never send (NUL bytes, bare non-UTF-8,
 * repeated headers), and the checks every refusal must pass: a 4xx status
 * with the JSON error shape {"error":{"code","message"}}. */
#ifndef DITTO_TESTS_RAW_HTTP_H
#define DITTO_TESTS_RAW_HTTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "util.h"

struct raw_reply {
	int status;     /* -1: no status line came */
	json_t *json;   /* the body parsed, or NULL */
	bool json_type; /* Content-Type: application/json */
};

/* Sends req[0..len) on a new connection to 127.0.0.1:port, closes the
 * sending side and reads the whole answer. Returns the status, or -1. */
static inline int raw_send(int port, const void *req, size_t len, struct raw_reply *ret)
{
	*ret = (struct raw_reply){ .status = -1 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct buf in = { 0 };
	bool ok = send(fd, req, len, MSG_NOSIGNAL) == (ssize_t)len;
	shutdown(fd, SHUT_WR);
	char chunk[4096];
	ssize_t n;
	while (ok && (n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		ok = buf_append(&in, chunk, (size_t)n) == 0;
	close(fd);
	ok = ok && buf_append(&in, "", 1) == 0;
	const char *text = ok ? (const char *)in.data : "";
	const char *end = strstr(text, "\r\n\r\n");
	int status;
	if (end && sscanf(text, "HTTP/1.%*d %d", &status) == 1) {
		ret->status = status;
		const char *ct = strcasestr(text, "\r\nContent-Type: application/json");
		ret->json_type = ct && ct < end;
		ret->json = json_loads(end + 4, 0, NULL);
	}
	buf_free(&in);
	return ret->status;
}

/* Sends "METHOD TARGET HTTP/1.1" with Host, Connection: close, the
 * Authorization header for key (NULL: none), the header lines in headers
 * (each ending in \r\n; NULL: none), a Content-Length for the body unless
 * headers already hold one, and the body (len 0: strlen). */
static inline int raw_call(int port, const char *method, const char *target, const char *key,
			   const char *headers, const char *body, size_t len, struct raw_reply *ret)
{
	struct buf req = { 0 };
	if (body && !len)
		len = strlen(body);
	int r = buf_printf(&req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
			   method, target);
	if (r == 0 && key)
		r = buf_printf(&req, "Authorization: Bearer %s\r\n", key);
	if (r == 0 && headers)
		r = buf_printf(&req, "%s", headers);
	if (r == 0 && body && !(headers && strcasestr(headers, "Content-Length:")))
		r = buf_printf(&req, "Content-Length: %zu\r\n", len);
	if (r == 0)
		r = buf_printf(&req, "\r\n");
	if (r == 0 && body)
		r = buf_append(&req, body, len);
	int st = r == 0 ? raw_send(port, req.data, req.len, ret) : -1;
	buf_free(&req);
	return st;
}

/* The error's code when the reply has the JSON error shape (a JSON type,
 * {"error":{"code": string, "message": string}}), else NULL. */
static inline const char *raw_error_code(const struct raw_reply *r)
{
	json_t *e = json_object_get(r->json, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	return r->json_type && code && msg ? code : NULL;
}

/* The error's message, or "" when there is none. */
static inline const char *raw_error_message(const struct raw_reply *r)
{
	const char *m = json_string_value(
		json_object_get(json_object_get(r->json, "error"), "message"));
	return m ? m : "";
}

static inline void raw_reply_free(struct raw_reply *r)
{
	json_decref(r->json);
	r->json = NULL;
}

#endif
