"""The And-link LwM2M client (And-link spec sections 4.1-4.4), sans-I/O: bytes
and time in, bytes and typed events out, over the CoAP endpoint
(andlink.coapendpoint) and the object store (andlink.lwm2m.store).  Here:
the registration states and parse_uri (the flows share them); the board
imports andlink.client.core.Client:

    core      Client: the shared context, the endpoint, timers, persistence,
              the dispatch of responses and the board's calls
    register  client-initiated Bootstrap, Register, Update, De-register,
              the lifetime, queue mode (sections 4.1, 6.1-6.4)
    dm        the server's requests: Read, Write, Execute, Discover,
              Write-Attributes, Create, Delete, Observe, Bootstrap writes
              (sections 3.3, 4.2, 6.5-6.10)
    report    observations and notifications, Send to /dp (4.3, 6.9-6.11)
    fota      firmware update by Pull: Block2 download into the updater's
              stager, State/Update Result across the reboot (4.4)

docs/ANDLINK.md, "Client", has the API, the events and the decisions.
"""

from micropython import const

# Registration states
S_IDLE = const(0)
S_BOOTSTRAPPING = const(1)
S_REGISTERING = const(2)
S_REGISTERED = const(3)
S_DEREGISTERING = const(4)
S_BACKOFF = const(5)
STATE_NAMES = ("idle", "bootstrapping", "registering", "registered", "deregistering", "backoff")


def parse_uri(uri):
    """("coap", host, port, [path segments], [queries]) of a CoAP URI
    "coap://host:port/a/b?x=1" (an IPv6 host in brackets; port 5683 by
    default, 5684 for coaps); ValueError when it is not one."""
    if not isinstance(uri, str):
        uri = str(bytes(uri), "utf-8")
    scheme, sep, rest = uri.partition("://")
    scheme = scheme.lower()
    if not sep or not scheme or not rest:
        raise ValueError("not a URI")
    rest, _, query = rest.partition("?")
    i = rest.find("/")
    auth, path = (rest, "") if i < 0 else (rest[:i], rest[i + 1:])
    port = None
    if auth.startswith("["):
        j = auth.find("]")
        if j < 0:
            raise ValueError("bad IPv6 host")
        host, tail = auth[1:j], auth[j + 1:]
        if tail:
            if tail[0] != ":":
                raise ValueError("bad host")
            port = tail[1:]
    else:
        host, sep, port = auth.partition(":")
        if not sep:
            port = None
    if not host or "@" in host or " " in host:
        raise ValueError("no host")
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("bad port")
        port = int(port)
    else:
        port = 5684 if scheme == "coaps" else 5683
    segs = [s for s in path.split("/") if s] if path else []
    qs = [q for q in query.split("&") if q] if query else []
    return scheme, host, port, segs, qs
