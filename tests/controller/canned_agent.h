/* What the controller tests' canned agents on loopback (libmicrohttpd)
 * share: every artifact is there and every tenant VM is ready; the test's
 * own handler answers the invokes. */
#ifndef DITTO_TESTS_CANNED_AGENT_H
#define DITTO_TESTS_CANNED_AGENT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>

static inline enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Answers, in *ret, what a canned agent answers alike to every request
 * handed to its handler (cls as the handler's): the first call, which only
 * says a request began; its body, which is not looked at; an artifact's
 * check (it is there); a VM's state (ready, with pid). Returns false for
 * the rest, which the handler answers itself. */
static inline bool canned_request(struct MHD_Connection *conn, const char *url, const char *method,
				  size_t *upload_size, void **con_cls, void *cls, int pid,
				  enum MHD_Result *ret)
{
	*ret = MHD_YES;
	if (!*con_cls) {
		*con_cls = cls; /* the first call only says a request began */
		return true;
	}
	if (*upload_size) {
		*upload_size = 0; /* the bodies are not looked at */
		return true;
	}
	if (!strcmp(method, "GET") && !strncmp(url, "/v1/artifacts/", 14)) {
		*ret = answer(conn, 200, "{}");
		return true;
	}
	if (!strcmp(method, "GET") && !strncmp(url, "/v1/vms/", 8) && !strchr(url + 8, '/')) {
		char body[64];
		snprintf(body, sizeof(body), "{\"state\":\"ready\",\"pid\":%d}", pid);
		*ret = answer(conn, 200, body);
		return true;
	}
	return false;
}

/* What a canned agent answers to a request it does not know. */
static inline enum MHD_Result canned_not_found(struct MHD_Connection *conn)
{
	return answer(conn, 404, "{\"error\":{\"code\":\"not_found\",\"message\":\"no\"}}");
}

/* Starts a canned agent on a free loopback port, with handler and cls and
 * the daemon's flags, and returns it, its URL in url. */
static inline struct MHD_Daemon *canned_start(unsigned flags, MHD_AccessHandlerCallback handler,
					      void *cls, char url[64])
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, handler, cls,
						MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
						MHD_OPTION_END);
	assert_non_null(d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(url, 64, "http://127.0.0.1:%u", (unsigned)info->port);
	return d;
}

#endif
