"""BC95 emulator (tools/wmmp_tools/emu/bc95.py) driven by the project's AT
engine (wmmp.modem.at) over an in-process stream, and once over a real
pseudo-terminal through the `wmmp-emu bc95 --pty` command.
Sections: "MODEMS BC95 <area>" are rows of shared/spec/MODEMS.md (BC95 part);
"27.007 9.2" / "27.005 3.2.5" the error code lists; "PROTOCOL.md 9" bearer sizes.

CPython only: asyncio.run inside plain tests, real loopback UDP/TCP sockets,
a real SMS centre (wmmp_tools.smsc) on port 0.
"""

import asyncio
import binascii
import os
import signal
import subprocess
import time

import pytest

from wmmp.modem import pdu as PDU
from wmmp.wire import profile as P
from wmmp.terminal import simcard as S
from wmmp.modem.at import AtEngine, AtError, AtReboot, AtTimeout, CmeError
from wmmp.modem.atparse import AtParser
from wmmp.terminal.simcard import SimulatedSim

from wmmp_tools.emu.bc95 import UDP_MAX, Bc95
from wmmp_tools.emu.stream import HostPort
from wmmp_tools.smsc import SmsCentre, SmsClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU_BIN = os.path.join(ROOT, ".venv", "bin", "wmmp-emu")

IMEI = "863703030000001"
IMSI = "460111176313522"
ICCID = "89860317492038271544"
MSISDN = "13800000002"
PLATFORM = "1065710001"


def banner(cause):
    """What a BC95 prints when it boots (captured logs, MODEMS BC95 reboot):
    the boot loader lines, the reboot cause, `Neul ` and `OK`."""
    return (b"\r\nBoot: Unsigned\r\nSecurity B.. Verified\r\nProtocol A.. Verified\r\n"
            b"Apps A...... Verified\r\n\r\n" + cause + b"\r\nNeul \r\nOK\r\n")


POWER_ON = banner(b"REBOOT_CAUSE_SECURITY_PMU_POWER_ON_RESET")

# A WMMP-sized binary payload: a 28-byte header's worth plus the largest TLV
# value a packet bearer carries (appendix E a) / PROTOCOL.md 9: profile.PACKET_TLV_MAX),
# with CR/LF, a fake OK, Ctrl-Z and every byte value inside.
WMMP_PAYLOAD = (b"\x00\x1c\x80\x01\r\nOK\r\n\x1a" + bytes(range(256)) * 5)[:28 + P.PACKET_TLV_MAX]


def run(coro, timeout=25.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def card(pin_enabled=False, pin="1234", puk="12345678"):
    return SimulatedSim(IMSI, ICCID, IMEI, pin=pin, puk=puk, pin_enabled=pin_enabled)


def engine(port):
    # MODEMS BC95 UDP receive: NSORF returns the payload as hex inside one line,
    # so the parser's line limit must hold 2 * the largest datagram (atparse doc).
    return AtEngine(port, parser=AtParser(max_line=2 * UDP_MAX + 64), log=lambda *a: None)


async def rig(sim=None, **opts):
    """-> (emu, port, at, reboots): the emulator booted, the engine on its UART."""
    emu = Bc95(sim if sim is not None else card(), msisdn=MSISDN, **opts)
    port = HostPort(emu)
    at = engine(port)
    reboots = []
    at.on_reboot(lambda line: reboots.append(bytes(line)))
    at.start()
    await emu.start()
    await wait_for(lambda: reboots)
    assert await wait_urc(at, b"REBOOT_CAUSE") == b"REBOOT_CAUSE_SECURITY_PMU_POWER_ON_RESET"
    return emu, port, at, reboots


async def done(emu, at):
    at.stop()
    await emu.close()


async def wait_for(cond, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def urcs(at, wait=0.1):
    """Every URC queued within `wait` s of silence: [(prefix, line, extra)]."""
    out = []
    while True:
        try:
            out.append(await at.urc(wait))
        except AtTimeout:
            return out


async def wait_urc(at, prefix, timeout=3.0):
    """The next URC with `prefix` (others are skipped): its line."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r URC" % prefix)
        p, line, extra = await at.urc(left)
        if p == prefix:
            return line


async def retry(at, cmd, tries=5, **kw):
    """MODEMS BC95: ERROR may answer the first commands after boot: retry.
    -> (lines, errors seen)."""
    errors = 0
    for _ in range(tries):
        try:
            return await at.command(cmd, **kw), errors
        except AtError:
            errors += 1
    raise AssertionError("%s kept failing" % cmd)


async def read_raw(port, token, timeout=3.0):
    """Bytes from the module up to and including `token` (no engine on the port)."""
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf:
        left = deadline - time.monotonic()
        assert left > 0, "waited for %r, got %r" % (token, buf)
        buf += await asyncio.wait_for(port.read(8192), left)
    return buf


class Peer(asyncio.DatagramProtocol):
    """A UDP peer on loopback (the platform side): records what it gets and
    optionally echoes it."""

    def __init__(self, echo=False):
        self.echo = echo
        self.got = []
        self.ev = asyncio.Event()

    def connection_made(self, t):
        self.t = t

    def datagram_received(self, data, addr):
        self.got.append((data, addr))
        self.ev.set()
        if self.echo:
            self.t.sendto(data, addr)

    async def next(self, timeout=3.0):
        while not self.got:
            self.ev.clear()
            await asyncio.wait_for(self.ev.wait(), timeout)
        return self.got.pop(0)


async def peer(echo=False):
    t, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Peer(echo), local_addr=("127.0.0.1", 0))
    return proto, t.get_extra_info("sockname")[1]


def nsost(s, port, data, seq=None):
    cmd = "AT+NSOST=%d,127.0.0.1,%d,%d,%s" % (s, port, len(data), binascii.hexlify(data).decode())
    return cmd + (",%d" % seq if seq is not None else "")


def nsorf_fields(line):
    """'<s>,<ip>,<port>,<len>,<HEX>,<remaining>' -> (s, ip, port, data, remaining)."""
    f = line.split(b",")
    assert len(f) == 6, line
    data = binascii.unhexlify(f[4])
    assert len(data) == int(f[3])
    return int(f[0]), f[1].decode(), int(f[2]), data, int(f[5])


async def open_udp(at, lport=5683):
    """MODEMS BC95 UDP: AT+NSOCR=DGRAM,17,<lport>,1 -> <socket>, OK."""
    lines = await at.command("AT+NSOCR=DGRAM,17,%d,1" % lport)
    assert len(lines) == 1 and lines[0].isdigit()
    return int(lines[0])


# -- boot, framing, identity ------------------------------------------------------------

def test_boot_banner_raw_framing_and_early_errors():
    """MODEMS BC95 (preamble and reboot): the boot banner ends with `Neul` then
    `OK`; `ERROR` answers the first commands after boot (here two); no space
    after the colon (`+CSQ:21,99`, `+CEREG:0,1`); echo off; framing CR LF;
    a line without the AT prefix is ignored; unknown commands -> ERROR."""
    async def main():
        emu = Bc95(card(), boot_errors=2, rssi=21, ber=99)
        port = HostPort(emu)
        await emu.start()
        assert await read_raw(port, b"Neul \r\nOK\r\n") == POWER_ON
        port.write(b"AT\r")
        assert await read_raw(port, b"ERROR\r\n") == b"\r\nERROR\r\n"
        port.write(b"AT\r")
        assert await read_raw(port, b"ERROR\r\n") == b"\r\nERROR\r\n"
        port.write(b"AT\r")                                  # the retry succeeds
        assert await read_raw(port, b"OK\r\n") == b"\r\nOK\r\n"
        port.write(b"AT+CSQ\r")
        assert await read_raw(port, b"OK\r\n") == b"\r\n+CSQ:21,99\r\n\r\nOK\r\n"
        port.write(b"at+cereg?\r")                           # case-insensitive (V.250)
        assert await read_raw(port, b"OK\r\n") == b"\r\n+CEREG:0,1\r\n\r\nOK\r\n"
        port.write(b"noise without the prefix\r")
        port.write(b"AT+NOSUCH\r")
        assert await read_raw(port, b"ERROR\r\n") == b"\r\nERROR\r\n"
        port.write(b"ATE1\r")                                # echo on from the next command
        assert await read_raw(port, b"OK\r\n") == b"\r\nOK\r\n"
        port.write(b"AT+CGATT?\r")
        assert await read_raw(port, b"OK\r\n") == b"AT+CGATT?\r\r\n+CGATT:1\r\n\r\nOK\r\n"
        await emu.close()
    run(main())


def test_nrb_reboot_through_the_engine_with_retries():
    """MODEMS BC95 reboot: AT+NRB -> `REBOOTING`, banner, `Neul`, `OK` (the
    engine's reboot=True: the banner's OK completes it); the boot marker reaches
    the reboot handlers; then `ERROR` answers the first commands and the driver
    retries; settings a power cycle restores (AT+CMEE, AT+CEREG=<n>) are back
    to their defaults, NV ones (AUTOCONNECT) stay."""
    async def main():
        emu, port, at, reboots = await rig(boot_errors=1)
        lines, errors = await retry(at, "AT")
        assert (lines, errors) == ([], 1)
        await at.command("AT+CMEE=1")
        await at.command("AT+CEREG=1")
        assert await at.command("AT+NCONFIG=AUTOCONNECT,TRUE") == []
        lines = await at.command("AT+NRB", timeout=5, reboot=True)
        assert lines == [b"Boot: Unsigned", b"Security B.. Verified", b"Protocol A.. Verified",
                         b"Apps A...... Verified"]
        assert reboots == [b"Neul", b"Neul"]
        got = [u[1] for u in await urcs(at)]
        assert got == [b"REBOOTING", b"REBOOT_CAUSE_APPLICATION_AT"]
        lines, errors = await retry(at, "AT+CMEE?")
        assert (lines, errors) == ([b"+CMEE:0"], 1)
        assert await at.command("AT+CEREG?") == [b"+CEREG:0,1"]
        assert b"+NCONFIG:AUTOCONNECT,TRUE" in await at.command("AT+NCONFIG?")
        assert emu.boots == 2
        await done(emu, at)
    run(main())


def test_identity_radio_and_attach():
    """MODEMS BC95 identity: AT+CGSN=1 -> +CGSN:<imei>, AT+CIMI bare, AT+NCCID
    -> +NCCID:<iccid>, AT+CGMR several lines; radio AT+CFUN, AT+NCONFIG=
    AUTOCONNECT,TRUE; attach AT+CGATT=1 / AT+CGATT? -> +CGATT:1 and
    AT+CGPADDR -> +CGPADDR:0,<ip>, starting from AUTOCONNECT FALSE (radio off
    at boot); 27.007 9.2 codes once AT+CMEE=1."""
    async def main():
        emu, port, at, reboots = await rig(autoconnect=False, ip_addr="10.1.2.3")
        assert await at.command("AT+CGSN=1") == [b"+CGSN:" + IMEI.encode()]
        assert await at.command("AT+CIMI") == [IMSI.encode()]
        assert await at.command("AT+NCCID") == [b"+NCCID:" + ICCID.encode()]
        cgmr = await at.command("AT+CGMR")
        assert len(cgmr) > 1 and all(b"," in ln and b":" not in ln for ln in cgmr)
        assert await at.command("AT+CGMI") == [b"Quectel"]
        assert await at.command("AT+CFUN?") == [b"+CFUN:0"]
        assert await at.command("AT+CEREG?") == [b"+CEREG:0,0"]
        assert await at.command("AT+CGATT?") == [b"+CGATT:0"]
        assert await at.command("AT+CGPADDR") == [b"+CGPADDR:0"]
        await at.command("AT+CMEE=1")
        with pytest.raises(CmeError) as e:                     # radio off: not allowed
            await at.command("AT+CGATT=1")
        assert e.value.code == 3
        assert await at.command("AT+CFUN=1", timeout=10) == []
        assert await at.command("AT+CEREG?") == [b"+CEREG:0,0"]   # AUTOCONNECT FALSE: no attach yet
        assert await at.command("AT+CGATT=1", timeout=60) == []
        assert await at.command("AT+CGATT?") == [b"+CGATT:1"]
        assert await at.command("AT+CGPADDR") == [b"+CGPADDR:0,10.1.2.3"]
        assert await at.command("AT+NCONFIG=AUTOCONNECT,TRUE") == []
        with pytest.raises(CmeError) as e:
            await at.command("AT+NCONFIG=AUTOCONNECT,MAYBE")
        assert e.value.code == 50
        with pytest.raises(AtError):
            await at.command("AT+CPIN?")                         # not in the BC95 manual
        await at.command("AT+NRB", timeout=5, reboot=True)       # AUTOCONNECT now TRUE
        assert await at.command("AT+CFUN?") == [b"+CFUN:1"]
        assert await at.command("AT+CGATT?") == [b"+CGATT:1"]
        await done(emu, at)
    run(main())


# -- signal, cell, registration ----------------------------------------------------------

def parse_nuestats(lines):
    """'Name:value' lines -> {name: int} (MODEMS BC95 signal / cell)."""
    out = {}
    for ln in lines:
        k, v = ln.decode().split(":", 1)
        out[k] = int(v)
    return out


def test_nuestats_csq_and_no_signal():
    """MODEMS BC95 signal / cell: AT+CSQ -> +CSQ:<rssi>,<ber>; AT+NUESTATS lines
    `Signal power:` (0.1 dBm), `Cell ID:` (decimal), `ECL:`, `SNR:`, `EARFCN:`,
    `PCI:`, `RSRQ:`; the cell id is the one +CEREG n=2 shows in hex.  No
    signal: +CSQ:99,99, NUESTATS -32768, +CEREG:2 URC; signal back: +CEREG:1."""
    async def main():
        emu, port, at, reboots = await rig(rssi=18, ci=0x0CE5A042, snr=41, earfcn=3738, pci=150,
                                           rsrq=-127, reg_delay=0.05)
        await wait_for(emu.registered)
        assert await at.command("AT+CSQ") == [b"+CSQ:18,99"]
        st = parse_nuestats(await at.command("AT+NUESTATS"))
        for key in ("Signal power", "Cell ID", "ECL", "SNR", "EARFCN", "PCI", "RSRQ"):
            assert key in st
        assert st["Cell ID"] == 0x0CE5A042
        assert (st["SNR"], st["EARFCN"], st["PCI"], st["RSRQ"]) == (41, 3738, 150, -127)
        assert -1400 < st["Signal power"] < -440
        assert st["Signal power"] < st["Total power"]            # RSRP below RSSI
        assert st["ECL"] in (0, 1, 2)
        await at.command("AT+CEREG=2")
        reg = (await at.command("AT+CEREG?"))[0]
        assert reg.split(b",")[3] == b'"0CE5A042"'
        cell = await at.command("AT+NUESTATS=CELL")
        assert cell[0].startswith(b"NUESTATS:CELL,3738,150,1,")

        await at.command("AT+CEREG=1")
        emu.set_signal(99)
        assert await wait_urc(at, b"+CEREG:") == b"+CEREG:2"
        assert await at.command("AT+CSQ") == [b"+CSQ:99,99"]
        st = parse_nuestats(await at.command("AT+NUESTATS"))
        assert st["Signal power"] == -32768 and st["ECL"] == 255
        assert await at.command("AT+CGATT?") == [b"+CGATT:0"]
        emu.set_signal(25, 0)
        assert await wait_urc(at, b"+CEREG:") == b"+CEREG:1"      # after reg_delay
        assert await at.command("AT+CSQ") == [b"+CSQ:25,0"]
        await done(emu, at)
    run(main())


def test_cereg_n2_forms_and_cscon():
    """MODEMS BC95 registration: AT+CEREG? -> +CEREG:0,1; n=2 ->
    +CEREG:2,1,<tac>,<ci>,<act> with the quoting unconfirmed, so both forms are
    produced on request; URC +CEREG:<stat> (n=1) and the n=2 URC form; RRC state
    +CSCON:<n>,<mode> (read) and the +CSCON:<mode> URC (27.007 10.1.29)."""
    async def main():
        for quoted, want in ((True, b'+CEREG:2,1,"5B0C","0B8A9A12",7'),
                             (False, b"+CEREG:2,1,5B0C,0B8A9A12,7")):
            emu, port, at, reboots = await rig(reg_quoted=quoted, tac=0x5B0C, ci=0x0B8A9A12,
                                               act=7, rrc_idle=0.3)
            await at.command("AT+CSCON=1")
            assert await at.command("AT+CSCON?") == [b"+CSCON:1,1"]   # connected after attach
            assert await at.command("AT+CEREG?") == [b"+CEREG:0,1"]
            await at.command("AT+CEREG=2")
            assert await at.command("AT+CEREG?") == [want]
            assert await wait_urc(at, b"+CSCON:", 1.0) == b"+CSCON:0"  # released after rrc_idle
            assert await at.command("AT+CSCON?") == [b"+CSCON:1,0"]
            await at.command("AT+CFUN=0")
            got = [u[1] for u in await urcs(at)]
            assert got == [b"+CEREG:0"]
            await at.command("AT+CFUN=1")
            got = [u[1] for u in await urcs(at)]
            assert got == [want[:7] + want[9:], b"+CSCON:1"]    # registered, RRC connected
            assert await wait_urc(at, b"+CSCON:", 1.0) == b"+CSCON:0"
            await done(emu, at)
    run(main())


# -- UDP ----------------------------------------------------------------------------------

def test_udp_send_receive_wmmp_sized_binary_payload():
    """MODEMS BC95 UDP / UDP send / UDP receive / close over real loopback
    sockets: AT+NSOCR=DGRAM,17,<lport>,1 -> <socket>; AT+NSOST=<s>,<ip>,<port>,
    <len>,<HEX>,<seq> -> <s>,<len>, OK, +NSOSTR:<s>,<seq>,1; the peer's answer
    -> +NSONMI:<s>,<len>; AT+NSORF=<s>,<max> -> <s>,<ip>,<port>,<len>,<HEX>,0.
    The payload is WMMP-sized (header + PACKET_TLV_MAX, appendix E a) / INTEROP
    9) and binary (CR/LF, OK, Ctrl-Z inside).  Bad lengths, bad hex, an unknown
    socket and more than udp_max bytes fail; AT+NSOCL frees the socket."""
    async def main():
        server, sport = await peer(echo=True)
        emu, port, at, reboots = await rig()
        s = await open_udp(at)
        assert s == 0 and emu.open_sockets() == [0]
        lines = await at.command(nsost(s, sport, WMMP_PAYLOAD, seq=7), timeout=10)
        assert lines == [b"0,%d" % len(WMMP_PAYLOAD)]
        data, addr = await server.next()
        assert data == WMMP_PAYLOAD and addr[1] == emu.local_port(0)
        seen = [u[1] for u in await urcs(at, 0.2)]
        assert b"+NSOSTR:0,7,1" in seen
        assert b"+NSONMI:0,%d" % len(WMMP_PAYLOAD) in seen
        lines = await at.command("AT+NSORF=0,%d" % UDP_MAX)
        assert len(lines) == 1
        assert nsorf_fields(lines[0]) == (0, "127.0.0.1", sport, WMMP_PAYLOAD, 0)
        assert await at.command("AT+NSORF=0,%d" % UDP_MAX) == []      # nothing left: just OK

        await at.command("AT+CMEE=1")
        bad = ["AT+NSOST=0,127.0.0.1,%d,3,AABB" % sport,               # hex shorter than len
               "AT+NSOST=0,127.0.0.1,%d,2,ZZZZ" % sport,               # not hex
               "AT+NSOST=0,not.an.ip,%d,1,AA" % sport,
               "AT+NSOST=5,127.0.0.1,%d,1,AA" % sport,                 # no such socket
               nsost(0, sport, b"x" * (UDP_MAX + 1))]
        for cmd in bad:
            with pytest.raises(CmeError):
                await at.command(cmd)
        assert server.got == []
        s2 = await open_udp(at, 5684)
        assert s2 == 1
        with pytest.raises(CmeError):                                  # port already in use
            await at.command("AT+NSOCR=DGRAM,17,5683,1")
        with pytest.raises(CmeError):                                  # TCP needs the BC95-G
            await at.command("AT+NSOCR=STREAM,6,0,1")
        assert await at.command("AT+NSOCL=0") == []
        assert emu.open_sockets() == [1]
        with pytest.raises(CmeError):
            await at.command("AT+NSOCL=0")
        await done(emu, at)
        server.t.close()
    run(main())


def test_nsorf_remaining_loop_with_two_datagrams():
    """MODEMS BC95 UDP receive: `loop while remaining > 0`.  Two datagrams
    (300 and 200 bytes) arrive: one +NSONMI each; AT+NSORF=<s>,256 reads 256
    bytes with remaining 244 (the rest of the first and all of the second),
    then 44 with remaining 200, then 200 with remaining 0.  With the other
    variant (Options.nsorf_remaining="datagram") <remaining> counts only the
    datagram being read."""
    async def main():
        for scope, want_left in (("socket", [244, 200, 0]), ("datagram", [44, 0, 0])):
            emu, port, at, reboots = await rig(nsorf_remaining=scope)
            s = await open_udp(at)
            server, sport = await peer()
            one, two = bytes(range(256)) + b"\r\n" * 22, b"\xff\x00" * 100
            server.t.sendto(one, ("127.0.0.1", emu.local_port(s)))
            server.t.sendto(two, ("127.0.0.1", emu.local_port(s)))
            assert await wait_urc(at, b"+NSONMI:") == b"+NSONMI:0,300"
            assert await wait_urc(at, b"+NSONMI:") == b"+NSONMI:0,200"
            got, lefts = [], []
            while True:
                lines = await at.command("AT+NSORF=%d,256" % s)
                if not lines:
                    break
                _, ip, p, data, left = nsorf_fields(lines[0])
                assert (ip, p) == ("127.0.0.1", sport)
                got.append(data)
                lefts.append(left)
                if scope == "socket" and left == 0:
                    break
            assert lefts == want_left
            assert [len(d) for d in got] == [256, 44, 200]
            assert b"".join(got) == one + two
            await done(emu, at)
            server.t.close()
    run(main())


# -- PIN -----------------------------------------------------------------------------------

def test_npin_counters_lock_and_unblock():
    """MODEMS BC95 PIN (unconfirmed, behind Options.npin): AT+NPIN=<op>,... ->
    OK then +NPIN:OK / +NPIN:ERROR wrong PIN (<left>) / ERROR PIN blocked /
    ERROR PIN disabled.  The SimulatedSim counters really lock: 3 wrong PINs ->
    PUK needed, and no registration until the card is unlocked (27.007 9.2 code
    11 for AT+CIMI meanwhile); unblock (op 4) with the PUK; disable (op 3);
    10 wrong PUKs block the card for good.  The `+NPIN:`-prefixed variant and
    a module without AT+NPIN are produced on request."""
    async def main():
        sim = card(pin_enabled=True)
        emu, port, at, reboots = await rig(sim)
        await at.command("AT+CMEE=1")
        with pytest.raises(CmeError) as e:
            await at.command("AT+CIMI")
        assert e.value.code == 11
        assert await at.command("AT+NCCID") == [b"+NCCID:" + ICCID.encode()]   # SIM presence
        assert await at.command("AT+CEREG?") == [b"+CEREG:0,0"]
        for left in (2, 1, 0):
            assert await at.command("AT+NPIN=0,0000") == []
            assert await wait_urc(at, b"+NPIN:") == b"+NPIN:ERROR wrong PIN (%d)" % left
        assert sim.pin_state() == S.SIM_PUK and sim.attempts() == (0, 10)
        await at.command("AT+NPIN=0,1234")                 # even the right PIN is too late
        assert await wait_urc(at, b"ERROR PIN") == b"ERROR PIN blocked"
        await at.command("AT+NPIN=4,87654321,4321")
        assert await wait_urc(at, b"+NPIN:") == b"+NPIN:ERROR wrong PUK (9)"
        with pytest.raises(CmeError) as e:                 # malformed PUK: no attempt spent
            await at.command("AT+NPIN=4,123,4321")
        assert e.value.code == 50 and sim.attempts() == (0, 9)
        await at.command("AT+NPIN=4,12345678,4321")
        assert await wait_urc(at, b"+NPIN:") == b"+NPIN:OK"
        assert sim.pin_state() == S.READY and sim.attempts() == (3, 10)
        assert await at.command("AT+CIMI") == [IMSI.encode()]
        await wait_for(emu.registered)
        assert await at.command("AT+CEREG?") == [b"+CEREG:0,1"]
        await at.command("AT+NPIN=3,4321")                 # disable
        assert await wait_urc(at, b"+NPIN:") == b"+NPIN:OK"
        await at.command("AT+NPIN=0,4321")
        assert await wait_urc(at, b"ERROR PIN") == b"ERROR PIN disabled"
        await at.command("AT+NRB", timeout=5, reboot=True)
        await retry(at, "AT+CIMI")                          # PIN off: no PIN after a reboot
        await done(emu, at)

        sim = card(pin_enabled=True)
        emu, port, at, reboots = await rig(sim, npin_prefixed=True)
        for _ in range(3):
            await at.command("AT+NPIN=0,9999")
            await wait_urc(at, b"+NPIN:")
        await at.command("AT+NPIN=0,1234")
        assert await wait_urc(at, b"+NPIN:") == b"+NPIN:ERROR PIN blocked"
        for left in range(9, -1, -1):
            await at.command("AT+NPIN=4,00000000,1111")
            assert await wait_urc(at, b"+NPIN:") == b"+NPIN:ERROR wrong PUK (%d)" % left
        assert sim.pin_state() == S.BLOCKED
        await at.command("AT+NPIN=4,12345678,1111")       # the right PUK no longer helps
        assert await wait_urc(at, b"+NPIN:") == b"+NPIN:ERROR PUK blocked"
        assert sim.pin_state() == S.BLOCKED
        await done(emu, at)

        emu, port, at, reboots = await rig(npin=False)
        with pytest.raises(AtError):
            await at.command("AT+NPIN=0,1234")
        await done(emu, at)
    run(main())


# -- PSM -------------------------------------------------------------------------------------

def test_psm_holds_downlink_until_the_next_uplink():
    """MODEMS BC95 power saving: `a terminal in PSM receives nothing until it
    sends`.  Awake, a datagram from the platform is announced at once; after
    psm_idle seconds without radio activity the module is in PSM (+NPSMR:1,
    RRC released +CSCON:0 before); the platform's datagram is then held by the
    network, no +NSONMI however long one waits; the device's next AT+NSOST wakes
    it (+NPSMR:0, +CSCON:1) and the held datagram follows right after the send's
    OK; AT+CPSMS=0 turns PSM off."""
    async def main():
        server, sport = await peer()
        emu, port, at, reboots = await rig(psm_idle=0.4, rrc_idle=0.15)
        await at.command("AT+NPSMR=1")
        await at.command("AT+CSCON=1")
        s = await open_udp(at)
        await at.command(nsost(s, sport, b"hello"))
        _, dev = await server.next()
        server.t.sendto(b"awake", dev)                          # within the active time
        assert await wait_urc(at, b"+NSONMI:", 0.3) == b"+NSONMI:0,5"
        assert nsorf_fields((await at.command("AT+NSORF=0,512"))[0])[3] == b"awake"
        got = [u[1] for u in await urcs(at, 0.6)]
        assert got == [b"+CSCON:0", b"+NPSMR:1"]
        assert emu.in_psm
        assert await at.command("AT+NPSMR?") == [b"+NPSMR:1,1"]

        down = b"\x00\x1c\x80\x05platform-initiated"
        server.t.sendto(down, dev)
        assert await urcs(at, 0.5) == []                          # nothing while in PSM
        assert emu.held() == 1
        assert await at.command(nsost(s, sport, b"heartbeat")) == [b"0,9"]
        got = [u[1] for u in await urcs(at, 0.1)]
        assert got[:3] == [b"+NPSMR:0", b"+CSCON:1", b"+NSONMI:0,%d" % len(down)]
        assert (await server.next())[0] == b"heartbeat"
        assert nsorf_fields((await at.command("AT+NSORF=0,512"))[0])[3] == down
        assert emu.held() == 0 and not emu.in_psm

        await at.command("AT+CPSMS=0")
        await asyncio.sleep(0.6)
        assert not emu.in_psm
        assert await at.command("AT+CPSMS?") == [b"+CPSMS:0,,,01000011,00100010"]
        server.t.sendto(b"late", dev)
        assert await wait_urc(at, b"+NSONMI:") == b"+NSONMI:0,4"
        await done(emu, at)
        server.t.close()
    run(main())


# -- faults --------------------------------------------------------------------------------

def test_reboot_mid_command_and_recovery():
    """A module reboot while a command runs (issue 5 fault injection): no reply,
    the banner instead; the AT engine raises AtReboot on `Neul` (MODEMS BC95
    preamble); its OK is not taken as the next command's; sockets are gone;
    the first command after it meets ERROR and is retried; a timed reboot
    later gives the banner again with a watchdog cause."""
    async def main():
        server, sport = await peer()
        emu, port, at, reboots = await rig(boot_errors=1, reboot_time=0.05)
        await retry(at, "AT")
        s = await open_udp(at)
        emu.reboot_on("AT+NSOST")
        with pytest.raises(AtReboot):
            await at.command(nsost(s, sport, b"lost"), timeout=3)
        assert reboots[-1] == b"Neul" and len(reboots) == 2
        assert emu.open_sockets() == [] and server.got == []
        assert b"REBOOT_CAUSE_APPLICATION_WATCHDOG" in [u[1] for u in await urcs(at)]
        with pytest.raises(AtError):          # the first command after the boot
            await at.command("AT+CMEE=1")
        await at.command("AT+CMEE=1")
        with pytest.raises(CmeError) as e:    # socket 0 is gone
            await at.command("AT+NSORF=0,16")
        assert e.value.code == 3
        s = await open_udp(at)
        assert await at.command(nsost(s, sport, b"again")) == [b"0,5"]
        assert (await server.next())[0] == b"again"
        emu.reboot_after(0.05)
        await wait_for(lambda: len(reboots) == 3)
        assert at.stats()["boot_oks"] >= 2
        await done(emu, at)
        server.t.close()
    run(main())


def test_outage_lost_uplink_sim_swap_and_output_faults():
    """Fault injection (issue 5): a network outage (+CEREG:2, +CGATT:0, sends
    fail with 27.007 code 30, downlink lost) and recovery; datagrams the
    network loses (+NSOSTR status 0); a SIM swap (new IMSI / ICCID, registration
    anew) and a removed SIM (AT+NCCID fails: MODEMS BC95 "SIM presence via
    AT+NCCID"); dropped, delayed and corrupted output lines; noise bytes."""
    async def main():
        server, sport = await peer()
        emu, port, at, reboots = await rig()
        await at.command("AT+CMEE=1")
        await at.command("AT+CEREG=1")
        s = await open_udp(at)
        await at.command(nsost(s, sport, b"up"))
        _, dev = await server.next()
        emu.set_outage(True)
        assert await wait_urc(at, b"+CEREG:") == b"+CEREG:2"
        assert await at.command("AT+CGATT?") == [b"+CGATT:0"]
        with pytest.raises(CmeError) as e:
            await at.command(nsost(s, sport, b"x"))
        assert e.value.code == 30
        server.t.sendto(b"into the void", dev)
        await wait_for(lambda: emu.lost_downlink == 1)
        emu.set_outage(False)
        assert await wait_urc(at, b"+CEREG:") == b"+CEREG:1"

        emu.lose_uplink(1)
        assert await at.command(nsost(s, sport, b"gone", seq=3)) == [b"0,4"]
        assert await wait_urc(at, b"+NSOSTR:") == b"+NSOSTR:0,3,0"
        assert await at.command(nsost(s, sport, b"kept", seq=4)) == [b"0,4"]
        assert await wait_urc(at, b"+NSOSTR:") == b"+NSOSTR:0,4,1"
        assert (await server.next())[0] == b"kept" and server.got == []

        emu.swap_sim("460009876543210", "89860098765432109876")
        assert [u[1] for u in await urcs(at)] == [b"+CEREG:2", b"+CEREG:1"]
        assert await at.command("AT+CIMI") == [b"460009876543210"]
        assert await at.command("AT+NCCID") == [b"+NCCID:89860098765432109876"]
        emu.remove_sim()
        assert await wait_urc(at, b"+CEREG:") == b"+CEREG:0"
        with pytest.raises(CmeError) as e:
            await at.command("AT+NCCID")
        assert e.value.code == 10

        emu.faults.drop(1, prefix="OK")
        with pytest.raises(AtTimeout):
            await at.command("AT", timeout=0.3)
        emu.faults.delay(0.3, 1, prefix="+CSQ")
        t0 = time.monotonic()
        assert await at.command("AT+CSQ") == [b"+CSQ:21,99"]
        assert time.monotonic() - t0 >= 0.25
        emu.faults.corrupt(1, prefix="+CSQ")
        lines = await at.command("AT+CSQ")
        assert lines != [b"+CSQ:21,99"]
        emu.inject(b"\xff\x00garbage\xfe\r\n")
        assert await at.command("AT+CSQ") == [b"+CSQ:21,99"]
        assert emu.faults.dropped == 1 and emu.faults.corrupted == 1
        await done(emu, at)
        server.t.close()
    run(main())


# -- TCP (BC95-G) and SMS -----------------------------------------------------------------------

def test_tcp_on_the_bc95g_option():
    """MODEMS BC95 TCP (BC95-G): AT+NSOCR=STREAM,6,<lport>,1, AT+NSOCO=<s>,<ip>,
    <port>, AT+NSOSD=<s>,<len>,<HEX>[,<flag>,<seq>] -> <s>,<len>, OK,
    +NSOSTR; data from the server -> +NSONMI / AT+NSORF; the server closing ->
    URC +NSOCLI:<s>; a refused connection fails."""
    async def main():
        got = asyncio.Queue()
        conns = []

        async def handle(reader, writer):
            conns.append(writer)
            data = await reader.read(4096)
            await got.put(data)
            writer.write(b"reply:" + data)
            await writer.drain()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        sport = server.sockets[0].getsockname()[1]
        emu, port, at, reboots = await rig(tcp=True)
        await at.command("AT+CMEE=1")
        lines = await at.command("AT+NSOCR=STREAM,6,56000,1")
        s = int(lines[0])
        assert await at.command("AT+NSOCO=%d,127.0.0.1,%d" % (s, sport), timeout=15) == []
        body = b"\r\nOK\r\n\x00\x1a"
        cmd = "AT+NSOSD=%d,%d,%s,0x100,9" % (s, len(body), binascii.hexlify(body).decode())
        assert await at.command(cmd) == [b"%d,%d" % (s, len(body))]
        assert await asyncio.wait_for(got.get(), 3) == body
        seen = []
        while b"+NSONMI:%d,%d" % (s, 6 + len(body)) not in seen:
            seen.append((await at.urc(3))[1])
        assert b"+NSOSTR:%d,9,1" % s in seen
        _, ip, p, data, left = nsorf_fields((await at.command("AT+NSORF=%d,512" % s))[0])
        assert (ip, p, data, left) == ("127.0.0.1", sport, b"reply:" + body, 0)
        conns[0].close()
        assert await wait_urc(at, b"+NSOCLI:") == b"+NSOCLI:%d" % s
        with pytest.raises(CmeError):
            await at.command("AT+NSOSD=%d,1,AA" % s)
        assert await at.command("AT+NSOCL=%d" % s) == []
        server.close()
        await server.wait_closed()
        lines = await at.command("AT+NSOCR=STREAM,6,0,1")
        with pytest.raises(CmeError):
            await at.command("AT+NSOCO=%s,127.0.0.1,%d" % (lines[0].decode(), sport), timeout=15)
        await done(emu, at)
    run(main())


def test_sms_off_by_default_and_pdu_sms_through_the_sms_centre():
    """MODEMS BC95 SMS: most NB-IoT operators offer none, so by default SMS
    commands fail (plain ERROR, or +CME ERROR:4 with sms_off_reply="cme");
    enabled, AT+CMGS=<tpdu octets> -> '> ', PDU, Ctrl-Z -> +CMGS:<mr> (no space)
    reaches the platform through the SMS centre (PROTOCOL.md 9: 8-bit binary), and
    the platform's SMS arrives as +CMT:,<len> + PDU (direct delivery, 27.005
    AT+CNMA in the BC95 list) or, with AT+CNMI=2,1, as +CMTI:"SM",<idx> and
    AT+CMGR (receive path unconfirmed: both produced)."""
    async def main():
        emu, port, at, reboots = await rig()
        pdu, n = PDU.encode_submit(PLATFORM, b"\x00\x1c\x10\x01alarm")
        with pytest.raises(AtError):
            await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), final="+CMGS:",
                                         ctrl_z=True, prompt_timeout=1)
        with pytest.raises(AtError):
            await at.command("AT+CSMS=0")
        await done(emu, at)
        emu, port, at, reboots = await rig(sms_off_reply="cme")
        await at.command("AT+CMEE=1")
        with pytest.raises(CmeError) as e:
            await at.command("AT+CSCA?")
        assert e.value.code == 4
        await done(emu, at)

        centre = await SmsCentre("127.0.0.1", 0).start()
        platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
        emu, port, at, reboots = await rig(sms=True, smsc=("127.0.0.1", centre.port))
        await wait_for(lambda: MSISDN in centre.attached())
        assert await at.command("AT+CSMS=0") == [b"+CSMS:1,1,1"]
        up = b"\x00\x1c\x10\x01" + bytes(range(100))
        pdu, n = PDU.encode_submit(PLATFORM, up)
        lines = await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                             final="+CMGS:", ctrl_z=True)
        assert lines == [b"+CMGS:0"]
        assert await asyncio.wait_for(platform.recv(), 3) == (MSISDN, up)
        down = b"\x00\x1c\x80\x02\r\n" + bytes(range(100))
        await platform.send(MSISDN, down)
        p, line, pdu_line = await at.urc(3)
        assert p == b"+CMT:" and line.startswith(b"+CMT:,")
        sms = PDU.decode(pdu_line.decode(), tpdu_len=int(line.split(b",")[-1]))
        assert sms.type == PDU.DELIVER and sms.originator == PLATFORM and sms.data == down
        await at.command("AT+CNMI=2,1,0,0,0")
        await platform.send(MSISDN, b"stored")
        assert await wait_urc(at, b"+CMTI:") == b'+CMTI:"SM",0'
        lines = await at.command("AT+CMGR=0")
        assert lines[0].startswith(b"+CMGR:0,,")
        assert PDU.decode(lines[1].decode()).data == b"stored"
        await done(emu, at)
        await platform.close()
        await centre.close()
    run(main())


def test_data_only_outage_keeps_registration_and_sms():
    """Fault injection for the SMS fallback (issue 5): set_outage(data_only=True)
    takes the PDN away but not the registration: no +CEREG URC, +CGATT:0, no
    address in +CGPADDR, AT+NSOST and AT+NSOCR answer +CME ERROR:30 (27.007 9.2
    no network service), downlink lost, while AT+CMGS still reaches the SMS
    centre; set_outage(False) gives the PDN back."""
    async def main():
        centre = await SmsCentre("127.0.0.1", 0).start()
        platform = await SmsClient("127.0.0.1", centre.port, PLATFORM).connect()
        server, sport = await peer()
        emu, port, at, reboots = await rig(sms=True, smsc=("127.0.0.1", centre.port))
        await wait_for(lambda: MSISDN in centre.attached())
        await at.command("AT+CMEE=1")
        await at.command("AT+CEREG=1")
        s = await open_udp(at)
        await at.command(nsost(s, sport, b"up"))
        _, dev = await server.next()
        emu.set_outage(True, data_only=True)
        assert await urcs(at) == []                                  # still registered
        assert await at.command("AT+CEREG?") == [b"+CEREG:1,1"]
        assert await at.command("AT+CGATT?") == [b"+CGATT:0"]
        assert await at.command("AT+CGPADDR") == [b"+CGPADDR:0"]
        for cmd in (nsost(s, sport, b"x"), "AT+NSOCR=DGRAM,17,5684,1"):
            with pytest.raises(CmeError) as e:
                await at.command(cmd)
            assert e.value.code == 30
        server.t.sendto(b"into the void", dev)
        await wait_for(lambda: emu.lost_downlink == 1)
        pdu, n = PDU.encode_submit(PLATFORM, b"\x00\x1c\x10\x01alarm")
        assert await at.command_with_prompt("AT+CMGS=%d" % n, PDU.to_hex(pdu), timeout=5,
                                            final="+CMGS:", ctrl_z=True) == [b"+CMGS:0"]
        assert await asyncio.wait_for(platform.recv(), 3) == (MSISDN, b"\x00\x1c\x10\x01alarm")
        emu.set_outage(False)
        assert await at.command("AT+CGATT?") == [b"+CGATT:1"]
        await at.command(nsost(s, sport, b"back"))
        assert (await server.next())[0] == b"back"
        assert await open_udp(at, 5684) == 1
        await done(emu, at)
        server.t.close()
        await platform.close()
        await centre.close()
    run(main())


# -- over a pseudo-terminal ------------------------------------------------------------------------

async def _pty_read_until(fd, token, timeout=5.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while token not in buf:
        assert time.monotonic() < deadline, "waited for %r, got %r" % (token, buf)
        try:
            buf += os.read(fd, 8192)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return buf


def test_wmmp_emu_bc95_over_a_pty():
    """issue 5 "attach to a pseudo-terminal": `wmmp-emu bc95 --pty` prints the
    slave path; a program opens it and talks to the module with os.read /
    os.write: the power-on banner ending `Neul`, `OK` (MODEMS BC95 preamble),
    AT+CGSN=1, and a UDP round trip of a binary payload through NSOST /
    +NSONMI / NSORF with a real socket on loopback; SIGUSR1 reboots it (the
    banner again); SIGTERM stops it with status 0; a bad option exits with 2."""
    assert os.access(EMU_BIN, os.X_OK), "run: .venv/bin/pip install --no-deps --no-build-isolation -e ."

    async def talk(fd, proc):
        assert await _pty_read_until(fd, b"Neul \r\nOK\r\n") == POWER_ON
        os.write(fd, b"AT+CGSN=1\r")
        assert await _pty_read_until(fd, b"OK\r\n") == b"\r\n+CGSN:%s\r\n\r\nOK\r\n" % IMEI.encode()
        server, sport = await peer(echo=True)
        os.write(fd, b"AT+NSOCR=DGRAM,17,5683,1\r")
        assert await _pty_read_until(fd, b"OK\r\n") == b"\r\n0\r\n\r\nOK\r\n"
        body = b"\x00\x1c\x10\x01\r\n\x1a\x03\x11\x13" + bytes(range(200))
        os.write(fd, nsost(0, sport, body).encode() + b"\r")
        want = b"\r\n0,%d\r\n\r\nOK\r\n\r\n+NSONMI:0,%d\r\n" % (len(body), len(body))
        assert await _pty_read_until(fd, b"+NSONMI:0,%d\r\n" % len(body)) == want
        os.write(fd, b"AT+NSORF=0,512\r")
        reply = await _pty_read_until(fd, b"OK\r\n")
        assert reply == b"\r\n0,127.0.0.1,%d,%d,%s,0\r\n\r\nOK\r\n" % (
            sport, len(body), binascii.hexlify(body).upper())
        server.t.close()
        proc.send_signal(signal.SIGUSR1)
        assert await _pty_read_until(fd, b"Neul \r\nOK\r\n") == banner(
            b"REBOOT_CAUSE_APPLICATION_WATCHDOG")

    proc = subprocess.Popen([EMU_BIN, "bc95", "--pty", "--boot-time", "0", "--reg-delay", "0",
                             "--imei", IMEI, "--imsi", IMSI, "--iccid", ICCID],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = proc.stdout.readline().strip()
        assert path.startswith("/dev/")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            run(talk(fd, proc))
        finally:
            os.close(fd)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    res = subprocess.run([EMU_BIN, "bc95", "--udp-max", "5000"], capture_output=True,
                         text=True, timeout=10)
    assert res.returncode == 2 and "wmmp-emu" in res.stderr
