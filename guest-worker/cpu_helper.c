#include "cpu_helper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cpu_sysfs.h"
#include "util.h"

static void run_job(const char *root, struct cpu_job *j)
{
	bool online;
	j->err = cpu_online_read(root, j->cpu, &online);
	if (j->err < 0) {
		j->step = "read";
		return;
	}
	bool want = j->op == CPU_JOB_ONLINE;
	if (online != want) {
		uint64_t t0 = time_now_us();
		j->err = cpu_online_write(root, j->cpu, want);
		j->change_us = time_now_us() - t0;
		if (j->err < 0) {
			j->step = want ? "online" : "offline";
			cpu_online_read(root, j->cpu, &online);
			j->online = online;
			return;
		}
		online = want;
	}
	j->online = online;
	if (want && j->probe) {
		j->err = cpu_probe(j->cpu, &j->probe_us);
		if (j->err < 0)
			j->step = "probe";
	}
}

static void *thread_main(void *arg)
{
	struct cpu_helper *h = arg;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->todo && !h->stop)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->stop)
			break;
		struct cpu_job *j = h->todo;
		h->todo = j->next;
		if (!h->todo)
			h->todo_tail = &h->todo;
		pthread_mutex_unlock(&h->mu);

		j->next = NULL;
		run_job(h->root, j);

		pthread_mutex_lock(&h->mu);
		*h->done_tail = j;
		h->done_tail = &j->next;
		uint64_t one = 1;
		/* The counter cannot overflow here, so the write cannot fail
		 * in a way worth handling. */
		(void)!write(h->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int cpu_helper_start(struct cpu_helper *h, const char *sysfs_root)
{
	*h = (struct cpu_helper){ .efd = -1 };
	h->todo_tail = &h->todo;
	h->done_tail = &h->done;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	h->root = strdup(sysfs_root);
	if (!h->root)
		return -ENOMEM;
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0)
		return -errno;
	int r = pthread_create(&h->thread, NULL, thread_main, h);
	if (r != 0)
		return -r;
	h->started = true;
	return 0;
}

void cpu_helper_submit(struct cpu_helper *h, struct cpu_job *job)
{
	job->next = NULL;
	job->err = 0;
	job->step = NULL;
	job->change_us = job->probe_us = 0;
	pthread_mutex_lock(&h->mu);
	*h->todo_tail = job;
	h->todo_tail = &job->next;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

struct cpu_job *cpu_helper_take_done(struct cpu_helper *h)
{
	uint64_t v;
	(void)!read(h->efd, &v, sizeof(v));
	pthread_mutex_lock(&h->mu);
	struct cpu_job *list = h->done;
	h->done = NULL;
	h->done_tail = &h->done;
	pthread_mutex_unlock(&h->mu);
	return list;
}

struct cpu_job *cpu_helper_stop(struct cpu_helper *h)
{
	if (!h->todo_tail)
		return NULL; /* zeroed: never started */
	if (h->started) {
		pthread_mutex_lock(&h->mu);
		h->stop = true;
		pthread_cond_signal(&h->cv);
		pthread_mutex_unlock(&h->mu);
		pthread_join(h->thread, NULL);
		h->started = false;
	}
	*h->todo_tail = h->done;
	struct cpu_job *list = h->todo;
	h->todo = h->done = NULL;
	h->todo_tail = &h->todo;
	h->done_tail = &h->done;
	if (h->efd >= 0)
		close(h->efd);
	h->efd = -1;
	free(h->root);
	h->root = NULL;
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	return list;
}
