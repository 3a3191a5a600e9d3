/* The controller API tests' canned agent on loopback (libmicrohttpd, a
 * thread per connection): every tenant VM is ready and every artifact is
 * there; an invoke of the held VM waits until the test releases it, and the
 * agent counts the held calls, and the most it held at once. */
#ifndef DITTO_TESTS_HELD_AGENT_H
#define DITTO_TESTS_HELD_AGENT_H

#include <pthread.h>

#include <microhttpd.h>

#include "api_fixture.h"
#include "canned_agent.h"

/* An agent whose tenant VM is ready and holds every artifact; an invoke
 * waits until released. */
struct agent {
	struct MHD_Daemon *d;
	char url[64];
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int invokes;    /* held calls that arrived */
	int active;     /* held calls not answered yet */
	int max_active; /* the most held calls it had at once */
	bool release;
	char hold[32]; /* the VM whose calls are held, "" for all */
	int refuse;    /* the held VM's next calls refused 503 vm_not_ready */
	int refused;   /* calls refused so */
};

static inline enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
					 const char *method, const char *version,
					 const char *upload, size_t *upload_size, void **con_cls)
{
	struct agent *a = cls;
	enum MHD_Result done;
	if (canned_request(conn, url, method, upload_size, con_cls, a, 7, &done))
		return done;
	size_t n = strlen(url);
	if (!strcmp(method, "POST") && n > 7 && !strcmp(url + n - 7, "/invoke")) {
		char vm[64];
		snprintf(vm, sizeof(vm), "/v1/vms/%s/", a->hold);
		if (a->hold[0] && strncmp(url, vm, strlen(vm)))
			return answer(conn, 200, "{\"status\":\"ok\",\"result\":\"{}\"}");
		pthread_mutex_lock(&a->lock);
		if (a->refuse > 0) {
			a->refuse--;
			a->refused++;
			pthread_cond_broadcast(&a->changed);
			pthread_mutex_unlock(&a->lock);
			return answer(conn, 503,
				      "{\"error\":{\"code\":\"vm_not_ready\",\"message\":\"booting\"}}");
		}
		a->invokes++;
		if (++a->active > a->max_active)
			a->max_active = a->active;
		pthread_cond_broadcast(&a->changed);
		while (!a->release)
			pthread_cond_wait(&a->changed, &a->lock);
		a->active--;
		pthread_mutex_unlock(&a->lock);
		return answer(conn, 200, "{\"status\":\"ok\",\"result\":\"{}\"}");
	}
	return canned_not_found(conn);
}

static inline void agent_start(struct agent *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->changed, NULL);
	a->d = canned_start(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
			    on_request, a, a->url);
}

static inline void agent_release(struct agent *a)
{
	pthread_mutex_lock(&a->lock);
	a->release = true;
	pthread_cond_broadcast(&a->changed);
	pthread_mutex_unlock(&a->lock);
}

static inline void agent_stop(struct agent *a)
{
	agent_release(a);
	MHD_stop_daemon(a->d);
	pthread_cond_destroy(&a->changed);
	pthread_mutex_destroy(&a->lock);
}

static inline bool invoke_arrived(void *arg)
{
	struct agent *a = arg;
	pthread_mutex_lock(&a->lock);
	bool yes = a->invokes > 0;
	pthread_mutex_unlock(&a->lock);
	return yes;
}

/* Registers the agent as host h1 with a ready VM for each of the tenants
 * (NULL-terminated). */
static inline void agent_register(struct fixture *f, const struct agent *a,
				  const char *const *tenants)
{
	json_t *vms = json_array();
	for (size_t i = 0; tenants[i]; i++)
		json_array_append_new(vms, json_pack("{s:s, s:s, s:i, s:i}", "tenant", tenants[i],
						     "state", "ready", "workers", 1, "pid",
						     (int)(7 + i)));
	json_t *host = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:o}}", "id", "h1", "address",
				 a->url, "cores", 4, "token", "t", "boot_id", "b1", "status", "vms",
				 vms);
	char *text = json_dumps(host, JSON_COMPACT);
	json_decref(host);
	assert_non_null(text);
	assert_int_equal(call(f, f->admin, "POST", "/v1/hosts", text, 0, NULL), 201);
	free(text);
}

#endif
