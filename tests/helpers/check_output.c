/* check_output: runs an example and compares what it prints with the
 * expected output, so each example's "prints what Python prints" is a test.
 *
 * Usage: check_output EXPECTED PROGRAM [ARGS...]
 * EXPECTED holds the lines to see. In a line, {*} matches any text (pids,
 * addresses, timings). Directives on lines of their own at the top:
 *   #sort     compare the lines sorted (output of racing processes)
 *   #exit N   the program must exit with status N (default 0)
 *   #stderr   capture stderr together with stdout
 * The program gets 60 seconds; a hang is a failure. */
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

static void push(lines *l, char *s) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    if (!l->v)
      abort();
  }
  l->v[l->n++] = s;
}

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

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *slurp_fd(int fd) {
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  for (;;) {
    if (n + 1 >= cap)
      b = realloc(b, cap *= 2);
    ssize_t r = read(fd, b + n, cap - n - 1);
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  b[n] = '\0';
  return b;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: check_output EXPECTED PROGRAM [ARGS...]\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "r");
  if (!f) {
    perror(argv[1]);
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
  pid_t pid = fork();
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
  printf("---- output of %s ----\n%s", argv[2], out);
  split(out, &got);
  char **e = exp.v + first;
  size_t en = exp.n - first;
  if (sort) {
    qsort(e, en, sizeof *e, cmp);
    qsort(got.v, got.n, sizeof *got.v, cmp);
  }
  int bad = 0;
  if (WIFSIGNALED(st)) {
    printf("FAIL: killed by signal %d\n", WTERMSIG(st));
    bad = 1;
  } else if (WEXITSTATUS(st) != want_exit) {
    printf("FAIL: exit status %d, expected %d\n", WEXITSTATUS(st), want_exit);
    bad = 1;
  }
  if (got.n != en) {
    printf("FAIL: %zu lines, expected %zu\n", got.n, en);
    bad = 1;
  }
  for (size_t i = 0; i < en && i < got.n; i++) {
    if (!match(e[i], got.v[i])) {
      printf("FAIL: line %zu\n  got:      %s\n  expected: %s\n", i + 1,
             got.v[i], e[i]);
      bad = 1;
    }
  }
  printf(bad ? "check_output: FAILED\n" : "check_output: ok\n");
  return bad;
}
