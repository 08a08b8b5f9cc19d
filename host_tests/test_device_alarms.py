"""Alarms with real sources through the whole board (section 4.3.5, appendix E
e: 0x300B-0x300E): wmmp.board.device.main against the SIM7600 emulator and the
platform simulator (the rig of host_tests/test_device.py).  The module's signal
drops under the board's threshold: the platform receives 0x300D 0x000B (weak
signal, type 0x01); it recovers: 0x300E 0x000B and 0x300B = 0; the status LED
hook sees online -> alarm -> online.  CPython only."""

import struct

from wmmp.wire import codes as K, commands as C

from test_device import Rig, eventually, run


def test_weak_signal_alarm_raised_and_cleared_through_the_board(tmp_path):
    async def main():
        async with Rig(tmp_path, "sim7600") as r:
            b = r.board
            b.RADIO_PERIOD = 0.2                 # the radio task reads +CSQ (0x3007)
            b.ALARM_HOLD = 0.3
            b.ALARM_PERIOD = 0.05
            b.SIGNAL_ALARM_PERCENT = 40
            leds = []
            b.status_led = leds.append
            r.start()
            await r.online()
            await eventually(lambda: leds and leds[-1] == "online", "LED online")
            r.emu.rssi = 4                       # about 13 %: under 40 %

            def raised():
                return [m for m in b.sent(C.CONFIG_TRAP)
                        if m.tlv(0x300D) == struct.pack(">H", K.ALARM_WEAK_SIGNAL)]
            await eventually(lambda: raised(), "0x300D weak signal at the platform")
            trap = raised()[0]
            assert trap.tlv(0x300B) == b"\x01" and trap.tlv(0x300C) == b"\x01"
            await eventually(lambda: "alarm" in leds, "LED alarm")
            r.emu.rssi = 25                      # about 80 %

            def cleared():
                return [m for m in b.sent(C.CONFIG_TRAP)
                        if m.tlv(0x300E) == struct.pack(">H", K.ALARM_WEAK_SIGNAL)]
            await eventually(lambda: cleared(), "0x300E weak signal at the platform")
            assert cleared()[0].tlv(0x300B) == b"\x00"
            await eventually(lambda: leds[-1] == "online", "LED online again")
    run(main())
