"""The serial data bridge through wmmp.board.device (PROTOCOL.md 11; 4.3.11, 4.3.7
0x07, 4.3.9.3) on CPython, with the rig of host_tests/test_device.py (SIM7600
and BC95 emulators, platform simulator) and a board that declares a data port
(DATA_PORT, data_stream() -> the fake stream of host_tests/test_dataport.py):
the port set to 9600 8N1 once the Terminal exists; meter bytes framed and sent
as TRANSPARENT_DATA to the EC code 0x0028; REMOTE_CTRL 0x07 accepted without
board.on_upload and sending the open frame at once; a CONFIG_SET of 0x0101
reconfiguring the port live after its ACK, one the port cannot do refused
"data invalid"; downlink TRANSPARENT_DATA written to the port (ACK 0x05); a
data UART that fails to open is logged and retried while the terminal stays
online.  Each test bounded by a few seconds."""

import asyncio

from wmmp.board.fsio import OsFS
from wmmp.board.store import FlashStorage
from wmmp.terminal import engine as E, params as PM
from wmmp.wire import codec, commands as C, crc, profile as P

from wmmp_tools.platform.model import serial_key

from test_dataport import CAPS, FakeStream
from test_device import Rig, eventually, run

EC = b"\x00\x00\x00\x2a"


def _preset(r, gap=None):
    """0x0028 (and 0x0105) on the flash before the device starts."""
    p = PM.Params(FlashStorage(OsFS(), r.state_dir))
    p.set(0x0028, EC)
    if gap is not None:
        p.set(0x0105, bytes([0, gap]))
    p.commit()


def _with_port(r, stream, fail=0):
    b = r.board
    b.DATA_PORT = CAPS
    b.BRIDGE_BUFFER = 4096
    opens = []

    def data_stream():
        opens.append(1)
        if len(opens) <= fail:
            raise OSError(19, "no such UART")
        return stream
    b.data_stream = data_stream
    return opens


def _frames(b):
    return [m.tlv(0x4007) for m in b.sent(C.TRANSPARENT_DATA)]


def test_meter_bytes_go_up_and_platform_data_comes_down(tmp_path):
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            _preset(r)
            s = FakeStream()
            _with_port(r, s)
            dev = r.start()
            await r.online()
            await eventually(lambda: s.configs == [(9600, 8, "N", 1)], "the port set at start")
            assert dev.term.cfg.data_port is CAPS and dev.term.cfg.bridge_buffer == 4096
            s.q.put_nowait(b"meter 0001 ")
            s.q.put_nowait(b"42.7 kWh")
            await eventually(lambda: _frames(r.board), "TRANSPARENT_DATA")
            m = r.board.sent(C.TRANSPARENT_DATA)[0]
            assert m.tlv(0x4007) == b"meter 0001 42.7 kWh" and m.tlv(0x4014) == EC
            assert m.fields["crc16"] == crc.crc16(b"meter 0001 42.7 kWh", P.DEFAULT.crc16)
            ud = b"\x01\x03\x00\x00\x00\x0a"
            msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc.crc16(ud, P.DEFAULT.crc16)},
                                [(0x4015, EC), (0x4007, ud)])
            ans = await r.pf.request(serial_key(dev.term.serial), msg, timeout=4)
            assert ans.fields["result"] == 0x05
            await eventually(lambda: bytes(s.written) == ud, "written to the port")
            assert dev.dataport.tx_bytes == len(ud) and "data" not in dev.failures
    run(main())


def test_upload_and_live_port_settings(tmp_path):
    """0x4001 0x07 without board.on_upload: accepted, the open frame sent at
    once (0x0105 = 10 s would hold it); CONFIG_SET 0x0101 = 10 sets the port to
    115200 after the ACK; parity mark (0x0104 = 3) refused "data invalid"."""
    async def main():
        async with Rig(tmp_path, "bc95") as r:
            _preset(r, gap=100)
            s = FakeStream()
            _with_port(r, s)
            dev = r.start()
            await r.online()
            await eventually(lambda: s.configs, "the port set at start")
            s.q.put_nowait(b"held by the gap")
            await eventually(lambda: dev.dataport.rx_bytes == 15, "fed")
            await asyncio.sleep(0.3)
            assert _frames(r.board) == []
            ans = await r.op.ctrl({"serial": serial_key(dev.term.serial), "code": "upload-data"})
            assert ans["result"] == 0
            await eventually(lambda: _frames(r.board) == [b"held by the gap"], "sent on 0x07")
            serial = serial_key(dev.term.serial)
            ans = await r.pf.request(serial, codec.Message(C.CONFIG_SET, tlvs=[(0x0101, b"\x00\x0a")]),
                                     timeout=4)
            assert ans.fields["result"] == 0x00
            await eventually(lambda: s.configs[-1] == (115200, 8, "N", 1), "115200 applied live")
            ans = await r.pf.request(serial, codec.Message(C.CONFIG_SET, tlvs=[(0x0104, b"\x03")]),
                                     timeout=4)
            assert ans.fields["result"] == 0x01
            await asyncio.sleep(0.2)
            assert s.configs[-1] == (115200, 8, "N", 1) and dev.term.state == E.S_ONLINE
    run(main())


def test_a_data_uart_that_fails_is_retried_and_the_terminal_stays_up(tmp_path):
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            _preset(r)
            s = FakeStream()
            opens = _with_port(r, s, fail=2)
            dev = r.start()
            await r.online()
            await eventually(lambda: len(opens) == 3 and s.configs, "opened at the third try")
            assert dev.failures.get("data") == 2
            assert sum("task data failed" in x for x in r.board.logs) == 2
            s.q.put_nowait(OSError(5, "framing error"))
            s.q.put_nowait(b"still here")
            await eventually(lambda: _frames(r.board) == [b"still here"], "sent after the read failure")
            assert any("dataport: read failed" in x for x in r.board.logs)
            assert dev.term.state == E.S_ONLINE
    run(main())
