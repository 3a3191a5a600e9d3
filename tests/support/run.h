/* Running a program to its end in a test, as a user runs it, with what it printed on
 * stdout and stderr collected. */
#ifndef DITTO_TESTS_RUN_H
#define DITTO_TESTS_RUN_H

/* What one run left behind. */
struct run_out {
	int status;      /* the exit code, or 128 + the signal that ended it */
	char *out, *err; /* everything it printed, NUL-terminated ("" when nothing) */
};

/* Runs argv[0] with argv (NULL-terminated) and env on top of this process's environment
 * ("NAME=VALUE" sets, "NAME" unsets; env may be NULL), stdin from /dev/null, stdout and
 * stderr into the files out and err in dir, and waits for it. Fails the running cmocka
 * test when it cannot fork. */
void run_program(struct run_out *r, const char *dir, const char *const *env,
		 const char *const *argv);

void run_out_free(struct run_out *r);

#endif
