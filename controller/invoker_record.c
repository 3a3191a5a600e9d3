/* The invocations' records: the start of one routed at once and every
 * outcome go through the recorder thread, which writes what arrives together
 * in one commit; invoker_flush waits for it. The recorder lets what is
 * queued gather for up to REC_LINGER_US before it writes, unless a reader
 * waits: a call's start and outcome, and the calls around it, then share a
 * commit instead of paying one each. */
#include "invoker_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* How long the first write queued waits for others to join its commit. */
#define REC_LINGER_US 5000

/* A write waiting for the recorder thread: a synchronous invocation that
 * started, or an outcome. */
struct pending {
	struct pending *next;
	char id[STORE_ID_SIZE];
	bool start; /* the record of a started invocation, else an outcome */
	/* start */
	char tenant[STORE_NAME_SIZE], function[STORE_NAME_SIZE], host[STORE_NAME_SIZE];
	char vm[STORE_NAME_SIZE];
	int64_t version, created_ms;
	/* outcome */
	struct store_outcome o; /* its pointers point at the copies below */
	uint8_t *result, *log;
	char *error, *exception;
};

static void pending_free(struct pending *p)
{
	free(p->result);
	free(p->log);
	free(p->error);
	free(p->exception);
	free(p);
}

void iv_record_start(struct invoker *iv, const char *id, const struct fleet_route *route)
{
	pthread_mutex_lock(&iv->db->lock);
	int r = store_invocation_start(iv->db->store, id, route->host_id, route->vm, -1);
	pthread_mutex_unlock(&iv->db->lock);
	if (r < 0)
		log_warn("invocation_start_unrecorded id=%s err=%s", id, strerror(-r));
}

static void *dup_bytes(const void *p, size_t n)
{
	void *d = p && n ? malloc(n) : NULL;
	if (d)
		memcpy(d, p, n);
	return d;
}

/* Queues p for the recorder, which only the first write of a batch wakes. */
static void pending_push(struct invoker *iv, struct pending *p)
{
	pthread_mutex_lock(&iv->lock);
	bool first = !iv->rec_head;
	if (first)
		iv->rec_since_us = time_now_us();
	*iv->rec_tail = p;
	iv->rec_tail = &p->next;
	if (first)
		pthread_cond_signal(&iv->rec_work);
	pthread_mutex_unlock(&iv->lock);
}

/* Writes one pending item; the db lock is held. */
static int pending_write(struct invoker *iv, const struct pending *p)
{
	if (p->start)
		return store_invocation_create_running(iv->db->store, p->id, p->created_ms,
						       p->tenant, p->function, p->version, p->host,
						       p->vm);
	return store_invocation_finish(iv->db->store, p->id, &p->o);
}

/* Records a synchronous invocation that starts at once on route, through
 * the recorder thread like its outcome, so that neither write is on the
 * caller's path; the record is on disk milliseconds after it starts. An id
 * the caller chose is written here and now instead, so that one already
 * taken is refused before anything runs. Returns 0 with its id in ret_id,
 * -EEXIST, or -errno. */
int iv_record_started(struct invoker *iv, const struct store_function *fn, const char *id,
		      const struct fleet_route *route, char ret_id[STORE_ID_SIZE])
{
	if (id) {
		pthread_mutex_lock(&iv->db->lock);
		int r = store_invocation_create_running(iv->db->store, id, time_wall_ms(),
							fn->tenant, fn->name, fn->version,
							route->host_id, route->vm);
		pthread_mutex_unlock(&iv->db->lock);
		if (r == 0)
			snprintf(ret_id, STORE_ID_SIZE, "%s", id);
		return r;
	}
	struct pending *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = store_invocation_new_id(p->id);
	if (r < 0) {
		free(p);
		return r;
	}
	p->start = true;
	memcpy(p->tenant, fn->tenant, sizeof(p->tenant));
	memcpy(p->function, fn->name, sizeof(p->function));
	memcpy(p->host, route->host_id, sizeof(p->host));
	memcpy(p->vm, route->vm, sizeof(p->vm));
	p->version = fn->version;
	p->created_ms = time_wall_ms();
	memcpy(ret_id, p->id, STORE_ID_SIZE);
	pending_push(iv, p);
	return 0;
}

/* Hands an outcome to the recorder thread, which writes what arrives
 * together in one commit, off the caller's path: a synchronous caller gets
 * its answer without waiting for the disk. Readers of records call
 * invoker_flush first, so they always see the outcome. */
void iv_record_finish(struct invoker *iv, const char *id, const struct store_outcome *o)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (p) {
		snprintf(p->id, sizeof(p->id), "%s", id);
		p->o = *o;
		p->o.result = p->result = dup_bytes(o->result, o->result_len);
		p->o.log = p->log = dup_bytes(o->log, o->log_len);
		p->o.error = p->error = o->error ? strdup(o->error) : NULL;
		p->o.exception = p->exception = o->exception ? strdup(o->exception) : NULL;
		if ((o->result_len && !p->result) || (o->log_len && !p->log) ||
		    (o->error && !p->error) || (o->exception && !p->exception)) {
			pending_free(p);
			p = NULL;
		}
	}
	if (!p) {
		/* Out of memory: write it here and now instead. */
		pthread_mutex_lock(&iv->db->lock);
		int r = store_invocation_finish(iv->db->store, id, o);
		pthread_mutex_unlock(&iv->db->lock);
		if (r < 0)
			log_warn("invocation_finish_unrecorded id=%s err=%s", id, strerror(-r));
		return;
	}
	pending_push(iv, p);
}

/* Whether the recorder lets what is queued gather longer, waiting for at
 * most the rest of the linger; the lock is held. */
static bool rec_linger(struct invoker *iv)
{
	uint64_t now = time_now_us(), due = iv->rec_since_us + REC_LINGER_US;
	if (iv->rec_stopping || iv->rec_urgent || now >= due)
		return false;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* the condition's clock */
	uint64_t ns = (uint64_t)ts.tv_nsec + (due - now) * 1000;
	ts.tv_sec += (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_cond_timedwait(&iv->rec_work, &iv->lock, &ts);
	return true;
}

void *iv_recorder_main(void *arg)
{
	struct invoker *iv = arg;
	pthread_setname_np(pthread_self(), "recorder");
	pthread_mutex_lock(&iv->lock);
	for (;;) {
		if (!iv->rec_head) {
			if (iv->rec_stopping)
				break;
			pthread_cond_wait(&iv->rec_work, &iv->lock);
			continue;
		}
		if (rec_linger(iv))
			continue;
		iv->rec_urgent = false;
		struct pending *batch = iv->rec_head;
		iv->rec_head = NULL;
		iv->rec_tail = &iv->rec_head;
		iv->rec_writing = true;
		pthread_mutex_unlock(&iv->lock);
		pthread_mutex_lock(&iv->db->lock);
		int r = store_batch_begin(iv->db->store);
		for (struct pending *p = batch; r >= 0 && p; p = p->next) {
			int e = pending_write(iv, p);
			/* A record that finished already (a late answer after a
			 * restart failed it) keeps what it has. */
			if (e < 0 && e != -EALREADY && e != -ENOENT)
				r = e;
		}
		r = store_batch_end(iv->db->store, r);
		if (r < 0) {
			/* One by one, so that one bad write loses nothing else. */
			for (struct pending *p = batch; p; p = p->next) {
				int e = pending_write(iv, p);
				if (e < 0 && e != -EALREADY)
					log_warn("invocation_unrecorded id=%s err=%s", p->id,
						 strerror(-e));
			}
		}
		pthread_mutex_unlock(&iv->db->lock);
		while (batch) {
			struct pending *next = batch->next;
			pending_free(batch);
			batch = next;
		}
		pthread_mutex_lock(&iv->lock);
		iv->rec_writing = false;
		pthread_cond_broadcast(&iv->rec_done);
	}
	pthread_mutex_unlock(&iv->lock);
	return NULL;
}

void invoker_flush(struct invoker *iv)
{
	pthread_mutex_lock(&iv->lock);
	while (iv->rec_head || iv->rec_writing) {
		if (iv->rec_head && !iv->rec_urgent) {
			iv->rec_urgent = true;
			pthread_cond_signal(&iv->rec_work);
		}
		pthread_cond_wait(&iv->rec_done, &iv->lock);
	}
	pthread_mutex_unlock(&iv->lock);
}
