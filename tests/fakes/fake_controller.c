#include "fakes/fake_controller.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <microhttpd.h>

/* A request's body as it arrives. */
struct fake_req {
	char *data;
	size_t len;
};

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
								    MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* POST /v1/hosts, with f->lock held. */
static unsigned on_register(struct fake_controller *f, json_t *body, const char *auth,
			    const char **reply)
{
	f->register_calls++;
	if (f->fail_registrations > 0) {
		f->fail_registrations--;
		*reply = "{\"error\":{\"code\":\"busy\",\"message\":\"try later\"}}";
		return 503;
	}
	f->registered++;
	json_decref(f->reg_body);
	f->reg_body = json_incref(body);
	snprintf(f->reg_auth, sizeof(f->reg_auth), "%s", auth ? auth : "");
	*reply = "{}";
	return 201;
}

/* POST /v1/hosts/ID/heartbeat, with f->lock held. */
static unsigned on_heartbeat(struct fake_controller *f, const char *url, json_t *body,
			     const char *auth, const char **reply)
{
	f->heartbeats++;
	json_decref(f->hb_body);
	f->hb_body = json_incref(body);
	snprintf(f->hb_auth, sizeof(f->hb_auth), "%s", auth ? auth : "");
	snprintf(f->hb_url, sizeof(f->hb_url), "%s", url);
	unsigned status = f->heartbeat_status ? (unsigned)f->heartbeat_status : 200;
	*reply = status == 200 ? "{}" : "{\"error\":{\"code\":\"not_found\",\"message\":\"who?\"}}";
	f->heartbeat_status = 0;
	return status;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct fake_controller *f = cls;
	struct fake_req *q = *con_cls;
	if (!q) {
		*con_cls = calloc(1, sizeof(*q));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		char *d = realloc(q->data, q->len + *upload_size);
		if (!d)
			return MHD_NO;
		memcpy(d + q->len, upload, *upload_size);
		q->data = d;
		q->len += *upload_size;
		*upload_size = 0;
		return MHD_YES;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	json_t *body = json_loadb(q->data ? q->data : "", q->len, 0, NULL);
	unsigned status = 404;
	const char *reply = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such host\"}}";
	pthread_mutex_lock(&f->lock);
	if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/hosts") == 0)
		status = on_register(f, body, auth, &reply);
	else if (strcmp(method, "POST") == 0 && strncmp(url, "/v1/hosts/", 10) == 0)
		status = on_heartbeat(f, url, body, auth, &reply);
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
	json_decref(body);
	return answer(conn, status, reply);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct fake_req *q = *con_cls;
	if (q) {
		free(q->data);
		free(q);
	}
	*con_cls = NULL;
}

void fake_controller_start(struct fake_controller *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	/* On the default clock, CLOCK_REALTIME, which a test's minute of
	 * waiting does not mind. */
	pthread_cond_init(&f->changed, NULL);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, f,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, f, MHD_OPTION_END);
	assert_non_null(f->d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)info->port);
}

void fake_controller_stop(struct fake_controller *f)
{
	if (f->d)
		MHD_stop_daemon(f->d);
	f->d = NULL;
	json_decref(f->reg_body);
	json_decref(f->hb_body);
	f->reg_body = f->hb_body = NULL;
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
}

void fake_controller_wait(struct fake_controller *f, const int *counter, int n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 60;
	while (*counter < n) {
		if (pthread_cond_timedwait(&f->changed, &f->lock, &deadline) == ETIMEDOUT)
			fail_msg("the controller saw %d, waited for %d", *counter, n);
	}
}
