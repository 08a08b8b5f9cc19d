"""The platform's HTTP file server for upgrades over HTTP (docs/PROTOCOL.md 12): the
URL of a DOWNLOAD_INFO with scheme `http` names a file here.

    GET /upgrade/TTTTTTTT?...              the file of transaction TTTTTTTT
    Range: bytes=N-M | bytes=N- | bytes=-S -> 206 Partial Content + Content-Range
    no Range, or several ranges            -> 200, the whole file
    If-Range: "etag"                       -> the range when it is this file's ETag,
                                              else 200 with the whole file
    a range that starts beyond the file    -> 416 + Content-Range: bytes */size
    HEAD                                   the same headers, no body
    ignore_range = True                    every GET answered 200 with the whole file
                                           (a server that ignores Range, for tests)

Every answer carries ETag, Content-Length and Connection: close (one request per
connection).  HTTP/1.0 and 1.1 requests; other methods -> 405; an unknown file -> 404.

    srv = await HttpFiles(lookup, "127.0.0.1", 0).start()     # srv.port: the real port
    lookup(path, query) -> (data, etag, served(start, end)) or None
"""

import asyncio
import logging
import re

from wmmp_tools.serving import StreamServer

log = logging.getLogger("wmmp.platform.http")

HEAD_MAX = 8192              # request line + headers
CHUNK = 16384                # bytes written between progress reports
_RANGE_RE = re.compile(r"bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
_REASON = {200: "OK", 206: "Partial Content", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 416: "Range Not Satisfiable"}


def parse_range(value, size):
    """(start, end_exclusive) of one `bytes=` range on a file of `size` bytes;
    None when the header is to be ignored (not bytes=, several ranges, malformed);
    "unsatisfiable" when it starts beyond the file."""
    m = _RANGE_RE.fullmatch(value or "")
    if m is None or "," in value:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":                      # suffix: the last S bytes
        n = int(last)
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(first)
    end = size if last == "" else int(last) + 1
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


class HttpFiles(StreamServer):
    """See the module docstring."""

    limit = HEAD_MAX

    def __init__(self, lookup, host="127.0.0.1", port=0, ignore_range=False):
        StreamServer.__init__(self, host, port)
        self.lookup = lookup
        self.ignore_range = ignore_range
        self.requests = 0

    async def serve(self, reader, writer):
        peer = writer.get_extra_info("peername")
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                return
            await self._answer(head, writer, peer)
        except (ConnectionError, OSError) as e:
            log.debug("HTTP %s: %s", peer, e)

    async def _answer(self, head, writer, peer):
        self.requests += 1
        try:
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(version)
        except ValueError:
            await self._send(writer, 400, {})
            return
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            await self._send(writer, 405, {"Allow": "GET, HEAD"})
            return
        path, _, query = target.partition("?")
        found = self.lookup(path, query)
        if found is None:
            log.info("HTTP %s %s %s: 404", peer, method, target)
            await self._send(writer, 404, {})
            return
        data, etag, served = found
        size = len(data)
        start, end, status = 0, size, 200
        want = headers.get("range")
        if want is not None and not self.ignore_range:
            if_range = headers.get("if-range")
            if if_range is None or if_range == etag:
                r = parse_range(want, size)
                if r == "unsatisfiable":
                    await self._send(writer, 416, {"Content-Range": "bytes */%d" % size, "ETag": etag})
                    return
                if r is not None:
                    start, end, status = r[0], r[1], 206
        extra = {"ETag": etag, "Content-Type": "application/octet-stream"}
        if not self.ignore_range:
            extra["Accept-Ranges"] = "bytes"
        if status == 206:
            extra["Content-Range"] = "bytes %d-%d/%d" % (start, end - 1, size)
        log.info("HTTP %s %s %s%s: %d, bytes %d-%d of %d", peer, method, target,
                 " (Range %s)" % want if want else "", status, start, end - 1, size)
        await self._send(writer, status, extra, end - start)
        if method == "HEAD":
            return
        pos = start
        while pos < end:
            n = min(CHUNK, end - pos)
            writer.write(data[pos:pos + n])
            await writer.drain()
            served(pos, pos + n)
            pos += n

    @staticmethod
    async def _send(writer, status, headers, length=0):
        lines = ["HTTP/1.1 %d %s" % (status, _REASON[status])]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        lines += ["Content-Length: %d" % length, "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode("latin-1"))
        await writer.drain()
