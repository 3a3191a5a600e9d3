/* Starting a VM's QEMU process: its command line run so that it dies with
 * the agent, its output into a log file. */
#ifndef DITTO_VM_PROC_H
#define DITTO_VM_PROC_H

#include <uv.h>

/* Spawns argv (NULL-terminated; argv[0] the binary) on loop with stdout and
 * stderr appended to log_path (truncated first; ignored when it cannot be
 * opened), under setpriv --pdeathsig KILL when setpriv is installed.
 * exit_cb gets the process handle, whose data is data; the caller closes it
 * there. Returns 0 with *ret the running process, or a negative libuv or
 * errno code (nothing to close). */
int vm_proc_spawn(uv_loop_t *loop, char **argv, const char *log_path, uv_exit_cb exit_cb,
		  void *data, uv_process_t **ret);

#endif
