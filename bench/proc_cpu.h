/* The CPU time and resident memory of a process, from /proc: what
 * ditto-bench invoke charges each process on the path per call. */
#ifndef DITTO_BENCH_PROC_CPU_H
#define DITTO_BENCH_PROC_CPU_H

#include <stddef.h>
#include <sys/types.h>

/* User plus system time (utime + stime, fields 14 and 15) from the text of
 * /proc/PID/stat, with clk_tck ticks per second, in us. The command name
 * may hold spaces and parentheses: fields are counted from its last ')'.
 * Returns 0, or -EINVAL when the text is not such a line. */
int proc_stat_cpu_us(const char *text, long clk_tck, long long *ret);

/* The same for a running process; -1 when it cannot be read (pid <= 0, no
 * such process). */
long long proc_cpu_us(pid_t pid);

/* VmRSS of a process in KiB, or -1. */
long proc_rss_kib(pid_t pid);

#endif
