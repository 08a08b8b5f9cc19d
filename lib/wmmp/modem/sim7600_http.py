"""One ranged HTTP GET through the SIM7600's own HTTP(S) client, for the
updater's http:// downloads (docs/PROTOCOL.md 12: GET with Range: bytes=N-M,
only a 206 with a matching Content-Range is a range, a 200 means the server
ignored Range, an ETag goes back in If-Range).  Portable: MicroPython and
CPython asyncio.  The driver's method: Sim7600.http_get(url, start, end, etag).

    status, content_range, etag, data = await drv.http_get(url, 0, 4095)
    first, last, total = parse_content_range(content_range)   # or None

The AT sequence (MODEMS "SIM7600 HTTP(S) client"; where it is silent,
SIMCom's SIM7500/SIM7600 AT manual, HTTP(S) chapter, as recalled: "manual"):

    AT+HTTPINIT                          OK (ERROR when started: AT+HTTPTERM, again)
    AT+HTTPPARA="URL","<url>"            OK
    AT+HTTPPARA="USERDATA","Range: bytes=N-M[\\r\\nIf-Range: <etag>]"   OK
    AT+HTTPACTION=0                      OK, later +HTTPACTION: 0,<status>,<datalen>
    AT+HTTPHEAD                          +HTTPHEAD: <len>, <len> raw bytes, OK (2xx only)
    AT+HTTPREAD=<offset>,<size> ...      OK, +HTTPREAD: DATA,<n>, n bytes, ..., +HTTPREAD: 0
    AT+HTTPTERM                          OK (always, errors ignored)

Choices where MODEMS is silent: the headers of USERDATA are separated by
the two-character escapes \\r\\n (a CR inside the command line would end it;
manual) and a double quote inside the value (an ETag's) is sent as \\22 (V.250
5.4.2.2: \\hh in a string constant), a backslash as \\5C; the data service is
opened first (net_open(): attach, APN; the HTTP service runs on that PDP
context); the AT channel is free while the request runs (the +HTTPACTION
URC is awaited outside the command, so UDP/SMS traffic goes on).

Memory: the body is read in pieces of at most READ_CHUNK bytes (the AT
parser's max_payload and max_reply bound one reply) into one buffer of
BUF_MAX bytes made once per driver; `data` is a memoryview of it, valid until
the next http_get (copy it to keep it).  The caller asks ranges of at most
BUF_MAX bytes; a longer one is cut to BUF_MAX.  With a 200 (Range ignored)
bytes start..end of the whole body are returned (the module holds the body;
AT+HTTPREAD reads it from any offset): the caller knows from the 200 that the
download restarts from 0 (wmmp.board.otarun.fetch).  Other statuses (3xx, 4xx,
5xx) return no data.

Errors: NetworkError for the module's own errors (+HTTPACTION status 6xx/7xx,
code = that number; manual: 705 timeout, 706 socket, 713 DNS, 714 connect,
717 no network ...) and for no +HTTPACTION within ACTION_TIMEOUT; LinkLost when
the module reboots meanwhile; ModemError when a command is refused or a
reply is malformed; BadValue for a URL or ETag the command line cannot carry.
"""

import asyncio
from micropython import const

from wmmp.errors import BadValue
from wmmp.modem.at import AtException, AtReboot, AtTimeout
from wmmp.modem import ModemError, NetworkError, LinkLost, after as _after, ints as _ints
from wmmp.modem.atparse import URC, URC_DATA

BUF_MAX = const(4096)          # bytes one http_get returns at most
READ_CHUNK = const(1024)       # bytes one AT+HTTPREAD asks
ACTION_TIMEOUT = 150           # s for +HTTPACTION (manual: CONNECTTO 120 s default, + margin)
CMD_TIMEOUT = 10               # s for the other commands (manual: up to 120 s for INIT/TERM)


def _read_len(line, prefix):
    """'+HTTPREAD: DATA,<n>' is followed by n raw bytes; '+HTTPREAD: 0',
    '+HTTPREAD: LEN,<n>' and error codes by none."""
    f = line[len(prefix):].strip()
    if f[:5] == b"DATA,":
        return int(f[5:])
    return None


def _head_len(line, prefix):
    return int(line[len(prefix):].strip())


def parse_content_range(text):
    """'bytes 0-4095/262144' -> (0, 4095, 262144); total None for '*'; None
    when `text` is None or not a byte range."""
    if not text:
        return None
    t = text.strip()
    if t[:6].lower() != "bytes ":
        return None
    f = t[6:].split("/")
    r = f[0].split("-")
    if len(f) != 2 or len(r) != 2:
        return None
    try:
        a = int(r[0])
        b = int(r[1])
        n = None if f[1].strip() == "*" else int(f[1])
    except ValueError:
        return None
    if b < a:
        return None
    return a, b, n


def header(block, name):
    """The value of header `name` (bytes, lower case, without the colon) in a
    raw header block, as str, or None."""
    for ln in block.split(b"\r\n"):
        k = ln.find(b":")
        if k > 0 and bytes(ln[:k]).strip().lower() == name:
            return bytes(ln[k + 1:]).strip().decode()
    return None


def _quote(text):
    """Text for inside a quoted AT string: '"' -> \\22, '\\' -> \\5C (V.250 5.4.2.2)."""
    for c in text:
        if ord(c) < 32 or ord(c) > 126:
            raise BadValue("a character the AT command line cannot carry")
    return text.replace("\\", "\\5C").replace('"', "\\22")


class _Http:
    """Per-driver state: the URC handlers, the +HTTPACTION result, the buffer."""

    def __init__(self, drv):
        at = drv.at
        at.on("+HTTPACTION:", self._on_action)
        at.on("+HTTPREAD:", self._ignore, URC_DATA, _read_len)
        at.on("+HTTPHEAD:", self._ignore, URC_DATA, _head_len)
        at.on("+HTTP_PEER_CLOSED", self._ignore, URC)     # manual: the server closed
        at.on("+HTTP_NONET_EVENT", self._on_nonet, URC)   # manual: the network is gone
        self.ev = asyncio.Event()
        self.result = None
        self.buf = bytearray(BUF_MAX)

    def _ignore(self, line, extra):
        pass

    def _on_action(self, line, extra):
        self.result = _ints(_after(line, b"+HTTPACTION:"))
        self.ev.set()

    def _on_nonet(self, line, extra):
        self.result = [0, 717, 0]          # manual: 717 no network
        self.ev.set()


def _state(drv):
    st = getattr(drv, "_http", None)
    if st is None:
        st = _Http(drv)
        drv._http = st
    return st


async def _cmd(drv, cmd, timeout=CMD_TIMEOUT):
    try:
        return await drv.at.command(cmd, timeout=timeout)
    except AtReboot:
        raise LinkLost("module rebooted during the HTTP request")
    except AtException as e:
        raise ModemError("%s refused (%s)" % (cmd.split("=")[0], type(e).__name__))


async def _action(drv, st):
    """AT+HTTPACTION=0, then the +HTTPACTION URC -> (status, datalen)."""
    st.result = None
    st.ev.clear()
    gen = drv.gen
    lines = await _cmd(drv, "AT+HTTPACTION=0")
    for ln in lines:                              # the URC can beat the OK
        if isinstance(ln, (bytes, bytearray)) and ln.startswith(b"+HTTPACTION:"):
            st._on_action(ln, None)
    waited = 0
    while st.result is None:
        if drv.gen != gen:
            raise LinkLost("module rebooted during the HTTP request")
        if waited >= ACTION_TIMEOUT:
            raise NetworkError("no +HTTPACTION in %d s" % ACTION_TIMEOUT, 705)
        try:
            await asyncio.wait_for(st.ev.wait(), 1)
        except asyncio.TimeoutError:
            waited += 1
    v = st.result
    if len(v) < 3 or v[1] is None:
        raise ModemError("bad +HTTPACTION reply")
    return v[1], v[2] or 0


async def _read(drv, st, want, base=0):
    """AT+HTTPREAD from offset `base` of the body into st.buf -> bytes read (<= want)."""
    buf = st.buf
    chunk = min(READ_CHUNK, getattr(drv.at.p, "max_payload", READ_CHUNK))
    got = 0
    while got < want:
        n = min(chunk, want - got)
        try:
            lines = await drv.at.command("AT+HTTPREAD=%d,%d" % (base + got, n), timeout=CMD_TIMEOUT,
                                         final=(b"+HTTPREAD: 0", b"+HTTPREAD:0", b"+HTTPREAD: 7",
                                                b"+HTTPREAD:7"))
        except AtReboot:
            raise LinkLost("module rebooted during the HTTP read")
        except AtException as e:
            raise ModemError("AT+HTTPREAD refused (%s)" % type(e).__name__)
        took = 0
        for ln in lines:
            if isinstance(ln, bytearray):          # a DATA piece (parser payload)
                k = min(len(ln), want - got - took)
                buf[got + took:got + took + k] = ln[:k]
                took += k
            elif ln.startswith(b"+HTTPREAD:"):
                v = _ints(_after(ln, b"+HTTPREAD:"))
                if v and v[0] is not None and v[0] >= 700:
                    raise NetworkError("+HTTPREAD: %d" % v[0], v[0])
        if took == 0:
            break                                 # nothing more to read
        got += took
    return got


async def http_get(drv, url, start, end, etag=None):
    """GET `url` bytes start..end (inclusive) with Range (and If-Range when
    `etag`) -> (status, content_range, etag, data); see the module docstring."""
    if start < 0 or end < start:
        raise BadValue("bad range %d-%d" % (start, end))
    ud = "Range: bytes=%d-%d" % (start, end)
    if etag:
        ud += "\\r\\nIf-Range: " + _quote(etag)
    url = _quote(url)
    st = _state(drv)
    await drv.net_open()
    try:
        await _cmd(drv, "AT+HTTPINIT")
    except ModemError:                            # MODEMS: ERROR if started: AT+HTTPTERM first
        try:
            await drv.at.command("AT+HTTPTERM", timeout=CMD_TIMEOUT)
        except AtException:
            pass
        await _cmd(drv, "AT+HTTPINIT")
    try:
        await _cmd(drv, 'AT+HTTPPARA="URL","%s"' % url)
        await _cmd(drv, 'AT+HTTPPARA="USERDATA","%s"' % ud)
        status, datalen = await _action(drv, st)
        if status >= 600:
            raise NetworkError("HTTP GET failed in the module (%d)" % status, status)
        crange = tag = None
        n = 0
        if 200 <= status < 300:
            lines = await _cmd(drv, "AT+HTTPHEAD")
            for ln in lines:
                if isinstance(ln, bytearray):
                    crange = header(ln, b"content-range")
                    tag = header(ln, b"etag")
            # a 206 holds the range; a 200 (Range ignored) the whole body, of which
            # the bytes asked for are read (the module keeps the body)
            base = start if status == 200 else 0
            want = min(datalen - base, end - start + 1, BUF_MAX)
            if want > 0:
                n = await _read(drv, st, want, base)
        return status, crange, tag, memoryview(st.buf)[:n]
    except AtTimeout:
        raise NetworkError("HTTP request timed out", 705)
    finally:
        try:
            await drv.at.command("AT+HTTPTERM", timeout=CMD_TIMEOUT)
        except AtException:
            pass
