"""The platform's HTTP file server for upgrades over HTTP (docs/PROTOCOL.md 12:
"GET with Range: bytes=N-M; only a 206 with a matching Content-Range is used as a
range; a 200 means the server ignored Range; an ETag, when given, is sent back in
If-Range"), on loopback: 206 + Content-Range, 200 without Range, ETag, If-Range
(a mismatch gives the whole file), 416, the switch that ignores Range, HEAD, 404,
405, and the bytes it reports served.  CPython only; no timing assertions."""

import asyncio
import http.client

from wmmp_tools.platform.httpfiles import HttpFiles, parse_range

DATA = bytes((i * 7 + 3) & 0xFF for i in range(50000))
ETAG = '"0123456789abcdef"'


def run(scenario, **kw):
    async def main():
        served = []
        files = {"/upgrade/0000002A": DATA}

        def lookup(path, query):
            if path not in files:
                return None
            return files[path], ETAG, lambda a, b: served.append((a, b))
        srv = await HttpFiles(lookup, "127.0.0.1", 0, **kw).start()
        try:
            await asyncio.wait_for(scenario(srv, served), 20)
        finally:
            await srv.close()
    asyncio.run(main())


async def get(port, path="/upgrade/0000002A?TRANS_ID=0000002A&FILE_SIZE=50000", headers=(), method="GET",
              raw=None):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    if raw is None:
        raw = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (
            method, path, "".join("%s: %s\r\n" % h for h in headers))).encode()
    w.write(raw)
    await w.drain()
    answer = await r.read()            # the server closes after one answer
    w.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def test_parse_range_rules():
    assert parse_range("bytes=0-99", 1000) == (0, 100)
    assert parse_range("bytes=900-", 1000) == (900, 1000)
    assert parse_range("bytes=-100", 1000) == (900, 1000)
    assert parse_range("bytes=-5000", 1000) == (0, 1000)
    assert parse_range("bytes=990-2000", 1000) == (990, 1000)      # clipped to the file
    assert parse_range("bytes=1000-", 1000) == "unsatisfiable"
    assert parse_range("bytes=-0", 1000) == "unsatisfiable"
    for ignored in ("bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=", "bytes=-", "bytes=a-b", ""):
        assert parse_range(ignored, 1000) is None, ignored


def test_range_gives_206_with_content_range_and_etag():
    async def scenario(srv, served):
        status, h, body = await get(srv.port, headers=[("Range", "bytes=1000-1999")])
        assert status == 206 and body == DATA[1000:2000]
        assert h["content-range"] == "bytes 1000-1999/50000" and h["content-length"] == "1000"
        assert h["etag"] == ETAG and h["accept-ranges"] == "bytes"
        # open-ended: to the end of the file (a resume)
        status, h, body = await get(srv.port, headers=[("Range", "bytes=49000-")])
        assert status == 206 and body == DATA[49000:] and h["content-range"] == "bytes 49000-49999/50000"
        # the bytes served are reported, in order
        assert served[0] == (1000, 2000) and served[-1] == (49000, 50000)
    run(scenario)


def test_no_range_gives_200_with_the_whole_file():
    async def scenario(srv, served):
        status, h, body = await get(srv.port)
        assert status == 200 and body == DATA and h["content-length"] == str(len(DATA))
        assert "content-range" not in h and h["etag"] == ETAG
        assert served[0][0] == 0 and served[-1][1] == len(DATA)
        assert sum(b - a for a, b in served) == len(DATA)
    run(scenario)


def test_if_range_matching_etag_keeps_the_range_else_whole_file():
    async def scenario(srv, served):
        status, h, body = await get(srv.port, headers=[("Range", "bytes=10-19"), ("If-Range", ETAG)])
        assert status == 206 and body == DATA[10:20]
        # the file changed since the first part: the whole (new) file, 200
        status, h, body = await get(srv.port, headers=[("Range", "bytes=10-19"), ("If-Range", '"older"')])
        assert status == 200 and body == DATA and "content-range" not in h
    run(scenario)


def test_range_beyond_the_file_is_416():
    async def scenario(srv, served):
        status, h, body = await get(srv.port, headers=[("Range", "bytes=50000-")])
        assert status == 416 and h["content-range"] == "bytes */50000" and body == b""
        assert served == []
    run(scenario)


def test_several_ranges_are_answered_with_the_whole_file():
    async def scenario(srv, served):
        status, h, body = await get(srv.port, headers=[("Range", "bytes=0-9,20-29")])
        assert status == 200 and body == DATA
    run(scenario)


def test_a_server_that_ignores_range():
    # The switch for the case of docs/PROTOCOL.md 12: a 200 with the whole file.
    async def scenario(srv, served):
        status, h, body = await get(srv.port, headers=[("Range", "bytes=1000-1999")])
        assert status == 200 and body == DATA and "content-range" not in h
        assert "accept-ranges" not in h and h["etag"] == ETAG
    run(scenario, ignore_range=True)


def test_head_unknown_path_bad_method_and_garbage():
    async def scenario(srv, served):
        status, h, body = await get(srv.port, method="HEAD", headers=[("Range", "bytes=0-99")])
        assert status == 206 and h["content-length"] == "100" and body == b"" and served == []
        assert (await get(srv.port, "/upgrade/0000002B"))[0] == 404
        status, h, _ = await get(srv.port, method="POST")
        assert status == 405 and "GET" in h["allow"]
        assert (await get(srv.port, raw=b"\x00\x01 nonsense\r\n\r\n"))[0] == 400
        # a client that connects and goes: nothing breaks
        r, w = await asyncio.open_connection("127.0.0.1", srv.port)
        w.close()
        assert (await get(srv.port))[0] == 200
    run(scenario)


def test_an_independent_client_reads_a_range():
    # http.client (the standard library's) as the client, in a thread.
    def fetch(port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/upgrade/0000002A", headers={"Range": "bytes=100-4195"})
        r = c.getresponse()
        out = r.status, r.getheader("Content-Range"), r.read()
        c.close()
        return out

    async def scenario(srv, served):
        status, crange, body = await asyncio.to_thread(fetch, srv.port)
        assert status == 206 and crange == "bytes 100-4195/50000" and body == DATA[100:4196]
    run(scenario)
