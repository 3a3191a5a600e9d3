/* A minimal epoll event loop: the guest worker's one loop. Each watched fd is
 * a struct watch embedded in its owner, which the callback recovers with
 * container_of(). */
#ifndef DITTO_GUEST_LOOP_H
#define DITTO_GUEST_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
};

#define LOOP_MAX_EVENTS 64

struct loop {
	int epfd;
	struct epoll_event events[LOOP_MAX_EVENTS];
	int nevents; /* events of the batch being dispatched */
	int cur;     /* index of the event being dispatched */
};

/* Creates the epoll instance. Returns 0 or -errno. */
int loop_init(struct loop *l);
/* Closes the epoll instance; watches are not touched. Accepts a loop whose
 * init failed. */
void loop_fini(struct loop *l);

/* Starts watching fd for events (EPOLLIN, EPOLLOUT, EPOLLET, ...) and sets
 * w->fd; fn is called with the events that occurred. Returns 0 or -errno
 * (then w->fd is -1). */
int loop_add(struct loop *l, struct watch *w, int fd, uint32_t events, watch_fn fn);
/* Stops watching (the fd is not closed). Events of w still pending in the
 * batch being dispatched are dropped, so the owner may free w right after,
 * even from inside a callback. Does nothing for a watch never added
 * (fd < 0); sets w->fd to -1. */
void loop_del(struct loop *l, struct watch *w);

/* Waits up to timeout_ms (-1: forever) and dispatches one batch of events.
 * Returns 0 or -errno (EINTR is not an error). */
int loop_run_once(struct loop *l, int timeout_ms);

#endif
