/* Membership, leadership and ownership of the controllers sharing a store
 * (cluster.h). */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ring.h"
#include "util.h"

#define BEAT_EVERY_US 1000000ull
#define LEAD_EVERY_US 500000ull
#define ORPHANS_MAX 1000

struct cluster {
	struct cluster_config cfg;
	struct cluster_hooks hooks;
	char id[STORE_NAME_SIZE];
	char address[STORE_ADDRESS_SIZE];
	char *uri;
	bool shared;      /* PostgreSQL: several controllers */
	int lock_fd;      /* SQLite: the database file, flocked; -1 when none */
	struct store *s;  /* heartbeats, views, releases, claims */
	struct store *ls; /* the leader's lock, on a connection of its own */
	int64_t started_ms;
	pthread_t thread;
	bool thread_started;
	/* The thread's alone. */
	bool store_down;
	uint64_t view_sig;
	/* Turns in a row the lock was held by a leader the view says is dead. */
	int dead_leader_turns;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	/* Under mu. */
	bool stopping;
	bool leader;
	int64_t epoch;
	struct cluster_member *members;
	size_t n_members;
	const char **live; /* ids of the live members, into members */
	size_t n_live;
	uint64_t changes;
	/* The store names a leader whose heartbeat is past the peer timeout. */
	bool leader_dead;
};

bool cluster_id_is_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n < 1 || n >= STORE_NAME_SIZE)
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int cluster_id_new(char ret_id[STORE_NAME_SIZE])
{
	char hex[16];
	char id[STORE_ID_SIZE];
	int r = store_invocation_new_id(id);
	if (r < 0)
		return r;
	memcpy(hex, id, 8);
	hex[8] = '\0';
	snprintf(ret_id, STORE_NAME_SIZE, "ctl-%s", hex);
	return 0;
}

/* ---- the view -------------------------------------------------------------------------------- */

/* Installs members as the view (taking them over), with this controller
 * always in it and live; counts a change when the live set or the leader
 * moved. */
static void view_set(struct cluster *c, struct cluster_member *members, size_t n, int64_t epoch,
		     bool leader_dead)
{
	const char **live = calloc(n ? n : 1, sizeof(*live));
	if (!live) {
		free(members);
		return;
	}
	size_t n_live = 0;
	uint64_t sig = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		if (!members[i].live)
			continue;
		live[n_live++] = members[i].id;
		for (const char *p = members[i].id; *p; p++)
			sig = (sig ^ (uint8_t)*p) * 1099511628211ull;
		sig = (sig ^ (members[i].leader ? 2 : 1)) * 1099511628211ull;
	}
	pthread_mutex_lock(&c->mu);
	free(c->members);
	free(c->live);
	c->members = members;
	c->n_members = n;
	c->live = live;
	c->n_live = n_live;
	c->leader_dead = leader_dead;
	/* A leader knows its epoch; the others show the store's. */
	if (!c->leader && epoch)
		c->epoch = epoch;
	if (sig != c->view_sig) {
		c->view_sig = sig;
		c->changes++;
	}
	pthread_mutex_unlock(&c->mu);
}

/* The view of SQLite's single controller. */
static int view_alone(struct cluster *c)
{
	struct cluster_member *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->id, sizeof(m->id), "%s", c->id);
	snprintf(m->address, sizeof(m->address), "%s", c->address);
	m->started_ms = c->started_ms;
	m->last_seen_ms = time_wall_ms();
	m->live = m->leader = m->self = true;
	view_set(c, m, 1, 0, false);
	return 0;
}

/* Reads the controllers and the leader from the store into the view. */
static int view_refresh(struct cluster *c)
{
	struct store_controller *ctls = NULL;
	size_t n = 0;
	int64_t now = 0, epoch = 0;
	char leader[STORE_NAME_SIZE];
	int r = store_controller_list(c->s, &ctls, &n, &now);
	if (r == 0)
		r = store_leader_get(c->s, &epoch, leader);
	if (r < 0) {
		free(ctls);
		return r;
	}
	struct cluster_member *m = calloc(n + 1, sizeof(*m));
	if (!m) {
		free(ctls);
		return -ENOMEM;
	}
	pthread_mutex_lock(&c->mu);
	bool i_lead = c->leader;
	pthread_mutex_unlock(&c->mu);
	bool self_seen = false;
	for (size_t i = 0; i < n; i++) {
		struct cluster_member *e = &m[i];
		memcpy(e->id, ctls[i].id, sizeof(e->id));
		memcpy(e->address, ctls[i].address, sizeof(e->address));
		e->started_ms = ctls[i].started_ms;
		e->last_seen_ms = ctls[i].last_seen_ms;
		e->self = !strcmp(e->id, c->id);
		e->live = e->self || now - e->last_seen_ms <= c->cfg.peer_timeout_ms;
		e->leader = e->self ? i_lead : e->live && !i_lead && !strcmp(e->id, leader);
		self_seen = self_seen || e->self;
	}
	free(ctls);
	if (!self_seen) {
		/* Its heartbeat has not landed: it is alive all the same. */
		struct cluster_member *e = &m[n++];
		snprintf(e->id, sizeof(e->id), "%s", c->id);
		snprintf(e->address, sizeof(e->address), "%s", c->address);
		e->started_ms = c->started_ms;
		e->live = e->self = true;
		e->leader = i_lead;
	}
	/* Named by the store, but not live (its row may be gone too). */
	bool leader_dead = leader[0] && strcmp(leader, c->id) != 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].live && !strcmp(m[i].id, leader))
			leader_dead = false;
	view_set(c, m, n, epoch, leader_dead);
	return 0;
}

/* ---- leadership ------------------------------------------------------------------------------ */

static void leader_set(struct cluster *c, bool leader, int64_t epoch)
{
	pthread_mutex_lock(&c->mu);
	c->leader = leader;
	if (leader)
		c->epoch = epoch;
	c->changes++;
	pthread_mutex_unlock(&c->mu);
}

/* When the lock stays held by a leader the view says is dead (silent past
 * the peer timeout, its connection still open: a frozen process, a machine
 * gone without a word), ends that connection so that the lock is free at
 * the next try. Two turns in a row, so that a controller that has just won
 * the lock and not yet taken its epoch is never taken for the dead one. */
static void depose_dead_leader(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	bool dead = c->leader_dead;
	pthread_mutex_unlock(&c->mu);
	c->dead_leader_turns = dead ? c->dead_leader_turns + 1 : 0;
	if (c->dead_leader_turns < 2)
		return;
	c->dead_leader_turns = 0;
	int r = store_leader_depose(c->ls);
	if (r == 0)
		log_warn("cluster_leader_deposed by=%s reason=\"silent past the peer timeout\"",
			 c->id);
	else
		log_warn("cluster_leader_depose_failed err=%s", strerror(-r));
}

/* Tries the lock when not leading; checks it is still held when leading. */
static void lead_tick(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	bool leading = c->leader;
	pthread_mutex_unlock(&c->mu);
	if (leading) {
		int r = store_leader_lock_held(c->ls);
		if (r < 0) {
			log_warn("cluster_leader_lost id=%s err=%s", c->id, strerror(-r));
			leader_set(c, false, 0);
		}
		return;
	}
	bool won = false;
	if (store_leader_lock_try(c->ls, &won) < 0)
		return;
	if (!won) {
		depose_dead_leader(c);
		return;
	}
	c->dead_leader_turns = 0;
	int64_t epoch = 0;
	int r = store_leader_claim(c->ls, &epoch);
	if (r < 0) {
		/* Without its epoch it cannot fence: give the lock back. */
		log_warn("cluster_leader_claim_failed err=%s", strerror(-r));
		store_leader_lock_release(c->ls);
		return;
	}
	store_fence_set(c->s, epoch);
	leader_set(c, true, epoch);
	log_info("cluster_leader id=%s epoch=%lld", c->id, (long long)epoch);
	if (c->hooks.lead)
		c->hooks.lead(c->hooks.data, epoch);
}

/* As leader: releases the records of the controllers silent past the peer
 * timeout, and of those records name that have no row at all (copied from
 * another store; created over a peer timeout ago, so that a controller
 * whose first heartbeat is on its way is never one). */
static void reap_dead(struct cluster *c)
{
	struct store_controller *gone = NULL;
	size_t n_gone = 0;
	if (cluster_is_leader(c) &&
	    store_controller_unlisted(c->s, time_wall_ms() - c->cfg.peer_timeout_ms, &gone,
				      &n_gone) < 0)
		n_gone = 0;
	pthread_mutex_lock(&c->mu);
	bool leading = c->leader;
	size_t n = 0;
	char(*dead)[STORE_NAME_SIZE] = calloc(c->n_members + n_gone + 1, sizeof(*dead));
	for (size_t i = 0; dead && leading && i < c->n_members; i++)
		if (!c->members[i].live)
			memcpy(dead[n++], c->members[i].id, STORE_NAME_SIZE);
	for (size_t i = 0; dead && leading && i < n_gone; i++)
		memcpy(dead[n++], gone[i].id, STORE_NAME_SIZE);
	pthread_mutex_unlock(&c->mu);
	free(gone);
	for (size_t i = 0; i < n; i++) {
		size_t failed = 0, queued = 0;
		int r = store_controller_release(c->s, dead[i], c->cfg.peer_timeout_ms,
						 "controller lost", c->cfg.max_retries, &failed,
						 &queued);
		if (r == 0)
			log_warn("controller_dead id=%s failed=%zu requeued=%zu", dead[i], failed,
				 queued);
		else if (r == -ESTALE)
			leader_set(c, false, 0);
		else if (r != -EAGAIN)
			log_warn("controller_release_failed id=%s err=%s", dead[i], strerror(-r));
		if (r == -ESTALE)
			break;
	}
	free(dead);
}

/* ---- orphans --------------------------------------------------------------------------------- */

/* Claims the orphaned queued records of the tenants this controller owns
 * and hands them up. */
static void claim_orphans(struct cluster *c)
{
	struct store_orphan *o = NULL;
	size_t n = 0, n_ids = 0;
	if (store_orphan_list(c->s, ORPHANS_MAX, &o, &n) < 0 || !n) {
		free(o);
		return;
	}
	struct store_id *ids = calloc(n, sizeof(*ids));
	for (size_t i = 0; ids && i < n; i++)
		if (cluster_is_self(c, o[i].tenant) && store_orphan_claim(c->s, o[i].id) == 0)
			memcpy(ids[n_ids++].id, o[i].id, STORE_ID_SIZE);
	free(o);
	if (n_ids) {
		log_info("invocations_claimed count=%zu", n_ids);
		if (c->hooks.adopt)
			c->hooks.adopt(c->hooks.data, ids, n_ids);
	}
	free(ids);
}

/* A heartbeat, a new view, and what follows from it. */
static void beat(struct cluster *c)
{
	int r = store_controller_heartbeat(c->s, c->address, c->started_ms);
	if (r == 0)
		r = view_refresh(c);
	if (r < 0) {
		if (!c->store_down)
			log_warn("cluster_store_unavailable err=%s", strerror(-r));
		c->store_down = true;
		return;
	}
	if (c->store_down)
		log_info("cluster_store_available");
	c->store_down = false;
	reap_dead(c);
	claim_orphans(c);
}

/* Waits until due_us (time_now_us) or a stop. mu is held. */
static void wait_until(struct cluster *c, uint64_t due_us)
{
	uint64_t now = time_now_us();
	if (due_us <= now)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + (due_us - now) % 1000000 * 1000;
	ts.tv_sec += (time_t)((due_us - now) / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_cond_timedwait(&c->cond, &c->mu, &ts);
}

static void *cluster_main(void *arg)
{
	struct cluster *c = arg;
	uint64_t next_beat = time_now_us() + BEAT_EVERY_US, next_lead = 0;
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		uint64_t now = time_now_us();
		pthread_mutex_unlock(&c->mu);
		if (now >= next_lead) {
			lead_tick(c);
			next_lead = now + LEAD_EVERY_US;
		}
		if (now >= next_beat) {
			beat(c);
			next_beat = now + BEAT_EVERY_US;
		}
		pthread_mutex_lock(&c->mu);
		if (!c->stopping)
			wait_until(c, next_lead < next_beat ? next_lead : next_beat);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* Takes the SQLite file's exclusive lock for the controller's life. */
static int lock_file(struct cluster *c, const char *path, char *err, size_t err_size)
{
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lock_fd < 0) {
		int r = -errno;
		snprintf(err, err_size, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, err_size, "another controller uses the store %s: %s", path,
			 r == -EBUSY ? "an SQLite store serves one controller" : strerror(-r));
		return r;
	}
	return 0;
}

/* Opens one of the cluster's handles on a shared store. */
static int open_handle(struct cluster *c, struct store **ret, char *err, size_t err_size)
{
	int r = store_open(c->uri, ret);
	if (r == 0)
		r = store_set_controller(*ret, c->id);
	if (r < 0)
		snprintf(err, err_size, "cannot open the cluster's store handle: %s", strerror(-r));
	return r;
}

int cluster_new(const struct cluster_config *cfg, const struct cluster_hooks *hooks,
		struct cluster **ret, char *err, size_t err_size)
{
	const char *engine, *target;
	if (!cluster_id_is_valid(cfg->id)) {
		snprintf(err, err_size, "a controller id is [a-z0-9-]{1,63}");
		return -EINVAL;
	}
	int r = store_uri_parse(cfg->store_uri, &engine, &target);
	if (r < 0) {
		snprintf(err, err_size, "bad store URI");
		return r;
	}
	struct cluster *c = calloc(1, sizeof(*c));
	if (!c || !(c->uri = strdup(cfg->store_uri))) {
		free(c);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	c->cfg = *cfg;
	c->cfg.store_uri = c->uri;
	if (hooks)
		c->hooks = *hooks;
	c->lock_fd = -1;
	snprintf(c->id, sizeof(c->id), "%s", cfg->id);
	c->started_ms = time_wall_ms();
	c->shared = strcmp(engine, "sqlite") != 0;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!c->shared) {
		c->leader = true;
		c->epoch = 1;
		r = lock_file(c, target, err, err_size);
	} else {
		r = open_handle(c, &c->s, err, err_size);
		if (r == 0)
			r = open_handle(c, &c->ls, err, err_size);
	}
	if (r == 0)
		r = view_alone(c);
	if (r < 0) {
		cluster_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int cluster_start(struct cluster *c, const char *address)
{
	snprintf(c->address, sizeof(c->address), "%s", address);
	if (!c->shared)
		return view_alone(c);
	/* Listed before serving anything: the first heartbeat and view, and
	 * the first try at leading. */
	lead_tick(c);
	beat(c);
	int r = pthread_create(&c->thread, NULL, cluster_main, c);
	if (r != 0)
		return -r;
	c->thread_started = true;
	return 0;
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	if (c->thread_started)
		pthread_join(c->thread, NULL);
	if (c->shared && c->leader && c->ls)
		store_leader_lock_release(c->ls);
	store_close(c->ls);
	store_close(c->s);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	free(c->members);
	free(c->live);
	free(c->uri);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* ---- queries --------------------------------------------------------------------------------- */

const char *cluster_id(const struct cluster *c)
{
	return c->id;
}

int cluster_owner(struct cluster *c, const char *tenant, char ret_id[STORE_NAME_SIZE],
		  char ret_address[STORE_ADDRESS_SIZE])
{
	pthread_mutex_lock(&c->mu);
	long i = ring_owner(tenant, c->live, c->n_live);
	const char *id = i < 0 ? c->id : c->live[i];
	const char *address = c->address;
	for (size_t k = 0; i >= 0 && k < c->n_members; k++)
		if (c->members[k].id == c->live[i])
			address = c->members[k].address;
	if (ret_id)
		snprintf(ret_id, STORE_NAME_SIZE, "%s", id);
	if (ret_address)
		snprintf(ret_address, STORE_ADDRESS_SIZE, "%s", address);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

bool cluster_is_self(struct cluster *c, const char *tenant)
{
	char id[STORE_NAME_SIZE];
	cluster_owner(c, tenant, id, NULL);
	return !strcmp(id, c->id);
}

bool cluster_is_leader(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	bool l = c->leader;
	pthread_mutex_unlock(&c->mu);
	return l;
}

uint64_t cluster_changes(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->changes;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int cluster_members(struct cluster *c, struct cluster_member **ret, size_t *ret_n,
		    int64_t *ret_epoch)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->n_members;
	struct cluster_member *m = malloc((n ? n : 1) * sizeof(*m));
	if (m) {
		memcpy(m, c->members, n * sizeof(*m));
		/* This controller knows whether it leads; when it does, no
		 * other does, whatever the last view said. */
		for (size_t i = 0; i < n; i++)
			if (m[i].self || c->leader)
				m[i].leader = m[i].self && c->leader;
	}
	int64_t epoch = c->epoch;
	pthread_mutex_unlock(&c->mu);
	if (!m)
		return -ENOMEM;
	*ret = m;
	*ret_n = n;
	*ret_epoch = epoch;
	return 0;
}
