/* mproc.h: the one header users include. mproc is Python's multiprocessing
 * for C; each area has its own header under mproc/, documented inline. */
#ifndef MPROC_H
#define MPROC_H

#include "mproc/version.h"
#include "mproc/errors.h"
#include "mproc/runtime.h"
#include "mproc/obj.h"
#include "mproc/pickle.h"
#include "mproc/queue.h"
#include "mproc/shm.h"
#include "mproc/sync.h"
#include "mproc/value.h"
#include "mproc/shared_memory.h"
#include "mproc/connection.h"
#include "mproc/process.h"
#include "mproc/context.h"
#include "mproc/pool.h"
#include "mproc/manager.h"
#include "mproc/pymanager.h"

#endif
