/* A FIFO of invocations linked through their next field: the daemon's
 * queue of invocations waiting for a CPU, and each worker CPU port's. */
#ifndef DITTO_GUEST_INV_QUEUE_H
#define DITTO_GUEST_INV_QUEUE_H

#include <stddef.h>

#include "runner.h"

struct inv_queue {
	struct inv *head, *tail;
	size_t n;
};

/* Appends inv at the back, or puts it at the front. */
void inv_queue_push(struct inv_queue *q, struct inv *inv);
void inv_queue_push_front(struct inv_queue *q, struct inv *inv);
/* Takes the invocation at *pp (whose predecessor is prev, NULL for the
 * head) out of the queue; pp points at q->head or at prev->next. */
struct inv *inv_queue_take(struct inv_queue *q, struct inv **pp, struct inv *prev);
/* Takes the front invocation out, or returns NULL when the queue is empty. */
struct inv *inv_queue_pop(struct inv_queue *q);
/* Frees every invocation queued. */
void inv_queue_free(struct inv_queue *q);

#endif
