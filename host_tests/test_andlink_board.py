"""And-link on the boards (lib/andlink/board) on CPython: wmmp.board.device with
PROTOCOLS naming "andlink", the BC95 emulator (tools/wmmp_tools/emu/bc95.py)
on an in-process UART, and the And-link platform simulator (tools/andlink_tools,
in-process on loopback): registration with the 3.5 product check and the
4.1.5 reads (the module's firmware, its cell id), a read of the board's values,
a notification, queue mode with the module in PSM (downlink held by the
network until the next uplink) and with the radio off, a FOTA of the MCU
software (4.4.4) through the emulator with a lost uplink datagram and a
packet-network outage that the runner rides out by opening the link again
(blocks fetched again <= 1 per interruption, never from block 0), the
restart in place and the confirmation, /3/0/4 Reboot; a board running both
WMMP and And-link starts both.  The CoAP timers of 3.4 are scaled down
(ACK_TIMEOUT 0.3 s) so a lost datagram costs a fraction of a second."""

import asyncio
import hashlib
import os
import time

import pytest

from andlink.board import service as SV, settings as AS
from andlink.client import fota as F
from wmmp.board import device, ota
from wmmp.board import otaimage as I
from wmmp.board.fsio import OsFS
from wmmp.terminal.simcard import SimulatedSim

from andlink_tools.fota import Policy
from andlink_tools.platform import Config, Platform
from wmmp_tools.emu.bc95 import Bc95 as Bc95Emu
from wmmp_tools.emu.stream import HostPort

IMEI, IMSI, ICCID = "869976032983322", "460001234567890", "89860012345678901234"
DEVICE_TYPE, TOKEN = "590001", "pt-4f1c9a7e2b"
FAST = {"ack_timeout": 0.3, "max_retransmit": 3, "max_transmit_wait": 3, "ack_delay": 0.1, "block_lifetime": 10}
EMU_FIRMWARE = "V100R100C10B657SP3"       # the emulator's AT+CGMR APPLICATION line
EMU_CI = 0x0B8A9A12                       # its cell id (Options.ci)


def run(coro, timeout=40):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def eventually(cond, what, timeout=8.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "no %s within %s s" % (what, timeout)
        await asyncio.sleep(0.02)


def update_file(payload, version):
    body = I.archive_entry("app.py", payload)
    return I.build_header("host", version, "mpy-app", len(body), hashlib.sha256(body).digest()) + body


class Board:
    """A board for the tests: the BC95 emulator behind an in-process UART."""

    MODEM = "bc95"
    PRODUCTION = False
    RESTART_BACKOFF = (0.05, 0.4)
    RADIO_PERIOD = 0
    FIRMWARE = "mcu-1.0.0"
    OTA_HEALTH_S = 30

    def __init__(self, emu, tmp, andlink, protocols=("andlink",), settings=None, stager=True):
        self.PROTOCOLS = protocols
        self.ANDLINK = andlink
        self.SETTINGS = settings or {}
        self.STATE_DIR = str(tmp / "state")
        self.ota_dir = str(tmp / "ota")
        self.port = HostPort(emu)
        self.logs = []
        self.events = []
        self.params = []
        self.free = 150000
        if not stager:
            self.ota_stager = None

    def modem_stream(self):
        return self.port

    def filesystem(self):
        return OsFS()

    def log(self, text):
        self.logs.append(text)

    def memory(self):
        return self.free, 262144

    def battery(self):
        return 87

    def on_andlink_event(self, ev):
        self.events.append(ev)

    def on_andlink_params(self, d):
        self.params.append(d)

    def ota_stager(self):
        return ota.AppStager(OsFS(), self.ota_dir, "host", capacity=1 << 20, log=self.log)

    def seen(self, *ev):
        return any(e[:len(ev)] == ev for e in self.events)

    def names(self, *names):
        return [e[0] for e in self.events if e[0] in names]


class Rig:
    """The And-link platform, an emulated BC95 and a device running And-link on it."""

    def __init__(self, tmp, emu_opts=None, andlink=None, awake=2.0, **board_kw):
        self.tmp = tmp
        self.emu_opts = emu_opts or {}
        self.andlink = andlink or {}
        self.awake = awake
        self.board_kw = board_kw

    async def __aenter__(self):
        self.pf = await Platform(Config(coap=("127.0.0.1", 0), ack_timeout=0.3, request_timeout=3.0,
                                        awake=self.awake, products={DEVICE_TYPE: TOKEN},
                                        policy=Policy(stall=5.0, download=30.0, update=10.0))).start()
        card = SimulatedSim(IMSI, ICCID, IMEI, pin="1234", pin_enabled=False)
        self.emu = Bc95Emu(card, **self.emu_opts)
        await self.emu.start()
        s = {"server": "coap://127.0.0.1:%d" % self.pf.coap_address[1], "product_token": TOKEN,
             "device_type": DEVICE_TYPE, "lifetime": 300, "binding": "U", "coap": FAST, "radio_period": 1}
        s.update(self.andlink)
        self.board = Board(self.emu, self.tmp, s, **self.board_kw)
        return self

    def start(self):
        self.dev = device.Device(self.board)
        self.task = asyncio.create_task(self.dev.run())
        return self.dev

    @property
    def client(self):
        svc = self.dev.andlink
        return None if svc is None or svc.runner is None else svc.runner.client

    def pf_device(self):
        return self.pf.registry.devices.get(IMEI)

    async def registered(self, timeout=8.0):
        await eventually(lambda: self.client is not None and self.client.registered, "registration", timeout)
        await eventually(lambda: self.pf_device() is not None and self.pf_device().reg is not None
                         and self.pf_device().auth.get("state") == "ok", "the platform's registration reads", timeout)
        return self.pf_device()

    async def __aexit__(self, *exc):
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()
            try:
                await asyncio.wait_for(task, 5)
            except (asyncio.CancelledError, asyncio.TimeoutError):
                pass
        await self.emu.close()
        await self.pf.close()


# == settings ========================================================================

def test_settings_defaults_and_refusals():
    s = AS.resolve({"server": "coap://112.13.96.204:5683"})
    assert s["server_peer"] == ("112.13.96.204", 5683) and s["bootstrap_peer"] is None
    assert s["binding"] == "UQ" and s["lifetime"] == 86400 and s["sleep"] == "psm" and s["local_port"] == 5683
    assert s["params"].ack_timeout == 5 and s["params"].block_size == 512            # section 3.4
    s = AS.resolve({"bootstrap": "coap://112.13.96.174"})
    assert s["bootstrap_peer"] == ("112.13.96.174", 5683) and s["server_peer"] is None
    s = AS.resolve({"server": "coaps://1.2.3.4", "bootstrap": "coap://1.2.3.5"})          # 3.5: DTLS on 5684
    assert s["server_peer"] == ("1.2.3.4", 5684) and s["server_secure"] and not s["bootstrap_secure"]
    assert s["secure"] and s["psk_identity"] is None and s["psk_file"] is None
    for bad, words in (({}, "neither"), ({"server": "http://1.2.3.4"}, "coaps:// only"),
                       ({"server": "coaps://1.2.3.4", "psk_file": ""}, "psk_file"),
                       ({"server": "coap://lwm.home.komect.com"}, "IPv4"),
                       ({"server": "coap://1.2.3.4/rd"}, "no path"), ({"server": "coap://1.2.3.4", "lifetime": 5}, "60"),
                       ({"server": "coap://1.2.3.4", "binding": "S"}, "U or UQ"),
                       ({"server": "coap://1.2.3.4", "sleep": "deep"}, "psm"),
                       ({"server": "coap://1.2.3.4", "psm_timers": ("0010", "1")}, "8-bit"),
                       ({"server": "coap://1.2.3.4", "colour": 1}, "unknown")):
        with pytest.raises(ValueError) as e:
            AS.resolve(bad)
        assert words in str(e.value), (bad, e.value)
    assert AS.resolve({"server": "coap://lwm.home.komect.com"}, ip_only=False)["server_peer"][0] == "lwm.home.komect.com"


# == registration, reads, notifications ==============================================

def test_registers_through_the_bc95_and_answers_reads_and_notifies(tmp_path):
    async def go():
        async with Rig(tmp_path) as rig:
            rig.start()
            d = await rig.registered()
            svc = rig.dev.andlink
            assert d.auth["state"] == "ok"                                  # 3.5 product check
            assert d.reg.binding == "U" and d.reg.lifetime == 300
            r = await rig.pf.ops.read(d, (3, 0, 3))                         # 4.1.5: the module's firmware
            assert r.ok and r.entries[0].value == EMU_FIRMWARE
            r = await rig.pf.ops.read(d, (3, 0, 19))                        # the MCU's software
            assert r.entries[0].value == "mcu-1.0.0"
            r = await rig.pf.ops.read(d, (4, 0, 8))                         # the module's cell id
            assert r.entries[0].value == EMU_CI
            r = await rig.pf.ops.read(d, (4, 0, 2))                         # RSRP from AT+NUESTATS, dBm
            assert -140 < r.entries[0].value < -40
            r = await rig.pf.ops.read(d, (3, 0, 9))
            assert r.entries[0].value == 87
            r = await rig.pf.ops.read(d, (3, 0, 10))
            assert r.entries[0].value == 150000 // 1024
            r = await rig.pf.ops.read(d, (3, 0, 26261))                     # the stager's room, KB (4.4.4)
            assert r.entries[0].value == 1024
            # the parameter container (4.2.2): a Write reaches the board, an observer hears a change
            r = await rig.pf.ops.write(d, (19, 1, 0), b'{"power":5}', 110)
            assert r.ok and rig.board.params == [{"power": 5}]
            r = await rig.pf.ops.observe(d, (19, 1, 0))
            assert r.ok
            n = d.counts["notifications"]
            svc.update_params({"power": 18})
            await eventually(lambda: d.counts["notifications"] > n, "the notification of /19/1/0")
            r = await rig.pf.ops.read(d, (19, 1, 0), query=("p=power",))
            assert r.ok and b"18" in r.payload
            # Send to /dp (4.3.2) from the application
            assert svc.send({"temperature": "20.5"}) is not None
            await eventually(lambda: rig.board.seen("sent"), "the Send's answer")
            # the radio values are read again while awake: a new cell is observed
            r = await rig.pf.ops.observe(d, (4, 0, 8))
            n = d.counts["notifications"]
            rig.emu.o.ci = 0x0B8A9A13
            rig.dev.drv.ci = None                                          # (no +CEREG URC: the same tac)
            await eventually(lambda: d.counts["notifications"] > n, "the notification of the new cell", 6)
            r = await rig.pf.ops.read(d, (4, 0, 8))
            assert r.entries[0].value == 0x0B8A9A13
            assert rig.dev.andlink.runner.failures == 0
            assert any("IMEI %s" % IMEI in x for x in rig.board.logs)
    run(go())


# == queue mode ======================================================================

def test_queue_mode_module_in_psm_holds_downlink_until_the_next_uplink(tmp_path):
    """Binding UQ (6.3.4's b=UQ; LwM2M TS 1.0 8.3): the client sleeps after its
    awake window, the module enters PSM (+NPSMR:1) once idle; a request the
    platform queues (its awake window is over) and one it sends anyway (the
    network holds it for the module in PSM) are both answered right after the
    device's next uplink (a Send)."""
    async def go():
        async with Rig(tmp_path, emu_opts={"psm_idle": 0.8, "rrc_idle": 0.4}, awake=0.6,
                       andlink={"binding": "UQ", "queue_window": 0.5}) as rig:
            rig.start()
            d = await rig.registered()
            assert d.reg.binding == "UQ" and d.reg.queue
            drv = rig.dev.drv
            await eventually(lambda: rig.client.asleep, "the client's sleep", 5)
            await eventually(lambda: drv.psm is True, "the module in PSM", 5)
            assert rig.emu.in_psm and drv.psm_entries >= 1
            # (1) the platform's own queue: the device sleeps, the Read waits for its uplink
            queued = asyncio.ensure_future(rig.pf.ops.read(d, (3, 0, 9)))
            await eventually(lambda: len(d.queue) == 1, "the queued Read")
            # (2) a Read sent anyway: the network holds it while the module is in PSM
            d.awake_until = time.time() + 30
            held = asyncio.ensure_future(rig.pf.ops.read(d, (3, 0, 10)))
            await eventually(lambda: rig.emu.held(), "the downlink held by the network")
            assert not held.done() and not queued.done()
            n = rig.board.names("sleep", "awake")
            assert n and n[-1] == "sleep"
            assert rig.dev.andlink.send({"power": 1}) is not None        # the uplink
            r = await asyncio.wait_for(held, 5)
            assert r.ok and r.entries[0].value == 150000 // 1024
            r = await asyncio.wait_for(queued, 5)
            assert r.ok and r.entries[0].value == 87
            await eventually(lambda: rig.board.seen("sent"), "the Send's answer")
            assert rig.board.names("sleep", "awake")[-1] == "awake"
            await eventually(lambda: rig.client.asleep and drv.psm is True, "sleep and PSM again", 5)
            assert rig.dev.andlink.runner.failures == 0 and rig.dev.andlink.link.opens == 1
    run(go())


def test_queue_mode_radio_off_while_asleep(tmp_path):
    """sleep "off" (a network without PSM): AT+CFUN=0 when the client sleeps,
    the radio back on (attach, a new socket) for the next uplink."""
    async def go():
        async with Rig(tmp_path, awake=0.6, andlink={"binding": "UQ", "queue_window": 0.5, "sleep": "off"}) as rig:
            rig.start()
            d = await rig.registered()
            link = rig.dev.andlink.link
            await eventually(lambda: rig.client.asleep and not link.is_open, "sleep with the radio off", 5)
            await eventually(lambda: b"AT+CFUN=0" in rig.board.port.written, "AT+CFUN=0")
            assert not rig.emu.registered()
            await eventually(lambda: not rig.pf.ops.awake(d), "the platform's awake window to end")
            queued = asyncio.ensure_future(rig.pf.ops.read(d, (3, 0, 9)))
            await eventually(lambda: len(d.queue) == 1, "the queued Read")
            assert rig.dev.andlink.send({"power": 2}) is not None
            r = await asyncio.wait_for(queued, 8)
            assert r.ok and r.entries[0].value == 87
            await eventually(lambda: rig.board.seen("sent"), "the Send's answer")
            assert link.opens == 2 and rig.dev.andlink.runner.failures == 0
            assert rig.board.port.written.count(b"AT+CFUN=1") >= 1
    run(go())


# == FOTA ============================================================================

def test_fota_through_the_bc95_rides_out_a_lost_datagram_and_an_outage(tmp_path):
    """4.4 by Pull, the MCU's software (4.4.4: /5/0/26550, then /3/0/19): the
    platform's whole flow against the board's AppStager, through the emulated
    module.  One uplink datagram (a block request) is lost, and later the packet
    network goes for a second: the link is lost, the runner opens it again
    (attach, a new socket) and the download goes on from where it was; at most
    one block is fetched again per interruption, never from block 0.  Then
    Execute, the restart in place, the new version registers and confirms
    (result 1)."""
    async def go():
        async with Rig(tmp_path) as rig:
            rig.board.MODEM_OPTIONS = {"attach_poll": 0.1}
            rig.start()
            d = await rig.registered()
            body = update_file(os.urandom(30000), "2.0.0")
            pkg = rig.pf.packages.publish(body, "2.0.0", "mcu.bin")
            served = []
            serve = rig.pf.packages.serve

            def counting(request):
                b2 = request.opt.block2
                served.append(b2.block_number if b2 is not None else 0)
                return serve(request)
            rig.pf.packages.serve = counting
            rec = await rig.pf.fota.push(d, pkg, sota=True)
            assert rec.state == "uri-written", rec.to_json()
            await eventually(lambda: len(served) >= 10, "the first blocks")
            rig.emu.lose_uplink(1)
            lost_at = len(served)
            await eventually(lambda: len(served) >= lost_at + 15, "more blocks")
            rig.emu.set_outage(True)
            await asyncio.sleep(1.0)
            rig.emu.set_outage(False)
            await eventually(lambda: rec.state == "succeeded", "the FOTA's success", 25)
            blocks = -(-len(body) // 512)
            assert sorted(set(served)) == list(range(blocks))
            assert len(served) - blocks <= 2, served                       # <= 1 per interruption
            assert served.count(0) == 1 and all(b >= a - 1 for a, b in zip(served, served[1:])), served
            runner = rig.dev.andlink.runner
            assert runner.failures >= 1 and rig.dev.andlink.link.opens >= 2    # the outage: link reopened
            assert runner.restarts == 1                                    # in place (no board.reset)
            assert rig.client.fota_state() == (F.IDLE, F.R_SUCCESS)
            r = await rig.pf.ops.read(d, (3, 0, 19))
            assert r.entries[0].value == "2.0.0"
            assert rig.dev.andlink.stager.version() == "2.0.0" and rig.dev.andlink.stager.pending() is None
            assert any("restart (fota)" in x for x in rig.board.logs)
            from andlink.client.core import FlashPersist
            from wmmp.board.store import FlashStorage
            rec = FlashPersist(FlashStorage(OsFS(), rig.board.STATE_DIR + "/andlink")).load()
            assert (rec["fs"], rec["fr"], rec["fv"]) == (F.IDLE, F.R_SUCCESS, "2.0.0")     # kept on flash
    run(go(), 60)


# == Reboot, and a board running both protocols =======================================

def test_reboot_resource_restarts_once_answered(tmp_path):
    async def go():
        async with Rig(tmp_path) as rig:
            rig.start()
            d = await rig.registered()
            r = await rig.pf.ops.execute(d, (3, 0, 4))
            assert r.ok                                                    # 2.04 before the restart
            await eventually(lambda: d.counts["registrations"] == 2 and rig.client.registered,
                             "the registration after the reboot")
            assert rig.dev.andlink.runner.restarts == 1
    run(go())


def test_reboot_on_a_board_with_reset(tmp_path):
    """board.reset() is called (machine.reset on a board); the fake returns,
    the And-link task ends and its supervisor starts it again."""
    async def go():
        async with Rig(tmp_path) as rig:
            resets = []
            rig.board.reset = lambda: resets.append(1)
            rig.start()
            d = await rig.registered()
            r = await rig.pf.ops.execute(d, (3, 0, 4))
            assert r.ok
            await eventually(lambda: resets and d.counts["registrations"] == 2 and rig.client is not None
                             and rig.client.registered, "the registration after the reset")
            assert any("task andlink ended" in x for x in rig.board.logs)
    run(go())


def test_a_board_running_both_protocols_starts_both(tmp_path):
    """PROTOCOLS = ("wmmp", "andlink") on one BC95: the WMMP engine brings the
    module up and logs in to the WMMP platform; the And-link task waits for the
    module's identity, opens its own socket and registers with the And-link
    platform under the same IMEI."""
    from test_device import Rig as WmmpRig, IMEI as WMMP_IMEI

    async def go():
        pf = await Platform(Config(coap=("127.0.0.1", 0), ack_timeout=0.3, request_timeout=3.0,
                                   products={DEVICE_TYPE: TOKEN})).start()
        try:
            async with WmmpRig(tmp_path, "bc95") as r:
                r.board.PROTOCOLS = ("wmmp", "andlink")
                r.board.ANDLINK = {"server": "coap://127.0.0.1:%d" % pf.coap_address[1], "product_token": TOKEN,
                                   "device_type": DEVICE_TYPE, "binding": "U", "coap": FAST}
                dev = r.start()
                await r.online(8)
                await eventually(lambda: dev.andlink.runner is not None and dev.andlink.runner.client is not None
                                 and dev.andlink.runner.client.registered, "the And-link registration")
                d = pf.registry.devices[WMMP_IMEI]
                await eventually(lambda: d.auth.get("state") == "ok", "the product check")
                assert len(r.emu.open_sockets()) == 2                       # WMMP's and And-link's
                assert sum(1 for x in r.board.logs if x.startswith("device: bc95 firmware")) == 1
                assert not any(x.startswith("andlink: bc95 firmware") for x in r.board.logs)
                assert dev.ota is None and dev.andlink.stager is None       # no ota_stager on this board
                res = await pf.ops.read(d, (5, 0, 1))
                assert res.ok
                res = await pf.ops.write(d, (5, 0, 1), b"coap://127.0.0.1:1/fw", 0)
                assert res.code.dotted == "4.05"                            # no updater: refused
                assert dev.failures == {} and dev.term.state_name == "online"
        finally:
            await pf.close()
    run(go())


# == the runner's loop never dies ======================================================

class UdpLink(asyncio.DatagramProtocol):
    """A host UDP socket as the runner's link, with faults to inject."""

    def __init__(self):
        self.tr = None
        self.q = asyncio.Queue()
        self.fail_recv = self.fail_send = self.fail_open = 0
        self.opens = 0

    def datagram_received(self, data, addr):
        self.q.put_nowait((data, (addr[0], addr[1])))

    async def open(self):
        if self.fail_open:
            self.fail_open -= 1
            raise OSError("injected: no attach")
        if self.tr is None:
            self.tr, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: self, local_addr=("127.0.0.1", 0))
            self.q = asyncio.Queue()
            self.opens += 1

    async def send(self, data, peer):
        if self.fail_send:
            self.fail_send -= 1
            raise OSError("injected: send refused")
        self.tr.sendto(data, peer)

    async def recv(self):
        if self.fail_recv:
            self.fail_recv -= 1
            raise RuntimeError("injected: the module said nonsense")
        return await self.q.get()

    async def close(self):
        if self.tr is not None:
            self.tr.close()
            self.tr = None


def test_runner_survives_link_and_build_failures():
    from andlink import coap as C
    from andlink.board import objects
    from andlink.board.runner import Runner
    from andlink.client.core import Client

    async def go():
        pf = await Platform(Config(coap=("127.0.0.1", 0), ack_timeout=0.3, request_timeout=3.0)).start()
        s = AS.resolve({"server": "coap://127.0.0.1:%d" % pf.coap_address[1], "binding": "U", "coap": FAST,
                        "product_token": TOKEN, "device_type": DEVICE_TYPE})
        builds, logs = [], []
        hooks = objects.Hooks(lambda: runner.later_restart("reboot"))

        def build():
            builds.append(1)
            if len(builds) == 1:
                raise ValueError("injected: the store cannot be built")
            return Client(objects.build(s, "fw", "sw", hooks), IMEI, server=s["server_peer"], binding="U",
                          params=C.Params(**FAST))
        link = UdpLink()
        link.fail_open = 1
        runner = Runner(build, link, log=logs.append, backoff=(0.05, 0.2), counters=hooks)
        task = asyncio.ensure_future(runner.run())
        try:
            await eventually(lambda: runner.client is not None and runner.client.registered, "registration")
            assert runner.failures == 2 and len(builds) == 2                # the open, then the build
            c = runner.client
            d = pf.registry.devices[IMEI]
            link.fail_recv = 1
            link.q.put_nowait((b"", None))                                 # wake the reader: it raises
            await eventually(lambda: runner.failures == 3, "the receive failure")
            link.fail_send = 1
            assert c.send({"power": 1}, runner.clock()) is not None
            runner.wake()
            await eventually(lambda: runner.failures == 4, "the send failure")
            await eventually(lambda: d.counts["registrations"] >= 2, "the registration after the reopen")
            r = await pf.ops.read(d, (3, 0, 1))
            assert r.ok and r.entries[0].value == TOKEN
            assert runner.client is c and not task.done()                  # the same client throughout
            assert hooks.tx > 0 and hooks.rx > 0
            assert sum("injected" in x for x in logs) == 4, logs
        finally:
            runner.stop()
            await asyncio.wait_for(task, 3)
            await pf.close()
    run(go())


# == the boards ========================================================================

def test_boards_declare_their_protocols_and_the_pico_freezes_andlink(monkeypatch):
    from test_boards import ROOT, load_board, load_manifest
    lib = os.path.join(ROOT, "lib")
    andlink = sorted(os.path.relpath(os.path.join(d, f), lib) for d, _, fs in os.walk(os.path.join(lib, "andlink"))
                     for f in fs if f.endswith(".py"))
    assert "andlink/board/service.py" in andlink
    pico = load_board("pico_bc95", monkeypatch)
    assert pico.PROTOCOLS == ("wmmp",)
    s = AS.resolve(pico.ANDLINK)                    # the shipped settings are valid for the BC95
    assert s["bootstrap_peer"] == ("112.13.96.174", 5683) and s["binding"] == "UQ" and s["sleep"] == "psm"
    frozen = load_manifest("pico_bc95")["frozen"]
    assert sorted(t for t in frozen if t.startswith("andlink/")) == andlink
    esp = load_board("esp32_sim7600", monkeypatch)
    assert esp.PROTOCOLS == ("wmmp",)
    assert AS.resolve(esp.ANDLINK, ip_only=False)["bootstrap_peer"] == ("112.13.96.174", 5683)
    assert sorted(t for t in load_manifest("esp32_sim7600")["frozen"] if t.startswith("andlink/")) == andlink


def test_andlink_on_a_sim7600_board_checks_its_key_first(tmp_path):
    """A SIM7600 board takes host names (it resolves them: AT+CDNSGIP); a
    coaps:// server without the device's key: the task logs why once and
    waits, nothing is sent in clear (the SIM7600 link itself:
    test_andlink_board_sim7600.py)."""
    class Fake:
        MODEM = "sim7600"
        PROTOCOLS = ("andlink",)
        ANDLINK = {"server": "coaps://lwm.example.test:5684"}

        def __init__(self):
            self.logs = []

        def log(self, text):
            self.logs.append(text)

    assert AS.resolve({"server": "coap://lwm.example.test"}, ip_only=False)["server_peer"][0] == "lwm.example.test"

    async def go():
        b = Fake()
        dev = device.Device(b)
        dev.ident = {"imei": IMEI}
        dev.drv = object()
        svc = SV.Service(dev)
        t = asyncio.ensure_future(svc.run_once())
        await eventually(lambda: any("not started" in x for x in b.logs), "the log line")
        assert not t.done() and "coaps needs the pre-shared key" in b.logs[-1]
        assert svc.runner is None
        t.cancel()
    run(go())


def test_bootstrap_result_kept_on_flash_across_a_power_cycle(tmp_path):
    """Client-initiated bootstrap (4.1.1-4.1.3) through the platform's
    Bootstrap-Server; the result is kept in STATE_DIR/andlink (FlashPersist
    over the WMMP flash store): a new device on the same flash registers at
    once, without bootstrapping again."""
    from andlink.client.core import FlashPersist
    from wmmp.board.store import FlashStorage

    async def go():
        async with Rig(tmp_path, andlink={"server": None}) as rig:
            await rig.pf.close()
            rig.pf = await Platform(Config(coap=("127.0.0.1", 0), bootstrap=("127.0.0.1", 0), ack_timeout=0.3,
                                           request_timeout=3.0, bs_lifetime=300, products={DEVICE_TYPE: TOKEN})).start()
            rig.board.ANDLINK["bootstrap"] = "coap://127.0.0.1:%d" % rig.pf.bootstrap_address[1]
            rig.start()
            await rig.registered()
            assert rig.board.seen("bootstrapped")
            rec = FlashPersist(FlashStorage(OsFS(), rig.board.STATE_DIR + "/andlink")).load()
            assert rec["srv"] == "127.0.0.1:%d" % rig.pf.coap_address[1]
            rig.task.cancel()                                               # the power goes
            try:
                await rig.task
            except asyncio.CancelledError:
                pass
            rig.board.events.clear()
            rig.start()                                                     # a new device, the same flash
            await eventually(lambda: rig.client is not None and rig.client.registered, "the registration")
            assert not rig.board.seen("bootstrapped") and not rig.board.seen("bootstrapping")
    run(go())
