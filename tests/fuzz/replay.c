/*
 * A plain main() for the fuzz targets, without libFuzzer: runs every file named on the command
 * line, or found in a directory named there (not recursively), through LLVMFuzzerTestOneInput
 * once, in name order. `make fuzz-replay` links each target with it (gcc, ASan + UBSan) and
 * replays the committed corpus, so a regression input that crashes again fails the build
 * without clang. A check that fails aborts, as under libFuzzer.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* From the sanitizer runtime when there is one (weak: replay also links without it). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long n_inputs;
static unsigned long long n_bytes;
static const char *current; /* the input being run, for the crash message */

/* Name the input that crashed: sanitizer reports (death callback) and failed checks (abort). */
static void say_which(void)
{
	if (current) {
		static const char msg[] = "replay: crashed on input ";

		(void)!write(2, msg, sizeof(msg) - 1);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
}

static void on_abort(int sig)
{
	say_which();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long size;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(2);
	}
	/* Exactly the file's size on the heap, as libFuzzer passes it. */
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(2);
	}
	fclose(f);
	current = path;
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	current = NULL;
	free(buf);
	n_inputs++;
	n_bytes += (unsigned long long)size;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: no such file or directory: %s\n", path);
		exit(2);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "replay: cannot list %s\n", path);
		exit(2);
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
		char *file = malloc(len);

		if (!file) {
			fprintf(stderr, "replay: out of memory\n");
			exit(2);
		}
		snprintf(file, len, "%s/%s", path, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && !stat(file, &st) && S_ISREG(st.st_mode))
			run_file(file);
		free(file);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(say_which);
	signal(SIGABRT, on_abort);
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	if (!n_inputs) {
		fprintf(stderr, "replay: no inputs\n");
		return 1;
	}
	printf("%s: %lu inputs (%llu bytes) passed\n", argv[0], n_inputs, n_bytes);
	return 0;
}
