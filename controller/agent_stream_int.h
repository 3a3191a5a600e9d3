/* agent_stream.c's internals: opening a stream (agent_stream_open.c). */
#ifndef DITTO_AGENT_STREAM_INT_H
#define DITTO_AGENT_STREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "wire.h"

/* Sends all n bytes on the blocking socket fd; false when it broke. */
bool agent_stream_send_all(int fd, const uint8_t *p, size_t n);

/* Opens a stream to address ("http://host:port") with token: connects,
 * upgrades (lib/agent_link.h) and reads HELLO, each step bounded in time.
 * Returns 0 with the blocking socket in *ret_fd, HELLO's window in
 * *ret_window and dec initialised (holding any bytes after HELLO); an HTTP
 * status with the refusal's JSON in *ret_json (a 401, say); or -errno
 * (-EINVAL, -EHOSTUNREACH, -ECONNREFUSED, -ETIMEDOUT, -ECONNRESET, -EPROTO,
 * -ENOMEM), dec then freed. Takes no lock. */
int agent_stream_handshake(const char *address, const char *token, struct wire_decoder *dec,
			   unsigned *ret_window, int *ret_fd, json_t **ret_json);

#endif
