/* fuzz_handle.c: the handle decoder and the checks made when opening a
 * handle, fed arbitrary bytes. The descriptors are those of a real
 * segment holding a lock, an event, a condition and a barrier, so forged
 * offsets, sizes and types meet real shared memory: opening must fail with
 * a code or give a working object, never crash or touch memory outside the
 * segment. A decoded handle must encode back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc.h"

static int g_fds[MP_HANDLE_MAX_PARTS];

static void setup(void) {
  static int done;
  if (done)
    return;
  done = 1;
  /* Objects kept for the whole run: their blocks are what forged handles
   * point into. */
  mp_lock *l = mp_lock_new();
  mp_event *e = mp_event_new();
  mp_condition *c = mp_condition_new(NULL);
  mp_barrier *b = mp_barrier_new(3, NULL, NULL, MP_FOREVER);
  mp_handle h;
  if (!l || !e || !c || !b || mp_lock_handle(l, &h) < 0)
    abort();
  for (int i = 0; i < MP_HANDLE_MAX_PARTS; i++)
    g_fds[i] = h.parts[0].fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  if (size < 1)
    return 0;
  size_t nfds = data[0] % (MP_HANDLE_MAX_PARTS + 1);
  mp_handle h;
  if (mp_handle_decode(data + 1, size - 1, g_fds, nfds, &h) < 0)
    return 0;
  unsigned char buf[MP_HANDLE_WIRE_SIZE];
  int fds[MP_HANDLE_MAX_PARTS];
  size_t n;
  if (mp_handle_encode(&h, buf, sizeof buf, fds, &n) < 0 || n != nfds ||
      memcmp(buf, data + 1, sizeof buf) != 0)
    abort();
  mp_lock *l = mp_lock_open(&h);
  if (l) {
    if (mp_lock_acquire(l, 0) == 0)
      mp_lock_release(l);
    mp_lock_free(l);
  }
  mp_event *e = mp_event_open(&h);
  if (e) {
    (void)mp_event_is_set(e);
    mp_event_free(e);
  }
  mp_semaphore *s = mp_semaphore_open(&h);
  if (s) {
    (void)mp_semaphore_get_value(s);
    mp_semaphore_free(s);
  }
  mp_condition *c = mp_condition_open(&h);
  if (c) {
    if (mp_condition_acquire(c, 0) == 0)
      mp_condition_release(c);
    mp_condition_free(c);
  }
  mp_barrier *b = mp_barrier_open(&h, NULL, NULL);
  if (b) {
    (void)mp_barrier_n_waiting(b);
    mp_barrier_free(b);
  }
  return 0;
}
