/* The controller's life cycle: the data folder, the store and the admin
 * key, then the fleet, the invoker and the HTTP server over them (api.c),
 * and the same in reverse at the end. */
#include "controller_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_stream.h"
#include "artifact_gc.h"
#include "log.h"

/* ---- start and stop --------------------------------------------------------------------------- */

/* Keeps the admin key in DATA/admin.key: a live admin key there is used as
 * is; otherwise (first start, or the file was removed) a new one is created
 * and written with mode 0600 through a temporary file and a rename. */
static int admin_key_ensure(struct controller *c, char *err, size_t err_size)
{
	char path[1200], token[STORE_TOKEN_SIZE + 8], tenant[STORE_NAME_SIZE];
	bool is_admin = false;
	snprintf(path, sizeof(path), "%s/admin.key", c->data_dir);
	if (file_read_text(path, token, sizeof(token)) > 0 &&
	    store_key_verify(c->db.store, token, tenant, &is_admin) == 0 && is_admin)
		return 0;
	int r = store_key_create(c->db.store, NULL, token);
	if (r < 0) {
		snprintf(err, err_size, "cannot create the admin key: %s", strerror(-r));
		return r;
	}
	char line[sizeof(token) + 1];
	snprintf(line, sizeof(line), "%s\n", token);
	if ((r = file_replace_text(path, line, 0600, true)) < 0) {
		snprintf(err, err_size, "cannot write %s: %s", path, strerror(-r));
		return r;
	}
	log_info("admin_key_written path=%s", path);
	return 0;
}

/* Removes uploads a previous run left half-written. */
static void clean_uploads(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[1400];
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".upload-", 8)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
}

void controller_config_defaults(struct controller_config *cfg)
{
	*cfg = (struct controller_config){
		.listen_addr = "127.0.0.1",
		.port = 8080,
		.data_dir = "data/controller",
		.max_artifact = 48ull << 20,
		.host_timeout_ms = 5000,
		.vm_memory_mib = 512,
		.async_workers = 16,
		.max_connections = 1024,
		.retain = 10000,
		.retain_days = 7,
		.agent_stream = true,
		.peer_timeout_ms = CLUSTER_PEER_TIMEOUT_DEFAULT_MS,
	};
}

/* The cluster's hooks and the fleet's predicate, on the controller. */
static void on_adopt(void *data, const struct store_id *ids, size_t n)
{
	struct controller *c = data;
	invoker_adopt(c->invoker, ids, n);
}

static void on_lead(void *data, int64_t epoch)
{
	struct controller *c = data;
	pthread_mutex_lock(&c->db.lock);
	store_fence_set(c->db.store, epoch);
	pthread_mutex_unlock(&c->db.lock);
}

static bool is_leader(void *data)
{
	return cluster_is_leader(data);
}

static bool owns(void *data, const char *tenant)
{
	return cluster_is_self(data, tenant);
}

/* Joins the controllers sharing the store at path before anything is
 * served: on SQLite, refuses a second controller on the same file. */
static int cluster_join(struct controller *c, const char *path, char *err, size_t err_size)
{
	int r = c->cfg.id ? 0 : cluster_id_new(c->id);
	if (r < 0) {
		snprintf(err, err_size, "cannot draw a controller id: %s", strerror(-r));
		return r;
	}
	if (c->cfg.id)
		snprintf(c->id, sizeof(c->id), "%s", c->cfg.id);
	struct cluster_config cc = { .id = c->id,
				     .store_uri = path,
				     .peer_timeout_ms = c->cfg.peer_timeout_ms,
				     .max_retries = INVOKER_ASYNC_RETRIES };
	struct cluster_hooks hooks = { .adopt = on_adopt, .lead = on_lead, .data = c };
	return cluster_new(&cc, &hooks, &c->cluster, err, err_size);
}

/* Announces the controller to the others once it serves. */
static int cluster_announce(struct controller *c, char *err, size_t err_size)
{
	char address[STORE_ADDRESS_SIZE];
	if (c->cfg.advertise)
		snprintf(address, sizeof(address), "%s", c->cfg.advertise);
	else
		snprintf(address, sizeof(address), "http://%s:%d", c->cfg.listen_addr, c->port);
	int r = cluster_start(c->cluster, address);
	if (r < 0)
		snprintf(err, err_size, "cannot join the controllers: %s", strerror(-r));
	else
		log_info("controller_id id=%s address=%s", c->id, address);
	return r;
}

int controller_start(const struct controller_config *cfg, struct controller **ret, char *err,
		     size_t err_size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port) };
	if (inet_pton(AF_INET, cfg->listen_addr, &sin.sin_addr) != 1) {
		snprintf(err, err_size, "--listen must be an IPv4 address, got \"%s\"",
			 cfg->listen_addr);
		return -EINVAL;
	}
	struct controller *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	c->cfg = *cfg;
	pthread_mutex_init(&c->db.lock, NULL);
	pthread_rwlock_init(&c->artifacts_lock, NULL);
	char path[1200];
	int r;
	if (snprintf(c->data_dir, sizeof(c->data_dir), "%s", cfg->data_dir) >=
	    (int)sizeof(c->data_dir)) {
		snprintf(err, err_size, "data folder path is too long");
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(c->artifacts_dir, sizeof(c->artifacts_dir), "%s/artifacts", c->data_dir);
	if ((r = mkdir_parents(c->artifacts_dir, 0700)) < 0) {
		snprintf(err, err_size, "cannot create %s: %s", c->artifacts_dir, strerror(-r));
		goto fail;
	}
	clean_uploads(c->artifacts_dir);
	if (cfg->store)
		snprintf(path, sizeof(path), "%s", cfg->store);
	else
		snprintf(path, sizeof(path), "sqlite:%s/ditto.db", c->data_dir);
	if ((r = store_open(path, &c->db.store)) < 0) {
		/* A conninfo may hold a password: name only a file. */
		snprintf(err, err_size, "cannot open store %s: %s",
			 strncmp(path, "postgres:", 9) ? path : "postgres", strerror(-r));
		goto fail;
	}
	if ((r = cluster_join(c, path, err, err_size)) < 0)
		goto fail;
	if ((r = store_set_controller(c->db.store, c->id)) < 0 ||
	    (r = admin_key_ensure(c, err, err_size)) < 0)
		goto fail;
	/* Requests never checkpoint SQLite's WAL themselves (its fsyncs would
	 * land on whichever request crossed the threshold); the fleet's thread
	 * does, on a handle of its own. PostgreSQL checkpoints by itself. */
	if (!strcmp(store_engine(c->db.store), "sqlite") &&
	    ((r = store_open(path, &c->checkpoint)) < 0 ||
	     (r = store_set_autocheckpoint(c->db.store, 0)) < 0)) {
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
		goto fail;
	}
	struct fleet_config fc = {
		.host_timeout_ms = cfg->host_timeout_ms,
		.boot_timeout_ms = 180000,
		.vm_memory_mib = cfg->vm_memory_mib,
		.artifacts_dir = c->artifacts_dir,
		.retain = cfg->retain,
		.retain_days = cfg->retain_days,
		.checkpoint = c->checkpoint,
		.is_leader = is_leader,
		.leader_data = c->cluster,
		.owns = owns,
		.owns_data = c->cluster,
	};
	struct invoker_config ic = { .async_workers = cfg->async_workers,
				     .placement_timeout_ms = PLACEMENT_TIMEOUT_MS };
	if (cfg->agent_stream && (r = agent_streams_new(&c->streams)) < 0) {
		snprintf(err, err_size, "cannot start: %s", strerror(-r));
		goto fail;
	}
	ic.streams = c->streams;
	if ((r = link_pool_new(&c->links)) < 0 || (r = metrics_new(&c->metrics)) < 0 ||
	    (r = fleet_new(&fc, &c->db, c->links, c->metrics, &c->fleet)) < 0 ||
	    (r = invoker_new(&ic, &c->db, c->fleet, c->links, c->metrics, &c->invoker)) < 0) {
		snprintf(err, err_size, "cannot start: %s", strerror(-r));
		goto fail;
	}
	if ((r = invoker_recover(c->invoker)) < 0) {
		snprintf(err, err_size, "cannot recover invocations: %s", strerror(-r));
		goto fail;
	}
	if ((r = api_serve(c, &sin, err, err_size)) < 0 ||
	    (r = cluster_announce(c, err, err_size)) < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	controller_stop(c);
	return r;
}

int controller_port(const struct controller *c)
{
	return c->port;
}

void controller_stop(struct controller *c)
{
	if (!c)
		return;
	/* Calls to agents in flight end first, so connection threads blocked
	 * on them can finish and MHD can stop. */
	if (c->fleet)
		fleet_stop_calls(c->fleet);
	api_close(c);
	/* Its hooks reach the invoker: it stops first. */
	cluster_free(c->cluster);
	invoker_free(c->invoker);
	agent_streams_free(c->streams);
	fleet_free(c->fleet);
	metrics_free(c->metrics);
	link_pool_free(c->links);
	store_close(c->db.store);
	store_close(c->checkpoint);
	pthread_mutex_destroy(&c->db.lock);
	pthread_rwlock_destroy(&c->artifacts_lock);
	artifact_gc_pins_free(&c->db);
	free(c);
}
