/* ditto-bench soak: the processes' resident memory and descriptors, and
 * their figures over a run. */
#include "soak_proc.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

static const char *const names[SOAK_PROCS] = { "controller", "agent", "qemu" };

const char *soak_proc_name(int proc)
{
	return proc >= 0 && proc < SOAK_PROCS ? names[proc] : "?";
}

/* VmRSS of a process in kB, or -1. */
static long read_rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof(line), f) && sscanf(line, "VmRSS: %ld kB", &kb) != 1)
		;
	fclose(f);
	return kb;
}

/* Open descriptors of a process, or -1. */
static long read_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	const struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

void soak_sample_read(struct soak_sample *ret, double t_s, const pid_t pids[SOAK_PROCS])
{
	ret->t_s = t_s;
	for (int k = 0; k < SOAK_PROCS; k++) {
		ret->u[k].rss_kb = pids[k] > 0 ? read_rss_kb(pids[k]) : -1;
		ret->u[k].fds = pids[k] > 0 ? read_fds(pids[k]) : -1;
	}
}

static void figure_add(struct soak_figure *f, long v, bool warm, bool last)
{
	if (v > f->max)
		f->max = v;
	if (warm)
		f->warm = v;
	if (last)
		f->last = v;
}

void soak_summarize(const struct soak_sample *v, size_t n, double warmup_s,
		    struct soak_summary ret[SOAK_PROCS])
{
	size_t warm = n ? n - 1 : 0;
	for (size_t i = 0; i < n; i++)
		if (v[i].t_s >= warmup_s) {
			warm = i;
			break;
		}
	for (int k = 0; k < SOAK_PROCS; k++) {
		struct soak_summary *s = &ret[k];
		s->rss_kb = s->fds = (struct soak_figure){ -1, -1, -1 };
		for (size_t i = 0; i < n; i++) {
			figure_add(&s->rss_kb, v[i].u[k].rss_kb, i == warm, i == n - 1);
			figure_add(&s->fds, v[i].u[k].fds, i == warm, i == n - 1);
		}
		s->growth_pct = s->rss_kb.warm > 0 && s->rss_kb.last >= 0
					? (double)(s->rss_kb.last - s->rss_kb.warm) * 100.0 /
						  (double)s->rss_kb.warm
					: 0;
	}
}

static json_t *known(long v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

json_t *soak_summary_json(const struct soak_summary *s, int proc)
{
	bool growth = s->rss_kb.warm > 0 && s->rss_kb.last >= 0;
	return json_pack("{s:s, s:{s:o, s:o, s:o, s:o}, s:{s:o, s:o, s:o}}", "name",
			 soak_proc_name(proc), "rss_kb", "warm", known(s->rss_kb.warm), "last",
			 known(s->rss_kb.last), "max", known(s->rss_kb.max), "growth_pct",
			 growth ? json_real(s->growth_pct) : json_null(), "fds", "warm",
			 known(s->fds.warm), "last", known(s->fds.last), "max", known(s->fds.max));
}

json_t *soak_sample_json(const struct soak_sample *s)
{
	json_t *o = json_pack("{s:f}", "t_s", s->t_s);
	for (int k = 0; k < SOAK_PROCS; k++)
		json_object_set_new(o, names[k],
				    json_pack("{s:o, s:o}", "rss_kb", known(s->u[k].rss_kb), "fds",
					      known(s->u[k].fds)));
	return o;
}

void soak_summary_print_header(void)
{
	printf("%-10s %12s %12s %12s %8s %9s %9s %9s\n", "process", "rss warm kB", "rss last kB",
	       "rss max kB", "growth", "fds warm", "fds last", "fds max");
}

void soak_summary_print(const struct soak_summary *s, int proc)
{
	printf("%-10s %12ld %12ld %12ld %7.1f%% %9ld %9ld %9ld\n", soak_proc_name(proc),
	       s->rss_kb.warm, s->rss_kb.last, s->rss_kb.max, s->growth_pct, s->fds.warm,
	       s->fds.last, s->fds.max);
}
