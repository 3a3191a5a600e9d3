#include "agent_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "sha256.h"

long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int agent_client_init(struct agent_client *c, const char *base_url)
{
	static bool global_done;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	c->curl = curl_easy_init();
	if (!c->curl)
		return -ENOMEM;
	snprintf(c->base, sizeof(c->base), "%s", base_url);
	c->bearer[0] = '\0';
	c->cancel = NULL;
	return 0;
}

void agent_client_set_cancel(struct agent_client *c, const atomic_bool *flag)
{
	c->cancel = flag;
}

/* libcurl's progress callback, which it also calls while a transfer waits;
 * non-zero aborts the transfer. */
static int on_progress(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return atomic_load((const atomic_bool *)data) ? 1 : 0;
}

int agent_client_set_bearer(struct agent_client *c, const char *token)
{
	if (!token || !*token) {
		c->bearer[0] = '\0';
		return 0;
	}
	size_t n = strlen(token);
	if (n >= sizeof(c->bearer))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
			return -EINVAL;
	memcpy(c->bearer, token, n + 1);
	return 0;
}

void agent_client_free(struct agent_client *c)
{
	if (c->curl)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

struct sink {
	char *buf;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *data)
{
	struct sink *s = data;
	size_t add = size * n;
	char *b = realloc(s->buf, s->len + add + 1);
	if (!b)
		return 0;
	memcpy(b + s->len, p, add);
	s->buf = b;
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

int agent_client_call(struct agent_client *c, const char *method, const char *path,
		      const void *body, size_t len, long timeout_ms, json_t **ret)
{
	CURL *h = c->curl;
	if (c->cancel && atomic_load(c->cancel))
		return -ECANCELED;
	char url[1024];
	snprintf(url, sizeof(url), "%s%s", c->base, path);
	struct sink s = { 0 };
	struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (c->bearer[0]) {
		char auth[160];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->bearer);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (c->cancel) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
	}
	if (body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		free(s.buf);
		return rc == CURLE_OPERATION_TIMEDOUT     ? -ETIMEDOUT
		       : rc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
		       : rc == CURLE_ABORTED_BY_CALLBACK ? -ECANCELED
							  : -EIO;
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (ret)
		*ret = s.buf ? json_loadb(s.buf, s.len, 0, NULL) : NULL;
	free(s.buf);
	return (int)status;
}

int agent_client_put_artifact(struct agent_client *c, const void *data, size_t len,
			      char digest[65])
{
	sha256_hex(data, len, digest);
	char path[128];
	snprintf(path, sizeof(path), "/v1/artifacts/%s", digest);
	return agent_client_call(c, "PUT", path, data, len, 60000, NULL);
}

int read_file(const char *path, void **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	if (!f)
		return -errno;
	struct stat st;
	if (fstat(fileno(f), &st) < 0) {
		fclose(f);
		return -errno;
	}
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	buf[len] = '\0';
	fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

int agent_proc_start(struct agent_proc *p, const char *build_dir, const char *data_dir,
		     const char *const *extra, long timeout_ms)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->data_dir, sizeof(p->data_dir), "%s", data_dir);
	mkdir(data_dir, 0755);
	char bin[512], image[512], ready[512], log[512];
	snprintf(bin, sizeof(bin), "%s/ditto-agent", build_dir);
	snprintf(image, sizeof(image), "%s/guest", build_dir);
	snprintf(ready, sizeof(ready), "%s/agent.url", data_dir);
	snprintf(log, sizeof(log), "%s/agent.log", data_dir);
	unlink(ready);

	const char *argv[48] = { bin, "--port", "0", "--data", data_dir, "--image", image,
				 "--ready-file", ready };
	int n = 9;
	for (int i = 0; extra && extra[i] && n < 46; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	p->pid = pid;
	long long deadline = now_ns() + timeout_ms * 1000000LL;
	for (;;) {
		FILE *f = fopen(ready, "re");
		if (f) {
			char *got = fgets(p->url, sizeof(p->url), f);
			fclose(f);
			if (got && strchr(p->url, '\n')) {
				*strchr(p->url, '\n') = '\0';
				return 0;
			}
		}
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			p->pid = 0;
			return -ECHILD;
		}
		if (now_ns() > deadline) {
			agent_proc_stop(p, 1000);
			return -ETIMEDOUT;
		}
		/* Polling a file the agent writes once; the step is short so the
		 * wait ends within a few ms of the agent listening. */
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int agent_proc_stop(struct agent_proc *p, long timeout_ms)
{
	if (p->pid <= 0)
		return -ECHILD;
	kill(p->pid, SIGTERM);
	long long deadline = now_ns() + timeout_ms * 1000000LL;
	int st = 0;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid)
			break;
		if (r < 0)
			return -errno;
		if (now_ns() > deadline) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			p->pid = 0;
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	p->pid = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
