"""The SIM7600 driver's ranged HTTP GET (lib/wmmp/modem/sim7600_http.py, the
updater's http:// downloads, docs/PROTOCOL.md 12: Range: bytes=N-M, only a 206
with a matching Content-Range is a range, a 200 means Range was ignored, the
ETag goes back in If-Range) against the SIM7600 emulator's HTTP client
(tools/wmmp_tools/emu/httpat.py, MODEMS "SIM7600 HTTP(S) client") against a
small HTTP server with Range support run here on loopback.

CPython: asyncio.run inside plain tests.
"""

import asyncio
import os

import pytest

from wmmp.errors import BadValue
from wmmp.modem import LinkLost, ModemError, NetworkError
from wmmp.modem.at import AtEngine
from wmmp.modem.sim7600 import Sim7600
from wmmp.modem.sim7600_http import BUF_MAX, header, parse_content_range
from wmmp.terminal import simcard as S

from wmmp_tools.emu.httpat import unescape
from wmmp_tools.emu.sim7600 import Sim7600 as Emu
from wmmp_tools.emu.stream import HostPort

FILE = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(10000))
ETAG = '"v1-abc"'


def run(coro, timeout=30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Files:
    """HTTP/1.1 file server: GET with Range (206 + Content-Range), ETag,
    If-Range (a stale tag: 200 and the whole file), ignore_range (always
    200), status (force a status, e.g. 404), hang (never answer)."""

    def __init__(self, data=FILE, etag=ETAG):
        self.data = data
        self.etag = etag
        self.ignore_range = False
        self.status = None
        self.hang = False
        self.requests = []          # (request line, {header: value})

    async def start(self):
        self.srv = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.srv.sockets[0].getsockname()[1]
        return self

    def url(self, path="/fw.bin"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    async def close(self):
        self.srv.close()
        await self.srv.wait_closed()

    async def _serve(self, r, w):
        try:
            head = await r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        self.requests.append((lines[0], hdrs))
        if self.hang:
            await asyncio.sleep(3600)
        data = self.data
        extra = {"ETag": self.etag} if self.etag else {}
        status, body = 200, data
        rng = hdrs.get("range")
        if self.status is not None:
            status, body = self.status, b"nope"
        elif rng and not self.ignore_range and hdrs.get("if-range", self.etag) == self.etag:
            a, b = rng.split("=", 1)[1].split("-")
            a, b = int(a), min(int(b), len(data) - 1)
            if a >= len(data):
                status, body = 416, b""
                extra["Content-Range"] = "bytes */%d" % len(data)
            else:
                status, body = 206, data[a:b + 1]
                extra["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
        reason = {200: "OK", 206: "Partial Content", 404: "Not Found", 416: "Range Not Satisfiable"}
        out = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n" % (status, reason.get(status, "X"), len(body))
        out += "".join("%s: %s\r\n" % kv for kv in extra.items()) + "Connection: close\r\n\r\n"
        w.write(out.encode() + body)
        await w.drain()
        w.close()


class Rig:
    async def start(self, files=True, **emu_opts):
        self.files = await Files().start() if files else None
        sim = S.SimulatedSim("460001234567890", "89860012345678901234", "860000000000001",
                             pin_enabled=False)
        self.emu = Emu(sim, **emu_opts)
        self.port = HostPort(self.emu)
        self.at = AtEngine(self.port, log=lambda *a: None)
        self.at.start()
        await self.emu.start()
        self.m = Sim7600(self.at, log=lambda *a: None)
        await self.m.power_on()
        return self

    def written(self):
        return bytes(self.port.written).decode("latin-1")

    async def close(self):
        self.at.stop()
        await self.emu.close()
        if self.files is not None:
            await self.files.close()


async def rig(**kw):
    return await Rig().start(**kw)


# -- 206: the range asked ------------------------------------------------------------

def test_range_206_with_content_range_and_etag():
    """PROTOCOL.md 12 HTTP download: GET with Range: bytes=N-M -> 206, Content-Range
    matching, the ETag reported; MODEMS SIM7600 HTTP(S) client sequence."""
    async def main():
        r = await rig()
        try:
            st, cr, tag, data = await r.m.http_get(r.files.url(), 4096, 8191)
            assert st == 206
            assert cr == "bytes 4096-8191/10000"
            assert parse_content_range(cr) == (4096, 8191, 10000)
            assert tag == ETAG
            assert bytes(data) == FILE[4096:8192]
            line, hdrs = r.files.requests[-1]
            assert line == "GET /fw.bin HTTP/1.1"
            assert hdrs["range"] == "bytes=4096-8191" and "if-range" not in hdrs
            w = r.written()
            for cmd in ('AT+HTTPINIT\r', 'AT+HTTPPARA="URL","%s"\r' % r.files.url(),
                        'AT+HTTPPARA="USERDATA","Range: bytes=4096-8191"\r', "AT+HTTPACTION=0\r",
                        "AT+HTTPHEAD\r", "AT+HTTPREAD=0,1024\r", "AT+HTTPREAD=3072,1024\r",
                        "AT+HTTPTERM\r"):
                assert cmd in w, cmd
            assert w.index("AT+HTTPACTION=0") < w.index("AT+HTTPHEAD") < w.index("AT+HTTPREAD=0,")
            assert r.emu.http is None            # AT+HTTPTERM ran
        finally:
            await r.close()
    run(main())


def test_last_range_is_short_and_buffer_is_reused():
    """PROTOCOL.md 12: the last range ends at the file's end (206, fewer bytes);
    the data is a view of one preallocated buffer of BUF_MAX bytes."""
    async def main():
        r = await rig()
        try:
            st, cr, tag, d1 = await r.m.http_get(r.files.url(), 8192, 8192 + BUF_MAX - 1)
            assert st == 206 and cr == "bytes 8192-9999/10000" and bytes(d1) == FILE[8192:]
            buf = r.m._http.buf
            assert len(buf) == BUF_MAX
            st, cr, tag, d2 = await r.m.http_get(r.files.url(), 0, 99)
            assert bytes(d2) == FILE[:100] and r.m._http.buf is buf
            assert isinstance(d2, memoryview)
        finally:
            await r.close()
    run(main())


def test_module_variants_ok_last_and_split_pieces():
    """MODEMS SIM7600 HTTP(S) client (unconfirmed rows): the OK after the data,
    and a read answered in several DATA pieces, read the same."""
    async def main():
        r = await rig(http_read_ok_last=True, http_read_split=300)
        try:
            st, cr, tag, data = await r.m.http_get(r.files.url(), 100, 3099)
            assert st == 206 and bytes(data) == FILE[100:3100]
        finally:
            await r.close()
    run(main())


# -- 200: Range ignored ------------------------------------------------------------

def test_server_ignoring_range_gives_200_and_the_bytes_asked_of_the_body():
    """PROTOCOL.md 12: a 200 means the server ignored Range: no Content-Range; the
    module holds the whole body and the driver reads the bytes asked of it
    (AT+HTTPREAD from that offset), never more than the range asked; the caller
    (wmmp.board.otarun.fetch) restarts the download from 0 on the 200."""
    async def main():
        r = await rig()
        r.files.ignore_range = True
        try:
            st, cr, tag, data = await r.m.http_get(r.files.url(), 4096, 5119)
            assert st == 200 and cr is None and tag == ETAG
            assert bytes(data) == FILE[4096:5120]
        finally:
            await r.close()
    run(main())


# -- If-Range / ETag ----------------------------------------------------------------

def test_if_range_with_the_etag_gives_206_and_a_stale_one_200():
    """PROTOCOL.md 12: an ETag, when given, is sent back in If-Range: the same tag
    -> 206; the file changed (another tag) -> 200 (the whole file in the module;
    the bytes asked are read out of it)."""
    async def main():
        r = await rig()
        try:
            st, cr, tag, data = await r.m.http_get(r.files.url(), 1000, 1999, etag=ETAG)
            assert st == 206 and bytes(data) == FILE[1000:2000]
            assert r.files.requests[-1][1]["if-range"] == ETAG
            assert r.files.requests[-1][1]["range"] == "bytes=1000-1999"
            assert '\\r\\nIf-Range: \\22v1-abc\\22"' in r.written()     # V.250 \hh escapes
            r.files.etag = '"v2-def"'
            st, cr, tag, data = await r.m.http_get(r.files.url(), 1000, 1999, etag=ETAG)
            assert st == 200 and tag == '"v2-def"' and cr is None
            assert bytes(data) == FILE[1000:2000]
        finally:
            await r.close()
    run(main())


# -- errors --------------------------------------------------------------------------

def test_http_error_status_returns_no_data():
    """PROTOCOL.md 12: a 4xx is reported as such (the caller fails or retries),
    no body read; 416 for a range past the end."""
    async def main():
        r = await rig()
        try:
            r.files.status = 404
            st, cr, tag, data = await r.m.http_get(r.files.url("/missing"), 0, 99)
            assert st == 404 and len(data) == 0 and "AT+HTTPHEAD" not in r.written()
            r.files.status = None
            st, cr, tag, data = await r.m.http_get(r.files.url(), 20000, 20099)
            assert st == 416 and len(data) == 0
        finally:
            await r.close()
    run(main())


def test_connect_refused_raises_network_error_714():
    """MODEMS SIM7600 HTTP(S) client: 7xx = module-side errors (manual: 714
    connect failed) -> NetworkError with that code; the service is stopped."""
    async def main():
        r = await rig()
        port = r.files.port
        await r.files.close()
        r.files = None
        try:
            with pytest.raises(NetworkError) as e:
                await r.m.http_get("http://127.0.0.1:%d/fw.bin" % port, 0, 99)
            assert e.value.code == 714
            assert r.emu.http is None
        finally:
            await r.close()
    run(main())


def test_server_silence_times_out_with_705():
    """MODEMS SIM7600 HTTP(S) client: a server that never answers -> the module's
    receive timeout (manual: 705) -> NetworkError(705)."""
    async def main():
        r = await rig()
        r.files.hang = True
        r.emu.o.http_max_body = 1 << 20
        try:
            from wmmp_tools.emu import httpat
            orig = httpat._Service.__init__

            def short(self):
                orig(self)
                self.recv_to = 0.3
            httpat._Service.__init__ = short
            try:
                with pytest.raises(NetworkError) as e:
                    await r.m.http_get(r.files.url(), 0, 99)
            finally:
                httpat._Service.__init__ = orig
            assert e.value.code == 705
        finally:
            await r.close()
    run(main())


def test_httpinit_already_started_is_stopped_and_started_again():
    """MODEMS SIM7600 HTTP(S) client: AT+HTTPINIT is ERROR when already started:
    AT+HTTPTERM first, then it goes."""
    async def main():
        r = await rig()
        try:
            await r.at.command("AT+HTTPINIT")
            st, cr, tag, data = await r.m.http_get(r.files.url(), 0, 9)
            assert st == 206 and bytes(data) == FILE[:10]
            w = r.written()
            assert w.count("AT+HTTPINIT\r") == 3 and w.count("AT+HTTPTERM\r") == 2
        finally:
            await r.close()
    run(main())


def test_reboot_during_the_request_raises_link_lost():
    """A module reboot while +HTTPACTION is awaited: LinkLost (the download is
    resumed later from what was written)."""
    async def main():
        r = await rig()
        r.files.hang = True
        try:
            task = asyncio.ensure_future(r.m.http_get(r.files.url(), 0, 99))
            while "AT+HTTPACTION=0" not in r.written():
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            r.emu.reboot()
            with pytest.raises(LinkLost):
                await task
        finally:
            await r.close()
    run(main())


def test_no_network_refuses_and_bad_arguments():
    """AT+HTTPINIT needs the packet network (manual: it activates the PDP
    context): an outage -> a driver error; a bad range or an ETag with a
    control character -> BadValue before any command."""
    async def main():
        r = await rig()
        try:
            with pytest.raises(BadValue):
                await r.m.http_get(r.files.url(), 10, 5)
            with pytest.raises(BadValue):
                await r.m.http_get(r.files.url(), 0, 5, etag='"a\nb"')
            r.emu.set_outage(True)
            r.m.attach_wait = 0.5
            with pytest.raises((ModemError, NetworkError)):
                await r.m.http_get(r.files.url(), 0, 99)
        finally:
            await r.close()
    run(main())


def test_emulator_http_commands_direct():
    """MODEMS SIM7600 HTTP(S) client rows at the AT level: HTTPPARA before
    HTTPINIT is ERROR; AT+HTTPREAD? gives LEN; HTTPREAD without an offset reads on."""
    async def main():
        r = await rig()
        at = r.at
        try:
            from wmmp.modem.at import AtError
            from wmmp.modem.sim7600_http import _state
            _state(r.m)                     # the driver's +HTTPREAD / +HTTPHEAD parsing
            with pytest.raises(AtError):
                await at.command('AT+HTTPPARA="URL","%s"' % r.files.url())
            await at.command("AT+HTTPINIT")
            await at.command('AT+HTTPPARA="URL","%s"' % r.files.url())
            lines = await at.command("AT+HTTPACTION=0", final="+HTTPACTION:", timeout=5)
            assert lines[-1] == b"+HTTPACTION: 0,200,10000"
            assert (await at.command("AT+HTTPREAD?"))[0] == b"+HTTPREAD: LEN,10000"
            fin = (b"+HTTPREAD: 0",)
            a = await at.command("AT+HTTPREAD=5", final=fin)
            b = await at.command("AT+HTTPREAD=5", final=fin)
            assert bytes(a[1]) == FILE[:5] and bytes(b[1]) == FILE[5:10]
            await at.command("AT+HTTPTERM")
        finally:
            await r.close()
    run(main())


def test_helpers():
    """parse_content_range / header / the emulator's USERDATA unescaping."""
    assert parse_content_range("bytes 0-4095/262144") == (0, 4095, 262144)
    assert parse_content_range("bytes 5-9/*") == (5, 9, None)
    assert parse_content_range("bytes */100") is None
    assert parse_content_range(None) is None
    assert parse_content_range("items 1-2/3") is None
    blk = bytearray(b"HTTP/1.1 206 X\r\nETag: \"t\"\r\ncontent-range: bytes 1-2/3\r\n\r\n")
    assert header(blk, b"etag") == '"t"' and header(blk, b"content-range") == "bytes 1-2/3"
    assert header(blk, b"server") is None
    assert unescape("Range: bytes=1-2\\r\\nIf-Range: \\22x\\22\\5C") == 'Range: bytes=1-2\r\nIf-Range: "x"\\'


def test_bc95_driver_has_no_http_get():
    """MODEMS: the BC95 has no HTTP client; the updater uses the WMMP download."""
    from wmmp.modem.bc95 import Bc95
    assert not hasattr(Bc95, "http_get")
    assert hasattr(Sim7600, "http_get")


def test_module_fits_the_layout():
    """lib/wmmp/README.md: a module's docstring cites its section; <= 630 lines."""
    import ast
    import wmmp.modem.sim7600_http as H
    src = open(H.__file__).read()
    assert "PROTOCOL.md 12" in ast.get_docstring(ast.parse(src))
    assert len(src.splitlines()) <= 630
    assert os.path.getsize(H.__file__) > 0


def test_link_shaping_delays_the_http_exchange():
    """Issue 14 link shaping applies to the module's HTTP client too: one GET
    costs at least two round trips (handshake, request/response)."""
    async def main():
        r = await rig(rtt=0.3)
        try:
            import time
            t0 = time.monotonic()
            st, cr, tag, data = await r.m.http_get(r.files.url(), 0, 1023)
            assert st == 206 and bytes(data) == FILE[:1024]
            assert 0.59 <= time.monotonic() - t0 < 5.0
        finally:
            await r.close()
    run(main())
