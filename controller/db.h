/* The store handle the controller's threads share, and the mutex that
 * serialises them on it. SQLite serialises writers anyway, and each call is
 * short next to the HTTP work around it. */
#ifndef DITTO_DB_H
#define DITTO_DB_H

#include <pthread.h>

#include "store.h"

struct db {
	struct store *store;
	pthread_mutex_t lock;
};

#endif
