/* The reply meta of a finished WIRE_INVOKE (lib/wire.h), the one the control
 * port's daemon and the worker CPU ports (cpuport.h) both send. */
#ifndef DITTO_GUEST_INV_REPLY_H
#define DITTO_GUEST_INV_REPLY_H

#include <jansson.h>

#include "runner.h"

/* Seals an end-to-end encrypted invocation's output (or fails it when that
 * cannot be done), then builds its reply meta, "guest_us" taken last.
 * Returns the new meta, or NULL when out of memory. */
json_t *inv_reply_meta(struct inv *inv);

#endif
