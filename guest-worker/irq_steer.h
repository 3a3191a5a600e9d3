/* Steering a worker CPU port's interrupts to its CPU: the MSI-X vectors of
 * the port's two virtqueues (receive and transmit), found in
 * /proc/interrupts, get that CPU in /proc/irq/N/smp_affinity_list. A
 * virtio-serial device names every port's queues alike ("virtioK-input",
 * "virtioK-output"), port 0's first, in port order; so port M's are the M-th
 * of each. When the device shares one vector among all its queues (too few
 * vectors), there is nothing per port to steer. */
#ifndef DITTO_GUEST_IRQ_STEER_H
#define DITTO_GUEST_IRQ_STEER_H

/* Finds the IRQs of port's input and output queues of virtio device dev
 * ("virtio0") in text, the contents of /proc/interrupts: ret_irqs[0] input,
 * ret_irqs[1] output, -1 for one not found. Returns 0, or -ENOENT when
 * neither is there. Pure. */
int irq_port_vectors(const char *text, const char *dev, int port, int ret_irqs[2]);

/* Steers the interrupts of the port device vport ("vport1p2") to cpu: its
 * virtio device from sysfs_root/class/virtio-ports/VPORT/device, its IRQs
 * from proc_root/interrupts, written to proc_root/irq/N/smp_affinity_list.
 * Returns the IRQs steered (0..2), or -errno (-ENOENT: the port's queues
 * have no vector of their own). */
int irq_steer_port(const char *sysfs_root, const char *proc_root, const char *vport, int cpu);

#endif
