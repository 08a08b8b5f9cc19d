"""aiocoap glue for the simulator: one UDP context per listening address (the same
socket serves the devices' requests and carries the platform's requests to
them, so a device behind NAT is reached where it registered from), the CoAP
parameters of And-link spec section 3.4, link shaping for tests, and the
same-token Cancel Observation of spec appendix 6.10 (RFC 7641 3.6).

Section 3.4 gives ACK_TIMEOUT 5 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4 and
also MAX_TRANSMIT_WAIT 93 s -- RFC 7252's figure for a 2 s ACK_TIMEOUT; with
5 s the retransmissions would run 232 s.  The simulator retransmits on the 5 s
schedule and gives a request up at 93 s (Tuning, REQUEST_TIMEOUT): see
docs/ANDLINK_PLATFORM.md, decisions."""

import asyncio
import ipaddress
import logging
import random
import socket
import warnings

import aiocoap
from aiocoap import error as aioerror
from aiocoap.numbers.codes import Code
from aiocoap.numbers.constants import TransportTuning

log = logging.getLogger("andlink.platform.coap")

ACK_TIMEOUT = 5.0             # s, spec section 3.4
REQUEST_TIMEOUT = 93.0        # s, section 3.4 MAX_TRANSMIT_WAIT: a request to a device is given up then
PREFERRED_BLOCK = 512         # section 3.4 PREFERRED_BLOCK_SIZE
MAX_PAYLOAD = 1024            # section 3.4 MAX_MESSAGE_SIZE


class CoapError(Exception):
    """A listening address that cannot be used, or a request that failed
    (no answer, the device's error code): one line for the operator."""


class Tuning(TransportTuning):
    """Section 3.4's retransmission parameters (ACK_TIMEOUT settable for tests)."""

    ACK_RANDOM_FACTOR = 1.5
    MAX_RETRANSMIT = 4

    def __init__(self, ack_timeout=ACK_TIMEOUT):
        self.ACK_TIMEOUT = float(ack_timeout)


def code_text(code):
    """"2.05 Content" for an aiocoap Code."""
    try:
        return "%s %s" % (code.dotted, code.name_printable)
    except AttributeError:
        return str(code)


def _message_interfaces(ctx):
    for ri in ctx.request_interfaces:
        mm = getattr(ri, "token_interface", None)
        mi = getattr(mm, "message_interface", None)
        if mi is not None:
            yield ri, mi


def local_address(ctx):
    """(host, port) the context's UDP socket is bound to (v4-mapped shown as v4)."""
    for _, mi in _message_interfaces(ctx):
        sock = mi.transport.get_extra_info("socket")
        host, port = sock.getsockname()[:2]
        if host.startswith("::ffff:"):
            host = host[7:]
        return host, port
    raise CoapError("no UDP transport")


def _check_free(host, port):
    """aiocoap binds with SO_REUSEPORT, so a second simulator on a port in use
    would start and share the datagrams: a plain bind first tells."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise CoapError("%s: %s" % (host, e.strerror or e))
    fam, _, _, _, addr = infos[0]
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.bind(addr)
    except OSError as e:
        raise CoapError("cannot listen on %s: %s" % (hostport(host, port), e.strerror or e))
    finally:
        s.close()


def hostport(host, port):
    try:
        if ipaddress.ip_address(host).version == 6:
            return "[%s]:%d" % (host, port)
    except ValueError:
        pass
    return "%s:%d" % (host, port)


async def open_context(site, host, port, loggername, shaper=None):
    """A UDP CoAP context serving `site` on host:port (port 0: any free one)."""
    _check_free(host, port)
    try:
        ctx = await aiocoap.Context.create_server_context(site, bind=(host, port), transports=["udp6"],
                                                          loggername=loggername)
    except (OSError, aioerror.Error) as e:
        raise CoapError("cannot listen on %s: %s" % (hostport(host, port), getattr(e, "strerror", None) or e))
    _install_token_choice(ctx)
    if shaper is not None:
        shaper.install(ctx)
    return ctx


# -- requests to a device --------------------------------------------------------------

def message(code, base, path=(), query=(), payload=b"", cf=None, accept=None, observe=None, block2=None,
            tuning=None, token=None):
    """An aiocoap request to `base` ("coap://host:port") for LwM2M `path`."""
    m = aiocoap.Message(code=code, uri=base, payload=payload or b"",
                        transport_tuning=tuning or Tuning())
    m.opt.uri_path = tuple(str(p) for p in path)
    if query:
        m.opt.uri_query = tuple(query)
    if cf is not None:
        m.opt.content_format = cf
    if accept is not None:
        m.opt.accept = accept
    if observe is not None:
        m.opt.observe = observe
    if block2 is not None:
        m.opt.block2 = block2
    if token is not None:
        m.andlink_token = token
    return m


def failure_text(exc, timeout=None):
    """One line for an aiocoap error or a timeout."""
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in %g s" % timeout if timeout is not None else "no answer in time"
    if isinstance(exc, aioerror.ConRetransmitsExceeded):
        return "no answer (the request was retransmitted %d times)" % Tuning.MAX_RETRANSMIT
    if isinstance(exc, aioerror.LibraryShutdown):
        return "the platform is stopping"
    if isinstance(exc, aioerror.NetworkError):
        return "network error: %s" % (exc or type(exc).__name__)
    return "%s: %s" % (type(exc).__name__, exc)


async def send(ctx, msg, timeout, blockwise=True):
    """The response to `msg` (any code) within `timeout` s; CoapError when there is
    none.  Cancelling stops the retransmissions."""
    req = ctx.request(msg, handle_blockwise=blockwise)
    try:
        return await asyncio.wait_for(req.response, timeout)
    except (asyncio.TimeoutError, aioerror.Error) as e:
        raise CoapError(failure_text(e, timeout))


def start(ctx, msg, blockwise=True):
    """The aiocoap request object (for an observation: .observation, .response)."""
    return ctx.request(msg, handle_blockwise=blockwise)


def on_notification(observation, callback, errback):
    """Every notification to `callback(message)` (aiocoap's async iterator keeps
    only the latest: state changes must not be lost), the end to `errback(exc)`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        observation.register_callback(callback)
        observation.register_errback(errback)


def _install_token_choice(ctx):
    """A request message carrying `andlink_token` is sent with that token: the
    Cancel Observation GET (Observe=1) repeats the observation's token (spec
    appendix 6.10.4; RFC 7641 3.6).  aiocoap always picks a fresh token, so its
    token manager is wrapped for these messages."""
    for ri, _ in _message_interfaces(ctx):
        orig = ri.request

        def request(pipe, ri=ri, orig=orig):
            tok = getattr(pipe.request, "andlink_token", None)
            if tok is None:
                return orig(pipe)
            ri.next_token = lambda: tok
            try:
                return orig(pipe)
            finally:
                del ri.next_token
        ri.request = request


# -- link shaping ------------------------------------------------------------------------

class Shaper:
    """Loss and delay on a context's datagrams, both directions (tests, and
    trying a device on a poor link): each datagram is dropped with probability
    `loss` and otherwise delayed by `rtt`/2 s (each way, so a round trip costs
    `rtt`).  `seed` makes the losses repeatable."""

    def __init__(self, loss=0.0, rtt=0.0, seed=None):
        if not 0.0 <= loss < 1.0:
            raise ValueError("loss is a probability, 0 <= loss < 1")
        if rtt < 0:
            raise ValueError("rtt is >= 0")
        self.loss = float(loss)
        self.rtt = float(rtt)
        self.rng = random.Random(seed)
        self.dropped = {"in": 0, "out": 0}
        self.passed = {"in": 0, "out": 0}

    def _drop(self, way):
        if self.loss and self.rng.random() < self.loss:
            self.dropped[way] += 1
            return True
        self.passed[way] += 1
        return False

    def install(self, ctx):
        loop = asyncio.get_running_loop()
        for _, mi in _message_interfaces(ctx):
            send, received = mi.send, mi.datagram_msg_received

            def shaped_send(message, send=send):
                if self._drop("out"):
                    log.debug("link shaping: dropped %s to %s", message, message.remote)
                elif self.rtt:
                    loop.call_later(self.rtt / 2, send, message)
                else:
                    send(message)

            def shaped_received(data, ancdata, flags, address, received=received):
                if self._drop("in"):
                    log.debug("link shaping: dropped a datagram from %s", address)
                elif self.rtt:
                    loop.call_later(self.rtt / 2, received, data, ancdata, flags, address)
                else:
                    received(data, ancdata, flags, address)

            mi.send = shaped_send
            mi.datagram_msg_received = shaped_received

    def summary(self):
        return {"loss": self.loss, "rtt": self.rtt, "dropped": dict(self.dropped), "passed": dict(self.passed)}


def remote_address(remote):
    """(host, port) of an aiocoap remote (v4-mapped shown as v4)."""
    sockaddr = getattr(remote, "sockaddr", None)
    if sockaddr is not None:
        host, port = sockaddr[:2]
    else:
        host, _, port = remote.hostinfo.rpartition(":")
        host, port = host.strip("[]"), int(port)
    if host.startswith("::ffff:"):
        host = host[7:]
    return host, port


def is_success(code):
    return isinstance(code, Code) and code.is_successful()
