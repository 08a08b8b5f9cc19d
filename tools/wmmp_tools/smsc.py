"""Emulated SMS centre (`wmmp-smsc`): store-and-forward binary SMS by MSISDN over a
line-of-JSON TCP protocol, for tests and demos (interface: docs/SMSC.md).

    SmsCentre(host, port, delay_ms=0, loss=0.0, rng=None)   the service (asyncio)
    SmsClient(host, port, msisdn)                           a client (asyncio)
    main()                                                  the `wmmp-smsc` command

    wmmp-smsc --listen 127.0.0.1:7400 [--delay-ms N] [--loss P] [--verbose]

One binary SMS carries at most 140 bytes of user data (docs/PROTOCOL.md 9); each
MSISDN has a queue of at most 64 SMS waiting for it; every SMS is delivered at
most once.
"""

import argparse
import asyncio
import binascii
import collections
import itertools
import json
import logging
import random
import re
import sys
import time

from wmmp.wire import profile as P

from wmmp_tools import logfmt

log = logging.getLogger("wmmp.smsc")
client_log = logging.getLogger("wmmp.smsc.client")       # SmsClient, inside other tools

SMS_MAX = P.SMS_MESSAGE_MAX     # bytes of user data in one binary SMS (docs/PROTOCOL.md 9)
QUEUE_MAX = 64                  # SMS waiting per MSISDN
LINE_MAX = 4096                 # bytes per JSON line, without the "\n"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7400

_MSISDN_RE = re.compile(r"\+?[0-9]{1,20}\Z")

# Outcomes recorded in SmsCentre.log (docs/SMSC.md, "Log").
DELIVERED = "delivered"
QUEUED = "queued"
IN_TRANSIT = "in transit"
LOST = "lost"
DROPPED = "dropped: queue full"
REJECTED = "rejected"


class _Malformed(Exception):
    """A request line that cannot be understood (answered with `error`)."""


def valid_msisdn(value):
    """True for an MSISDN as accepted here: optional '+', then 1 to 20 digits."""
    return isinstance(value, str) and _MSISDN_RE.match(value) is not None


def _encode(obj):
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8")


async def _lines(reader, limit=LINE_MAX):
    """Yield each line from `reader` as bytes (without "\\n" or a trailing "\\r").

    A line longer than `limit` yields None once and is skipped up to its "\\n", so
    the buffer never holds more than `limit` + one read."""
    buf = bytearray()
    skipping = False
    while True:
        chunk = await reader.read(LINE_MAX)
        if not chunk:
            return
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                if not skipping:
                    buf += chunk[start:]
                    if len(buf) > limit:
                        buf = bytearray()
                        skipping = True
                        yield None
                break
            if skipping:
                skipping = False
            else:
                buf += chunk[start:nl]
                if len(buf) > limit:
                    yield None
                else:
                    yield bytes(buf[:-1] if buf.endswith(b"\r") else buf)
                buf = bytearray()
            start = nl + 1


class _Conn:
    """One client connection: its writer and the MSISDN it is attached as."""

    def __init__(self, writer):
        self.writer = writer
        self.msisdn = None
        peer = writer.get_extra_info("peername")
        self.peer = "%s:%s" % peer[:2] if isinstance(peer, tuple) else str(peer)

    @property
    def closing(self):
        return self.writer.is_closing()

    def write(self, obj):
        if not self.writer.is_closing():
            self.writer.write(_encode(obj))


class SmsCentre:
    """The SMS centre service.

    await start() listens (port 0 picks a free port, read `.port` afterwards);
    await close() stops it and drops every connection.  Fault injection: every SMS
    is held `delay_ms` before it is routed and is lost with probability `loss`
    (drawn from `rng`, a random.Random); change both with set_faults().
    lose_next(count, sender, to, match) loses the next matching SMS for certain.
    pause(msisdn) holds delivery to that MSISDN (its SMS queue up) until resume().
    `log` lists every submitted SMS as a dict: time, id, from, to, length, outcome
    (and reason for a rejection); each change of outcome is also logged at INFO
    on the "wmmp.smsc" logger.
    """

    def __init__(self, host=DEFAULT_HOST, port=DEFAULT_PORT, delay_ms=0, loss=0.0, rng=None):
        self.host = host
        self.port = port
        self.rng = rng if rng is not None else random.Random()
        self.delay_ms = 0
        self.loss = 0.0
        self.set_faults(delay_ms, loss)
        self.log = []
        self._server = None
        self._attached = {}                                  # msisdn -> _Conn
        self._queues = collections.defaultdict(collections.deque)   # msisdn -> deque of sms
        self._paused = set()
        self._lose = []                                      # [count, from, to, match] of lose_next()
        self._conns = set()
        self._handlers = set()
        self._ids = itertools.count(1)
        self._transit = collections.deque()                  # (due, sms), due non-decreasing
        self._transit_wake = None
        self._transit_task = None

    # -- control ------------------------------------------------------------

    def set_faults(self, delay_ms=None, loss=None):
        """Change the delay (ms, >= 0) and/or the loss probability (0..1) for new SMS."""
        if delay_ms is not None:
            if delay_ms < 0:
                raise ValueError("delay_ms must be >= 0")
            self.delay_ms = delay_ms
        if loss is not None:
            if not 0.0 <= loss <= 1.0:
                raise ValueError("loss must be within 0..1")
            self.loss = float(loss)

    def lose_next(self, count=1, sender=None, to=None, match=None):
        """Lose the next `count` accepted SMS (only those from `sender`, to `to`,
        and whose user data satisfies match(data), when given), whatever the loss
        probability: a deterministic loss for tests.  Rules add up; each SMS is
        lost by at most one of them."""
        if count < 1:
            raise ValueError("count must be >= 1")
        self._lose.append([count, sender, to, match])

    def _lose_rule(self, sms):
        for r in self._lose:
            if (r[1] is None or r[1] == sms["from"]) and (r[2] is None or r[2] == sms["to"]) \
                    and (r[3] is None or r[3](sms["data"])):
                r[0] -= 1
                if r[0] <= 0:
                    self._lose.remove(r)
                return True
        return False

    def pause(self, msisdn):
        """Hold delivery to `msisdn`: its SMS queue (up to 64) until resume()."""
        self._paused.add(msisdn)

    def resume(self, msisdn):
        """Release delivery to `msisdn`; queued SMS go out at once if it is attached."""
        self._paused.discard(msisdn)
        conn = self._attached.get(msisdn)
        if conn is not None:
            self._flush(msisdn, conn)

    def queued(self, msisdn):
        """Number of SMS waiting for `msisdn`."""
        q = self._queues.get(msisdn)
        return len(q) if q else 0

    def attached(self):
        """MSISDNs attached now."""
        return sorted(self._attached)

    async def start(self):
        self._transit_wake = asyncio.Event()
        self._transit_task = asyncio.get_running_loop().create_task(self._transit_loop())
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("SMSC started on %s:%d (delay %d ms, loss %.2f)",
                 self.host, self.port, self.delay_ms, self.loss)
        return self

    async def close(self):
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.writer.close()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._transit_task is not None:
            self._transit_task.cancel()
            try:
                await self._transit_task
            except asyncio.CancelledError:
                pass
            self._transit_task = None
        self._attached.clear()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.close()

    # -- connections --------------------------------------------------------

    async def _handle(self, reader, writer):
        conn = _Conn(writer)
        task = asyncio.current_task()
        self._conns.add(conn)
        self._handlers.add(task)
        log.debug("connection from %s", conn.peer)
        try:
            async for line in _lines(reader):
                if line is None:
                    conn.write({"op": "error", "reason": "line longer than %d bytes" % LINE_MAX})
                elif line.strip():
                    self._request(conn, line)
                await writer.drain()
        except (ConnectionError, OSError) as e:
            log.debug("connection %s: %s", conn.peer, e)
        finally:
            self._detach(conn)
            self._conns.discard(conn)
            self._handlers.discard(task)
            writer.close()

    def _detach(self, conn):
        if conn.msisdn is not None and self._attached.get(conn.msisdn) is conn:
            del self._attached[conn.msisdn]
            log.info("%s detached (%s)", conn.msisdn, conn.peer)
        conn.msisdn = None

    def _request(self, conn, line):
        ref = None
        try:
            try:
                req = json.loads(line.decode("utf-8"))
            except (UnicodeError, ValueError):
                raise _Malformed("not a JSON object")
            if not isinstance(req, dict):
                raise _Malformed("not a JSON object")
            ref = req.get("ref")
            op = req.get("op")
            if op == "attach":
                self._op_attach(conn, req)
            elif op == "submit":
                self._op_submit(conn, req)
            elif op == "ping":
                conn.write({"op": "pong"})
            else:
                raise _Malformed("unknown op %r" % (op,))
        except _Malformed as e:
            log.warning("bad request from %s: %s", conn.peer, e)
            reply = {"op": "error", "reason": str(e)}
            if isinstance(ref, (str, int, float)) and not isinstance(ref, bool):
                reply["ref"] = ref
            conn.write(reply)

    def _op_attach(self, conn, req):
        msisdn = req.get("msisdn")
        if not valid_msisdn(msisdn):
            raise _Malformed("bad msisdn")
        self._detach(conn)
        old = self._attached.get(msisdn)
        if old is not None and old is not conn:
            old.msisdn = None
            log.info("%s re-attached: %s replaces %s", msisdn, conn.peer, old.peer)
        self._attached[msisdn] = conn
        conn.msisdn = msisdn
        log.info("%s attached (%s), %d queued", msisdn, conn.peer, self.queued(msisdn))
        conn.write({"op": "attached", "msisdn": msisdn, "queued": self.queued(msisdn)})
        if msisdn not in self._paused:
            self._flush(msisdn, conn)

    def _op_submit(self, conn, req):
        ref = req.get("ref")
        sender, to, data_hex = req.get("from"), req.get("to"), req.get("data_hex")
        if ref is not None and (isinstance(ref, bool) or not isinstance(ref, (str, int, float))):
            raise _Malformed("bad ref")
        if not valid_msisdn(sender):
            raise _Malformed("bad from")
        if not valid_msisdn(to):
            raise _Malformed("bad to")
        if not isinstance(data_hex, str):
            raise _Malformed("bad data_hex")
        try:
            data = binascii.unhexlify(data_hex)
        except (binascii.Error, ValueError):
            raise _Malformed("bad data_hex")
        now = time.time()
        sms = {"id": next(self._ids), "from": sender, "to": to, "data": data, "ts": int(now)}
        rec = {"time": now, "id": sms["id"], "from": sender, "to": to, "length": len(data),
               "outcome": None}
        self.log.append(rec)
        sms["rec"] = rec
        reply = {"op": "submitted", "ref": ref, "id": sms["id"]}
        if conn.msisdn != sender:
            reason = "not attached as %s" % sender
        elif len(data) > SMS_MAX:
            reason = "too long"
        else:
            reason = None
        if reason is not None:
            rec["reason"] = reason
            self._outcome(rec, REJECTED)
            reply.update(status=REJECTED, reason=reason)
            conn.write(reply)
            return
        target = self._attached.get(to)
        reply["status"] = DELIVERED if target is not None and to not in self._paused else QUEUED
        conn.write(reply)
        if self._lose_rule(sms) or (self.loss > 0.0 and self.rng.random() < self.loss):
            self._outcome(rec, LOST)
        elif self.delay_ms > 0 or self._transit:
            due = time.monotonic() + self.delay_ms / 1000.0
            if self._transit:
                due = max(due, self._transit[-1][0])    # keep submission order
            self._transit.append((due, sms))
            self._outcome(rec, IN_TRANSIT)
            self._transit_wake.set()
        else:
            self._route(sms)

    # -- delivery -----------------------------------------------------------

    async def _transit_loop(self):
        while True:
            if not self._transit:
                self._transit_wake.clear()
                await self._transit_wake.wait()
                continue
            due, sms = self._transit[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._transit.popleft()
            self._route(sms)

    def _route(self, sms):
        to = sms["to"]
        conn = self._attached.get(to)
        if conn is not None and to not in self._paused and not conn.closing:
            self._deliver(sms, conn)
            return
        q = self._queues[to]
        if len(q) >= QUEUE_MAX:
            old = q.popleft()
            log.warning("queue for %s full (%d): dropping SMS #%d", to, QUEUE_MAX, old["id"])
            self._outcome(old["rec"], DROPPED)
        q.append(sms)
        self._outcome(sms["rec"], QUEUED)

    def _flush(self, msisdn, conn):
        q = self._queues.get(msisdn)
        while q and not conn.closing:
            self._deliver(q.popleft(), conn)
        if q is not None and not q:
            del self._queues[msisdn]

    def _deliver(self, sms, conn):
        conn.write({"op": "deliver", "id": sms["id"], "from": sms["from"], "to": sms["to"],
                    "data_hex": binascii.hexlify(sms["data"]).decode("ascii"), "ts": sms["ts"]})
        self._outcome(sms["rec"], DELIVERED)

    def _outcome(self, rec, outcome):
        rec["outcome"] = outcome
        log.info("%s", format_record(rec))


def format_record(rec, now=None):
    """One log line for an SMS record: id, from -> to, length, outcome (and how
    long after its submission, when that is a second or more).  The log line's
    own time (UTC+8, wmmp_tools.logfmt) says when; `rec["time"]` keeps the Unix
    time of the submission."""
    outcome = rec["outcome"]
    if rec.get("reason"):
        outcome = "%s (%s)" % (outcome, rec["reason"])
    now = time.time() if now is None else now
    late = now - rec["time"]
    return "SMS #%d %s -> %s %d B %s%s" % (rec["id"], rec["from"], rec["to"], rec["length"], outcome,
                                          " %.1f s after submission" % late if late >= 1.0 else "")


class SmsClient:
    """An SMSC client attached as `msisdn`.

    await connect() (OSError if the SMSC cannot be reached), await send(to, data)
    -> "delivered" | "queued" | "rejected" (submit() returns the whole reply, with
    the reason of a rejection), await recv() -> (from, data) waits for the next
    SMS, await close().  recv()/send() raise ConnectionError once the SMSC is gone.
    """

    def __init__(self, host, port, msisdn, timeout=10.0):
        if not valid_msisdn(msisdn):
            raise ValueError("bad msisdn %r" % (msisdn,))
        self.host = host
        self.port = port
        self.msisdn = msisdn
        self.timeout = timeout
        self.queued_at_attach = 0
        self._reader = None
        self._writer = None
        self._task = None
        self._pending = {}
        self._refs = itertools.count(1)
        self._inbox = asyncio.Queue()
        self._closed = False

    @property
    def is_connected(self):
        return self._task is not None and not self._task.done()

    async def connect(self):
        self._closed = False
        self._inbox = asyncio.Queue()
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        reply = await self._request({"op": "attach", "msisdn": self.msisdn}, key="attach")
        self.queued_at_attach = reply.get("queued", 0)
        return self

    async def submit(self, to, data):
        """Submit one SMS; returns the SMSC's `submitted` reply as a dict."""
        ref = next(self._refs)
        return await self._request({"op": "submit", "ref": ref, "from": self.msisdn, "to": to,
                                    "data_hex": binascii.hexlify(bytes(data)).decode("ascii")},
                                   key=ref)

    async def send(self, to, data):
        return (await self.submit(to, data))["status"]

    async def ping(self):
        await self._request({"op": "ping"}, key="ping")

    async def recv(self):
        item = await self._inbox.get()
        if item is None:
            self._inbox.put_nowait(None)    # every later recv() fails too
            raise ConnectionError("SMSC connection closed")
        return item

    async def close(self):
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None

    async def __aenter__(self):
        return await self.connect()

    async def __aexit__(self, *exc):
        await self.close()

    async def _request(self, obj, key):
        if not self.is_connected:
            raise ConnectionError("not connected to the SMSC")
        fut = asyncio.get_running_loop().create_future()
        self._pending[key] = fut
        try:
            self._writer.write(_encode(obj))
            await self._writer.drain()
            reply = await asyncio.wait_for(fut, self.timeout)
        finally:
            self._pending.pop(key, None)
        if reply.get("op") == "error":
            raise ValueError("SMSC error: %s" % reply.get("reason"))
        return reply

    def _resolve(self, key, reply):
        fut = self._pending.get(key)
        if fut is not None and not fut.done():
            fut.set_result(reply)

    async def _read_loop(self):
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    msg = json.loads(line)
                except ValueError:
                    client_log.warning("%s: unreadable line from the SMSC", self.msisdn)
                    continue
                op = msg.get("op") if isinstance(msg, dict) else None
                if op == "deliver":
                    try:
                        item = (msg["from"], binascii.unhexlify(msg["data_hex"]))
                    except (KeyError, TypeError, ValueError, binascii.Error):
                        client_log.warning("%s: bad deliver from the SMSC", self.msisdn)
                        continue
                    self._inbox.put_nowait(item)
                elif op == "submitted" or (op == "error" and "ref" in msg):
                    self._resolve(msg.get("ref"), msg)
                elif op == "attached":
                    self._resolve("attach", msg)
                elif op == "pong":
                    self._resolve("ping", msg)
                elif op == "error":
                    client_log.warning("%s: SMSC error: %s", self.msisdn, msg.get("reason"))
                    if "attach" in self._pending:      # the attach itself was refused
                        self._resolve("attach", msg)
        except (ConnectionError, OSError, ValueError) as e:
            if not self._closed:
                client_log.warning("%s: SMSC connection lost: %s", self.msisdn, e)
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("SMSC connection closed"))
            self._inbox.put_nowait(None)


# -- command line ---------------------------------------------------------------

def _listen_address(text):
    m = re.match(r"^\[?([^\[\]]*?)\]?:(\d+)$", text)
    if not m or not m.group(1) or int(m.group(2)) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    return m.group(1), int(m.group(2))


def _probability(text):
    try:
        p = float(text)
    except ValueError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("loss must be a number within 0..1")
    return p


def _non_negative(text):
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError("delay must be a whole number of ms >= 0")
    return n


def build_parser():
    p = argparse.ArgumentParser(
        prog="wmmp-smsc",
        description="Emulated store-and-forward SMS centre for WMMP-T tests (docs/SMSC.md).")
    p.add_argument("--listen", type=_listen_address, default=(DEFAULT_HOST, DEFAULT_PORT),
                   metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:7400)")
    p.add_argument("--delay-ms", type=_non_negative, default=0, metavar="N",
                   help="hold every SMS N ms before delivery")
    p.add_argument("--loss", type=_probability, default=0.0, metavar="P",
                   help="lose each SMS with probability P (0..1)")
    p.add_argument("--seed", type=int, default=None, help="seed for the loss draws")
    p.add_argument("--verbose", action="store_true", help="print every SMS (time, from, to, length, outcome)")
    return p


async def _serve(args):
    host, port = args.listen
    centre = SmsCentre(host, port, delay_ms=args.delay_ms, loss=args.loss,
                       rng=random.Random(args.seed))
    await centre.start()
    logfmt.notice(log, "wmmp-smsc listening on %s:%d", host, centre.port)
    from wmmp_tools.serving import until_stopped
    try:
        await until_stopped()
    finally:
        await centre.close()


def main(argv=None):
    """Run the SMSC until SIGINT/SIGTERM; exit 0, 1 if it cannot listen, 2 on bad options."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    logs = logfmt.setup("smsc", args.verbose)
    try:
        asyncio.run(_serve(args))
    except OSError as e:
        print("wmmp-smsc: cannot listen on %s:%d: %s" % (args.listen[0], args.listen[1],
                                                         e.strerror or e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        logs.restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
