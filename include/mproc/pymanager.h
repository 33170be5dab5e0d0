/* mproc/pymanager.h: a C client of a manager server run by CPython
 * (multiprocessing.managers.BaseManager / SyncManager started with an
 * address and an authkey), speaking CPython's own wire: each request is the
 * tuple (ident, methodname, args, kwds) pickled with protocol 4 over a
 * multiprocessing.connection Client (the same HMAC handshake), each reply a
 * pair ('#RETURN', value), ('#ERROR', exception), ('#TRACEBACK', text),
 * ('#UNSERIALIZABLE', text) or ('#PROXY', (exposed, Token)).
 *
 * As CPython's BaseManager does, 'create' and 'decref' each go over a new
 * connection, and method calls over one connection per manager handle that
 * the server serves with serve_client (after 'accept_connection'); the
 * handle serialises the calls of its threads on it. A proxy owns one
 * reference on the server's object: mp_pyproxy_free gives it back
 * ('decref'), so the server frees the object when its last proxy (C or
 * Python) is gone.
 *
 * Values travel as mp_obj (mproc/obj.h) through the pickle codec
 * (mproc/pickle.h); what the server sends that is not data (an exception,
 * a Token) arrives as an inert MP_OBJ_PYOBJ recipe: nothing is run.
 *
 * Errors: MP_EREMOTE when the server reported an exception: mp_last_error()
 * holds Python's text ("KeyError: 'x'" for '#ERROR', the traceback's last
 * lines for '#TRACEBACK'); MP_EPROTO for a reply that is not one of the
 * forms above; MP_EDECODE for a reply that does not decode; the
 * connection's errors (MP_EAUTH, MP_EEOF, -ECONNREFUSED, ...); -EINVAL for
 * NULL arguments or args not a tuple / kwds not a dict; -ENOMEM.
 *
 * Thread-safety: a manager handle and its proxies may be used from any
 * threads at once (calls on one handle take turns on its connection). */
#ifndef MPROC_PYMANAGER_H
#define MPROC_PYMANAGER_H

#include <stddef.h>

#include "connection.h"
#include "errors.h"
#include "obj.h"

MP_EXTERN_C_BEGIN

/* A connection to a CPython manager server. Opaque. */
typedef struct mp_pymanager mp_pymanager;
/* A proxy for one object in that server (Python's BaseProxy). Opaque. */
typedef struct mp_pyproxy mp_pyproxy;

/* Python's BaseManager(address, authkey=key).connect(): checks the server
 * answers (the 'dummy' request). address is copied; the key too (key NULL
 * with key_len 0: no authentication). Returns a handle (free with
 * mp_pymanager_free) or NULL with errno: -MP_EAUTH (as errno's positive
 * value, see errors.h), ECONNREFUSED, ENOENT, EINVAL, ENOMEM, or the
 * positive value of MP_EREMOTE / MP_EPROTO when the server misbehaves. */
MP_EXPORT mp_pymanager *mp_pymanager_connect(const mp_address *address,
                                             const void *key, size_t key_len);

/* Releases the caller's handle. Proxies made from it keep what they need
 * alive: the connection closes when the handle and its last proxy are
 * freed. NULL does nothing. */
MP_EXPORT void mp_pymanager_free(mp_pymanager *m);

/* Python's manager.<typeid>(*args, **kwds) (BaseManager._create): asks the
 * server to make an object of a registered typeid ("dict", "list",
 * "Namespace", "Queue", "Value", "Lock", ... for a SyncManager) and sets
 * *out to a new proxy for it. args a tuple or NULL (()), kwds a dict or
 * NULL ({}), both borrowed. Returns 0, MP_EREMOTE (an unknown typeid, the
 * constructor raised: Python's text in mp_last_error()) or the errors
 * above. */
MP_EXPORT int mp_pymanager_create(mp_pymanager *m, const char *type_id,
                                  const mp_obj *args, const mp_obj *kwds,
                                  mp_pyproxy **out);

/* Python's proxy._callmethod(method, args, kwds): calls the method on the
 * server's object and sets *out to its result (a new reference). args and
 * kwds as mp_pymanager_create. The special method "#GETVALUE" returns a
 * copy of the object itself (Python's proxy._getvalue()).
 * On MP_EREMOTE *out is what the server sent: the exception as a
 * MP_OBJ_PYOBJ recipe for '#ERROR' (KeyError('x'): module "builtins", name
 * "KeyError", args ('x',)), the traceback text (a str) for '#TRACEBACK';
 * release it too. Otherwise on failure *out is NULL. A method the server
 * answers with a proxy ('#PROXY', method_to_typeid) gives MP_ETYPE here
 * (the reference is given back): use mp_pyproxy_call_proxy. */
MP_EXPORT int mp_pyproxy_call(mp_pyproxy *p, const char *method,
                              const mp_obj *args, const mp_obj *kwds,
                              mp_obj **out);

/* The same for a method that returns a proxy (a typeid of the server's
 * method_to_typeid, e.g. a registered "__iter__": "Iterator"): *out is a
 * new proxy (free with mp_pyproxy_free). A plain '#RETURN' gives MP_ETYPE
 * (*out NULL); MP_EREMOTE as mp_pyproxy_call, without the exception. */
MP_EXPORT int mp_pyproxy_call_proxy(mp_pyproxy *p, const char *method,
                                    const mp_obj *args, const mp_obj *kwds,
                                    mp_pyproxy **out);

/* The proxy's typeid ("dict"), the server's id of the object (a hex
 * string, Token.id) and the methods the server exposes (a tuple of str).
 * Borrowed: valid until mp_pyproxy_free. NULL p: NULL. */
MP_EXPORT const char *mp_pyproxy_typeid(const mp_pyproxy *p);
/* Token.id of the proxy's object; see mp_pyproxy_typeid. */
MP_EXPORT const char *mp_pyproxy_id(const mp_pyproxy *p);
/* The exposed method names (a tuple of str); see mp_pyproxy_typeid. */
MP_EXPORT const mp_obj *mp_pyproxy_exposed(const mp_pyproxy *p);

/* Gives the proxy's reference back to the server ('decref', over a new
 * connection, as a CPython proxy's finalizer does) and frees p. A server
 * that is gone is not an error. NULL does nothing. */
MP_EXPORT void mp_pyproxy_free(mp_pyproxy *p);

MP_EXTERN_C_END

#endif
