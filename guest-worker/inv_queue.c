#include "inv_queue.h"

void inv_queue_push(struct inv_queue *q, struct inv *inv)
{
	inv->next = NULL;
	if (q->tail)
		q->tail->next = inv;
	else
		q->head = inv;
	q->tail = inv;
	q->n++;
}

void inv_queue_push_front(struct inv_queue *q, struct inv *inv)
{
	inv->next = q->head;
	q->head = inv;
	if (!q->tail)
		q->tail = inv;
	q->n++;
}

struct inv *inv_queue_take(struct inv_queue *q, struct inv **pp, struct inv *prev)
{
	struct inv *inv = *pp;
	*pp = inv->next;
	if (q->tail == inv)
		q->tail = prev;
	q->n--;
	inv->next = NULL;
	return inv;
}

struct inv *inv_queue_pop(struct inv_queue *q)
{
	return q->head ? inv_queue_take(q, &q->head, NULL) : NULL;
}

void inv_queue_free(struct inv_queue *q)
{
	struct inv *inv;
	while ((inv = inv_queue_pop(q)))
		inv_free(inv);
}
