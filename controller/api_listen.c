#include "api_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct api_listener {
	int fd;      /* the listening socket */
	int wake[2]; /* a pipe: a byte makes the loop look again (a close, or stop) */
	struct MHD_Daemon *d;
	unsigned hard;
	atomic_uint open; /* handed to the daemon and not closed yet */
	atomic_bool stop;
	bool started;
	pthread_t thread;
};

int api_listener_open(const struct sockaddr_in *sin, struct api_listener **ret, int *ret_port)
{
	struct api_listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->wake[0] = l->wake[1] = -1;
	int one = 1, r = 0;
	struct sockaddr_in bound;
	socklen_t len = sizeof(bound);
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l->fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    listen(l->fd, SOMAXCONN) < 0 ||
	    getsockname(l->fd, (struct sockaddr *)&bound, &len) < 0 ||
	    pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		r = -errno;
	if (r < 0) {
		api_listener_free(l);
		return r;
	}
	*ret_port = ntohs(bound.sin_port);
	*ret = l;
	return 0;
}

/* Waits until a connection may be accepted: fewer than hard are open and
 * one is waiting. Returns false when the loop must stop. */
static bool wait_turn(struct api_listener *l)
{
	for (;;) {
		if (atomic_load(&l->stop))
			return false;
		bool room = atomic_load(&l->open) < l->hard;
		struct pollfd p[2] = { { .fd = l->wake[0], .events = POLLIN },
				       { .fd = room ? l->fd : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return false;
		char drain[64];
		if (p[0].revents & POLLIN)
			while (read(l->wake[0], drain, sizeof(drain)) > 0)
				;
		if (room && (p[1].revents & POLLIN))
			return !atomic_load(&l->stop);
	}
}

static void *accept_loop(void *data)
{
	struct api_listener *l = data;
	while (wait_turn(l)) {
		struct sockaddr_storage addr;
		socklen_t len = sizeof(addr);
		/* The daemon polls its connections: they must not block. */
		int fd = accept4(l->fd, (struct sockaddr *)&addr, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			/* Out of descriptors: wait for a close (or a short while)
			 * rather than spin; the connection stays in the backlog. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct pollfd p = { .fd = l->wake[0], .events = POLLIN };
				poll(&p, 1, 100);
			}
			continue;
		}
		atomic_fetch_add(&l->open, 1);
		/* On failure the daemon has closed the socket and will not
		 * report it closed. */
		if (MHD_add_connection(l->d, fd, (struct sockaddr *)&addr, len) != MHD_YES)
			atomic_fetch_sub(&l->open, 1);
	}
	return NULL;
}

int api_listener_start(struct api_listener *l, struct MHD_Daemon *d, unsigned hard)
{
	l->d = d;
	l->hard = hard;
	int r = pthread_create(&l->thread, NULL, accept_loop, l);
	if (r != 0)
		return -r;
	l->started = true;
	return 0;
}

void api_listener_closed(struct api_listener *l)
{
	if (!l)
		return;
	unsigned was = atomic_fetch_sub(&l->open, 1);
	if (was >= l->hard) {
		char b = 0;
		/* A full pipe already wakes the loop. */
		if (write(l->wake[1], &b, 1) < 0 && errno != EAGAIN)
			return;
	}
}

void api_listener_free(struct api_listener *l)
{
	if (!l)
		return;
	atomic_store(&l->stop, true);
	if (l->started) {
		char b = 0;
		if (write(l->wake[1], &b, 1) < 0 && errno != EAGAIN)
			pthread_cancel(l->thread);
		pthread_join(l->thread, NULL);
	}
	if (l->fd >= 0)
		close(l->fd);
	if (l->wake[0] >= 0)
		close(l->wake[0]);
	if (l->wake[1] >= 0)
		close(l->wake[1]);
	free(l);
}
