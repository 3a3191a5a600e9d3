/* The store handle the controller's threads share, and the mutex that
 * serialises them on it. SQLite serialises writers anyway, and each call is
 * short next to the HTTP work around it. */
#ifndef DITTO_DB_H
#define DITTO_DB_H

#include <pthread.h>

#include "store.h"

/* An artifact in use by invocations in flight (artifact_gc.h). */
struct db_pin {
	char digest[STORE_DIGEST_SIZE];
	unsigned count;
};

struct db {
	struct store *store;
	pthread_mutex_t lock;
	/* The artifacts invocations in flight use, which garbage collection
	 * keeps; read and changed with lock held. */
	struct db_pin *pins;
	size_t n_pins, cap_pins;
};

#endif
