/* peer_missing.c: stands in for a peer program whose package is missing
 * at build time (CMake compiles it with PEER_WHY, the reason, and
 * PEER_ROWS, the row ids, space-separated): prints a SKIP line per row so
 * the table says which peer is not measured and why. */
#include <stdio.h>
#include <string.h>

int main(void) {
  char rows[] = PEER_ROWS;
  for (char *save, *id = strtok_r(rows, " ", &save); id; id = strtok_r(NULL, " ", &save))
    printf("SKIP %s %s\n", id, PEER_WHY);
  return 0;
}
