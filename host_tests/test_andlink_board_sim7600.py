"""And-link on a SIM7600 board (lib/andlink/board/sim7600link.py) on CPython:
wmmp.board.device with MODEM "sim7600" and PROTOCOLS naming "andlink", the
SIM7600 emulator (tools/wmmp_tools/emu/sim7600.py) on an in-process UART and
the And-link platform simulator (tools/andlink_tools, in-process on
loopback): registration with the 3.5 product check, reads of the module's
values, a notification, a packet-network outage (+CIPEVENT: NETWORK CLOSED
UNEXPECTEDLY) and a module reboot the runner rides out by opening the link
again and registering again, both protocols on one module (WMMP on link 0,
And-link on link 2: +IPD routed by the RECV FROM address), host names
resolved with the emulator's AT+CDNSGIP (and the fallback address of a name
that does not resolve), and the driver's +IPD routing between a fixed-peer
link and the any-peer link.  CoAP timers scaled down as in
test_andlink_board.py."""

import asyncio

from andlink.board import settings as AS
from andlink.board.sim7600link import LINK, Sim7600Link, coap_or_dtls
from andlink_tools.platform import Config, Platform
from wmmp.modem import sim7600 as M
from wmmp.terminal.simcard import SimulatedSim
from wmmp_tools.emu.sim7600 import Sim7600 as Sim7600Emu

import test_andlink_board as T
from test_andlink_board import DEVICE_TYPE, FAST, IMEI, ICCID, IMSI, TOKEN, eventually, run

EMU_REVISION = "LE11B08SIM7600CE-A"       # the emulator's AT+CGMR
EMU_CI = 0xAC99201                        # its cell id (Options.ci)


class Board(T.Board):
    MODEM = "sim7600"


class Rig(T.Rig):
    """The And-link platform, an emulated SIM7600 and a device running And-link on it."""

    async def __aenter__(self):
        self.pf = await Platform(Config(coap=("127.0.0.1", 0), ack_timeout=0.3, request_timeout=3.0,
                                        awake=self.awake, products={DEVICE_TYPE: TOKEN})).start()
        card = SimulatedSim(IMSI, ICCID, IMEI, pin="1234", pin_enabled=False)
        self.emu = Sim7600Emu(card, **self.emu_opts)
        await self.emu.start()
        s = {"server": "coap://127.0.0.1:%d" % self.pf.coap_address[1], "product_token": TOKEN,
             "device_type": DEVICE_TYPE, "lifetime": 300, "binding": "U", "coap": FAST, "radio_period": 1}
        s.update(self.andlink(self.pf) if callable(self.andlink) else self.andlink)
        self.board = Board(self.emu, self.tmp, s, **self.board_kw)
        return self


def test_registers_through_the_sim7600_answers_reads_and_notifies(tmp_path):
    async def go():
        async with Rig(tmp_path) as rig:
            rig.start()
            d = await rig.registered()
            svc = rig.dev.andlink
            assert isinstance(svc.link, Sim7600Link) and svc.link.link == LINK
            assert rig.emu.open_links() == [LINK]
            assert d.auth["state"] == "ok" and d.reg.binding == "U"           # 3.5 product check
            r = await rig.pf.ops.read(d, (3, 0, 3))                         # 4.1.5: the module's firmware
            assert r.ok and EMU_REVISION in r.entries[0].value
            r = await rig.pf.ops.read(d, (4, 0, 8))                         # the cell of AT+CREG
            assert r.entries[0].value == EMU_CI
            r = await rig.pf.ops.read(d, (4, 0, 2))                         # +CSQ 23 in dBm
            assert r.entries[0].value == -113 + 2 * 23
            r = await rig.pf.ops.read(d, (4, 0, 4))
            assert r.ok and b"10.71.34.127" in r.payload                    # AT+IPADDR
            r = await rig.pf.ops.observe(d, (19, 1, 0))
            assert r.ok
            n = d.counts["notifications"]
            svc.update_params({"power": 18})
            await eventually(lambda: d.counts["notifications"] > n, "the notification of /19/1/0")
            assert svc.send({"temperature": "20.5"}) is not None
            await eventually(lambda: rig.board.seen("sent"), "the Send's answer")
            assert svc.runner.failures == 0 and svc.link.opens == 1
            assert await svc.link.sleep() is False and svc.link.is_open     # no PSM on the SIM7600
            assert rig.dev.drv.unrouted == 0
    run(go())


def test_network_loss_and_module_reboot_open_the_link_again_and_register_again(tmp_path):
    async def go():
        async with Rig(tmp_path) as rig:
            rig.start()
            d = await rig.registered()
            svc = rig.dev.andlink
            rig.emu.set_outage(True)                                        # +CIPEVENT: NETWORK CLOSED
            await eventually(lambda: svc.runner.failures >= 1, "the link's loss")
            await asyncio.sleep(0.5)
            rig.emu.set_outage(False)
            await eventually(lambda: d.counts["registrations"] >= 2 and rig.client.registered,
                             "the registration after the outage")
            assert svc.link.opens >= 2 and rig.emu.open_links() == [LINK]
            r = await rig.pf.ops.read(d, (3, 0, 9))
            assert r.ok and r.entries[0].value == 87
            f = svc.runner.failures
            rig.emu.reboot()                                                # RDY: every link gone
            await eventually(lambda: svc.runner.failures > f, "the link's loss at the reboot")
            await eventually(lambda: d.counts["registrations"] >= 3 and rig.client.registered,
                             "the registration after the reboot")
            r = await rig.pf.ops.read(d, (3, 0, 9))
            assert r.ok
            assert not any("Traceback" in x for x in rig.board.logs if not x.startswith("andlink: "))
    run(go())


def test_a_host_name_is_resolved_with_cdnsgip(tmp_path):
    """And-link spec 4.1.2: the domain name first.  The client's peer is the
    name; the link resolves it and hands replies up as coming from it."""
    async def go():
        async with Rig(tmp_path, emu_opts={"hosts": {"lwm2m.andlink.test": "127.0.0.1"}},
                       andlink=lambda pf: {"server": "coap://lwm2m.andlink.test:%d" % pf.coap_address[1]}) as rig:
            rig.start()
            d = await rig.registered()
            link = rig.dev.andlink.link
            assert rig.client.srv_peer == ("lwm2m.andlink.test", rig.pf.coap_address[1])
            assert link.resolved >= 1 and link.unresolved == 0
            assert b'AT+CDNSGIP="lwm2m.andlink.test"' in rig.board.port.written
            r = await rig.pf.ops.read(d, (3, 0, 1))
            assert r.ok and r.entries[0].value == TOKEN
    run(go())


def test_a_name_that_does_not_resolve_falls_back_to_its_address(tmp_path):
    async def go():
        async with Rig(tmp_path, andlink=lambda pf: {"server": "coap://lwm2m.nowhere.test:%d" % pf.coap_address[1]}) as rig:
            rig.board.ANDLINK_FALLBACK = {"lwm2m.nowhere.test": "127.0.0.1"}
            rig.start()
            await rig.registered()
            assert any("lwm2m.nowhere.test not resolved" in x and "127.0.0.1" in x for x in rig.board.logs)
            assert rig.dev.andlink.runner.failures == 0
    run(go())


def test_without_an_address_the_datagrams_are_dropped_and_the_link_stays(tmp_path):
    async def go():
        async with Rig(tmp_path, andlink={"server": "coap://lwm2m.nowhere.test:5683", "coap": dict(FAST, max_retransmit=1)}) as rig:
            rig.start()
            svc = lambda: rig.dev.andlink                                   # noqa: E731
            await eventually(lambda: svc() is not None and svc().link is not None and svc().link.unresolved >= 1,
                             "a datagram without an address")
            await eventually(lambda: rig.board.seen("register_failed"), "the Register given up", 10)
            assert rig.dev.andlink.runner.failures == 0 and rig.dev.andlink.link.is_open
    run(go())


def test_a_board_running_both_protocols_on_one_sim7600_keeps_both_working(tmp_path):
    """PROTOCOLS ("wmmp", "andlink"): WMMP logs in over UDP link 0, And-link
    registers over link 2; a read from each platform is answered through the
    one module, WMMP's platform's REMOTE_CTRL too, and neither link loses a
    datagram to the other."""
    from test_device import Rig as WmmpRig, IMEI as WMMP_IMEI
    from wmmp_tools.platform.model import serial_key

    async def go():
        pf = await Platform(Config(coap=("127.0.0.1", 0), ack_timeout=0.3, request_timeout=3.0,
                                   products={DEVICE_TYPE: TOKEN})).start()
        try:
            async with WmmpRig(tmp_path, "sim7600") as r:
                r.board.PROTOCOLS = ("wmmp", "andlink")
                r.board.ANDLINK = {"server": "coap://127.0.0.1:%d" % pf.coap_address[1], "product_token": TOKEN,
                                   "device_type": DEVICE_TYPE, "binding": "U", "coap": FAST}
                dev = r.start()
                await r.online(8)
                await eventually(lambda: dev.andlink.runner is not None and dev.andlink.runner.client is not None
                                 and dev.andlink.runner.client.registered, "the And-link registration")
                d = pf.registry.devices[WMMP_IMEI]
                await eventually(lambda: d.auth.get("state") == "ok", "the product check")
                assert sorted(r.emu.open_links()) == [0, LINK]                # WMMP's and And-link's
                res = await pf.ops.read(d, (3, 0, 1))
                assert res.ok and res.entries[0].value == TOKEN
                n = d.counts["notifications"]
                await pf.ops.observe(d, (19, 1, 0))
                dev.andlink.update_params({"power": 3})
                await eventually(lambda: d.counts["notifications"] > n, "the notification")
                ans = await r.op.ctrl({"serial": serial_key(dev.term.serial), "code": "suspend"})
                assert ans["result"] == 0                                   # WMMP's platform answered
                ans = await r.op.ctrl({"serial": serial_key(dev.term.serial), "code": "resume"})
                assert ans["result"] == 0
                res = await pf.ops.read(d, (3, 0, 17))                      # And-link's still answers
                assert res.ok and res.entries[0].value == DEVICE_TYPE
                assert dev.failures == {} and dev.term.state_name == "online"
                assert dev.drv.unrouted == 0 and dev.andlink.runner.failures == 0
        finally:
            await pf.close()
    run(go())


# == the driver's +IPD routing ========================================================

class FakeAt:
    s = None                                            # the stream (no set_baud)

    def __init__(self):
        self.logs = []

    def on_reboot(self, fn):
        pass

    def on(self, prefix, fn):
        pass

    def log(self, text):
        self.logs.append(text)


def _routed(drv, src, payload):
    drv._from = src
    drv._on_ipd(b"+IPD%d" % len(payload), payload)


def test_ipd_routing_between_wmmp_and_andlink_links():
    drv = M.Sim7600(FakeAt())
    wmmp = M.UdpBearer(drv, 0, "203.0.113.5", 7301)
    al = M.UdpAnyBearer(drv, LINK, 5683)
    al.wants = coap_or_dtls
    for b in (wmmp, al):
        b._open, b._gen = True, drv.gen
        drv._links[b.link] = b
    coap = bytes([0x60, 0x45, 0, 1])                    # an ACK 2.05
    wmmp_msg = bytes(28)                                # total_length 0: not a whole WMMP message
    # a peer only And-link talks to (never sent to yet: nobody else claims it)
    _routed(drv, ("198.51.100.7", 5683), coap)
    assert al.inbox.items == [(coap, ("198.51.100.7", 5683))]
    # WMMP's platform: WMMP's bearer (which refuses this non-message: counted there)
    _routed(drv, ("203.0.113.5", 7301), wmmp_msg)
    assert wmmp.bad_frames == 1 and len(al.inbox.items) == 1
    # a peer And-link sent to, on WMMP's port: And-link's, not the port fallback's
    al.peers.append(("198.51.100.9", 7301))
    _routed(drv, ("198.51.100.9", 7301), coap)
    assert len(al.inbox.items) == 2 and wmmp.bad_frames == 1
    # one address for both: the content decides
    al.peers.append(("203.0.113.5", 7301))
    _routed(drv, ("203.0.113.5", 7301), coap)
    assert len(al.inbox.items) == 3
    _routed(drv, ("203.0.113.5", 7301), wmmp_msg)
    assert wmmp.bad_frames == 2 and len(al.inbox.items) == 3
    # no RECV FROM with two links open: dropped, counted
    _routed(drv, None, coap)
    assert drv.unrouted == 1
    assert coap_or_dtls(bytes([22, 0xFE, 0xFD])) and not coap_or_dtls(bytes([0, 40])) and not coap_or_dtls(b"")


def test_the_esp32_sim7600_board_ships_valid_andlink_settings(monkeypatch):
    from test_boards import load_board, load_manifest
    esp = load_board("esp32_sim7600", monkeypatch)
    assert esp.PROTOCOLS == ("wmmp",)
    s = AS.resolve(esp.ANDLINK, ip_only=False)
    assert s["bootstrap_peer"] or s["server_peer"]
    assert "andlink/board/sim7600link.py" in load_manifest("esp32_sim7600")["frozen"]


# == the link on MicroPython ===========================================================

_MP_LINK = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
from wmmp.modem.at import AtEngine
from wmmp.modem import LinkLost
from wmmp.modem.sim7600 import Sim7600
from andlink.board.sim7600link import Sim7600Link

FIXED = {b"AT": b"", b"ATE0": b"", b"AT+CMEE=1": b"", b"AT+CIPSRIP=1": b"", b"AT+CGATT?": b"+CGATT: 1",
         b"AT+NETOPEN?": b"+NETOPEN: 1", b'AT+CIPOPEN=2,"UDP",,,5683': b"+CIPOPEN: 2,0",
         b'AT+CDNSGIP="lwm.example.test"': b'+CDNSGIP: 1,"lwm.example.test","10.0.0.2"',
         b"AT+CSQ": b"+CSQ: 20,99", b"AT+CREG=2": b"", b"AT+CREG?": b'+CREG: 2,1,"1816","AC99201",7',
         b"AT+IPADDR": b"+IPADDR: 10.1.2.3", b"AT+CIPCLOSE=2": b"+CIPCLOSE: 2,0"}


class Module:
    """A scripted SIM7600: canned replies, a datagram sent comes back from its destination."""

    def __init__(self):
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.inb = bytearray()
        self.want = 0
        self.dest = None

    def push(self, d):
        self.rx += d
        self.ev.set()

    def line(self, t):
        self.push(b"\r\n" + t + b"\r\n")

    def write(self, d):
        self.inb += d
        while True:
            if self.want:
                if len(self.inb) < self.want:
                    return
                data = bytes(self.inb[:self.want])
                self.inb = self.inb[self.want:]
                self.want = 0
                self.line(b"OK")
                self.line(b"+CIPSEND: 2,%d,%d" % (len(data), len(data)))
                self.line(b"RECV FROM:" + self.dest)
                self.push(b"+IPD%d\r\n" % len(data) + data)
                continue
            k = self.inb.find(b"\r")
            if k < 0:
                return
            c = bytes(self.inb[:k])
            self.inb = self.inb[k + 1:]
            self.answer(c)

    def answer(self, c):
        if c in FIXED:
            if FIXED[c]:
                self.line(FIXED[c])
            self.line(b"OK")
        elif c.startswith(b"AT+CIPSEND=2,"):
            f = c.split(b",")
            self.want = int(f[1])
            self.dest = f[2].strip(b'"') + b":" + f[3]
            self.push(b"\r\n>")
        else:
            self.line(b"ERROR")

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out


async def main():
    try:
        mod = Module()
        at = AtEngine(mod, log=lambda *a: None)
        m = Sim7600(at, log=lambda *a: None)
        link = Sim7600Link(m, names=["lwm.example.test"])
        await link.open()
        print("OPEN", link.link, link.is_open, link.resolved)
        await link.send(b"\x40\x01\x00\x07", ("lwm.example.test", 5683))
        print("RECV", await link.recv())
        await link.send(b"\x40\x01\x00\x08", ("10.0.0.3", 5684))
        print("RECV", await link.recv())
        r = await link.radio()
        print("RADIO", r["rssi_dbm"], r["cell"], r["ip"])
        print("SLEEP", await link.sleep(), link.is_open)
        task = asyncio.create_task(link.recv())
        await asyncio.sleep(0.05)
        mod.line(b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY")
        try:
            await asyncio.wait_for(task, 2)
        except LinkLost:
            print("LOST", link.is_open)
        await link.close()
        at.stop()
        print("END")
    except Exception as e:
        print("FAIL", repr(e))
        sys.print_exception(e)

asyncio.create_task(main())
'''


def test_sim7600_link_runs_on_micropython_asyncio():
    """Sim7600Link over the SIM7600 driver on MicroPython, against a scripted
    module: AT+CIPOPEN of link 2 on the CoAP port, the settings' name resolved
    (AT+CDNSGIP), datagrams out with AT+CIPSEND to the name's address and to
    an address, back through RECV FROM + +IPD with their source (the name's
    given as the name), the radio readings, sleep doing nothing, +CIPEVENT:
    NETWORK CLOSED losing the link."""
    import mp_harness as H
    p = H.run_async_script("andlink_sim7600link_mp", _MP_LINK, 128 * 1024)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out == ["OPEN 2 True 1", "RECV (b'@\\x01\\x00\\x07', ('lwm.example.test', 5683))",
                   "RECV (b'@\\x01\\x00\\x08', ('10.0.0.3', 5684))", "RADIO -73 %d 10.1.2.3" % 0xAC99201,
                   "SLEEP False True", "LOST False", "END"], p.stdout + p.stderr
