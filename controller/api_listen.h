/* The HTTP server's listening socket and its accept loop. libmicrohttpd
 * 0.9.75 (thread per connection, poll) keeps accepting past its own
 * connection limit and closes what it accepts there without a word; this
 * loop accepts only while fewer than a hard limit are open and hands each
 * connection to the daemon, so the rest wait in the kernel's backlog until
 * one closes. */
#ifndef DITTO_API_LISTEN_H
#define DITTO_API_LISTEN_H

#include <netinet/in.h>

#include <microhttpd.h>

struct api_listener;

/* Binds and listens on sin. Returns 0 with the listener and the bound port
 * (sin's, or the one the kernel chose for port 0), or -errno. */
int api_listener_open(const struct sockaddr_in *sin, struct api_listener **ret, int *ret_port);

/* Starts the accept loop handing connections to d (started with
 * MHD_USE_NO_LISTEN_SOCKET and MHD_USE_ITC), at most hard open at once.
 * Returns 0 or -errno. */
int api_listener_start(struct api_listener *l, struct MHD_Daemon *d, unsigned hard);

/* Tells the loop that a connection it handed over has closed (from the
 * daemon's connection notification). NULL (the loop is gone) is fine. */
void api_listener_closed(struct api_listener *l);

/* Stops the loop, closes the socket and frees the listener. NULL is fine.
 * Call it before stopping the daemon. */
void api_listener_free(struct api_listener *l);

#endif
