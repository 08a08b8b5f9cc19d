"""The SIM7600's HTTP(S) client emulated (MODEMS "SIM7600 HTTP(S) client"; the
updater's http:// downloads, docs/PROTOCOL.md 12): AT+HTTPINIT, AT+HTTPPARA,
AT+HTTPACTION, AT+HTTPHEAD, AT+HTTPREAD, AT+HTTPTERM, answered by making a
real HTTP/1.1 request over the host's network (loopback in the tests: the
platform simulator's file server, wmmp_tools.platform.httpfiles, or a test's
own server).  Mixed into wmmp_tools.emu.sim7600.Sim7600 (HttpAt); the
module's link shaping (netsock.LinkShaper) delays the exchange.

    AT+HTTPINIT                     OK (ERROR when already started or not attached)
    AT+HTTPPARA="URL","http://h:p/path?q"            OK
    AT+HTTPPARA="USERDATA","Range: bytes=0-4095\\r\\nIf-Range: \\22abc\\22"
                                    OK: extra request headers; the two-character
                                    escapes \\r\\n separate them (a CR would end the
                                    command line) and \\hh is a character by its hex
                                    code (V.250 5.4.2.2 string constants: a quote is \\22)
    AT+HTTPPARA="CONNECTTO"|"RECVTO",<s>    OK
    AT+HTTPACTION=0                 OK, then +HTTPACTION: 0,<status>,<datalen>
    AT+HTTPHEAD                     +HTTPHEAD: <len>, <len> raw header bytes, OK
    AT+HTTPREAD=[<offset>,]<size>   OK, +HTTPREAD: DATA,<n>, n raw bytes, ...,
                                    +HTTPREAD: 0   (AT+HTTPREAD? -> +HTTPREAD: LEN,<len>)
    AT+HTTPTERM                     OK

What MODEMS gives is used as written; where it is silent this follows
SIMCom's SIM7500/SIM7600 AT manual (HTTP(S) chapter) as recalled, marked
"manual": the <statuscode> of +HTTPACTION is the server's HTTP status or a
module error 7xx (701 alert state, 702 unknown error, 703 busy, 704
connection closed, 705 timeout, 706 receive/send failed, 707 memory, 708
invalid parameter, 709 network error, 711 wrong state, 712 socket create
failed, 713 DNS failed, 714 connect failed, 715 handshake failed, 717 no
network); AT+HTTPACTION=1 (POST) and 3/4 are not emulated (ERROR), 2 (HEAD) is.
Variants (Options): http_read_ok_last (the OK after the data instead of
before it), http_read_split (a read answered in DATA pieces of at most this
many bytes), http_max_body (bytes the module keeps; more: 707).
"""

import asyncio
import socket
from urllib.parse import urlsplit

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.modem import Final

# module errors in +HTTPACTION's <statuscode> (manual)
E_UNKNOWN = 702
E_BUSY = 703
E_TIMEOUT = 705
E_SOCKET = 706
E_MEMORY = 707
E_NETWORK = 709
E_DNS = 713
E_CONNECT = 714
E_HANDSHAKE = 715
E_NO_NETWORK = 717

HEAD_MAX = 16 * 1024          # response header bytes kept (more: 702)


def unescape(text):
    """USERDATA text -> the header block: "\\r\\n" (two two-character escapes)
    is a line break, "\\hh" the character with hex code hh."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            if text[i + 1] in "rn":
                out.append("\r" if text[i + 1] == "r" else "\n")
                i += 2
                continue
            h = text[i + 1:i + 3]
            if len(h) == 2 and all(x in "0123456789abcdefABCDEF" for x in h):
                out.append(chr(int(h, 16)))
                i += 3
                continue
        out.append(c)
        i += 1
    return "".join(out)


class _Service:
    """One HTTP service instance (between AT+HTTPINIT and AT+HTTPTERM)."""

    def __init__(self):
        self.url = None
        self.userdata = ""
        self.connect_to = 120.0       # manual: CONNECTTO default 120 s
        self.recv_to = 20.0           # manual: RECVTO default 20 s
        self.task = None
        self.status = None            # of the last action
        self.head = b""
        self.body = b""
        self.cursor = 0               # AT+HTTPREAD=<size> without an offset


class HttpError(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


async def http_request(host, port, method, path, extra, connect_to, recv_to, max_body):
    """One HTTP/1.1 exchange -> (status, raw header bytes, body, request size).
    Raises HttpError(<module error>)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_to)
    except asyncio.TimeoutError:
        raise HttpError(E_TIMEOUT)
    except socket.gaierror:
        raise HttpError(E_DNS)
    except OSError:
        raise HttpError(E_CONNECT)
    try:
        lines = ["%s %s HTTP/1.1" % (method, path or "/"), "Host: %s:%d" % (host, port),
                 "User-Agent: SIMCOM_MODULE", "Accept: */*", "Connection: close"]
        lines += [h for h in extra.split("\r\n") if h]
        req = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        writer.write(req)
        try:
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), recv_to)
        except asyncio.TimeoutError:
            raise HttpError(E_TIMEOUT)
        except asyncio.LimitOverrunError:
            raise HttpError(E_UNKNOWN)
        except (asyncio.IncompleteReadError, OSError):
            raise HttpError(E_SOCKET)
        if len(head) > HEAD_MAX:
            raise HttpError(E_UNKNOWN)
        first = head.split(b"\r\n", 1)[0].split()
        try:
            status = int(first[1])
        except (IndexError, ValueError):
            raise HttpError(E_UNKNOWN)
        length = None
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                try:
                    length = int(v.strip())
                except ValueError:
                    raise HttpError(E_UNKNOWN)
        body = b""
        if method != "HEAD" and status not in (204, 304) and status >= 200:
            try:
                if length is not None:
                    if length > max_body:
                        raise HttpError(E_MEMORY)
                    body = await asyncio.wait_for(reader.readexactly(length), recv_to)
                else:
                    body = await asyncio.wait_for(reader.read(max_body + 1), recv_to)
                    if len(body) > max_body:
                        raise HttpError(E_MEMORY)
            except asyncio.TimeoutError:
                raise HttpError(E_TIMEOUT)
            except (asyncio.IncompleteReadError, OSError):
                raise HttpError(E_SOCKET)
        return status, head, body, len(req)
    finally:
        writer.close()


class HttpAt:
    """The AT+HTTP* commands of the emulated SIM7600 (see the module docstring).
    The module provides o (Options: hosts, address_map, http_*), attached(),
    shaper, _spawn, _line, _write, _int, _only, _route."""

    http = None

    def _http_reset(self):
        if self.http is not None and self.http.task is not None:
            self.http.task.cancel()
        self.http = None

    def _http_need(self):
        if self.http is None:
            raise Final("ERROR")
        return self.http

    async def _x_httpinit(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return
        if self.http is not None or not self.attached():
            raise Final("ERROR")          # MODEMS: ERROR if already started
        self.http = _Service()

    async def _x_httpterm(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._http_need()
            self._http_reset()

    async def _x_httppara(self, mode, a):
        if mode == L.TEST:
            return
        if mode != L.SET or len(a) != 2 or a[0] is None:
            raise Final("ERROR")
        svc = self._http_need()
        name = a[0].upper()
        v = a[1]
        if name == "URL":
            if not isinstance(v, L.Quoted) or not v:
                raise Final("ERROR")
            svc.url = str(v)
        elif name == "USERDATA":
            svc.userdata = unescape(v or "")
        elif name in ("CONNECTTO", "RECVTO"):
            s = float(self._int(v, 1, 120))
            if name == "CONNECTTO":
                svc.connect_to = s
            else:
                svc.recv_to = s
        elif name not in ("CONTENT", "ACCEPT"):
            raise Final("ERROR")

    async def _x_httpaction(self, mode, a):
        if mode == L.TEST:
            self._line("+HTTPACTION: (0-4)")
            return None
        if mode != L.SET or not a:
            raise Final("ERROR")
        method = self._int(a[0], 0, 4)
        svc = self._http_need()
        if method not in (0, 2) or svc.url is None or (svc.task is not None and not svc.task.done()):
            raise Final("ERROR")
        svc.status = None
        return lambda: self._http_start(svc, method)

    def _http_start(self, svc, method):
        svc.task = self._spawn(self._http_run(svc, method))

    async def _http_run(self, svc, method):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        status, head, body, up = await self._http_fetch(svc, "GET" if method == 0 else "HEAD")
        wait = self.shaper.exchange_time(up, len(head) + len(body)) - (loop.time() - t0)
        if wait > 0:
            await asyncio.sleep(wait)
        if self.http is not svc:
            return
        svc.status, svc.head, svc.body, svc.cursor = status, head, body, 0
        self._line("+HTTPACTION: %d,%d,%d" % (method, status, len(body)))

    async def _http_fetch(self, svc, method):
        if not self.attached():
            return E_NO_NETWORK, b"", b"", 0
        u = urlsplit(svc.url)
        if u.scheme.lower() == "https":
            return E_HANDSHAKE, b"", b"", 0           # no TLS in the emulator
        if u.scheme.lower() != "http" or not u.hostname:
            return E_UNKNOWN, b"", b"", 0
        host = u.hostname
        host = self._route(self.o.hosts.get(host, host))
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        try:
            port = u.port or 80
            return await http_request(host, port, method, path, svc.userdata, svc.connect_to,
                                      svc.recv_to, self.o.http_max_body)
        except ValueError:
            return E_UNKNOWN, b"", b"", 0
        except HttpError as e:
            return e.code, b"", b"", 0

    async def _x_httphead(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return
        svc = self._http_need()
        if svc.status is None:
            raise Final("ERROR")
        hdr = b"+HTTPHEAD: %d" % len(svc.head)
        self._write(b"\r\n" + hdr + b"\r\n" + svc.head, hdr)

    async def _x_httpread(self, mode, a):
        if mode == L.TEST:
            return None
        svc = self._http_need()
        if mode == L.READ:
            self._line("+HTTPREAD: LEN,%d" % len(svc.body))
            return None
        if mode != L.SET or not 1 <= len(a) <= 2 or svc.status is None:
            raise Final("ERROR")
        if len(a) == 2:
            off = self._int(a[0], 0)
            size = self._int(a[1], 1)
        else:
            off = svc.cursor
            size = self._int(a[0], 1)
        if off > len(svc.body):
            raise Final("ERROR")
        data = svc.body[off:off + size]
        svc.cursor = off + len(data)
        if self.o.http_read_ok_last:
            self._http_data(data)
            return None
        return lambda: self._http_data(data)

    def _http_data(self, data):
        step = self.o.http_read_split or len(data) or 1
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            hdr = b"+HTTPREAD: DATA,%d" % len(piece)
            self._write(b"\r\n" + hdr + b"\r\n" + piece, hdr)
        self._line("+HTTPREAD: 0")
