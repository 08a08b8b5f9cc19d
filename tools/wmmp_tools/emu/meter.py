"""`wmmp-emu meter`: an emulated meter or POS controller on the terminal's data
port (docs/PROTOCOL.md 11).  It sends frames of known sizes with known pauses
between them at the line rate of its baud, records every byte the terminal
writes to it, and reports loss, order and latency.

    wmmp-emu meter --pty /tmp/ttyMETER [--baud 9600] [--format 8N1]
                   [--frame-size 64 | 32-512] [--gap-ms 300] [--rate FRAMES_PER_S]
                   [--count N] [--duration S] [--start-after S] [--linger S] [--expect N]
                   [--seed S] [--report text|json]
    wmmp-emu meter --port /dev/ttyUSB1 ...       (an existing serial device)
    wmmp-term --data-port /tmp/ttyMETER --ec-code 1234 --udp 127.0.0.1:7301

With --pty the slave path of the new pseudo-terminal is printed on stdout as the
first line (as the modem emulators do); the report follows at the end (SIGINT,
SIGTERM or SIGHUP end the run early, and the report is still printed).

A frame, all integers big-endian (FRAME_MIN = 20 bytes at least):

    0  2  magic A5 4D
    2  4  sequence number, 0, 1, 2, ... per run
    6  2  length of the whole frame
    8  8  time its last byte leaves the meter, microseconds since 1970 (this host's clock)
   16  n  payload: bytes drawn from (seed, sequence number)
  -4   4  CRC-32 (zlib) of everything before it

so that the receiver (the meter for what comes back, or the platform's side for
the uplink: analyse()) can check each frame, find losses and reordering from
the sequence numbers, and measure latency from the embedded time.  Frames are
sent back to back at the line rate (start, data, parity and stop bits per byte
at --baud), a pause of --gap-ms after each; --rate sets the period at which
frames start (never shorter than the frame's time on the line plus the gap).
"""

import asyncio
import json
import random
import signal
import struct
import sys
import time
import zlib

from wmmp_tools.emu import argcheck as A

PROG = "wmmp-emu"
MAGIC = b"\xa5\x4d"
HEAD = struct.Struct(">2sIHQ")      # magic, seq, length, t_end (us)
FRAME_MIN = HEAD.size + 4
FRAME_MAX = 65535
TICK = 0.005                        # s between paced writes
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


# -- frames ------------------------------------------------------------------------------

def payload(seed, seq, n):
    """The n payload bytes of frame `seq` of a run with `seed`."""
    return random.Random((seed or 0) * 1000003 + seq).randbytes(n) if n > 0 else b""


def make_frame(seq, size, t_end, seed=0):
    """One frame of `size` bytes (FRAME_MIN..FRAME_MAX)."""
    if not FRAME_MIN <= size <= FRAME_MAX:
        raise ValueError("a frame is %d..%d bytes" % (FRAME_MIN, FRAME_MAX))
    body = HEAD.pack(MAGIC, seq & 0xFFFFFFFF, size, int(t_end * 1e6)) + payload(seed, seq, size - FRAME_MIN)
    return body + struct.pack(">I", zlib.crc32(body))


class Receiver:
    """Finds frames in a byte stream (any chunking; garbage between frames is
    skipped and counted) and keeps what is needed for the report."""

    def __init__(self):
        self.buf = bytearray()
        self.seqs = []              # in arrival order
        self.latencies = []         # s, arrival of the last byte - t_end
        self.bytes = 0
        self.frame_bytes = 0
        self.garbage = 0
        self.first = self.last = None

    def feed(self, data, now=None):
        now = time.time() if now is None else now
        if not data:
            return
        if self.first is None:
            self.first = now
        self.last = now
        self.bytes += len(data)
        self.buf += data
        buf = self.buf
        while True:
            i = buf.find(MAGIC)
            if i < 0:
                keep = 1 if buf[-1:] == MAGIC[:1] else 0
                self.garbage += len(buf) - keep
                del buf[:len(buf) - keep]
                return
            if i:
                self.garbage += i
                del buf[:i]
            if len(buf) < HEAD.size:
                return
            _, seq, size, t_end = HEAD.unpack_from(buf)
            if not FRAME_MIN <= size:
                self.garbage += 1
                del buf[:1]
                continue
            if len(buf) < size:
                return
            if zlib.crc32(bytes(buf[:size - 4])) != struct.unpack_from(">I", buf, size - 4)[0]:
                self.garbage += 1
                del buf[:1]
                continue
            self.seqs.append(seq)
            self.latencies.append(now - t_end / 1e6)
            self.frame_bytes += size
            del buf[:size]

    def report(self, expected=None):
        """Loss, order and latency of what was received; `expected`: how many
        frames (seq 0..expected-1) were sent, when known."""
        seen = set(self.seqs)
        top = expected if expected is not None else (max(seen) + 1 if seen else 0)
        missing = [s for s in range(top) if s not in seen]
        out_of_order = sum(1 for a, b in zip(self.seqs, self.seqs[1:]) if b < a)
        lat = sorted(self.latencies)
        return {"frames": len(self.seqs), "unique": len(seen), "bytes": self.bytes,
                "frame_bytes": self.frame_bytes, "garbage_bytes": self.garbage + len(self.buf),
                "missing": len(missing), "missing_seqs": missing[:100],
                "duplicates": len(self.seqs) - len(seen), "out_of_order": out_of_order,
                "in_order": out_of_order == 0,
                "latency_ms": _percentiles(lat)}


def _percentiles(lat):
    if not lat:
        return None

    def p(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)
    return {"p50": p(0.50), "p99": p(0.99), "max": round(lat[-1] * 1000, 1), "min": round(lat[0] * 1000, 1)}


def analyse(chunks, expected=None):
    """Report on frames received as `chunks` [(time, bytes), ...] in order, e.g.
    the platform's application data of the uplink (one chunk per
    TRANSPARENT_DATA): the Receiver's report plus `split`, the chunks that did
    not hold whole frames (a frame split other than at a gap or the limit)."""
    r = Receiver()
    split = 0
    for t, data in chunks:
        if r.buf:
            split += 1
        r.feed(bytes(data), t)
    rep = r.report(expected)
    rep["split"] = split + (1 if r.buf else 0)
    rep["chunks"] = len(chunks)
    return rep


# -- the sender --------------------------------------------------------------------------

class Sender:
    """Frames paced at the line rate, a pause after each (see the module docstring)."""

    def __init__(self, stream, baud, char_bits, sizes, gap, rate=None, seed=0, clock=time.monotonic,
                 wall=time.time):
        self.stream = stream
        self.char_time = char_bits / float(baud)
        self.sizes = sizes          # (lo, hi)
        self.gap = gap
        self.period = 1.0 / rate if rate else None
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = clock
        self.wall = wall
        self.sent = 0
        self.bytes = 0
        self.late = 0               # frames that started later than --rate asked
        self.t0 = self.t1 = None

    async def run(self, count=None, duration=None):
        clock = self.clock
        self.t0 = start = clock()
        nxt = start
        while (count is None or self.sent < count) and (duration is None or clock() - start < duration):
            now = clock()
            if nxt > now:
                await asyncio.sleep(nxt - now)
            elif self.period is not None and now - nxt > 0.01:
                self.late += 1
            lo, hi = self.sizes
            size = lo if lo == hi else self.rng.randint(lo, hi)
            begin = clock()
            t_end = self.wall() + size * self.char_time
            frame = make_frame(self.sent, size, t_end, self.seed)
            await self._paced(frame, begin)
            self.sent += 1
            self.bytes += size
            done = max(clock(), begin + size * self.char_time)
            nxt = max(done + self.gap, (nxt + self.period) if self.period else 0.0)
        await self.stream.drain()
        self.t1 = clock()

    async def _paced(self, frame, begin):
        """Write `frame` no faster than the line carries it."""
        n = len(frame)
        off = 0
        while off < n:
            due = min(n, int((self.clock() - begin) / self.char_time) + 1)
            if due > off:
                self.stream.write(frame[off:due])
                off = due
                await self.stream.drain()
            if off < n:
                await asyncio.sleep(min(TICK, (off + 1) * self.char_time - (self.clock() - begin)))

    def report(self):
        span = (self.t1 or self.clock()) - (self.t0 or self.clock())
        return {"frames": self.sent, "bytes": self.bytes, "seconds": round(span, 3),
                "late_starts": self.late}


# -- the command ---------------------------------------------------------------------------

def _sizes(text):
    parts = text.split("-")
    if len(parts) > 2:
        A.fail("expected SIZE or MIN-MAX, got %s" % A.shown(text))
    conv = A.int_range(FRAME_MIN, FRAME_MAX)
    lo = conv(parts[0])
    hi = conv(parts[1]) if len(parts) == 2 else lo
    if hi < lo:
        A.fail("MIN-MAX with MIN above MAX: %s" % A.shown(text))
    return lo, hi


def _format(text):
    t = text.strip().upper()
    if len(t) not in (3, 5) or t[0] not in "5678" or t[1] not in "NOEMS" or t[2:] not in ("1", "2", "1.5"):
        A.fail("expected DATA-BITS PARITY STOP such as 8N1, 7E1, 8N2 (bits 5..8, parity N O E M S, "
               "stop 1, 1.5 or 2), got %s" % A.shown(text))
    return int(t[0]), t[1], float(t[2:]) if t[2:] == "1.5" else int(t[2:])


def _rate(text):
    try:
        v = float(text.strip())
    except ValueError:
        v = None
    if v is None or not 0 < v <= 10000:
        A.fail("expected frames per second within 0..10000 (above 0), got %s" % A.shown(text))
    return v


class _Parser(A.Parser):
    """Usage and help as `wmmp-emu meter`, errors as every wmmp-emu error."""

    def error(self, message):
        self.exit(A.EXIT_USAGE, A.one_line(PROG, "%s (%s --help)" % (message, self.prog)) + "\n")


def build_parser():
    p = _Parser(prog=PROG + " meter",
                 description="Emulated meter/POS controller on the terminal's data port: sends "
                             "numbered, checksummed frames of known sizes with known pauses at the "
                             "line rate, records what comes back and reports loss, order and latency.",
                 epilog="Exit status: 0 done, 1 could not start (the pty, the link, the device), "
                        "2 a bad option value (one line on stderr).")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--pty", metavar="LINK",
                   help="a new pseudo-terminal, LINK a symlink to it (replaces only a stale symlink to "
                        "a pseudo-terminal), for wmmp-term --data-port LINK; its path is printed")
    w.add_argument("--port", metavar="PATH", help="an existing serial device (or pty) instead of --pty")
    p.add_argument("--baud", type=int, choices=BAUDS, default=9600, metavar="BAUD",
                   help="line speed: %s (default 9600, the terminal's default)" % ", ".join(map(str, BAUDS)))
    p.add_argument("--format", type=_format, default=(8, "N", 1), metavar="8N1",
                   help="data bits, parity, stop bits (default 8N1)")
    p.add_argument("--frame-size", type=_sizes, default=(64, 64), metavar="N|MIN-MAX",
                   help="bytes per frame, %d..%d, or a range drawn per frame (default 64)" % (FRAME_MIN, FRAME_MAX))
    p.add_argument("--gap-ms", type=A.int_range(0, 60000), default=300, metavar="MS",
                   help="pause after each frame, ms (default 300: above the terminal's default gap "
                        "of 100 ms, 0x0105 = 1)")
    p.add_argument("--rate", type=_rate, default=None, metavar="FRAMES_PER_S",
                   help="frames started per second (default: as fast as the gap allows)")
    p.add_argument("--count", type=A.int_range(0, 10 ** 9), default=None, metavar="N",
                   help="frames to send (0: only receive; default: until --duration or a signal)")
    p.add_argument("--duration", type=A.seconds_type(), default=None, metavar="S",
                   help="seconds to send for (default: until --count or a signal)")
    p.add_argument("--start-after", type=A.seconds_type(3600), default=0.0, metavar="S",
                   help="seconds to wait before the first frame, e.g. for the terminal to open the "
                        "port (default 0)")
    p.add_argument("--linger", type=A.seconds_type(3600), default=2.0, metavar="S",
                   help="seconds to go on receiving after the last frame (default 2)")
    p.add_argument("--expect", type=A.int_range(0, 10 ** 9), default=None, metavar="N",
                   help="frames the terminal should write back (seq 0..N-1), to count those missing")
    p.add_argument("--seed", type=A.int_range(0, 2 ** 63 - 1), default=0, help="seed of sizes and payloads")
    p.add_argument("--report", choices=("text", "json"), default="text", help="report format (default text)")
    return p


def check(args):
    if args.pty is None and args.port is None:
        raise A.UsageError("give --pty LINK or --port PATH")
    if args.pty is not None:
        A.check_link(args.pty, "--pty")
    else:
        A.tty_device(args.port, "--port")
    from wmmp_tools import dataport as DP
    bits, parity, stop = args.format
    if stop == 1.5:
        raise A.UsageError("--format: 1.5 stop bits cannot be set through termios")
    if parity in "MS" and not DP.CMSPAR:
        raise A.UsageError("--format: mark/space parity needs CMSPAR, which this system lacks")
    if args.rate is not None and args.count == 0:
        raise A.UsageError("--rate goes with frames to send (not with --count 0)")


def text_report(rep):
    s, r = rep["sent"], rep["received"]
    lines = ["sent     %d frames, %d bytes in %.3f s (%s %d %s, gap %d ms%s)" % (
        s["frames"], s["bytes"], s["seconds"], rep["port"], rep["baud"], rep["format"],
        rep["gap_ms"], ", %d late starts" % s["late_starts"] if s["late_starts"] else ""),
        "received %d frames (%d unique), %d bytes, %d not in frames" % (
            r["frames"], r["unique"], r["bytes"], r["garbage_bytes"]),
        "loss     %d missing%s, %d duplicates" % (
            r["missing"], (" (seq %s)" % ",".join(map(str, r["missing_seqs"][:20]))) if r["missing"] else "",
            r["duplicates"]),
        "order    %s" % ("kept" if r["in_order"] else "%d out of order" % r["out_of_order"])]
    lat = r["latency_ms"]
    lines.append("latency  " + ("p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (lat["p50"], lat["p99"], lat["max"])
                                if lat else "-"))
    return "\n".join(lines)


async def run(args, out=None):
    """The meter until done or a signal; returns the report dict (also printed)."""
    from wmmp_tools import dataport as DP
    out = out or sys.stdout
    bits, parity, stop = args.format
    stream = DP.PtyStream(args.pty).open() if args.pty is not None else DP.TtyStream(args.port).open()
    loop = asyncio.get_running_loop()
    stop_ev = asyncio.Event()
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    rx = Receiver()
    sender = Sender(stream, args.baud, DP.char_bits(bits, parity, stop), args.frame_size,
                    args.gap_ms / 1000.0, args.rate, args.seed)
    tasks = []
    try:
        stream.configure(args.baud, bits, parity, stop)
        for sig in sigs:                # before the path goes out: a stop at once still closes the stream
            loop.add_signal_handler(sig, stop_ev.set)
        print(stream.path, file=out, flush=True)
        print("wmmp-emu meter on %s%s" % (stream.path, " (%s)" % args.pty if args.pty else ""),
              file=sys.stderr, flush=True)

        async def receive():
            while True:
                rx.feed(await stream.read(4096))

        async def send():
            if args.count != 0:
                await asyncio.sleep(args.start_after)
                await sender.run(args.count, args.duration)
            if args.count is None and args.duration is None:
                await stop_ev.wait()
            await asyncio.sleep(args.linger)
            stop_ev.set()
        tasks = [asyncio.ensure_future(receive()), asyncio.ensure_future(send())]
        await stop_ev.wait()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:
                pass
        for sig in sigs:
            loop.remove_signal_handler(sig)
        stream.close()
    if sender.t1 is None:
        sender.t1 = sender.clock()
    rep = {"port": stream.path, "baud": args.baud, "format": "%d%s%s" % (bits, parity, stop),
           "gap_ms": args.gap_ms, "frame_size": list(args.frame_size), "seed": args.seed,
           "sent": sender.report(), "received": rx.report(args.expect)}
    print(json.dumps(rep, sort_keys=True) if args.report == "json" else text_report(rep), file=out, flush=True)
    return rep


def main(argv):
    """`wmmp-emu meter ARGS` (argv without "meter"); the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        check(args)
    except A.UsageError as e:
        A.say(PROG, str(e))
        return 2
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass
    except A.UsageError as e:         # the link changed since the check
        A.say(PROG, str(e))
        return 1
    except BrokenPipeError:
        return 1
    except (OSError, ValueError) as e:
        A.say(PROG, "cannot start: %s" % (e,))
        return 1
    return 0
