/* CPU time and resident memory of a process, from /proc. */
#include "proc_cpu.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int proc_stat_cpu_us(const char *text, long clk_tck, long long *ret)
{
	const char *p = strrchr(text, ')');
	unsigned long long ut, st;
	/* After the name: state, then fields 4..13, then utime and stime. */
	if (!p || clk_tck <= 0 || p[1] != ' ' ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	*ret = (long long)((ut + st) * 1000000ULL / (unsigned long long)clk_tck);
	return 0;
}

/* Opens /proc/PID/NAME for reading, or returns NULL (also for no process). */
static FILE *proc_open(pid_t pid, const char *name)
{
	if (pid <= 0)
		return NULL;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	return fopen(path, "re");
}

long long proc_cpu_us(pid_t pid)
{
	char buf[1024];
	FILE *f = proc_open(pid, "stat");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	long long us;
	return proc_stat_cpu_us(buf, sysconf(_SC_CLK_TCK), &us) == 0 ? us : -1;
}

long proc_rss_kib(pid_t pid)
{
	char line[256];
	FILE *f = proc_open(pid, "status");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}
