#include "id_queue.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int id_queue_push(struct id_queue *q, const char *id)
{
	if (q->len == q->cap) {
		size_t old = q->cap;
		/* The move below needs the capacity doubled, not just one more. */
		if (old > SIZE_MAX / 2 / sizeof(*q->ring))
			return -ENOMEM;
		if (array_reserve(&q->ring, &q->cap, old + 1, sizeof(*q->ring), 64) < 0)
			return -ENOMEM;
		/* The ring was full, so it wrapped at old: its front part
		 * (before head) moves behind the back part, into the room the
		 * doubled capacity leaves. */
		memcpy(q->ring + old, q->ring, q->head * sizeof(*q->ring));
	}
	snprintf(q->ring[(q->head + q->len) % q->cap].id, STORE_ID_SIZE, "%s", id);
	q->len++;
	return 0;
}

bool id_queue_pop(struct id_queue *q, struct store_id *ret)
{
	if (q->len == 0)
		return false;
	*ret = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return true;
}

size_t id_queue_len(const struct id_queue *q)
{
	return q->len;
}

void id_queue_free(struct id_queue *q)
{
	free(q->ring);
	*q = (struct id_queue){ 0 };
}
