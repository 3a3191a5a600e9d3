/* The controllers sharing one store: membership, the leader, and which
 * controller owns each tenant.
 *
 * On PostgreSQL a thread heartbeats this controller's row every second on a
 * store handle of its own and reads back everyone's (live: seen within the
 * peer timeout, by the database's clock); every 500 ms a controller that
 * does not lead tries the leader's advisory lock, held on a second handle,
 * and the leader checks it still holds it (the lock goes with its
 * connection: a leader that lost it steps down). A new leader takes the next
 * epoch, the fence of its once-only writes. The leader declares controllers
 * silent past the peer timeout dead and releases their records; every
 * controller, each second, claims the orphaned queued async records of the
 * tenants it owns (rendezvous hashing over the live ids, ring.h) and hands
 * them up to be run.
 *
 * On SQLite the store serves one controller: an exclusive flock on the
 * database file refuses a second one, and the one controller is always the
 * leader, at epoch 1, with no thread. */
#ifndef DITTO_CLUSTER_H
#define DITTO_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define CLUSTER_PEER_TIMEOUT_DEFAULT_MS 3000
#define CLUSTER_PEER_TIMEOUT_MIN_MS 1500
#define CLUSTER_PEER_TIMEOUT_MAX_MS 600000

struct cluster_config {
	const char *id;        /* this controller: [a-z0-9-]{1,63} */
	const char *store_uri; /* the store's URI (store.h); the cluster opens its own handles */
	int peer_timeout_ms;   /* a controller silent this long is dead */
	int max_retries;       /* an async record's retries, as the invoker spends them */
};

/* What the cluster reports upward; every hook runs on its thread, and may
 * be NULL. */
struct cluster_hooks {
	/* Records this controller claimed: queued async invocations to run,
	 * as after a restart (no retry spent). */
	void (*adopt)(void *data, const struct store_id *ids, size_t n);
	/* This controller became the leader at epoch: its once-only writes
	 * are to be fenced by it (store_fence_set). */
	void (*lead)(void *data, int64_t epoch);
	void *data;
};

/* A controller as the view shows it. */
struct cluster_member {
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	int64_t started_ms, last_seen_ms; /* the database's wall clock */
	bool live, leader, self;
};

struct cluster;

/* Whether id is a controller id: [a-z0-9-]{1,63}. */
bool cluster_id_is_valid(const char *id);
/* Writes a new controller id, "ctl-" and 8 random hex digits. Returns 0 or
 * -EIO. */
int cluster_id_new(char ret_id[STORE_NAME_SIZE]);

/* Joins the controllers of the store: on SQLite, takes the exclusive lock
 * of its file (-EBUSY when another controller holds it); on PostgreSQL,
 * opens the cluster's two handles. Nothing runs until cluster_start.
 * Returns 0 with a cluster for cluster_free, or -errno with a reason in
 * err. */
int cluster_new(const struct cluster_config *cfg, const struct cluster_hooks *hooks,
		struct cluster **ret, char *err, size_t err_size);
/* Announces this controller at address (what the others call it at) and
 * starts the thread: the first heartbeat and view are done before it
 * returns. Returns 0 or -errno. */
int cluster_start(struct cluster *c, const char *address);
/* Stops the thread, gives the leader's lock up and closes the handles;
 * NULL is fine. */
void cluster_free(struct cluster *c);

/* This controller's id. */
const char *cluster_id(const struct cluster *c);
/* The owner of tenant among the live controllers (this one when the view
 * holds no other), with the address it is reached at. Returns 0. */
int cluster_owner(struct cluster *c, const char *tenant, char ret_id[STORE_NAME_SIZE],
		  char ret_address[STORE_ADDRESS_SIZE]);
/* Whether this controller owns tenant. */
bool cluster_is_self(struct cluster *c, const char *tenant);
/* Whether this controller is the leader now. */
bool cluster_is_leader(struct cluster *c);
/* Counts changes of the live membership and of leadership: a caller that
 * caches ownership looks again when it moved. */
uint64_t cluster_changes(struct cluster *c);
/* Every controller of the last view (this one included), ordered by id, as
 * a malloc'd array (free()), and the leader's epoch. Returns 0 or -ENOMEM. */
int cluster_members(struct cluster *c, struct cluster_member **ret, size_t *ret_n,
		    int64_t *ret_epoch);

#endif
