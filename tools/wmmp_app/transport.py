"""The two transports of appendix C 1): the long connection and HTTP, on asyncio
streams, stdlib only.  Both carry PDU documents (bytes) and know nothing of keys.

Long connection (appendix C 2.2; docs/APP.md decision 14)
    Each PDU is one frame: a 4-byte unsigned big-endian length -- the length of
    the whole frame, these 4 bytes included, as WMMP-T's own Total_Length and
    CMPP count -- then the PDU document.  A frame over `max_frame` bytes, or a
    length under 4, ends the connection (there is no way to resynchronise).
    LongLink runs one such connection both ways: requests either side sends,
    and answers matched to them by (SID, response name).

HTTP (appendix C 1) item 1; docs/APP.md decisions 12, 15)
    HttpServer: HTTP/1.1 with keep-alive on asyncio streams.  POST <path> carries
    one PDU, in a SOAP 1.1 envelope or bare (the answer comes in the same form);
    GET <path>?wsdl returns the WSDL.  A connection idle for `idle_timeout`
    seconds (the configurable "HTTP session timeout" of appendix C 1), default
    60 s) is closed by the server.  Limits: request line and headers 16 KiB, body
    `max_body` (413), no chunked bodies (411/501); anything malformed gets 400
    and the connection is closed; a handler failure is a 500, never a traceback.
    The handler's answer may carry a fourth item, a callable called once the
    answer has been written.
    HttpClient: POSTs to one http:// URL, keeping connections alive.
"""

import asyncio
import logging
import os
import re

from wmmp_app import messages as M
from wmmp_app import xmlform as X

log = logging.getLogger("wmmp.app.transport")

LENGTH_SIZE = 4
MAX_FRAME = X.MAX_PDU
HTTP_IDLE = 60.0            # s: the HTTP session timeout, configurable (appendix C 1))
HEADER_MAX = 16384
HEADERS_MAX = 100


class TransportError(Exception):
    """A connection that cannot go on (bad frame, closed, timed out)."""


def os_error(e):
    """An OSError as people read it ("Connection refused"), without Python reprs."""
    return os.strerror(e.errno) if getattr(e, "errno", None) else (e.strerror or type(e).__name__)


def peer_ip(writer):
    p = writer.get_extra_info("peername")
    return p[0] if isinstance(p, (tuple, list)) and p else "?"


def peer_text(writer):
    p = writer.get_extra_info("peername")
    if isinstance(p, (tuple, list)) and len(p) >= 2:
        return "[%s]:%d" % (p[0], p[1]) if ":" in str(p[0]) else "%s:%d" % (p[0], p[1])
    return "?"


# -- long connection -------------------------------------------------------------------

def frame(payload):
    """One long-connection frame: u32 BE total length (header included) || PDU."""
    return (len(payload) + LENGTH_SIZE).to_bytes(LENGTH_SIZE, "big") + payload


async def read_frame(reader, max_frame=MAX_FRAME):
    """The next PDU of a long connection; None at a clean end of stream."""
    try:
        head = await reader.readexactly(LENGTH_SIZE)
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise TransportError("connection ended inside a frame length")
        return None
    n = int.from_bytes(head, "big")
    if n < LENGTH_SIZE or n - LENGTH_SIZE > max_frame:
        raise TransportError("frame length %d outside 4..%d" % (n, max_frame + LENGTH_SIZE))
    try:
        return await reader.readexactly(n - LENGTH_SIZE)
    except asyncio.IncompleteReadError:
        raise TransportError("connection ended inside a frame")


def _is_response(name):
    s = M.SPECS.get(name)
    return s is not None and not s.is_request


class LongLink:
    """One long connection.  on_request(data, link) is awaited for each PDU that
    is not an answer; what it returns (bytes or None) is sent back.  request()
    sends a PDU and waits for its answer."""

    def __init__(self, reader, writer, on_request, max_frame=MAX_FRAME, name="link", concurrency=32):
        self.reader, self.writer = reader, writer
        self.on_request = on_request
        self.max_frame = max_frame
        self.name = name
        self.peer = peer_ip(writer)
        self.peer_text = peer_text(writer)
        self.pending = {}
        self.service_id = None       # the application this connection belongs to (gateway side)
        self.misses = 0              # link checks unanswered in a row
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks = set()
        self._lock = asyncio.Lock()
        self._task = None
        self.closed = asyncio.get_running_loop().create_future()

    def start(self):
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    @property
    def is_closed(self):
        return self.closed.done()

    async def _run(self):
        reason = "closed by the peer"
        try:
            while True:
                data = await read_frame(self.reader, self.max_frame)
                if data is None:
                    break
                name, sid = X.peek(data, self.max_frame)
                if name is not None and _is_response(name):
                    fut = self.pending.get((sid, name))
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                    else:
                        log.info("%s %s: answer %s SID %s matches no request, dropped",
                                 self.name, self.peer_text, name, sid)
                    continue
                await self._sem.acquire()
                t = asyncio.get_running_loop().create_task(self._serve(data))
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)
        except TransportError as e:
            reason = str(e)
            log.warning("%s %s: %s; connection closed", self.name, self.peer_text, e)
        except (ConnectionError, OSError) as e:
            reason = "connection error: %s" % os_error(e)
        except asyncio.CancelledError:
            reason = "closed"
        except Exception as e:     # a bug here must end this connection only, without a traceback
            reason = "internal error: %s: %s" % (type(e).__name__, e)
            log.error("%s %s: %s; connection closed", self.name, self.peer_text, reason)
            log.debug("traceback", exc_info=True)
        finally:
            self._finish(reason)

    async def _serve(self, data):
        try:
            out = await self.on_request(data, self)
            if out is not None and not self.is_closed:
                await self.send(out)
        except (ConnectionError, OSError, TransportError):
            pass
        except Exception as e:      # a handler bug must not end the connection or print a traceback
            log.error("%s %s: internal error handling a PDU: %s: %s", self.name, self.peer_text, type(e).__name__, e)
            log.debug("traceback", exc_info=True)
        finally:
            self._sem.release()

    async def send(self, data):
        if self.is_closed:
            raise TransportError("connection closed")
        async with self._lock:
            self.writer.write(frame(data))
            await self.writer.drain()

    async def request(self, data, name, sid, timeout=10.0):
        """Send request PDU `data` (root `name`, SID `sid`) and return the answer's
        bytes; TransportError on timeout or when the connection ends first."""
        keys = [(sid, n) for n in M.response_names(name)]      # the answer's name, or another spelling of it
        if keys[0] in self.pending:
            raise TransportError("a request %s with SID %s is already waiting" % (name, sid))
        fut = asyncio.get_running_loop().create_future()
        for k in keys:
            self.pending[k] = fut
        try:
            await self.send(data)
            done, _ = await asyncio.wait({fut, self.closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if fut in done:
                return fut.result()
            if self.closed in done:
                raise TransportError("connection closed before the answer to %s" % name)
            raise TransportError("no answer to %s within %g s" % (name, timeout))
        finally:
            for k in keys:
                if self.pending.get(k) is fut:
                    del self.pending[k]

    def _finish(self, reason):
        if not self.closed.done():
            self.closed.set_result(reason)      # request() waits on it as well as on its answer
        try:
            self.writer.close()
        except Exception:
            pass

    async def close(self):
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._finish("closed")
        for t in list(self._tasks):
            t.cancel()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)
        except (Exception, asyncio.CancelledError):
            pass


async def open_long(host, port, on_request, max_frame=MAX_FRAME, name="link", timeout=10.0):
    """A started LongLink to host:port."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        raise TransportError("no connection to %s:%d within %g s" % (host, port, timeout))
    except OSError as e:
        raise TransportError("cannot connect to %s:%d: %s" % (host, port, os_error(e)))
    return LongLink(reader, writer, on_request, max_frame, name).start()


async def serve_long_links(on_request, host=None, port=None, max_frame=MAX_FRAME, name="long", on_link=None,
                           sock=None):
    """An asyncio Server accepting long connections on host:port, or on `sock`
    (a socket already bound, as asyncio's start_server(sock=...) takes it);
    on_link(link) is called for each new one (it may close it at once)."""
    async def accept(reader, writer):
        link = LongLink(reader, writer, on_request, max_frame, name).start()
        if on_link is not None:
            on_link(link)
        try:
            await link.closed
        except asyncio.CancelledError:      # the loop is ending: end quietly
            await link.close()
    if sock is not None:
        return await asyncio.start_server(accept, sock=sock)
    return await asyncio.start_server(accept, host, port)


# -- HTTP ----------------------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Payload Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 505: "HTTP Version Not Supported"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")


def _response(status, ctype, body, close):
    head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
        status, _REASONS.get(status, "Status"), ctype, len(body), "Connection: close\r\n" if close else "")
    return head.encode("ascii") + body


class HttpServer:
    """POST `path`: handler(body, peer_ip, headers) -> (status, content type, bytes)
    or (status, content type, bytes, after) -- after() is called once the answer
    is written; GET `path`?wsdl: wsdl(host header) -> bytes."""

    def __init__(self, handler, path="/wmmp/app", wsdl=None, max_body=X.MAX_PDU, idle_timeout=HTTP_IDLE,
                 name="http"):
        self.handler, self.path, self.wsdl = handler, path, wsdl
        self.max_body, self.idle_timeout, self.name = max_body, idle_timeout, name
        self.server = None
        self._conns = {}

    async def start(self, host=None, port=None, sock=None):
        """Listen on host:port, or on `sock`, a socket already bound."""
        if sock is not None:
            self.server = await asyncio.start_server(self._conn, sock=sock, limit=HEADER_MAX)
        else:
            self.server = await asyncio.start_server(self._conn, host, port, limit=HEADER_MAX)
        return self.server

    @property
    def port(self):
        return self.server.sockets[0].getsockname()[1]

    async def close(self):
        if self.server is not None:
            self.server.close()
        for w, t in list(self._conns.items()):
            w.close()
            t.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns.values()), timeout=2.0)

    async def _conn(self, reader, writer):
        self._conns[writer] = asyncio.current_task()
        try:
            while True:
                out, close = await self._one(reader, writer)
                if out is None:
                    break
                after = None
                if isinstance(out, tuple):
                    out, after = out
                writer.write(out)
                await writer.drain()
                if after is not None:
                    after()
                if close:
                    break
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as e:
            log.error("%s %s: internal error: %s: %s", self.name, peer_text(writer), type(e).__name__, e)
            log.debug("traceback", exc_info=True)
        finally:
            self._conns.pop(writer, None)
            writer.close()

    def _bad(self, status, text):
        return _response(status, "text/plain; charset=utf-8", (text + "\n").encode("utf-8"), True), True

    async def _one(self, reader, writer):
        try:
            line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
        except asyncio.TimeoutError:
            log.debug("%s %s: idle for %g s, closed (HTTP session timeout)", self.name, peer_text(writer),
                      self.idle_timeout)
            return None, True
        except (ValueError, asyncio.LimitOverrunError):
            return self._bad(400, "request line too long")
        if not line:
            return None, True
        try:
            headers = await asyncio.wait_for(self._headers(reader), 10.0)
        except asyncio.TimeoutError:
            return None, True
        except (ValueError, asyncio.LimitOverrunError):
            return self._bad(400, "headers too long")
        if headers is None:
            return self._bad(400, "malformed headers")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[2].startswith("HTTP/"):
            return self._bad(400, "malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            return self._bad(505, "HTTP/1.0 and 1.1 only")
        conn = headers.get("connection", "").lower()
        close = "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn)
        path, _, query = target.partition("?")
        if path != self.path:
            return self._bad(404, "no service at %s (try %s)" % (path[:80], self.path))
        if method in ("GET", "HEAD"):
            if query.lower() == "wsdl" and self.wsdl is not None:
                body = self.wsdl(headers.get("host"))
                out = _response(200, "text/xml; charset=utf-8", body, close)
                return (out[:len(out) - len(body)] if method == "HEAD" else out), close
            return self._bad(404, "GET %s?wsdl gives the WSDL; messages are POSTed" % self.path)
        if method != "POST":
            return self._bad(405, "POST a PDU, or GET ?wsdl")
        if "transfer-encoding" in headers:
            return self._bad(501, "chunked bodies are not accepted: send Content-Length")
        cl = headers.get("content-length")
        if cl is None:
            return self._bad(411, "Content-Length is needed")
        if not cl.isdigit() or len(cl) > 12:
            return self._bad(400, "bad Content-Length")
        n = int(cl)
        if n > self.max_body:
            return self._bad(413, "body of %d bytes is over the limit of %d" % (n, self.max_body))
        try:
            body = await asyncio.wait_for(reader.readexactly(n), max(10.0, self.idle_timeout))
        except asyncio.TimeoutError:
            return None, True
        after = None
        try:
            answer = await self.handler(body, peer_ip(writer), headers)
            status, ctype, out = answer[:3]
            after = answer[3] if len(answer) > 3 else None
        except Exception as e:
            log.error("%s %s: internal error: %s: %s", self.name, peer_text(writer), type(e).__name__, e)
            log.debug("traceback", exc_info=True)
            status, ctype, out = 500, "text/plain; charset=utf-8", b"internal error\n"
        data = _response(status, ctype, out, close or status >= 400)
        return (data, after) if after is not None else data, close or status >= 400

    @staticmethod
    async def _headers(reader):
        headers = {}
        size = lines = 0
        while True:
            line = await reader.readline()
            size += len(line)
            lines += 1
            if size > HEADER_MAX or lines > HEADERS_MAX:
                return None
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                return None
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not _TOKEN.match(name):
                return None
            k = name.lower()
            v = value.strip()
            if k in headers and k in ("content-length", "host"):
                return None
            headers[k] = v if k not in headers else headers[k] + ", " + v


def parse_url(url):
    """(host, port, path) of an http:// URL; ValueError otherwise."""
    m = re.fullmatch(r"http://(\[[0-9A-Fa-f:.]+\]|[^/:\[\]@\s]+)(?::(\d{1,5}))?(/[^\s#]*)?", url or "")
    if not m:
        raise ValueError("%r is not an http://host[:port]/path URL" % (url,))
    host = m.group(1).strip("[]")
    port = int(m.group(2) or 80)
    if not 0 < port < 65536:
        raise ValueError("port out of range in %r" % (url,))
    return host, port, m.group(3) or "/"


class HttpClient:
    """POSTs to one URL over kept-alive connections (at most `pool` idle)."""

    def __init__(self, url, timeout=10.0, max_body=X.MAX_PDU, pool=4):
        self.url = url
        self.host, self.port, self.path = parse_url(url)
        self.timeout, self.max_body, self.pool = timeout, max_body, pool
        self._idle = []

    async def post(self, body, headers=None, timeout=None):
        """(status, headers dict, body bytes) of POSTing `body`, waiting at most
        `timeout` s (default: the client's); TransportError."""
        timeout = self.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(self._post(body, headers or {}), timeout)
        except asyncio.TimeoutError:
            raise TransportError("no HTTP answer from %s within %g s" % (self.url, timeout))

    async def _post(self, body, headers):
        for attempt in (0, 1):
            reused = bool(self._idle)
            if reused:
                reader, writer = self._idle.pop()
            else:
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port, limit=HEADER_MAX)
                except OSError as e:
                    raise TransportError("cannot connect to %s: %s" % (self.url, os_error(e)))
            try:
                hosthdr = "[%s]:%d" % (self.host, self.port) if ":" in self.host else "%s:%d" % (self.host, self.port)
                head = "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (self.path, hosthdr, len(body))
                for k, v in headers.items():
                    head += "%s: %s\r\n" % (k, v)
                writer.write(head.encode("latin-1") + b"\r\n" + body)
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before the status line")
            except asyncio.CancelledError:
                writer.close()
                raise
            except (ConnectionError, OSError) as e:
                writer.close()
                if reused and attempt == 0:
                    continue          # the server closed an idle connection: the request was not read
                raise TransportError("HTTP to %s failed: %s" % (self.url, e))
            try:
                return await self._answer(reader, writer, status_line)
            except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
                writer.close()
                raise TransportError("bad HTTP answer from %s: %s" % (self.url, e))
            except asyncio.CancelledError:      # post()'s time is up: the answer may still come, on no one's watch
                writer.close()
                raise
        raise TransportError("HTTP to %s failed" % self.url)

    async def _answer(self, reader, writer, status_line):
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError("malformed status line")
        status = int(parts[1])
        hdrs = await HttpServer._headers(reader)
        if hdrs is None:
            raise ValueError("malformed headers")
        cl = hdrs.get("content-length")
        if cl is not None:
            if not cl.isdigit() or int(cl) > self.max_body:
                raise ValueError("Content-Length %r refused" % cl[:20])
            data = await reader.readexactly(int(cl))
        else:
            data = await reader.read(self.max_body + 1)
            if len(data) > self.max_body:
                raise ValueError("answer over %d bytes" % self.max_body)
            hdrs["connection"] = "close"
        if "close" in hdrs.get("connection", "").lower() or len(self._idle) >= self.pool:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status, hdrs, data

    async def close(self):
        while self._idle:
            _, w = self._idle.pop()
            w.close()
