/* progress.c: the progress bar of map and imap (mp_call_opts.progress), as
 * mpire draws it: one line on stderr, redrawn at most ten times a second,
 * with items done of the total, the rate and the time left. Drawn only when
 * stderr is a terminal (asked at submission: job_new clears j->progress
 * otherwise), so logs and pipes never see it. */
#include <stdio.h>
#include <unistd.h>

#include "pool_internal.h"

#define BAR 30

void pool__progress_draw(mp_result *j, bool final) {
  if (!j->progress || j->kind == POOL__JOB_APPLY)
    return;
  double now = mp_monotonic();
  if (!final && now - j->t_drawn < 0.1)
    return;
  j->t_drawn = now;
  size_t done = __atomic_load_n(&j->ndone, __ATOMIC_RELAXED), total = j->n;
  double el = now - j->t_start;
  double rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 ? (double)(total - done) / rate : 0;
  char bar[BAR + 1];
  size_t fill = total ? done * BAR / total : BAR;
  for (size_t i = 0; i < BAR; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[BAR] = 0;
  char line[160];
  int n = snprintf(line, sizeof line,
                   "\r[%s] %zu/%zu (%3.0f%%) %.1f it/s ETA %d:%02d%s", bar,
                   done, total, total ? 100.0 * (double)done / (double)total : 100.0,
                   rate, (int)(eta / 60), (int)eta % 60, final ? "\n" : "");
  if (n > 0)
    (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
