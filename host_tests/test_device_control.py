"""Everything the engine accepts reaches the board, through wmmp.board.device against
the SIM7600 and BC95 emulators and the platform simulator (the rig of
host_tests/test_device.py).  CPython only; each test bounded by a few seconds.

Remote control (section 4.3.7, appendix E f 0x4001 / 0x4021): a remote restart
logs out (0x06), restarts the module and resets the board, and 0x4010 follows
the next login; suspend / resume reach board.on_service and survive a restart;
upload reaches board.on_upload (refused without it); APN switches go through
the driver (AT+CGDCONT, module restart, login again) and report 0x4010 0x00,
or 0x02 with the old APN kept when the network refuses the new one, and are
refused when the board has no such APN; a declared output is driven (0x300F
follows), an undeclared one refused.  Configuration (4.3.9.3, appendix G h):
parameters nothing on the board applies are refused "data invalid"; the SMS
centre (AT+CSCA) and DNS (AT+CDNSCFG) are applied without a restart, the PDP
authentication (AT+CGAUTH) and the platform URL (AT+CDNSGIP) through one.
And the operator's run through device.main (4.3.9.3, 4.3.7, 4.3.6): APN and
heartbeat changed from the platform, a remote restart, every attribute read
back with CONFIG_GET.
"""

import asyncio
import struct
import sys
import types

import pytest

from wmmp.board import device
from wmmp.board.fsio import OsFS
from wmmp.board.store import FlashStorage
from wmmp.terminal import engine as E, params as PM
from wmmp.wire import catalogue as CAT, codec, codes as K, commands as C

from wmmp_tools.platform.model import serial_key

from test_device import Rig, eventually, run


def _serial(dev):
    return serial_key(dev.term.serial)


def _reports(b, seq):
    """0x4010 values the terminal sent for request `seq`."""
    return [m.tlv(0x4010)[0] for m in b.sent(C.CONFIG_TRAP)
            if m.tlv(0x4010) is not None and m.tlv(0x4010)[1:] == struct.pack(">I", seq)]


async def _request(r, dev, msg):
    return await r.pf.request(_serial(dev), msg, timeout=4)


# -- 0x4001 0x02: remote restart -------------------------------------------------------------

def test_remote_restart_resets_the_board_and_reports_after_the_next_login(tmp_path):
    """4.3.7 / appendix E f 0x02: REMOTE_CTRL_ACK 0x00, LOGOUT 0x06, the
    parameters saved, the module restarted (AT+CRESET), board.reset(); the
    terminal that starts next logs in and reports 0x4010 0x00 with the request's
    seq."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            term1 = dev.term
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "restart"})
            assert ans["result"] == 0
            await eventually(lambda: b.resets == 1, "board.reset()")
            assert [m.fields["reason"] for m in b.sent(C.LOGOUT)] == [K.LOGOUT_FAULT_RELOGIN]
            assert b"AT+CRESET" in bytes(b.port.written) and b.seen("restart", "remote")
            await eventually(lambda: _reports(b, ans["seq"]) == [0], "0x4010 after the next login")
            assert dev.term is not term1 and dev.term.state == E.S_ONLINE and b.count("registered") == 1
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("ctrl_restart") is None
    run(main())


# -- 0x4001 0x00 / 0x01: suspend and resume ---------------------------------------------------

def test_suspend_and_resume_reach_the_hook_and_survive_a_restart(tmp_path):
    """4.3.7 / appendix E f 0x00, 0x01: board.on_service(False) / (True); the
    suspended state is on flash and told to the board again when a new
    Terminal starts; application data is refused meanwhile."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            calls = []
            r.board.on_service = calls.append
            dev = r.start()
            b = r.board
            await r.online()
            assert calls == [True]                   # the state at start
            assert (await r.op.ctrl({"serial": _serial(dev), "code": "suspend"}))["result"] == 0
            await eventually(lambda: calls[-1] is False, "on_service(False)")
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("service_off") == b"\x01"
            assert dev.term.send_data(b"meter 7", dev.clock(), ec_code=b"\x00\x01") is None
            term1 = dev.term
            dev.on_console_reset("keys", 0x0E)       # a new Terminal over the same parameters
            await eventually(lambda: dev.term is not term1 and dev.term.state == E.S_ONLINE, "restart")
            assert calls[-1] is False and dev.term.service_off()
            assert (await r.op.ctrl({"serial": _serial(dev), "code": "resume"}))["result"] == 0
            await eventually(lambda: calls[-1] is True, "on_service(True)")
            assert not dev.term.service_off()
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("service_off") is None
            assert not b.sent(C.TRANSPARENT_DATA)
    run(main())


# -- 0x4001 0x07: upload ----------------------------------------------------------------------

@pytest.mark.parametrize("hook", [True, False])
def test_upload_reaches_its_hook_or_is_refused(tmp_path, hook):
    """4.3.7 / appendix E f 0x07: with board.on_upload the board flushes its
    buffered data (ACK 0x00); a board without one refuses (0x01, 0x4001 L=0)."""
    async def main():
        async with Rig(tmp_path, "bc95") as r:
            calls = []
            if hook:
                r.board.on_upload = lambda: calls.append(1)
            dev = r.start()
            await r.online()
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "upload-data"})
            if hook:
                assert ans["result"] == 0
                await eventually(lambda: calls == [1], "on_upload()")
            else:
                assert ans["result"] == 1 and [t["tag"] for t in ans["tlvs"]] == [0x4001]
                assert ans["tlvs"][0]["hex"] == ""
    run(main())


# -- 0x4001 0x09 / 0x0C: APN switches ---------------------------------------------------------

def test_apn_switch_to_the_application_apn_and_back(tmp_path):
    """4.3.7 / appendix E f 0x0C then 0x09: the module takes the application's APN
    (0x0013: AT+CGDCONT, AT+CRESET), the same Terminal logs in again over it and
    reports 0x4010 0x00; the choice is kept on flash; 0x09 goes back to the
    platform's APN the same way."""
    async def main():
        async with Rig(tmp_path, "sim7600", settings={"app_apn": "appnet"}) as r:
            r.emu.o.apn_required = ("cmnet", "appnet")
            dev = r.start()
            b = r.board
            await r.online()
            term = dev.term
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "apn-application"})
            assert ans["result"] == 0
            await eventually(lambda: _reports(b, ans["seq"]) == [0], "0x4010 0x00", 8)
            assert dev.drv.apn == "appnet" and dev.term is term and dev.sessions == 2
            assert b'AT+CGDCONT=1,"IP","appnet"' in bytes(b.port.written)
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("apn_use") == b"app"
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "apn-platform"})
            assert ans["result"] == 0
            await eventually(lambda: _reports(b, ans["seq"]) == [0], "0x4010 0x00 again", 8)
            assert dev.drv.apn == "cmnet" and dev.sessions == 3 and dev.term.state == E.S_ONLINE
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("apn_use") is None
    run(main())


def test_apn_switch_the_network_refuses_keeps_the_old_apn(tmp_path):
    """4.3.7: the network takes only the platform's APN: the switch fails, the
    module is back on cmnet, the terminal logs in again and reports 0x4010 0x02
    (failed, old setting kept)."""
    async def main():
        async with Rig(tmp_path, "sim7600", settings={"app_apn": "appnet"}) as r:
            r.emu.o.apn_required = "cmnet"
            dev = r.start()
            b = r.board
            await r.online()
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "apn-application"})
            assert ans["result"] == 0
            await eventually(lambda: _reports(b, ans["seq"]) == [2], "0x4010 0x02", 8)
            assert dev.drv.apn == "cmnet" and dev.term.state == E.S_ONLINE
            assert PM.Params(FlashStorage(OsFS(), r.state_dir)).get("apn_use") is None
            assert any("APN appnet refused" in l for l in b.logs)
    run(main())


def test_apn_switch_refused_on_a_board_without_that_apn(tmp_path):
    """4.3.7 / G i: no application APN (0x0013) configured: 0x0C is refused
    (REMOTE_CTRL_ACK 0x01, 0x4001 at L=0) and nothing is restarted; once the
    platform sets one (4.3.9.3, LOGOUT 0x07 and a restart in place: it is not
    in use) the switch is accepted and carried out."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            r.emu.o.apn_required = ("cmnet", "appnet")
            dev = r.start()
            b = r.board
            await r.online()
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "apn-application"})
            assert ans["result"] == 1 and [t["tag"] for t in ans["tlvs"]] == [0x4001]
            await asyncio.sleep(0.3)
            assert dev.sessions == 1 and not b.seen("apn") and dev.drv.apn == "cmnet"
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [["0x0013", b"appnet".hex()]],
                                  "report_wait": 8})
            assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0
            assert dev.sessions == 1 and dev.drv.apn == "cmnet"        # restarted in place
            ans = await r.op.ctrl({"serial": _serial(dev), "code": "apn-application"})
            assert ans["result"] == 0
            await eventually(lambda: _reports(b, ans["seq"]) == [0], "0x4010 0x00", 8)
            assert dev.drv.apn == "appnet"
    run(main())


# -- 0x4021: peripheral outputs ---------------------------------------------------------------

class _Pin:
    OUT, IN = 1, 0
    levels = {}

    def __init__(self, n, mode=None, value=None):
        self.n = n
        if value is not None:
            _Pin.levels[n] = value

    def value(self, v=None):
        if v is None:
            return _Pin.levels.get(self.n)
        _Pin.levels[self.n] = v


def test_declared_output_switched_and_an_undeclared_one_refused(tmp_path, monkeypatch):
    """4.3.7 / appendix E f 0x4021: board.OUTPUTS = {0x0001: pin 26}: the pin is low
    at start, REMOTE_CTRL 0x4021 0x0001 on drives it high; CONFIG_GET shows the
    supported peripherals (0x3010) and their states (0x300F); peripheral 0x0002
    is refused (0x01, 0x4021 at L=0)."""
    machine = types.ModuleType("machine")
    machine.Pin = _Pin
    monkeypatch.setitem(sys.modules, "machine", machine)
    _Pin.levels = {}

    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            r.board.OUTPUTS = {0x0001: 26}
            dev = r.start()
            await r.online()
            assert _Pin.levels == {26: 0}
            ack = await _request(r, dev, codec.Message(C.REMOTE_CTRL, tlvs=[(0x4021, b"\x00\x01\x01")]))
            assert ack.fields["result"] == K.ACK_OK
            await eventually(lambda: _Pin.levels[26] == 1, "pin 26 high")
            got = await _request(r, dev, codec.Message(C.CONFIG_GET, tlvs=[(0x3010, b""), (0x300F, b"")]))
            assert got.fields["result"] == K.ACK_OK
            assert dict(got.tlvs) == {0x3010: b"\x00\x01", 0x300F: b"\x00\x01\x01"}
            ack = await _request(r, dev, codec.Message(C.REMOTE_CTRL, tlvs=[(0x4021, b"\x00\x02\x01")]))
            assert ack.fields["result"] == K.ACK_INVALID and ack.tlvs == [(0x4021, b"")]
            ack = await _request(r, dev, codec.Message(C.REMOTE_CTRL, tlvs=[(0x4021, b"\x00\x01\x00")]))
            assert ack.fields["result"] == K.ACK_OK
            await eventually(lambda: _Pin.levels[26] == 0, "pin 26 low")
    run(main())


# -- CONFIG_SET: refused or applied through the driver (4.3.9.3, G h) --------------------------

@pytest.mark.parametrize("modem,tag,value", [
    ("sim7600", 0x0001, b"*99#"),               # dial number: no dial-up on a board
    ("sim7600", 0x0012, b"10086"),              # USSD number: stored only
    ("sim7600", 0x0101, b"\x00\x05"),           # serial port: nothing applies it (yet)
    ("bc95", 0x0008, b"m2m.example.cn"),        # platform URL: the BC95 resolves no names
    ("bc95", 0x0003, b"user"),                  # PDP authentication: not on the BC95
])
def test_parameters_nothing_applies_are_refused(tmp_path, modem, tag, value):
    """4.3.9.3 / G h: a CONFIG_SET with a tag this board does not apply is answered
    0x01 with that tag at L=0, and nothing of it is stored or done."""
    async def main():
        async with Rig(tmp_path, modem) as r:
            dev = r.start()
            await r.online()
            before = dev.params.get(tag)
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [["0x0011", "0000003c"],
                                                                   ["0x%04X" % tag, value.hex()]]})
            assert ans["result"] == 1 and [(t["tag"], t["hex"]) for t in ans["tlvs"]] == [(tag, "")]
            assert dev.params.get(tag) == before != value and dev.params.get_int(0x0011) == 30
            assert dev.sessions == 1
    run(main())


@pytest.mark.parametrize("modem", ["sim7600", "bc95"])
def test_sms_centre_and_dns_applied_at_once(tmp_path, modem):
    """4.3.9.3: 0x0005 SMS centre -> AT+CSCA (both modules; the BC95's network
    here offers SMS), 0x0010 / 0x0014 DNS -> AT+CDNSCFG (SIM7600), through the
    driver with no LOGOUT and no restart; 0x4010 0x00."""
    async def main():
        async with Rig(tmp_path, modem) as r:
            dev = r.start()
            b = r.board
            await r.online()
            tlvs = [["0x0005", b"+8613800200500".hex()]]
            if modem == "sim7600":
                tlvs += [["0x0010", "08080808"], ["0x0014", "01010101"]]
            ans = await r.op.set({"serial": _serial(dev), "tlvs": tlvs})
            assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0
            await eventually(lambda: r.emu.o.smsc_number == "+8613800200500", "AT+CSCA")
            w = bytes(b.port.written)
            assert b'AT+CSCA="+8613800200500",145' in w
            if modem == "sim7600":
                await eventually(lambda: r.emu.dns == ("8.8.8.8", "1.1.1.1"), "AT+CDNSCFG")
                assert b'AT+CDNSCFG="8.8.8.8","1.1.1.1"' in bytes(b.port.written)
            assert not b.sent(C.LOGOUT) and dev.sessions == 1
            assert b"AT+CRESET" not in w and b"AT+NRB" not in w
    run(main())


def test_platform_sms_number_applied_at_once(tmp_path):
    """4.3.9.3 / PROTOCOL.md 9: 0x0007 platform SMS number (no restart): the SMS bearer
    sends to it and accepts WMMP SMS from it (the old number after it), the
    engine names it (CONFIG_GET 0x0007); no LOGOUT."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [["0x0007", b"10658001".hex()]]})
            assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0
            sms = dev.bearers[1]
            await eventually(lambda: sms.numbers == ["10658001", "10658000"], "SMS bearer numbers")
            assert dev.term.cfg.platform_numbers == ("10658001", "10658000")
            got = await _request(r, dev, codec.Message(C.CONFIG_GET, tlvs=[(0x0007, b"")]))
            assert got.tlvs == [(0x0007, b"10658001")]
            assert not b.sent(C.LOGOUT) and dev.sessions == 1
    run(main())


def test_pdp_authentication_applied_through_a_restart(tmp_path):
    """4.3.9.3: 0x0003 / 0x0004 (dial user / password) need the PDP context again:
    LOGOUT 0x07, AT+CGAUTH (password before user, SIMCom order) with a module
    restart; the network that wants them lets the terminal in again."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            r.emu.o.auth_required = ("m2muser", "s3cret")
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [
                ["0x0003", b"m2muser".hex()], ["0x0004", b"s3cret".hex()]], "report_wait": 8})
            assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0, ans
            assert [m.fields["reason"] for m in b.sent(C.LOGOUT)] == [K.LOGOUT_PLATFORM_CONFIG]
            assert b'AT+CGAUTH=1,1,"s3cret","m2muser"' in bytes(b.port.written)
            assert r.emu.auth[1] == (1, "s3cret", "m2muser") and dev.sessions == 2
            assert not any("s3cret" in l for l in b.logs)
    run(main())


def test_platform_url_resolved_by_the_module(tmp_path):
    """4.3.9.3: 0x0008 platform URL (set after the IP, so it wins): the module
    resolves its host (AT+CDNSGIP, through the DNS of 0x0010) and the packet
    bearer goes to that address; the terminal logs in again over it."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            r.emu.o.hosts = {"m2m.example.cn": "127.0.0.1"}
            r.emu.o.dns_required = "10.0.0.53"
            dev = r.start()
            b = r.board
            await r.online()
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [["0x0010", "0a000035"]]})
            assert ans["result"] == 0
            await eventually(lambda: r.emu.dns == ("10.0.0.53",), "AT+CDNSCFG")
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [
                ["0x0008", b"udp://m2m.example.cn:7301/".hex()]], "report_wait": 8})
            assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0, ans
            assert b'AT+CDNSGIP="m2m.example.cn"' in bytes(b.port.written)
            assert dev.settings["host"] == "m2m.example.cn" and dev.sessions == 2
            assert dev.bearers[2].host == "127.0.0.1" and dev.term.state == E.S_ONLINE
    run(main())


# -- the operator's run ----------------------------------------------------------------------

def _attribute_tags():
    """Every attribute CONFIG_GET answers (configuration.current): the catalogue's
    tags below the security range, neither secret nor reserved nor an
    operation-only tag of the control group."""
    return [t for t in CAT.tags() if t < 0x4000 and not CAT.is_secret(t)
            and CAT.lookup(t)[0] != CAT.T_RESERVED]


def test_operator_changes_apn_and_heartbeat_restarts_and_reads_everything(tmp_path):
    """The operator's run, device.main with the SIM7600 emulator: CONFIG_SET of the
    APN and the heartbeat period (4.3.9.3: LOGOUT 0x07, AT+CGDCONT with the new
    APN and a module restart, login, 0x4010 + 0x4017), REMOTE_CTRL restart
    (4.3.7: LOGOUT 0x06, board reset, 0x4010 after the next login), then
    CONFIG_GET of every attribute (4.3.6, PROTOCOL.md 10): all answered, the new
    values among them."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            b = r.board
            task = asyncio.create_task(device.main(b))
            try:
                await eventually(lambda: b.count("state", "online") >= 1, "login")
                serial = [serial_key(m.serial) for m in b.sent(C.LOGIN)][0]
                ans = await r.op.set({"serial": serial, "report_wait": 8, "tlvs": [
                    ["0x0002", b"cmiot".hex()], ["0x0011", "0000003c"]]})
                assert ans["result"] == 0 and ans["reports"][-1]["report"] == 0, ans
                assert b'AT+CGDCONT=1,"IP","cmiot"' in bytes(b.port.written)
                ans = await r.op.ctrl({"serial": serial, "code": "restart"})
                assert ans["result"] == 0
                await eventually(lambda: _reports(b, ans["seq"]) == [0], "0x4010 after the restart", 8)
                assert b.resets == 1
                tags = _attribute_tags()
                got = await r.pf.request(serial, codec.Message(C.CONFIG_GET, tlvs=[(t, b"") for t in tags]),
                                         timeout=6)
                assert got.fields["result"] == K.ACK_OK, got.tlvs
                v = dict(got.tlvs)
                assert sorted(v) == sorted(tags)
                assert v[0x0002] == b"cmiot" and v[0x0011] == struct.pack(">I", 60)
                assert v[0x3002] == serial.encode() and v[0x0007] == b"10658000"
                assert v[0x3006] and v[0x3007] and v[0x3001] and v[0x3004] == b"WMMP0.1"
            finally:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
    run(main(), 20)


# -- 4.2.1: a short-connection board ------------------------------------------------------------

def test_short_connection_board_logs_out_when_idle(tmp_path):
    """4.2.1: SETTINGS["long_connection"] = False: no heartbeats; once its
    exchanges are answered the terminal logs out (reason 0x00) and stays idle."""
    async def main():
        async with Rig(tmp_path, "bc95", settings={"long_connection": False}) as r:
            dev = r.start()
            b = r.board
            await r.online()
            assert dev.term.cfg.long_connection is False
            await eventually(lambda: dev.term.state == E.S_IDLE, "logged out when idle", 9)
            assert [m.fields["reason"] for m in b.sent(C.LOGOUT)] == [K.LOGOUT_NORMAL]
            assert not b.sent(C.HEART_BEAT)
    run(main(), 15)


# -- the codes the engine carries out alone, through the board (4.3.7, appendix E f) -----------

def test_engine_codes_through_the_board(tmp_path):
    """0x03 wake-up (online already: nothing to do), 0x04 statistics (0x2008-0x200B
    reported), 0x05 statistics cleared, 0x06 monitoring (0x3005, 0x3011, the
    module's 0x3006/0x3007), 0x08 connection (0x4005 packet, 0x4006 UDP), 0x0B
    core configuration, 0x0D LOGOUT and login again: each answered 0x00."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            serial = _serial(dev)

            async def ctrl(code):
                n = len(b.sent(C.CONFIG_TRAP))
                ans = await r.op.ctrl({"serial": serial, "code": code})
                assert ans["result"] == 0, (code, ans)
                return n

            await ctrl("wake-up")
            n = await ctrl("report-stats")
            await eventually(lambda: len(b.sent(C.CONFIG_TRAP)) > n, "statistics")
            assert b.sent(C.CONFIG_TRAP)[-1].tlv(0x200B) is not None
            before = dev.params.get_int(0x200B)          # packet bytes: counted again at once
            await ctrl("clear-stats")
            await eventually(lambda: dev.params.get_int(0x200B) < before, "statistics cleared")
            assert before > 0
            n = await ctrl("report-monitor")
            await eventually(lambda: len(b.sent(C.CONFIG_TRAP)) > n, "monitoring")
            m = b.sent(C.CONFIG_TRAP)[-1]
            assert m.tlv(0x3005) is not None and m.tlv(0x3006) and m.tlv(0x3007) is not None
            n = await ctrl("report-connection")
            await eventually(lambda: len(b.sent(C.CONFIG_TRAP)) > n, "connection")
            m = b.sent(C.CONFIG_TRAP)[-1]
            assert m.tlv(0x4005) == b"\x03" and m.tlv(0x4006) == b"\x00\x00"
            n = await ctrl("report-core-config")
            await eventually(lambda: len(b.sent(C.CONFIG_TRAP)) > n, "core configuration")
            await ctrl("relogin-encrypted")
            await eventually(lambda: b.count("login_ack") == 2 and dev.term.state == E.S_ONLINE, "login again")
            assert [m.fields["reason"] for m in b.sent(C.LOGOUT)] == [K.LOGOUT_NORMAL]
            assert dev.sessions == 1
    run(main())


def test_factory_reset_brings_the_factory_connection_back(tmp_path):
    """Appendix E f 0x0A after a CONFIG_SET of the APN (4.3.9.3): the parameters
    go back to the factory's, so the module is set to the factory APN again
    (AT+CGDCONT cmnet, AT+CRESET) and the same Terminal logs in over it."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            dev = r.start()
            b = r.board
            await r.online()
            ans = await r.op.set({"serial": _serial(dev), "tlvs": [["0x0002", b"cmiot".hex()]],
                                  "report_wait": 8})
            assert ans["reports"][-1]["report"] == 0 and dev.drv.apn == "cmiot"
            assert (await r.op.ctrl({"serial": _serial(dev), "code": "factory-reset"}))["result"] == 0
            await eventually(lambda: dev.sessions == 3 and dev.term.state == E.S_ONLINE, "login again", 8)
            assert dev.drv.apn == "cmnet" and dev.params.get(0x0002) is None
            assert any("factory reset: new bearers" in l for l in b.logs)
    run(main())
