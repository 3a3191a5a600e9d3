#include "uplink.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>

#include "api_client.h"
#include "log.h"

/* One call to the controller may take this long; beats meanwhile are merged
 * into the next (only the newest status is kept). */
#define CALL_TIMEOUT_MS 10000
#define HOST_ID_MAX 63

enum link_state {
	LINK_NONE = 0, /* nothing sent yet */
	LINK_UP,       /* registered, heartbeats answered */
	LINK_REGISTER_FAILED,
	LINK_HEARTBEAT_FAILED,
};

struct uplink {
	uv_timer_t timer;
	uplink_status_fn status_json; /* called on the loop's thread only */
	void *data;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char *snapshot; /* the newest status not yet sent; under lock */
	bool stop;      /* under lock */
	atomic_bool cancel;

	/* Fixed before the thread starts; only read after. */
	struct api_client client;
	char host_id[HOST_ID_MAX + 1];
	char address[256];
	char boot_id[33];
	char heartbeat_path[128];
	char *token;
	int cores;
	int heartbeat_ms;

	/* The thread's own. */
	bool registered;
	enum link_state state;
	int state_status; /* HTTP status or -errno of the last failure logged */
};

/* The controller's rule for host ids: [A-Za-z0-9_.-]{1,63}. */
static bool host_id_is_valid(const char *s)
{
	size_t n = strlen(s);
	return n >= 1 && n <= HOST_ID_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool url_is_valid(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n >= max || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return false;
	}
	return true;
}

bool uplink_url_is_valid(const char *url)
{
	return url_is_valid(url, sizeof(((struct api_client *)NULL)->base));
}

/* ---- the thread --------------------------------------------------------------- */

static const char *reply_message(json_t *reply)
{
	const char *m = json_string_value(
		json_object_get(json_object_get(reply, "error"), "message"));
	return m ? m : "";
}

/* Logs a failure when it differs from the last one logged, so a controller
 * that stays away costs one line, not one per beat. */
static void note_failure(struct uplink *u, enum link_state state, int status, json_t *reply)
{
	if (u->state == state && u->state_status == status)
		return;
	u->state = state;
	u->state_status = status;
	const char *what = state == LINK_REGISTER_FAILED ? "controller_register_failed"
							 : "controller_heartbeat_failed";
	if (status < 0)
		log_warn("%s controller=%s host_id=%s error=\"%s\" (trying again every %d ms)",
			 what, u->client.base, u->host_id, strerror(-status), u->heartbeat_ms);
	else
		log_warn(
			"%s controller=%s host_id=%s status=%d message=\"%s\" (trying again every %d ms)",
			what, u->client.base, u->host_id, status, reply_message(reply),
			u->heartbeat_ms);
}

static int post(struct uplink *u, const char *path, json_t *body, json_t **ret_reply)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	*ret_reply = NULL;
	if (!text)
		return -ENOMEM;
	int r = api_client_call(&u->client, "POST", path, text, strlen(text), CALL_TIMEOUT_MS,
				ret_reply);
	free(text);
	return r;
}

static void do_register(struct uplink *u, json_t *status)
{
	json_t *reply;
	json_t *body = json_pack("{s:s, s:s, s:i, s:s, s:s, s:O}", "id", u->host_id, "address",
				 u->address, "cores", u->cores, "token", u->token, "boot_id",
				 u->boot_id, "status", status);
	int r = body ? post(u, "/v1/hosts", body, &reply) : -ENOMEM;
	if (r == 200 || r == 201) {
		u->registered = true;
		u->state = LINK_UP;
		log_info("controller_registered controller=%s host_id=%s address=%s boot_id=%s",
			 u->client.base, u->host_id, u->address, u->boot_id);
	} else if (r != -ECANCELED) {
		note_failure(u, LINK_REGISTER_FAILED, r, reply);
	}
	json_decref(reply);
}

static void beat(struct uplink *u, const char *snapshot)
{
	json_t *status = json_loads(snapshot, 0, NULL);
	if (!status)
		return;
	if (u->registered) {
		json_t *reply;
		json_t *body = json_pack("{s:s, s:O}", "boot_id", u->boot_id, "status", status);
		int r = body ? post(u, u->heartbeat_path, body, &reply) : -ENOMEM;
		if (r == 200) {
			if (u->state != LINK_UP)
				log_info("controller_heartbeat_ok controller=%s host_id=%s",
					 u->client.base, u->host_id);
			u->state = LINK_UP;
		} else if (r == 404 || r == 409) {
			/* The controller lost us (restarted, forgot, or saw another
			 * boot under our id): register again, now. */
			log_info("controller_register_again controller=%s host_id=%s status=%d "
				 "message=\"%s\"",
				 u->client.base, u->host_id, r, reply_message(reply));
			u->registered = false;
		} else if (r != -ECANCELED) {
			note_failure(u, LINK_HEARTBEAT_FAILED, r, reply);
		}
		json_decref(reply);
	}
	if (!u->registered)
		do_register(u, status);
	json_decref(status);
}

static void *run(void *data)
{
	struct uplink *u = data;
	for (;;) {
		pthread_mutex_lock(&u->lock);
		while (!u->snapshot && !u->stop)
			pthread_cond_wait(&u->wake, &u->lock);
		bool stop = u->stop;
		char *snapshot = u->snapshot;
		u->snapshot = NULL;
		pthread_mutex_unlock(&u->lock);
		if (stop) {
			free(snapshot);
			return NULL;
		}
		beat(u, snapshot);
		free(snapshot);
	}
}

/* ---- the loop's side ------------------------------------------------------------ */

/* Hands the thread a fresh status; one it has not taken yet is replaced,
 * so a slow controller gets the newest state rather than a backlog. */
static void on_beat(uv_timer_t *t)
{
	struct uplink *u = t->data;
	json_t *status = u->status_json(u->data);
	char *text = status ? json_dumps(status, JSON_COMPACT) : NULL;
	json_decref(status);
	if (!text)
		return;
	pthread_mutex_lock(&u->lock);
	free(u->snapshot);
	u->snapshot = text;
	pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
}

static void uplink_free(struct uplink *u)
{
	free(u->token);
	free(u);
}

static void on_timer_closed(uv_handle_t *h)
{
	uplink_free(h->data);
}

static int random_hex(char *out, size_t bytes)
{
	unsigned char b[32];
	if (bytes > sizeof(b) || getrandom(b, bytes, 0) != (ssize_t)bytes)
		return -EIO;
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* Everything the thread will read, checked here so that a setting the
 * controller would refuse stops the agent at start with a clear reason. */
static int configure(struct uplink *u, const struct uplink_config *cfg, char *err, size_t err_len)
{
	if (!uplink_url_is_valid(cfg->controller_url)) {
		snprintf(err, err_len,
			 "--controller must be an http:// or https:// URL, got \"%s\"",
			 cfg->controller_url);
		return -EINVAL;
	}
	if (cfg->host_id) {
		snprintf(u->host_id, sizeof(u->host_id), "%s", cfg->host_id);
	} else if (gethostname(u->host_id, sizeof(u->host_id)) < 0) {
		int r = -errno;
		snprintf(err, err_len, "cannot read the hostname (%s): give --host-id",
			 strerror(-r));
		return r;
	}
	u->host_id[sizeof(u->host_id) - 1] = '\0';
	if (!host_id_is_valid(cfg->host_id ? cfg->host_id : u->host_id)) {
		snprintf(err, err_len,
			 "host id \"%s\" must match [A-Za-z0-9_.-]{1,63}: give --host-id",
			 cfg->host_id ? cfg->host_id : u->host_id);
		return -EINVAL;
	}
	snprintf(u->address, sizeof(u->address), "%s", cfg->address);
	if (!url_is_valid(u->address, sizeof(u->address)) || strncmp(u->address, "http://", 7)) {
		snprintf(err, err_len, "--advertise must be an http:// URL, got \"%s\"",
			 u->address);
		return -EINVAL;
	}
	snprintf(u->heartbeat_path, sizeof(u->heartbeat_path), "/v1/hosts/%s/heartbeat",
		 u->host_id);
	u->cores = cfg->cores;
	u->heartbeat_ms = cfg->heartbeat_ms;
	if (random_hex(u->boot_id, 16) < 0) {
		snprintf(err, err_len, "no random bytes for a boot id");
		return -EIO;
	}
	u->token = strdup(cfg->token ? cfg->token : "");
	if (!u->token || api_client_init(&u->client, cfg->controller_url) < 0) {
		snprintf(err, err_len, "cannot set up an HTTP client");
		return -ENOMEM;
	}
	api_client_set_cancel(&u->client, &u->cancel);
	if (cfg->controller_key && api_client_set_bearer(&u->client, cfg->controller_key) < 0) {
		snprintf(err, err_len, "the controller key is not a valid bearer token");
		api_client_free(&u->client);
		return -EINVAL;
	}
	return 0;
}

int uplink_start(uv_loop_t *loop, const struct uplink_config *cfg, uplink_status_fn status_json,
		 void *data, char *err, size_t err_len, struct uplink **ret)
{
	struct uplink *u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	u->status_json = status_json;
	u->data = data;
	atomic_init(&u->cancel, false);
	int r = configure(u, cfg, err, err_len);
	if (r < 0) {
		uplink_free(u);
		return r;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->wake, NULL);
	r = -pthread_create(&u->thread, NULL, run, u);
	if (r < 0) {
		snprintf(err, err_len, "cannot start the controller link thread: %s", strerror(-r));
		api_client_free(&u->client);
		pthread_cond_destroy(&u->wake);
		pthread_mutex_destroy(&u->lock);
		uplink_free(u);
		return r;
	}
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	uv_timer_start(&u->timer, on_beat, 0, (uint64_t)u->heartbeat_ms);
	log_info("controller_link controller=%s host_id=%s address=%s boot_id=%s heartbeat_ms=%d",
		 u->client.base, u->host_id, u->address, u->boot_id, u->heartbeat_ms);
	*ret = u;
	return 0;
}

void uplink_stop(struct uplink *u)
{
	if (!u)
		return;
	uv_timer_stop(&u->timer);
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
	atomic_store(&u->cancel, true);
	pthread_join(u->thread, NULL);
	api_client_free(&u->client);
	free(u->snapshot);
	u->snapshot = NULL;
	pthread_cond_destroy(&u->wake);
	pthread_mutex_destroy(&u->lock);
	log_info("controller_link_stopped host_id=%s", u->host_id);
	uv_close((uv_handle_t *)&u->timer, on_timer_closed);
}
