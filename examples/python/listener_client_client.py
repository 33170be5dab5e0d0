"""The reference's Client example (17.2.2.10), the Python original, for
examples/listener_client_python.c: it talks to a C Listener whose port is
argv[1]."""
import sys
from array import array
from multiprocessing.connection import Client

address = ('127.0.0.1', int(sys.argv[1]))

with Client(address, authkey=b'secret password') as conn:
    print(conn.recv())                  # => [2.25, None, 'junk', 'float']

    print(conn.recv_bytes())            # => 'hello'

    arr = array('i', [0, 0, 0, 0, 0])
    print(conn.recv_bytes_into(arr))    # => 8
    print(arr)                          # => array('i', [42, 1729, 0, 0, 0])
