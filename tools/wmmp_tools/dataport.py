"""Host streams for the data port of the serial bridge (docs/PROTOCOL.md 11):
a serial device or a pseudo-terminal as the stream wmmp.board.dataport.DataPort
reads and writes, with the line settings (0x0101-0x0104) applied by termios.

    s = TtyStream("/dev/ttyUSB0").open()    # or the pty of `wmmp-emu meter --pty`
    s = PtyStream(link="/tmp/ttyMETER").open()   # a new pty: s.path is the slave
    data = await s.read(256)                # waits for at least one byte
    s.write(b"..."); await s.drain()
    s.configure(115200, 8, "N", 1)          # ValueError for what termios cannot do
    s.close()
    s = TtyStream(path, pace=True)          # writes leave no faster than the line carries them

configure(baud, bits, parity, stop): baud one of capabilities()["bauds"], bits 5..8,
parity "N", "O", "E", and "M" / "S" (mark, space) where the system has CMSPAR
(Linux), stop 1 or 2 (1.5 stop bits cannot be asked of termios: ValueError).  A
setting the device does not keep (read back after tcsetattr) is a ValueError too,
and the previous settings are restored.  capabilities() (what
termios of this system can express) and s.capabilities() (what this device
keeps: a pseudo-terminal of a recent Linux refuses parity and data bits other
than 8) are what wmmp.terminal.engine.Config.data_port expects.

pace=True (default off): written bytes are handed to the device no faster than
the configured line carries them (char_bits(...) / baud s each, from the
settings of configure(), or those the device has when it is opened), at most
PACE_AHEAD s of line time (or one character) ahead.  A pseudo-terminal has no line: without this a
bench measures the host, not the 115200 baud UART of a board.  drain() returns
once the last byte has been handed over.  CPython only (termios).
"""

import asyncio
import errno
import os
import sys
import termios
import time
import tty

# 0x0101 indices 1..10 (PROTOCOL.md 8) and maker indices 11.. this host maps.
STANDARD_BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
EXTRA_BAUDS = {11: 230400, 12: 460800, 13: 921600}
PARITIES = "NOEMS"

# termios of CPython before 3.13 lacks CMSPAR ("stick" parity): its Linux value.
CMSPAR = getattr(termios, "CMSPAR", 0o10000000000 if sys.platform.startswith("linux") else 0)
_SIZES = {5: termios.CS5, 6: termios.CS6, 7: termios.CS7, 8: termios.CS8}
PACE_AHEAD = 0.005          # s of line time a paced stream may hand over ahead of the line (a UART FIFO)


def speed_of(baud):
    """The termios speed constant of `baud`, or None when termios has none."""
    return getattr(termios, "B%d" % baud, None) if isinstance(baud, int) else None


def capabilities():
    """What a termios port on this system can do, as Config.data_port."""
    bauds = tuple(b for b in STANDARD_BAUDS if speed_of(b) is not None)
    extra = {i: b for i, b in EXTRA_BAUDS.items() if speed_of(b) is not None}
    return {"bauds": bauds + tuple(sorted(extra.values())), "bits": (5, 6, 7, 8),
            "parity": tuple("NOEMS" if CMSPAR else "NOE"), "stop": (1, 2), "extra": extra}


def char_bits(bits, parity, stop):
    """Bits on the line per character (start, data, parity, stop)."""
    return 1 + bits + (0 if parity == "N" else 1) + stop


def line_char_time(attrs):
    """Seconds per character of the line that termios attributes describe
    (speed, data bits, parity, stop bits), or None when the speed is 0 or
    unknown."""
    speeds = {speed_of(b): b for b in STANDARD_BAUDS + tuple(EXTRA_BAUDS.values()) if speed_of(b) is not None}
    baud = speeds.get(attrs[5]) or speeds.get(attrs[4])
    if not baud:
        return None
    bits = {v: k for k, v in _SIZES.items()}.get(attrs[2] & termios.CSIZE, 8)
    cflag = attrs[2]
    return char_bits(bits, "E" if cflag & termios.PARENB else "N", 2 if cflag & termios.CSTOPB else 1) / float(baud)


def settings_attrs(attrs, baud, bits, parity, stop):
    """termios attributes (a tcgetattr list, changed in place and returned) for
    the settings; ValueError for what termios cannot express."""
    speed = speed_of(baud)
    if speed is None:
        raise ValueError("%s baud is not a speed this system's termios knows" % (baud,))
    if bits not in _SIZES:
        raise ValueError("%s data bits: termios does 5 to 8" % (bits,))
    if parity not in PARITIES or len(parity) != 1:
        raise ValueError("parity %r: N, O, E, M or S" % (parity,))
    if parity in "MS" and not CMSPAR:
        raise ValueError("mark/space parity needs CMSPAR, which this system lacks")
    if stop not in (1, 2):
        raise ValueError("%s stop bits: termios does 1 or 2" % (stop,))
    cflag = attrs[2] & ~(termios.CSIZE | termios.PARENB | termios.PARODD | termios.CSTOPB | CMSPAR)
    cflag |= _SIZES[bits] | termios.CREAD | termios.CLOCAL
    if parity != "N":
        cflag |= termios.PARENB
        if parity in "OM":
            cflag |= termios.PARODD
        if parity in "MS":
            cflag |= CMSPAR
    if stop == 2:
        cflag |= termios.CSTOPB
    attrs[2] = cflag
    attrs[4] = attrs[5] = speed
    return attrs


class FdStream:
    """A tty descriptor as an asyncio stream (non-blocking os.read/os.write on
    the running loop).  Subclasses open it.  pace: see the module's docstring;
    char_time is the line's time per character it paces at (None: unpaced)."""

    what = "data port"                # names the line in errors (the AT line: "serial device")

    def __init__(self, pace=False):
        self.pace = bool(pace)
        self.char_time = None         # s per character when paced (configure(), or the device's at open)
        self._line_t = 0.0            # paced: when the line will have sent what was handed over
        self._timer = None            # paced: the call_later that hands over the next bytes
        self.fd = None
        self.path = None
        self.settings = None          # (baud, bits, parity, stop) last configured
        self.rx_bytes = 0
        self.tx_bytes = 0
        self._out = bytearray()
        self._drained = None
        self._rfut = None
        self._writing = False
        self._loop = None
        self._error = None

    async def read(self, n):
        """At least one byte, at most n (waits for them)."""
        while True:
            if self.fd is None:
                raise ConnectionError("%s %s closed" % (self.what, self.path))
            try:
                data = os.read(self.fd, n)
            except BlockingIOError:
                data = None
            except OSError as e:          # EIO: the other end of a pty is not open (yet)
                if e.errno != errno.EIO:
                    raise
                await asyncio.sleep(0.05)
                continue
            if data:
                self.rx_bytes += len(data)
                return data
            if data == b"" and not os.isatty(self.fd):
                raise ConnectionError("%s %s: end of file" % (self.what, self.path))
            fut = self._rfut = self._loop.create_future()
            self._loop.add_reader(self.fd, lambda: fut.done() or fut.set_result(None))
            try:
                await fut
            finally:
                if self._rfut is fut:
                    self._rfut = None
                    if self.fd is not None:
                        self._loop.remove_reader(self.fd)

    def write(self, data):
        if self.fd is None:
            raise ConnectionError("%s %s closed" % (self.what, self.path))
        self._out += data
        self.tx_bytes += len(data)
        self._flush()

    def pending(self):
        """Bytes written and not yet taken by the kernel."""
        return len(self._out)

    def _flush(self):
        while self._out and self.fd is not None:
            k = len(self._out)
            ct = self.char_time
            if ct:
                now = time.monotonic()
                ahead = PACE_AHEAD if PACE_AHEAD > ct else ct
                if self._line_t < now:
                    self._line_t = now            # the line is idle
                k = min(k, int((now + ahead - self._line_t) / ct))
                if k <= 0:                        # the line is busy: the next bytes later
                    if self._writing:
                        self._writing = False
                        self._loop.remove_writer(self.fd)
                    if self._timer is None:
                        self._timer = self._loop.call_later(
                            max(0.0, self._line_t - ahead + ct - now), self._paced)
                    return
            try:
                n = os.write(self.fd, self._out if k == len(self._out) else self._out[:k])
            except BlockingIOError:
                n = 0
            except OSError as e:          # EIO: nobody at the other end of a pty; a device gone
                self._fail(e)
                return
            if n <= 0:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.fd, self._flush)
                return
            if ct:
                self._line_t += n * ct
            del self._out[:n]
        if self._writing and self.fd is not None:
            self._writing = False
            self._loop.remove_writer(self.fd)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _paced(self):
        self._timer = None
        self._flush()

    def _fail(self, e):
        """Output cannot be written: what waits is lost (as on a UART nobody
        listens to) and the next drain() raises."""
        self._error = e
        self._out.clear()
        self._stop_timer()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    async def drain(self):
        while self._out and self.fd is not None:
            self._drained = self._loop.create_future()
            await self._drained
        e, self._error = self._error, None
        if e is not None:
            raise ConnectionError("%s %s: write failed: %s" % (self.what, self.path, e))

    def _stop_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _line_fd(self):
        """The descriptor whose termios settings are the line's."""
        return self.fd

    def configure(self, baud, bits, parity, stop):
        """Apply the line settings (termios); ValueError when termios cannot or
        the device does not keep them, the previous settings kept."""
        self._apply(baud, bits, parity, stop, termios.TCSADRAIN)
        self.settings = (baud, bits, parity, stop)
        if self.pace:
            self.char_time = char_bits(bits, parity if isinstance(parity, str) else "NOEMS"[parity],
                                       stop) / float(baud)

    def _apply(self, baud, bits, parity, stop, when):
        fd = self._line_fd()
        if fd is None:
            raise ValueError("data port not open")
        if isinstance(parity, int) and not isinstance(parity, bool):
            parity = "NOEMS"[parity] if 0 <= parity <= 4 else "?"
        if stop == 1.5:
            raise ValueError("1.5 stop bits cannot be set through termios")
        if stop not in (1, 2):
            raise ValueError("%s stop bits: termios does 1 or 2" % (stop,))
        old = termios.tcgetattr(fd)
        want = settings_attrs(termios.tcgetattr(fd), baud, bits, parity, int(stop))
        try:
            termios.tcsetattr(fd, when, want)
            got = termios.tcgetattr(fd)
        except termios.error as e:
            termios.tcsetattr(fd, termios.TCSANOW, old)
            raise ValueError("the device refuses %s %d%s%s: %s" % (baud, bits, parity, stop, e))
        mask = termios.CSIZE | termios.PARENB | termios.PARODD | termios.CSTOPB | CMSPAR
        if (got[2] & mask) != (want[2] & mask) or got[4] != want[4] or got[5] != want[5]:
            termios.tcsetattr(fd, termios.TCSANOW, old)
            raise ValueError("the device does not keep %s %d%s%s" % (baud, bits, parity, stop))

    def capabilities(self):
        """What this device keeps, each setting tried alone and the settings put
        back after (a pseudo-terminal may do 8 data bits and no parity only), as
        Config.data_port; the same shape as capabilities()."""
        fd = self._line_fd()
        if fd is None:
            raise ValueError("data port not open")
        saved = termios.tcgetattr(fd)

        def ok(*settings):
            try:
                self._apply(*settings, when=termios.TCSANOW)
                return True
            except ValueError:
                return False
        try:
            every = capabilities()
            base = next((b for b in (9600,) + every["bauds"] if ok(b, 8, "N", 1)), 9600)
            bauds = tuple(b for b in every["bauds"] if ok(b, 8, "N", 1))
            extra = {i: b for i, b in every["extra"].items() if b in bauds}
            bits = tuple(n for n in every["bits"] if ok(base, n, "N", 1))
            parity = tuple(p for p in every["parity"] if ok(base, 8, p, 1))
            stop = tuple(n for n in every["stop"] if ok(base, 8, "N", n))
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, saved)
        return {"bauds": bauds, "bits": bits, "parity": parity, "stop": stop, "extra": extra}

    def _raw(self, fd):
        tty.setraw(fd, termios.TCSANOW)       # not TCSAFLUSH: bytes already waiting are kept
        attrs = termios.tcgetattr(fd)
        attrs[2] |= termios.CREAD | termios.CLOCAL
        attrs[2] &= ~termios.HUPCL
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        if self.pace:
            self.char_time = line_char_time(termios.tcgetattr(fd))

    def close(self):
        if self.fd is None:
            return
        self._stop_timer()
        if self._writing:
            self._loop.remove_writer(self.fd)
            self._writing = False
        if self._rfut is not None:
            self._loop.remove_reader(self.fd)
            self._rfut.cancel()
            self._rfut = None
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        os.close(self.fd)
        self.fd = None


class TtyStream(FdStream):
    """A serial device (a UART adapter, or the slave of a pty such as the one
    `wmmp-emu meter --pty` makes), opened raw."""

    def __init__(self, path, pace=False):
        super().__init__(pace)
        self.path = path

    def open(self):
        self._loop = asyncio.get_running_loop()
        fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not os.isatty(fd):
                raise OSError(errno.ENOTTY, "not a serial device (not a tty)")
            self._raw(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self


class PtyStream(FdStream):
    """The master of a new pseudo-terminal; `path` is the slave another program
    opens, `link` an optional symlink to it (the rules of
    wmmp_tools.emu.argcheck: only a stale link to a pty is replaced; removed at
    close while it is still ours).  The slave stays open here too, so that the
    other program may close and reopen it.  Settings are those of the line
    (master and slave share them)."""

    def __init__(self, link=None, pace=False):
        super().__init__(pace)
        self.link = link
        self.slave = None

    def open(self):
        from wmmp_tools.emu import argcheck as A
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        try:
            self._raw(slave)
            path = os.ttyname(slave)
            if self.link:
                A.make_link(self.link, path)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        os.set_blocking(master, False)
        self.fd, self.slave, self.path = master, slave, path
        return self

    def _line_fd(self):
        return self.slave             # the line's settings live on the slave side

    def close(self):
        super().close()
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None
            if self.link:
                from wmmp_tools.emu import argcheck as A
                A.remove_link(self.link, self.path)
