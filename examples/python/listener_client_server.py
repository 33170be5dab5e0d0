"""The reference's Listener example (17.2.2.10), the Python original, for
examples/listener_client_python.c: it serves a C client. Differences, as in
examples/listener_client.c: port 0 (the port is written to the descriptor
given as argv[1]) and 'float' sent as a str (a type object is code, which
mproc's decoder refuses)."""
import os
import sys
from array import array
from multiprocessing.connection import Listener

address = ('127.0.0.1', 0)     # family is deduced to be 'AF_INET'

with Listener(address, authkey=b'secret password') as listener:
    os.write(int(sys.argv[1]), b"%d\n" % listener.address[1])
    with listener.accept() as conn:
        print('connection accepted from', listener.last_accepted, flush=True)

        conn.send([2.25, None, 'junk', 'float'])

        conn.send_bytes(b'hello')

        conn.send_bytes(array('i', [42, 1729]))
