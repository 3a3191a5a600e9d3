/* The sockets QEMU connects to for one VM (the agent listens, QEMU connects
 * once), and in per-cpu mode the VM's worker CPU ports: one virtio-serial
 * port per worker CPU slot ("ditto.cpu.N", lib/wire.h), each a guest
 * channel of its own on which invoke.c sends warm invocations for CPU N. */
#ifndef DITTO_VM_PORTS_H
#define DITTO_VM_PORTS_H

#include <stdbool.h>

#include <uv.h>

#include "invoke.h"

struct guest_chan;

/* How the agent reaches its guests: through the control port only
 * ("single"), or with a port per worker CPU besides it ("per-cpu"). */
enum guest_ports { GUEST_PORTS_SINGLE = 0, GUEST_PORTS_PER_CPU };

/* The agent's default (ditto-agent --guest-ports). */
#define GUEST_PORTS_DEFAULT GUEST_PORTS_PER_CPU

/* "single" or "per-cpu"; parse returns 0 or -EINVAL. */
const char *guest_ports_name(enum guest_ports p);
int guest_ports_parse(const char *s, enum guest_ports *ret);

/* Listens on the unix socket path for QEMU's one connection: *slot holds
 * the listener (its data is data) until the connection is accepted
 * (vm_accept_one) or vm_listener_close. Returns 0 or a negative libuv or
 * errno code (then *slot is NULL). */
int vm_listen_unix(uv_loop_t *loop, const char *path, void *data, uv_connection_cb cb,
		   uv_pipe_t **slot);
/* Accepts QEMU's connection on server and stops listening (*slot closed).
 * Returns the connected pipe, or NULL. */
uv_pipe_t *vm_accept_one(uv_stream_t *server, uv_pipe_t **slot);
/* Closes a listener; accepts *p NULL. */
void vm_listener_close(uv_pipe_t **p);

struct vm_ports;

/* One worker CPU's port. */
struct vm_port {
	struct vm_ports *ports;
	int cpu;
	uv_pipe_t *listen;       /* until QEMU connects */
	struct guest_chan *chan; /* NULL until then and once it closed */
};

/* A VM's worker CPU ports, embedded in its struct vm. */
struct vm_ports {
	int n;            /* ports of the running QEMU: worker CPUs 1..n; 0 in single mode */
	const char *name; /* for logs (the tenant) */
	struct vm_port port[INVOKE_MAX_PORTS + 1];
};

/* Listens on n worker CPU port sockets under dir (qemu_cpu_port_socket) for
 * a QEMU about to start; name must outlive ps. Returns 0 or -errno (then
 * none listens). */
int vm_ports_listen(struct vm_ports *ps, uv_loop_t *loop, const char *dir, int n, const char *name);
/* Worker CPU cpu's connected port, or NULL. */
struct guest_chan *vm_ports_chan(const struct vm_ports *ps, int cpu);
/* Closes the listeners and the channels (their calls fail with
 * -ECONNRESET); ps may listen again after. */
void vm_ports_close(struct vm_ports *ps);

#endif
