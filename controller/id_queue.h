/* A FIFO of invocation ids: a ring that doubles when full. Pure and not
 * locked: the invoker holds its own lock around every call. */
#ifndef DITTO_ID_QUEUE_H
#define DITTO_ID_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct id_queue {
	struct store_id *ring;
	size_t head, len, cap;
};

/* Appends id (at most STORE_ID_SIZE - 1 bytes are kept). Returns 0, or
 * -ENOMEM with the queue unchanged. A zeroed struct is an empty queue. */
int id_queue_push(struct id_queue *q, const char *id);

/* Takes the oldest id into *ret. Returns false when the queue is empty. */
bool id_queue_pop(struct id_queue *q, struct store_id *ret);

size_t id_queue_len(const struct id_queue *q);

/* Frees the ring; q becomes an empty queue. */
void id_queue_free(struct id_queue *q);

#endif
