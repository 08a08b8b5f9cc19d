"""AT engine (wmmp.modem.at) over an in-memory scripted modem stream (CPython asyncio;
plain tests calling asyncio.run).  Sections: "MODEMS SIM7600 <area>" /
"MODEMS BC95 <area>" are rows of shared/spec/MODEMS.md; "issue 5 AT engine" is
the engine section of issue 5."""
import asyncio

import pytest

from wmmp.modem import atparse
from wmmp.modem.at import (AtEngine, AtException, AtTimeout, AtError, CmeError, CmsError, AtReboot,
                     AtOverflow)
from wmmp.errors import WmmpError


class ScriptedModem:
    """In-memory stream playing a modem: each command line (ended by CR) is
    looked up in `script` ({command: reply steps}; a list of replies is used one
    per call); steps are bytes (sent to the engine), a float (pause, s) or
    ("data", n) (take n raw bytes, n None: up to Ctrl-Z, before going on).
    push() injects bytes at any moment (URCs, reboots)."""

    def __init__(self, script, echo=False, chunk=None):
        self.script = dict(script)
        self.echo = echo
        self.chunk = chunk          # largest read answer (None: read(n) decides)
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.written = bytearray()
        self.commands = []
        self.data = []
        self.log = []               # ("cmd", text) / ("push", bytes) in time order
        self._inbuf = bytearray()
        self._want = None           # ("data", n) in progress: future completed with the bytes
        self._tasks = []

    def push(self, data):
        self.log.append(("push", bytes(data)))
        self.rx += data
        self.ev.set()

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        if self.chunk:
            n = min(n, self.chunk)
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out

    async def write(self, data):
        self.written += data
        self._inbuf += data
        while self._inbuf:
            if self._want is not None:
                n, fut = self._want
                if n is None:
                    k = self._inbuf.find(b"\x1a")
                    if k < 0:
                        return
                    taken = bytes(self._inbuf[:k + 1])
                else:
                    if len(self._inbuf) < n:
                        return
                    taken = bytes(self._inbuf[:n])
                del self._inbuf[:len(taken)]
                self._want = None
                fut.set_result(taken)
                continue
            k = self._inbuf.find(b"\r")
            if k < 0:
                return
            line = bytes(self._inbuf[:k]).decode().lstrip("\x1b")   # ESC ends data input
            del self._inbuf[:k + 1]
            self.commands.append(line)
            self.log.append(("cmd", line))
            if self.echo:
                self.push(line.encode() + b"\r")
            steps = self.script.get(line)
            if isinstance(steps, list) and steps and isinstance(steps[0], tuple) and steps[0][0] == "call":
                steps = steps.pop(0)[1]
            if steps is None:
                continue            # a silent modem
            self._tasks.append(asyncio.get_running_loop().create_task(self._play(steps)))

    async def _play(self, steps):
        for st in steps:
            if isinstance(st, float):
                await asyncio.sleep(st)
            elif isinstance(st, tuple) and st[0] == "data":
                fut = asyncio.get_running_loop().create_future()
                self._want = (st[1], fut)
                self.data.append(await fut)
            else:
                self.push(st)


def ok(*lines):
    """A SIM7600/BC95-spaced reply: each line framed by CRLF, then OK."""
    return [b"".join(b"\r\n" + l + b"\r\n" for l in lines) + b"\r\nOK\r\n"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


async def until(cond, what, timeout=5.0):
    """Wait until cond() holds; fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.01)


def make(script, echo=False, chunk=None, **kw):
    m = ScriptedModem(script, echo=echo, chunk=chunk)
    kw.setdefault("log", lambda *a: None)
    return m, AtEngine(m, **kw)


# -- commands ------------------------------------------------------------------

def test_command_success_with_echo_and_small_reads():
    """MODEMS SIM7600 signal (+CSQ: 23,0) with echo on, the UART delivering 3 bytes a read."""
    async def main():
        m, at = make({"AT+CSQ": ok(b"+CSQ: 23,0")}, echo=True, chunk=3)
        assert await at.command("AT+CSQ", timeout=2, expect="+CSQ") == [b"+CSQ: 23,0"]
        assert m.commands == ["AT+CSQ"] and m.written == b"AT+CSQ\r"
        at.stop()
    run(main())


def test_bc95_identity_reply():
    """MODEMS BC95 identity: AT+CGSN=1 -> +CGSN:<imei> (no space), OK."""
    async def main():
        m, at = make({"AT+CGSN=1": ok(b"+CGSN:863703030000001")})
        assert await at.command("AT+CGSN=1", expect="+CGSN") == [b"+CGSN:863703030000001"]
        at.stop()
    run(main())


def test_cme_and_cms_errors_carry_codes():
    """MODEMS SIM7600 PIN enter (+CME ERROR: <n>), MODEMS BC95 (+CME ERROR:<n>),
    27.005 +CMS ERROR: <n>, plain ERROR: typed exceptions under AtException."""
    async def main():
        m, at = make({'AT+CPIN="0000"': [b"\r\n+CME ERROR: 16\r\n"],
                      "AT+CGATT=1": [b"\r\n+CME ERROR:4\r\n"],
                      "AT+CMGD=9": [b"\r\n+CMS ERROR: 321\r\n"],
                      "AT+FOO": [b"\r\nERROR\r\n"]})
        with pytest.raises(CmeError) as e:
            await at.command('AT+CPIN="0000"')
        assert e.value.code == 16 and e.value.command == b'AT+CPIN="0000"'
        with pytest.raises(CmeError) as e:
            await at.command("AT+CGATT=1")
        assert e.value.code == 4
        with pytest.raises(CmsError) as e:
            await at.command("AT+CMGD=9")
        assert e.value.code == 321
        with pytest.raises(AtError) as e:
            await at.command("AT+FOO")
        assert e.value.code is None and e.value.line == b"ERROR"
        for cls in (AtTimeout, AtError, CmeError, CmsError, AtReboot, AtOverflow):
            assert issubclass(cls, AtException) and issubclass(cls, WmmpError)
        at.stop()
    run(main())


def test_timeout_then_engine_usable():
    """issue 5 AT engine: per-command timeout raises AtTimeout; the next command works."""
    async def main():
        m, at = make({"AT+CSQ": None, "AT": ok()})
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(AtTimeout):
            await at.command("AT+CSQ", timeout=0.2)
        assert 0.15 < loop.time() - t0 < 1.5
        assert await at.command("AT", timeout=1) == []
        assert at.stats()["timeouts"] == 1
        at.stop()
    run(main())


def test_command_specific_final_after_ok_with_urc_between():
    """MODEMS SIM7600 TCP: AT+CIPOPEN -> OK, later +CIPOPEN: <link>,<err>; a +CMTI
    between them goes to its handler; the command returns the final line."""
    async def main():
        seen = []
        m, at = make({'AT+CIPOPEN=0,"TCP","10.0.0.2",9000':
                      [b"\r\nOK\r\n", 0.05, b'\r\n+CMTI: "SM",4\r\n', 0.05, b"\r\n+CIPOPEN: 0,0\r\n"]})
        at.on("+CMTI:", lambda line, extra: seen.append(line))
        r = await at.command('AT+CIPOPEN=0,"TCP","10.0.0.2",9000', timeout=2, final="+CIPOPEN:")
        assert r == [b"+CIPOPEN: 0,0"]
        assert seen == [b'+CMTI: "SM",4']
        at.stop()
    run(main())


# -- prompt --------------------------------------------------------------------

def test_prompt_and_binary_payload():
    """MODEMS SIM7600 send: AT+CIPSEND=<link>,<len> -> '>', raw bytes (CR/LF
    included), OK, +CIPSEND: <link>,<req>,<sent>."""
    async def main():
        payload = b"a\r\nb\x00"
        m, at = make({"AT+CIPSEND=0,5": [b"\r\n>", ("data", 5), b"\r\nOK\r\n\r\n+CIPSEND: 0,5,5\r\n"]})
        r = await at.command_with_prompt("AT+CIPSEND=0,5", payload, timeout=2, final="+CIPSEND:")
        assert r == [b"+CIPSEND: 0,5,5"]
        assert m.data == [payload]
        assert m.written == b"AT+CIPSEND=0,5\r" + payload
        at.stop()
    run(main())


def test_sms_pdu_prompt_with_ctrl_z_and_echo():
    """MODEMS SIM7600 SMS send: AT+CMGS=<n> -> '> ', PDU hex, Ctrl-Z -> +CMGS: <mr>, OK
    (echo on: the command and the PDU come back and are dropped)."""
    async def main():
        pdu = b"0011000B911386180000F00004AA0301020300"
        m, at = make({"AT+CMGS=18": [b"\r\n> ", ("data", None), pdu + b"\r\n",
                                     b"\r\n+CMGS: 7\r\n", 0.02, b"\r\nOK\r\n"]}, echo=True)
        r = await at.command_with_prompt("AT+CMGS=18", pdu, timeout=2, final="+CMGS:", ctrl_z=True)
        assert r == [b"+CMGS: 7"]
        assert m.data == [pdu + b"\x1a"]
        at.stop()
    run(main())


def test_error_instead_of_prompt_writes_nothing():
    """issue 5 AT engine: ERROR instead of '>' raises and the payload is not sent."""
    async def main():
        m, at = make({"AT+CIPSEND=3,5": [b"\r\n+CIPERROR: 4\r\n"]})
        with pytest.raises(AtError) as e:
            await at.command_with_prompt("AT+CIPSEND=3,5", b"hello")
        assert e.value.code == 4
        assert m.written == b"AT+CIPSEND=3,5\r"
        at.stop()
    run(main())


def test_missing_prompt_times_out_and_sends_esc():
    """issue 5 AT engine: no prompt -> AtTimeout, ESC written to leave input mode."""
    async def main():
        m, at = make({"AT+CMGS=18": None, "AT": ok()})
        with pytest.raises(AtTimeout):
            await at.command_with_prompt("AT+CMGS=18", b"00", prompt_timeout=0.1, ctrl_z=True)
        assert m.written.endswith(b"\x1b")
        assert await at.command("AT") == []
        at.stop()
    run(main())


# -- URCs ----------------------------------------------------------------------

def test_urc_during_command_goes_to_handler_before_reply():
    """MODEMS SIM7600 SMS receive: +CMTI arrives inside the AT+CSQ reply; its
    handler runs at once (before the command returns); the reply is unaffected."""
    async def main():
        order = []
        m, at = make({"AT+CSQ": [b"\r\n+CSQ: 20,0\r\n", 0.05, b'\r\n+CMTI: "SM",2\r\n', 0.05,
                                 b"\r\nOK\r\n"]})
        at.on("+CMTI:", lambda line, extra: order.append(("urc", line)))
        r = await at.command("AT+CSQ", expect="+CSQ")
        order.append(("done", r))
        assert order == [("urc", b'+CMTI: "SM",2'), ("done", [b"+CSQ: 20,0"])]
        at.stop()
    run(main())


def test_ipd_binary_payload_to_handler_mid_reply():
    """MODEMS SIM7600 receive (push mode): RECV FROM then +IPD<len> and <len> raw
    bytes with CR/LF (and an 'OK' line) inside, in the middle of a reply, read 3 bytes at a time."""
    async def main():
        got = []
        payload = b"\r\nOK\r\n\xff"
        m, at = make({"AT+CSQ": [b"\r\n+CSQ: 20,0\r\n\r\nRECV FROM:10.0.0.2:9000\r\n+IPD7\r\n" + payload,
                                 0.05, b"\r\nOK\r\n"]}, chunk=3)
        at.on("RECV FROM:", lambda line, extra: got.append(line))
        at.on("+IPD", lambda line, extra: got.append(bytes(extra)))
        assert await at.command("AT+CSQ") == [b"+CSQ: 20,0"]
        assert got == [b"RECV FROM:10.0.0.2:9000", payload]
        at.stop()
    run(main())


def test_bc95_nsonmi_and_registered_urc():
    """MODEMS BC95 UDP receive (+NSONMI:<s>,<len>) and UDP send URC +NSOSTR
    registered by the driver; +CEREG:<stat> URC vs AT+CEREG? reply."""
    async def main():
        got = []
        m, at = make({"AT+CEREG?": [b"\r\n+CEREG:1\r\n", b"\r\n+CEREG:0,1\r\n\r\nOK\r\n"]})
        at.on("+NSONMI:", lambda line, extra: got.append(line))
        at.on("+NSOSTR:", lambda line, extra: got.append(line))
        m.push(b"\r\n+NSONMI:1,4\r\n\r\n+NSOSTR:1,3,1\r\n")
        r = await at.command("AT+CEREG?", expect="+CEREG:")
        assert r == [b"+CEREG:1", b"+CEREG:0,1"]     # both claimed: the command expects +CEREG:
        assert got == [b"+NSONMI:1,4", b"+NSOSTR:1,3,1"]
        m.push(b"\r\n+CEREG:5\r\n")
        assert await at.urc(timeout=1) == (b"+CEREG:", b"+CEREG:5", None)
        at.stop()
    run(main())


def test_unhandled_urcs_queue_is_bounded():
    """issue 5 AT engine (bounded queues): unhandled URCs wait in a queue of
    max_urcs, the oldest dropped and counted; urc(timeout) raises AtTimeout."""
    async def main():
        m, at = make({}, max_urcs=2)
        at.start()
        m.push(b'\r\n+CMTI: "SM",1\r\n\r\n+CMTI: "SM",2\r\n\r\n+IPCLOSE: 0,1\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY\r\n')
        await asyncio.sleep(0.05)
        assert await at.urc() == (b"+IPCLOSE:", b"+IPCLOSE: 0,1", None)
        assert (await at.urc())[0] == b"+CIPEVENT:"
        assert at.stats()["dropped_urcs"] == 2
        with pytest.raises(AtTimeout):
            await at.urc(timeout=0.05)
        at.stop()
    run(main())


def test_handler_errors_contained_and_async_handler_may_send_commands():
    """issue 5 AT engine: a failing handler does not stop the reader; a coroutine
    handler runs as a task and may issue AT commands (+CMTI -> AT+CMGR, MODEMS
    SIM7600 SMS receive)."""
    async def main():
        read = []
        m, at = make({"AT+CSQ": [b'\r\n+CMTI: "SM",3\r\n\r\n+CSQ: 9,0\r\n\r\nOK\r\n'],
                      "AT+CMGR=3": ok(b"+CMGR: 0,,5", b"0000000000")})
        done = asyncio.Event()

        async def on_cmti(line, extra):
            idx = int(line.split(b",")[1])
            read.append(await at.command("AT+CMGR=%d" % idx, expect="+CMGR:"))
            done.set()

        def broken(line, extra):
            raise ValueError("driver bug")

        stray = []
        at.on("+CMTI:", on_cmti)
        at.on("SMS DONE", broken)
        at.on_stray = stray.append
        at.start()
        m.push(b"\r\nSMS DONE\r\n\r\n+CGEV: ME PDN ACT 1\r\n")
        await asyncio.sleep(0.05)                  # heard while idle
        assert await at.command("AT+CSQ") == [b"+CSQ: 9,0"]
        await asyncio.wait_for(done.wait(), 2)
        assert read == [[b"+CMGR: 0,,5", b"0000000000"]]
        assert at.stats()["handler_errors"] == 1
        assert stray == [b"+CGEV: ME PDN ACT 1"]     # not a registered URC: handed to on_stray
        at.stop()
    run(main())


# -- reboots and recovery ------------------------------------------------------

def test_reboot_mid_command_raises_atreboot_then_usable():
    """MODEMS SIM7600 boot URCs (RDY, +CPIN: READY, SMS DONE, PB DONE) while a
    command waits: AtReboot; reboot handler and URC handlers run; the next
    command works (session state, i.e. handlers and registry, kept)."""
    async def main():
        reboots, cpin = [], []
        m, at = make({"AT+CSQ": [("call", [0.02, b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"]),
                                 ("call", ok(b"+CSQ: 18,0"))]})
        at.on_reboot(lambda line: reboots.append(line))
        at.on("+CPIN:", lambda line, extra: cpin.append(line))
        with pytest.raises(AtReboot) as e:
            await at.command("AT+CSQ", timeout=2, expect="+CSQ")
        assert e.value.line == b"RDY"
        await asyncio.sleep(0.05)
        assert reboots == [b"RDY"] and cpin == [b"+CPIN: READY"]
        assert await at.command("AT+CSQ", timeout=2, expect="+CSQ") == [b"+CSQ: 18,0"]
        assert at.stats()["reboots"] == 1
        at.stop()
    run(main())


BC95_BANNER = (b"\r\nBoot: Unsigned\r\nSecurity B.. Verified\r\nProtocol A.. Verified\r\n"
               b"Apps A...... Verified\r\n\r\nREBOOT_CAUSE_APPLICATION_WATCHDOG\r\nNeul \r\n")


def test_bc95_reboot_banner_ok_not_taken_by_next_command():
    """MODEMS BC95: unexpected reboot mid-command (banner, Neul, OK): AtReboot;
    a command sent right after must get its own OK, not the banner's."""
    async def main():
        m, at = make({"AT+CGATT?": [BC95_BANNER],
                      "AT+CGSN=1": [0.1, b"\r\nOK\r\n", 0.02, b"\r\n+CGSN:863703030000001\r\n\r\nOK\r\n"]})
        with pytest.raises(AtReboot):
            await at.command("AT+CGATT?", expect="+CGATT")
        r = await at.command("AT+CGSN=1", expect="+CGSN")   # the banner OK arrives first
        assert r == [b"+CGSN:863703030000001"]
        at.stop()
    run(main())


def test_bc95_nrb_expected_reboot():
    """MODEMS BC95 reboot: AT+NRB -> REBOOTING, banner, Neul, OK (reboot=True)."""
    async def main():
        seen = []
        m, at = make({"AT+NRB": [b"\r\nREBOOTING\r\n", 0.05, BC95_BANNER + b"OK\r\n"]})
        at.on_reboot(lambda line: seen.append(line))
        r = await at.command("AT+NRB", timeout=2, reboot=True)
        assert b"Boot: Unsigned" in r
        assert seen == [b"Neul"]
        at.stop()
    run(main())


def test_stuck_payload_abandoned_after_silence():
    """issue 5 AT engine (recovery): a +IPD whose bytes stop coming (module
    reset mid-payload) is abandoned after payload_timeout; later lines parse."""
    async def main():
        reboots = []
        m, at = make({}, payload_timeout=0.1)
        at.on_reboot(lambda line: reboots.append(line))
        at.start()
        m.push(b"\r\n+IPD500\r\nabc")
        # abandoned after the 0.1 s of silence given (well before the default 2 s)
        await until(lambda: at.stats()["truncated"] == 1, "abandoned payload", timeout=1.5)
        m.push(b"\r\nRDY\r\n")
        await until(lambda: reboots, "RDY")
        assert reboots == [b"RDY"]
        assert at.stats()["truncated"] == 1
        at.stop()
    run(main())


def test_timeout_mid_payload_aborts_it():
    """issue 5 AT engine (recovery): a command timing out while a counted
    payload swallows input leaves counted mode, so the next reply is read."""
    async def main():
        m, at = make({"AT+CSQ": [b"\r\n+IPD900\r\nxyz"], "AT": ok()}, payload_timeout=0)
        with pytest.raises(AtTimeout):
            await at.command("AT+CSQ", timeout=0.2)
        assert await at.command("AT", timeout=1) == []
        at.stop()
    run(main())


def test_over_long_reply_raises_atoverflow():
    """issue 5 AT engine (bounded): a reply line over max_line -> AtOverflow."""
    async def main():
        m, at = make({"AT+CMGR=1": ok(b"+CMGR: 0,,200", b"0" * 400)},
                     parser=atparse.AtParser(max_line=128))
        with pytest.raises(AtOverflow):
            await at.command("AT+CMGR=1", expect="+CMGR:")
        assert at.stats()["long_lines"] == 1
        at.stop()
    run(main())


# -- concurrency and stream shapes ---------------------------------------------

def test_one_command_at_a_time():
    """issue 5 AT engine: concurrent callers are serialised by the lock: a
    command is written only after the previous one's final result."""
    async def main():
        m, at = make({"AT+CSQ": [0.05] + ok(b"+CSQ: 1,0"), "AT+CREG?": ok(b"+CREG: 0,1")})
        a, b = await asyncio.gather(at.command("AT+CSQ"), at.command("AT+CREG?"))
        assert a == [b"+CSQ: 1,0"] and b == [b"+CREG: 0,1"]
        kinds = [(k, v if k == "cmd" else None) for k, v in m.log]
        assert kinds == [("cmd", "AT+CSQ"), ("push", None), ("cmd", "AT+CREG?"), ("push", None)]
        at.stop()
    run(main())


class ReadintoStream:
    """A stream with write() + drain() and readinto() only (MicroPython UART style)."""

    def __init__(self, reply):
        self.reply = bytearray(reply)
        self.written = bytearray()
        self.ev = asyncio.Event()
        self.drains = 0

    def write(self, data):
        self.written += data
        self.ev.set()

    async def drain(self):
        self.drains += 1

    async def readinto(self, buf):
        await self.ev.wait()
        n = min(len(buf), len(self.reply), 4)
        if not n:
            await asyncio.sleep(3600)
        buf[:n] = self.reply[:n]
        del self.reply[:n]
        return n


def test_readinto_stream_and_sync_write():
    """issue 5 AT engine: streams with readinto (and write + drain) work too."""
    async def main():
        s = ReadintoStream(b"\r\n+CSQ: 31,99\r\n\r\nOK\r\n")
        at = AtEngine(s, read_size=16, log=lambda *a: None)
        assert await at.command("AT+CSQ") == [b"+CSQ: 31,99"]
        assert s.written == b"AT+CSQ\r" and s.drains == 1
        at.stop()
    run(main())


# -- the same engine on MicroPython's asyncio -----------------------------------

# run through tools/mp/run_async.mjs (mp_harness.run_async_script), which keeps
# Node alive until the script's asyncio tasks print their last line.

_MP_SCRIPT = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
from wmmp.modem.at import AtEngine, CmeError, AtTimeout, AtReboot


class Modem:
    def __init__(self):
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.inb = bytearray()
        self.want = 0
        self.script = {b"AT+CSQ": b'\r\n+CSQ: 23,0\r\n\r\n+CMTI: "SM",1\r\n\r\nOK\r\n',
                       b"AT+CPIN?": b"\r\n+CME ERROR: 10\r\n",
                       b"AT+CGATT?": b"\r\nREBOOT_CAUSE_APPLICATION_AT\r\nNeul \r\nOK\r\n",
                       b"AT": b"\r\nOK\r\n",
                       b"AT+CIPSEND=0,3": b"\r\n> "}

    def push(self, d):
        self.rx += d
        self.ev.set()

    async def write(self, d):
        self.inb += d
        if self.want:
            if len(self.inb) >= self.want:
                self.inb = bytearray()
                self.want = 0
                self.push(b"\r\nRECV FROM:10.0.0.2:9000\r\n+IPD4\r\n\r\nOK\r\nOK\r\n\r\n+CIPSEND: 0,3,3\r\n")
            return
        k = self.inb.find(b"\r")
        if k >= 0:
            c = bytes(self.inb[:k])
            self.inb = bytearray(self.inb[k + 1:])
            if c == b"AT+CIPSEND=0,3":
                self.want = 3
            r = self.script.get(c)
            if r:
                self.push(r)

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        out = bytes(self.rx[:n])
        self.rx = bytearray(self.rx[n:])
        return out


async def main():
    m = Modem()
    at = AtEngine(m, read_size=5, log=lambda *a: None)
    got = []
    at.on("+CMTI:", lambda l, e: got.append(l))
    at.on("+IPD", lambda l, e: got.append(bytes(e)))
    print("CSQ", await at.command("AT+CSQ", expect="+CSQ"), got)
    try:
        await at.command("AT+CPIN?")
    except CmeError as e:
        print("CME", e.code)
    try:
        await at.command("AT+NOREPLY", timeout=0.1)
    except AtTimeout:
        print("TIMEOUT")
    try:
        await at.command("AT+CGATT?", timeout=1)
    except AtReboot as e:
        print("REBOOT", e.line)
    print("AT", await at.command("AT", timeout=1))
    print("SEND", await at.command_with_prompt("AT+CIPSEND=0,3", b"a\r\n", final="+CIPSEND:"), got[1:])
    at.stop()
    print("END")

asyncio.create_task(main())
'''


def test_engine_runs_on_micropython_asyncio():
    """issue 5 AT engine: the engine (lib compiled by mpy-cross) on MicroPython
    1.27's own asyncio: reply + URC, +CME ERROR code, timeout, BC95 reboot with
    banner OK, prompt + payload with a +IPD (CR/LF inside) mid-reply."""
    import mp_harness as H
    p = H.run_async_script("at_engine_mp", _MP_SCRIPT)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out == ["CSQ [b'+CSQ: 23,0'] [b'+CMTI: \"SM\",1']", "CME 10", "TIMEOUT", "REBOOT b'Neul'",
                   "AT []", "SEND [b'+CIPSEND: 0,3,3'] [b'\\r\\nOK']", "END"], p.stdout + p.stderr
