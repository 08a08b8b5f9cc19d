"""Short versions of `make bench-bridge` (bench/bridge.py, issue 13): the serial
data bridge end to end through the modem emulators (paced AT UARTs), the
platform simulator and a data port on a pseudo-terminal (the terminal's side
paced at the port's baud), with the emulated meter on the other end.

Only what must hold whatever the machine's speed is asserted: every byte
delivered, in order, never twice, drops counted exactly (0x8001), the
full-buffer alarm raised once.  Rates and latencies are the benchmark's
figures, never asserted here.

Each scenario runs once (a module fixture) and the tests read its result:
  uplink + downlink  3 s each through the SIM7600 (downlink: the platform
                     offering the line rate, then sending on each ACK with a
                     1 s retransmission, so the full port ring withholds ACKs)
  outage             a 3 s packet outage (SIM7600 set_outage) with the board's
                     buffer, the meter sending 100-byte frames
  overflow           the same with the bridge's uplink buffer at its minimum
                     (1026 bytes, Config.bridge_buffer) and the meter sending
                     400-byte frames 4 times a second, so that frames are dropped
  bc95               5 s at 150 B/s through the BC95 emulator (AT at 9600)

CPython only (a pty, termios, real sockets).
"""
import asyncio
import importlib.util
import io
import os
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bench():
    spec = importlib.util.spec_from_file_location("bench_bridge", os.path.join(ROOT, "bench", "bridge.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


B = _bench()


def run(name, *args, timeout=60):
    a = B.options(list(args) + ["--json", ""])
    with tempfile.TemporaryDirectory(prefix="test-bench-bridge-") as d:
        return asyncio.run(asyncio.wait_for(B.RUNNERS[name](a, io.StringIO(), d), timeout))


@pytest.fixture(scope="module")
def uplink():
    return run("uplink", "--seconds", "3")


@pytest.fixture(scope="module")
def downlink():
    return run("downlink", "--down-seconds", "3", "--down-burst", "3", "--down-retransmit", "1")


@pytest.fixture(scope="module")
def outage():
    return run("outage", "--outage", "3", "--lead", "1", "--tail", "1", "--drain-timeout", "40")


@pytest.fixture(scope="module")
def overflow():
    return run("overflow", "--outage", "3", "--lead", "1", "--tail", "1", "--outage-rate", "4", "--outage-frame", "400",
               "--small-buffer", "1026", "--drain-timeout", "40")


@pytest.fixture(scope="module")
def bc95():
    return run("bc95", "--bc95-rate", "150", "--bc95-frame", "200", "--bc95-seconds", "5", timeout=90)


def test_uplink_every_byte_in_order_once(uplink):
    u = uplink
    assert u["sent_frames"] > 0
    assert u["delivered_bytes"] == u["sent_bytes"]
    assert u["missing_frames"] == 0 and u["duplicates"] == 0 and u["in_order"]
    assert u["split"] == 0                      # frames of 1024 bytes: one message each, at the limit
    assert u["counters"]["frames_up"] == u["sent_frames"] and u["counters"]["frames_dropped"] == 0


def test_downlink_line_rate_offer_every_byte_in_order_once(downlink):
    dn = downlink
    assert dn["sent_messages"] > 0 and dn["received_bytes"] == dn["sent_bytes"]
    assert dn["missing_frames"] == 0 and dn["duplicates"] == 0 and dn["in_order"]
    assert dn["garbage_bytes"] == 0
    assert dn["acks"] == {"5": dn["sent_messages"]}


def test_downlink_on_ack_ring_full_flow_control_loses_nothing(downlink):
    """The platform sending on each ACK outruns the 115200 baud port: the ring
    fills, the ACK is withheld, the retransmission is written once."""
    ob = downlink["on_ack"]
    assert ob["acks_withheld"] >= 1
    assert ob["received_bytes"] == ob["sent_bytes"] and ob["garbage_bytes"] == 0
    assert ob["missing_frames"] == 0 and ob["duplicates"] == 0 and ob["in_order"]
    assert ob["acks"] == {"5": ob["sent_messages"]}
    c = downlink["counters"]
    assert c["bytes_down"] == downlink["sent_bytes"] + ob["sent_bytes"] and c["frames_dropped"] == 0


def test_outage_every_frame_delivered_in_order(outage):
    o = outage
    assert o["sent_frames"] >= 4 and o["sent_by_recovery"] > o["sent_before_outage"]
    assert o["delivered_frames"] == o["sent_frames"] and o["missing_frames"] == 0
    assert o["delivered_bytes"] == o["sent_bytes"]
    assert o["in_order"] and o["duplicates"] == 0
    assert o["dropped_frames"] == 0 and o["dropped_bytes"] == 0 and o["drop_accounting_exact"]
    assert o["overflow_alarm_traps"] == 0 and o["overflow_alarm_events"] == 0


def test_overflow_drops_counted_exactly_alarm_once_rest_in_order(overflow):
    o = overflow
    assert not o["engine_on_sms_seen"]          # 3 s: no SMS fallback, one meter frame = one bridge frame
    lost = o["sent_frames"] - o["delivered_frames"]
    assert lost > 0, "the buffer was not too small: nothing to count"
    assert o["dropped_frames"] == lost == o["missing_frames"]
    assert o["dropped_bytes"] == o["sent_bytes"] - o["delivered_bytes"]
    assert o["drop_accounting_exact"]
    assert o["in_order"] and o["duplicates"] == 0
    assert o["overflow_alarm_events"] == 1      # ("bridge_alarm", "overflow") once
    assert o["overflow_alarm_traps"] == 1       # one CONFIG_TRAP raising 0x0011 at the platform
    assert o["overflow_alarm_cleared"] == 1     # cleared once the buffer emptied
    # (not asserted: the order the platform takes them in.  The raise, sent into
    # the outage, waits for its retransmission; the clear, sent once the buffer
    # has emptied after the network's return, may reach the platform first.)
    assert o["buffer"] == 1026


def test_bc95_low_rate_zero_loss(bc95):
    s = bc95["sustained"]
    assert s["sent_frames"] > 0
    assert s["delivered_frames"] == s["sent_frames"] and s["missing_frames"] == 0
    assert s["delivered_bytes"] == s["sent_bytes"]
    assert s["in_order"] and s["duplicates"] == 0 and s["dropped_frames"] == 0


def test_paced_stream_never_faster_than_its_line():
    """FdStream(pace=True) (what the bench's data port uses): bytes leave no
    faster than the configured line carries them (a lower bound on the time,
    whatever the machine); configure() changes the pace; unpaced by default."""
    import time
    from wmmp_tools import dataport as DP

    async def main():
        m = DP.PtyStream().open()
        t = DP.TtyStream(m.path, pace=True).open()
        plain = DP.TtyStream(m.path).open()
        try:
            assert plain.char_time is None
            t.configure(9600, 8, "N", 1)
            assert t.char_time == pytest.approx(10 / 9600.0)
            got = bytearray()

            async def reader():
                while len(got) < 1440:
                    got.extend(await m.read(4096))
            r = asyncio.create_task(reader())
            t0 = time.monotonic()
            t.write(bytes(range(240)) * 2)
            await t.drain()
            t.configure(19200, 8, "N", 2)
            assert t.char_time == pytest.approx(11 / 19200.0)
            t.write(bytes(range(240)) * 4)
            await t.drain()
            elapsed = time.monotonic() - t0
            await asyncio.wait_for(r, 10)
            assert bytes(got) == bytes(range(240)) * 6
            assert elapsed >= 480 * 10 / 9600.0 + 960 * 11 / 19200.0 - 2 * DP.PACE_AHEAD
        finally:
            for s in (plain, t, m):
                s.close()
    asyncio.run(main())
