"""The technician's local configuration (section 4.3.9.2) through the whole board:
wmmp.board.device.main against the SIM7600 emulator and the platform simulator
(the rig of host_tests/test_device.py), the service console on its line.  A
technician authenticates, sets the heartbeat period with SET, and the platform
simulator records the CONFIG_TRAP with 0x4011 and the new value.  CPython only."""

from binascii import hexlify, unhexlify

from wmmp.board import console as CO
from wmmp.board.fsio import OsFS
from wmmp.board.store import FlashStorage
from wmmp.wire import commands as C

from wmmp_tools.platform.model import serial_key

from test_device import Rig, eventually, run

CRED = b"4f1c9e0a7b2d83e6c5a1f09d2b7e4c18"


async def _ask(board, line):
    """Send one console line; its final reply line."""
    n = len(board.replies())
    board.console(line)
    await eventually(lambda: len(board.replies()) > n, "reply to %s" % line.split()[0])
    return board.replies()[n]


def test_technician_sets_the_heartbeat_and_the_platform_records_0x4011(tmp_path):
    """4.3.9.2: SET 0011 on the console of a logged-in board reaches the running
    engine (device.make_console gives the console the engine); the terminal sends
    CONFIG_TRAP 0x4011 with the value, the platform stores it, and the new period
    is kept on flash."""
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            FlashStorage(OsFS(), r.state_dir).save({"secret_service": CRED})
            dev = r.start()
            await r.online()
            b = r.board
            assert (await _ask(b, "SET 0011=0000003c")).startswith("ERR need_auth ")
            nonce = unhexlify((await _ask(b, "CHALLENGE")).split()[2])
            assert (await _ask(b, "AUTH " + hexlify(CO.response(CRED, nonce)).decode())).startswith("OK AUTH")
            assert await _ask(b, "GET 0011") == "OK GET 0011=0000001e"
            assert await _ask(b, "SET 0011=0000003c") == "OK SET tags=0011 applied=now report=now"
            await eventually(lambda: any(m.tlv(0x4011) is not None for m in b.sent(C.CONFIG_TRAP)),
                             "CONFIG_TRAP 0x4011")
            trap = [m for m in b.sent(C.CONFIG_TRAP) if m.tlv(0x4011) is not None][0]
            assert trap.tlv(0x0011) == b"\x00\x00\x00\x3c"
            serial = serial_key(dev.term.serial)
            await eventually(lambda: r.pf.db.param(serial, 0x0011) == b"\x00\x00\x00\x3c",
                             "the platform's record of 0x0011")
            notes = [m["note"] for m in r.pf.db.messages(serial, 200)]
            assert any("settings changed by hand on the terminal (4.3.9.2)" in n for n in notes), notes
            assert dev.term.params.get_int(0x0011) == 60
        assert FlashStorage(OsFS(), r.state_dir).load()[0x0011] == b"\x00\x00\x00\x3c"
    run(main())
