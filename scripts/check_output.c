/* check_output: runs an example and compares what it prints with the
 * expected output, so each example's "prints what Python prints" is checked
 * by `make test` (one ctest test per example) and by `make demo`
 * (scripts/run-examples.sh).
 *
 * Usage: check_output [-q] EXPECTED PROGRAM [ARGS...]
 * EXPECTED holds the lines to see. In a line, {*} matches any text: what
 * Python's own output varies in (pids, addresses, timings, socket names).
 * Directives on lines of their own at the top:
 *   #sort     the reference's order is not fixed (racing processes): every
 *             output line must match a distinct expected line, any order
 *   #exit N   the program must exit with status N (default 0)
 *   #stderr   capture stderr together with stdout
 * -q prints the program's output as it is and only failures after it
 * (lines starting "!!! "); without -q the output comes under a header and a
 * verdict line follows. Exit status: 0 same output, 1 different, 2 the
 * expected file is missing or the program could not be run.
 * The program gets 60 seconds; a hang is a failure. Built with the
 * examples, without the library: it must not share the bugs it looks for. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool match(const char *pat, const char *s) {
  const char *star = strstr(pat, "{*}");
  if (!star)
    return strcmp(pat, s) == 0;
  size_t n = (size_t)(star - pat);
  if (strncmp(pat, s, n) != 0)
    return false;
  for (const char *t = s + n;; t++) {
    if (match(star + 3, t))
      return true;
    if (!*t)
      return false;
  }
}

typedef struct {
  char **v;
  size_t n, cap;
} lines;

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) {
    fprintf(stderr, "check_output: out of memory\n");
    exit(2);
  }
  return p;
}

static void push(lines *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = xrealloc(l->v, l->cap * sizeof *l->v);
  }
  l->v[l->n++] = s;
}

/* Cuts buf into lines in place; a last line without '\n' still counts. */
static void split(char *buf, lines *l) {
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\n')
    buf[len - 1] = '\0';
  else if (!len)
    return;
  char *p = buf;
  for (;;) {
    char *nl = strchr(p, '\n');
    if (nl)
      *nl = '\0';
    push(l, p);
    if (!nl)
      break;
    p = nl + 1;
  }
}

static char *slurp_fd(int fd) {
  size_t cap = 4096, n = 0;
  char *b = xrealloc(NULL, cap);
  for (;;) {
    if (n + 1 >= cap)
      b = xrealloc(b, cap *= 2);
    ssize_t r = read(fd, b + n, cap - n - 1);
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  b[n] = '\0';
  return b;
}

static const char *fail_prefix = "FAIL: ";

/* In order: line i of the output against expected line i. */
static int compare_ordered(char **e, size_t en, lines *got) {
  int bad = 0;
  for (size_t i = 0; i < en && i < got->n; i++) {
    if (!match(e[i], got->v[i])) {
      printf("%sline %zu\n  got:      %s\n  expected: %s\n", fail_prefix, i + 1,
             got->v[i], e[i]);
      bad = 1;
    }
  }
  return bad;
}

/* Any order: each expected line, taken in turn, claims the first unclaimed
 * output line it matches. Greedy is enough for the patterns examples use
 * (a {*} stands for a pid or a time, never for text another line has). */
static int compare_unordered(char **e, size_t en, lines *got) {
  bool *used = calloc(got->n + 1, sizeof *used);
  int bad = 0;
  if (!used)
    exit(2);
  for (size_t i = 0; i < en; i++) {
    size_t j = 0;
    while (j < got->n && (used[j] || !match(e[i], got->v[j])))
      j++;
    if (j < got->n) {
      used[j] = true;
    } else {
      printf("%sno output line matches expected line %zu: %s\n", fail_prefix, i + 1,
             e[i]);
      bad = 1;
    }
  }
  for (size_t j = 0; j < got->n; j++)
    if (!used[j] && bad)
      printf("  unmatched output line: %s\n", got->v[j]);
  free(used);
  return bad;
}

int main(int argc, char **argv) {
  bool quiet = argc > 1 && !strcmp(argv[1], "-q");
  if (quiet) {
    argv++;
    argc--;
    fail_prefix = "!!! ";
  }
  if (argc < 3) {
    fprintf(stderr, "usage: check_output [-q] EXPECTED PROGRAM [ARGS...]\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    printf("%s%s: no expected output to compare with (add that file)\n", fail_prefix,
           argv[1]);
    return 2;
  }
  char *exp_buf = slurp_fd(fileno(f));
  fclose(f);
  bool sort = false, with_stderr = false;
  int want_exit = 0;
  lines exp = {0}, got = {0};
  split(exp_buf, &exp);
  size_t first = 0;
  while (first < exp.n && exp.v[first][0] == '#') {
    if (!strcmp(exp.v[first], "#sort"))
      sort = true;
    else if (!strncmp(exp.v[first], "#exit ", 6))
      want_exit = atoi(exp.v[first] + 6);
    else if (!strcmp(exp.v[first], "#stderr"))
      with_stderr = true;
    first++;
  }
  int p[2];
  if (pipe(p) < 0)
    return 2;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return 2;
  if (pid == 0) {
    dup2(p[1], 1);
    if (with_stderr)
      dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    alarm(60);
    execv(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  close(p[1]);
  alarm(90);
  char *out = slurp_fd(p[0]);
  int st;
  waitpid(pid, &st, 0);
  if (!quiet)
    printf("---- output of %s ----\n", argv[2]);
  fputs(out, stdout);
  split(out, &got);
  char **e = exp.v + first;
  size_t en = exp.n - first;
  int bad = 0;
  if (WIFSIGNALED(st)) {
    printf("%skilled by signal %d\n", fail_prefix, WTERMSIG(st));
    bad = 1;
  } else if (WEXITSTATUS(st) != want_exit) {
    printf("%sexit status %d, expected %d\n", fail_prefix, WEXITSTATUS(st), want_exit);
    bad = 1;
  }
  if (got.n != en) {
    printf("%s%zu lines, expected %zu\n", fail_prefix, got.n, en);
    bad = 1;
  }
  bad |= sort ? compare_unordered(e, en, &got) : compare_ordered(e, en, &got);
  if (!quiet)
    printf(bad ? "check_output: FAILED\n" : "check_output: ok\n");
  return bad;
}
