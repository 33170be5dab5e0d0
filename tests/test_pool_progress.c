/* test_pool_progress.c: the pool's progress bar on a real pseudo-terminal.
 * A child whose stderr is a 40-column terminal runs a map of 40 slow items
 * in chunks of 10 with the bar on; the parent reads every frame it draws
 * and checks the promises of src/pool/progress.c:
 *   - the first frame (0/40) comes before any item is done;
 *   - the count moves inside chunks (a count that is not a multiple of the
 *     chunk size appears), not only when a whole chunk's results arrive;
 *   - no frame is wider than the terminal (no wrapping, no trail);
 *   - a terminal resized while the map runs (a task sets 30 columns, as a
 *     user's resize would, which is what SIGWINCH reports) is followed:
 *     the last frame fits 30 columns.
 * A terminal of 20 columns still gets a line that fits. */
#include <errno.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>

#include "mp_test.h"

#define ITEMS 40
#define CHUNK 10
#define NARROW 30

/* Sleeps 60 ms (a chunk takes 0.6 s: several redraw ticks); item 25 first
 * narrows the terminal the worker shares with the parent's child. */
static int slow_square(const void *arg, size_t len, mp_task_out *out) {
  (void)len;
  int x = *(const int *)arg, y = x * x;
  if (mp_task_index(out) == 25) {
    struct winsize ws = {.ws_row = 24, .ws_col = NARROW};
    (void)ioctl(2, TIOCSWINSZ, &ws);
  }
  nanosleep(&(struct timespec){.tv_nsec = 60 * 1000 * 1000}, NULL);
  return mp_task_out_set(out, &y, sizeof y);
}

static int progress_child(int items) {
  mp_pool *p = mp_pool_new(&(mp_pool_opts){.processes = 2});
  if (!p)
    return 2;
  int in[ITEMS], out[ITEMS];
  for (int i = 0; i < items; i++)
    in[i] = i;
  int rc = mp_pool_map(p, slow_square, in, (size_t)items, sizeof(int), out, sizeof(int),
                       &(mp_call_opts){.progress = 1, .chunksize = CHUNK}, NULL);
  mp_pool_free(p);
  return rc == 0 && out[items - 1] == (items - 1) * (items - 1) ? 0 : 3;
}

/* Runs progress_child on a terminal of cols columns; its output in buf. */
static void run_on_terminal(int cols, int items, char *buf, size_t cap) {
  int master;
  struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
  pid_t pid = forkpty(&master, NULL, NULL, &ws);
  if (pid < 0)
    mp_test_skip("no pseudo-terminal (forkpty)");
  if (pid == 0)
    _exit(progress_child(items));
  mp_test_read_all(master, buf, cap);
  close(master);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
    ;
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

typedef struct {
  char text[256];
  size_t width; /* printable characters */
  long done;    /* the "N/" count, -1 when absent */
  bool last;    /* ended by a newline */
} frame;

/* Splits the output into frames: each starts with '\r'; the terminal's own
 * translation may turn '\n' into "\r\n". Escape sequences are not counted
 * in the width. Returns the number of frames. */
static size_t frames_of(const char *buf, frame *f, size_t max) {
  size_t nf = 0;
  for (const char *s = buf; *s && nf < max;) {
    if (*s != '\r') {
      s++;
      continue;
    }
    s++;
    if (*s == '\n') { /* "\r\n": the end of the previous frame */
      if (nf)
        f[nf - 1].last = true;
      s++;
      continue;
    }
    frame *fr = &f[nf++];
    memset(fr, 0, sizeof *fr);
    size_t k = 0;
    while (*s && *s != '\r' && *s != '\n') {
      if (*s == '\033') { /* ESC [ K */
        while (*s && *s != 'K')
          s++;
        if (*s)
          s++;
        continue;
      }
      if (k < sizeof fr->text - 1)
        fr->text[k++] = *s;
      fr->width++;
      s++;
    }
    if (*s == '\n')
      fr->last = true;
    const char *slash = strchr(fr->text, '/');
    fr->done = -1;
    if (slash) {
      const char *d = slash;
      while (d > fr->text && d[-1] >= '0' && d[-1] <= '9')
        d--;
      if (d < slash)
        fr->done = strtol(d, NULL, 10);
    }
  }
  return nf;
}

static void test_bar_moves_and_fits(void **state) {
  (void)state;
  mp_test_watchdog(60);
  static char buf[1 << 16];
  static frame f[1024];
  run_on_terminal(40, ITEMS, buf, sizeof buf);
  size_t nf = frames_of(buf, f, 1024);
  if (nf < 2)
    fail_msg("too few frames (%zu): \"%s\"", nf, buf);
  if (f[0].done != 0)
    fail_msg("the first frame is not 0/%d: \"%s\"", ITEMS, f[0].text);
  bool inside = false;
  for (size_t i = 0; i < nf; i++) {
    if (f[i].width > 39)
      fail_msg("frame %zu is %zu wide on a 40-column terminal: \"%s\"", i, f[i].width,
               f[i].text);
    if (f[i].done > 0 && f[i].done % CHUNK != 0)
      inside = true;
  }
  if (!inside)
    fail_msg("the count never moved inside a chunk (%zu frames; last \"%s\")", nf,
             f[nf - 1].text);
  frame *last = &f[nf - 1];
  assert_true(last->last);
  if (!strstr(last->text, "40/40 (100%)"))
    fail_msg("the last frame is \"%s\"", last->text);
  if (last->width > NARROW - 1)
    fail_msg("after the resize to %d columns the last frame is %zu wide: \"%s\"", NARROW,
             last->width, last->text);
}

static void test_narrow_terminal(void **state) {
  (void)state;
  mp_test_watchdog(60);
  static char buf[1 << 16];
  static frame f[1024];
  run_on_terminal(16, 4, buf, sizeof buf);
  size_t nf = frames_of(buf, f, 1024);
  assert_true(nf >= 2);
  for (size_t i = 0; i < nf; i++)
    if (f[i].width > 15)
      fail_msg("frame %zu is %zu wide on a 16-column terminal: \"%s\"", i, f[i].width,
               f[i].text);
  if (!strstr(f[nf - 1].text, "4/4"))
    fail_msg("the last frame is \"%s\"", f[nf - 1].text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bar_moves_and_fits),
      cmocka_unit_test(test_narrow_terminal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
