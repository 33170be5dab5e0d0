/* progress.c: the progress bar of map and imap (mp_call_opts.progress), as
 * mpire draws it: one line on stderr with items done of the total, the rate
 * and the time left. Drawn only when stderr is a terminal (asked at
 * submission: job_new clears j->progress otherwise), so logs and pipes never
 * see it.
 *
 * When it is drawn: at once when the job is submitted (0 of N), whenever
 * items finish (at most ten times a second), on the result thread's tick
 * every 0.1 s while a job with a bar is live (pool__progress_tick: a chunk
 * that runs for seconds still moves the bar), and once more at the end.
 * What it counts: the items the result thread has seen finish, plus those
 * the workers report finished inside the chunks they still hold (each
 * worker's slot says which chunk it holds and how many of its items are
 * done), so a map whose results arrive a chunk at a time advances item by
 * item. The line fits the terminal's width, asked again (TIOCGWINSZ) at each
 * redraw, so a resized terminal (SIGWINCH) is followed without installing
 * a signal handler; fields are dropped, time left first, when the terminal
 * is narrow, and the rest of the line is erased (ESC [ K) so a shorter line
 * leaves no trail. */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "pool_internal.h"

#define MIN_BAR 10      /* narrower than this: no bar, only the numbers */
#define MAX_BAR 60
#define REDRAW_S 0.1

static int term_width(void) {
  struct winsize ws;
  if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

/* Items of j finished inside chunks the workers still hold, beyond what
 * their records told the result thread. Called with the pool's mutex held
 * (chunk lookups); the slots are read without a lock: a worker moving on
 * to another chunk meanwhile can only make the count briefly low or high
 * by a chunk, and the total is clamped. */
static size_t in_flight(mp_pool *p, mp_result *j) {
  size_t extra = 0;
  for (int w = 0; w < p->nproc; w++) {
    pool__slot *s = &p->slots[w];
    if (!POOL__LOAD(&s->seq))
      continue;
    uint64_t token = __atomic_load_n(&s->task.token, __ATOMIC_RELAXED);
    pool__chunk *ch = pool__chunk_lookup(p, token);
    if (!ch || ch->job != j)
      continue;
    size_t k = POOL__LOAD(&s->progress);
    if (k > ch->count)
      k = ch->count;
    if (k > ch->ndone)
      extra += k - ch->ndone;
  }
  return extra;
}

static void draw(mp_result *j, size_t done, double now, bool final) {
  size_t total = j->n;
  if (done > total)
    done = total;
  double el = now - j->t_start;
  double rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 ? (double)(total - done) / rate : 0;
  char counts[64], speed[32], left[32];
  snprintf(counts, sizeof counts, " %zu/%zu (%3.0f%%)", done, total,
           total ? 100.0 * (double)done / (double)total : 100.0);
  snprintf(speed, sizeof speed, " %.1f it/s", rate);
  snprintf(left, sizeof left, " ETA %d:%02d", (int)(eta / 60), (int)eta % 60);
  /* The last column stays empty: writing it makes some terminals wrap. */
  int room = term_width() - 1;
  int nc = (int)strlen(counts), ns = (int)strlen(speed), nl = (int)strlen(left);
  int bar = room - 2 - nc - ns - nl; /* "[" bar "]" */
  if (bar < MIN_BAR) {
    nl = 0;
    bar = room - 2 - nc - ns;
  }
  if (bar < MIN_BAR) {
    ns = 0;
    bar = room - 2 - nc;
  }
  if (bar > MAX_BAR)
    bar = MAX_BAR;
  char line[512];
  size_t n = 0;
  line[n++] = '\r';
  if (bar >= MIN_BAR) {
    size_t fill = total ? done * (size_t)bar / total : (size_t)bar;
    line[n++] = '[';
    for (int i = 0; i < bar; i++)
      line[n++] = (size_t)i < fill ? '#' : '.';
    line[n++] = ']';
  }
  /* Without a bar the counts lose their leading blank, and are cut to
   * the width if even they do not fit. */
  const char *c0 = bar >= MIN_BAR ? counts : counts + 1;
  int keep = bar >= MIN_BAR ? nc : nc - 1;
  if (keep > room)
    keep = room > 0 ? room : 0;
  memcpy(line + n, c0, (size_t)keep);
  n += (size_t)keep;
  memcpy(line + n, speed, (size_t)ns);
  n += (size_t)ns;
  memcpy(line + n, left, (size_t)nl);
  n += (size_t)nl;
  memcpy(line + n, "\033[K", 3);
  n += 3;
  if (final)
    line[n++] = '\n';
  (void)!write(2, line, n);
}

void pool__progress_draw(mp_result *j, bool final) {
  if (!j->progress || j->kind == POOL__JOB_APPLY)
    return;
  double now = mp_monotonic();
  if (!final && now - j->t_drawn < REDRAW_S)
    return;
  j->t_drawn = now;
  size_t done = __atomic_load_n(&j->ndone, __ATOMIC_RELAXED);
  if (!final && j->pool)
    done += in_flight(j->pool, j);
  draw(j, done, now, final);
}

void pool__progress_start(mp_result *j) {
  if (!j->progress || j->kind == POOL__JOB_APPLY)
    return;
  j->t_drawn = j->t_start;
  draw(j, 0, j->t_start, false);
}

int64_t pool__progress_tick(mp_pool *p) {
  if (!p->live_bars) /* the common case: no walk over 10^5 apply jobs */
    return INT64_MAX;
  bool any = false;
  for (mp_result *j = p->live; j; j = j->live_next) {
    /* A finished job's last frame may be drawn right now, without the
     * mutex, by whoever completes it: no frame after it. */
    if (j->progress && j->kind != POOL__JOB_APPLY && j->nleft) {
      pool__progress_draw(j, false);
      any = true;
    }
  }
  return any ? mp__now_ns() + (int64_t)(REDRAW_S * 1e9) : INT64_MAX;
}
