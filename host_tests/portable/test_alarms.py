"""wmmp.board.alarms: alarms with real sources and the status LED (section
4.3.5 alarm reports; appendix E e: 0x300B status, 0x300C type, 0x300D code,
0x300E cleared code; 0x0109 threshold), over a real Terminal online with the
fake platform.  Portable."""
import struct

from wmmp.board import alarms as A
from wmmp.board.store import FlashStorage
from wmmp.errors import StorageError
from wmmp.terminal import engine as E, params as PM
from wmmp.wire import commands as C, codes as K
from wmmp.wire import profile as P
import fakeplatform as F
from ramfs import RamFS
from test_engine_online import online

SMS, PKT = P.BEARER_SMS, P.BEARER_PACKET
HOLD = 60


class Board:
    SIGNAL_ALARM_PERCENT = 20
    SIGNAL_HYSTERESIS = 5
    SUPPLY_ALARM_MV = 3300
    SUPPLY_HYSTERESIS_MV = 100
    ALARM_HOLD = HOLD

    def __init__(self):
        self.leds = []

    def status_led(self, state):
        self.leds.append(state)


def setup(params=None, board=None):
    t, pf, clk = online(params)
    b = board if board is not None else Board()
    m = A.AlarmMonitor(lambda: t, b)
    m.poll(clk.t)
    return t, pf, clk, m, b


def run(t, pf, clk, m, secs, login=False):
    """`secs` s of the device loop in 1 s steps: tick the engine, poll the
    monitor, answer heartbeats, acknowledge CONFIG_TRAPs (and LOGIN when
    `login`) -> [(bearer, CONFIG_TRAP)] sent meanwhile."""
    traps = []
    for _ in range(secs):
        clk.advance(1)
        t.tick(clk.t)
        m.poll(clk.t)
        for b, raw in t.outgoing():
            cmd = F.command(raw)
            if cmd == C.LOGIN:
                if login:
                    t.receive(pf.login_ack(pf.read(raw, ts=0)), b, clk.t)
                continue
            msg = pf.read(raw, b)
            if cmd == C.CONFIG_TRAP:
                traps.append((b, msg))
                t.receive(pf.ack(msg, {"result": 0}, bearer=b), b, clk.t)
            elif cmd == C.HEART_BEAT:
                t.receive(pf.ack(msg, digest=False, bearer=b), b, clk.t)
    return traps


def code(c):
    return struct.pack(">H", c)


def is_raise(msg, c, kind):
    return msg.tlv(0x300B) == b"\x01" and msg.tlv(0x300C) == bytes([kind]) and msg.tlv(0x300D) == code(c)


def is_clear(msg, c, last=True):
    return msg.tlv(0x300E) == code(c) and msg.tlv(0x300B) == (b"\x00" if last else None)


def alarm_traps(traps):
    return [m for _, m in traps if m.tlv(0x300D) is not None or m.tlv(0x300E) is not None]


def test_weak_signal_raised_after_the_hold_and_cleared_with_hysteresis():
    # 4.3.5 / appendix E e: 0x3007 under SIGNAL_ALARM_PERCENT -> CONFIG_TRAP
    # 0x300B=1, 0x300C=0x01 (communication), 0x300D=0x000B; back at 20 + 5 %
    # for the hold -> 0x300E=0x000B with 0x300B=0 (no alarm left).
    t, pf, clk, m, b = setup()
    t.params.set(0x3007, b"\x0a")              # as the drivers' update_radio stores it
    assert alarm_traps(run(t, pf, clk, m, HOLD - 1)) == []
    got = alarm_traps(run(t, pf, clk, m, 2))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_WEAK_SIGNAL, K.ALARM_TYPE_COMM)
    assert t.alarms == [K.ALARM_WEAK_SIGNAL]
    m.signal(22, clk.t)                        # above the limit, inside the hysteresis
    t.params.set(0x3007, b"\x16")
    assert alarm_traps(run(t, pf, clk, m, 2 * HOLD)) == []
    t.params.set(0x3007, b"\x19")              # 25 %
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_WEAK_SIGNAL) and t.alarms == []


def test_flapping_source_is_debounced_and_raised_once():
    # 4.3.5: a source that flaps faster than ALARM_HOLD reports nothing; one
    # that holds is raised once (0x300D), however long it holds.
    t, pf, clk, m, b = setup()
    for _ in range(5):
        m.module(False, clk.t)
        run(t, pf, clk, m, HOLD // 2)
        m.module(True, clk.t)
        assert alarm_traps(run(t, pf, clk, m, HOLD // 2)) == []
    m.module(False, clk.t)
    got = alarm_traps(run(t, pf, clk, m, 5 * HOLD))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE)
    m.module(False, clk.t)                     # reported again: still the same alarm
    assert alarm_traps(run(t, pf, clk, m, HOLD)) == []
    # the recovery is debounced too: a short good spell clears nothing
    m.module(True, clk.t)
    run(t, pf, clk, m, HOLD // 2)
    m.module(False, clk.t)
    assert alarm_traps(run(t, pf, clk, m, 2 * HOLD)) == [] and t.alarms == [K.ALARM_SELF_TEST_FAULT]


def test_module_not_answering_is_self_test_fault():
    # Appendix E e 0x0006 (type 0x02 hardware): bring-up / AT timeouts reported
    # by the device; cleared (0x300E) once the module answers for the hold.
    t, pf, clk, m, b = setup()
    m.module(False, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE)
    m.module(True, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_SELF_TEST_FAULT)


def test_sim_removed_or_locked_shares_0x0006_with_the_module():
    # Appendix E e has no SIM code: 0x0006 as the SIM guard reports it (4.4.1.1).
    # NO SIM / SIM PIN / SIM PUK / BLOCKED hold it; READY releases it; with the
    # module also failing, one 0x300D only, cleared when both are fine.
    for state in ("NO SIM", "SIM PIN", "SIM PUK", "BLOCKED"):
        t, pf, clk, m, b = setup()
        m.sim(state, clk.t)
        m.sim(None, clk.t)                     # unknown (the read failed): no change
        got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
        assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE), state
        m.sim("READY", clk.t)
        got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
        assert len(got) == 1 and is_clear(got[0], K.ALARM_SELF_TEST_FAULT)
    t, pf, clk, m, b = setup()
    m.sim("NO SIM", clk.t)
    m.module(False, clk.t)
    assert len(alarm_traps(run(t, pf, clk, m, HOLD + 1))) == 1
    m.sim("READY", clk.t)
    assert alarm_traps(run(t, pf, clk, m, 2 * HOLD)) == []
    m.module(True, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_SELF_TEST_FAULT)


def test_flash_write_failure_is_memory_error():
    # Appendix E e 0x0011 memory error (type 0x02): the flash store's write
    # counters (FlashStorage.write_errors / writes) seen through term.params.
    fs = RamFS()
    p = PM.Params(FlashStorage(fs, "/state"))
    for k, v in F.provisioned_params()._values.items():
        p.set(k, v)
    p.commit()
    t, pf, clk, m, b = setup(p)
    fs.fail_writes = True
    p.set(0x0011, b"\x00\x00\x00\x3c")
    try:
        p.commit()
        assert False, "the write should fail"
    except StorageError:
        pass
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_MEMORY_ERROR, K.ALARM_TYPE_HARDWARE)
    fs.fail_writes = False
    assert p.commit()
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_MEMORY_ERROR)


def test_supply_below_the_board_limit_is_power_fault():
    # Appendix E e 0x0008 power supply fault (type 0x02): SUPPLY_ALARM_MV with
    # SUPPLY_HYSTERESIS_MV; a board without a supply ADC (None) never raises it.
    t, pf, clk, m, b = setup()
    m.supply(3200, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_POWER_FAULT, K.ALARM_TYPE_HARDWARE)
    m.supply(3350, clk.t)                      # inside the hysteresis: still low
    assert alarm_traps(run(t, pf, clk, m, HOLD + 1)) == []
    m.supply(3400, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_POWER_FAULT)
    b2 = Board()
    b2.SUPPLY_ALARM_MV = None
    t, pf, clk, m, b = setup(board=b2)
    m.supply(100, clk.t)
    assert alarm_traps(run(t, pf, clk, m, HOLD + 1)) == [] and m.holding() == []


def test_measurement_over_the_0x0109_threshold():
    # Appendix E b 0x0109 (kind u8, value u16) and E e 0x0009 over threshold:
    # the application's measurement of that kind above the value raises it;
    # other kinds are not judged (None).
    t, pf, clk, m, b = setup()
    assert m.measure(2, 500, clk.t) is None    # no threshold configured
    t.params.set(0x0109, b"\x02\x00\x64")      # load, 100
    assert m.measure(1, 500, clk.t) is None    # speed: not the configured kind
    assert m.measure(2, 100, clk.t) is False
    assert m.measure(2, 150, clk.t) is True
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_THRESHOLD, K.ALARM_TYPE_HARDWARE)
    assert m.measure(2, 90, clk.t) is False
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_THRESHOLD)


def test_packet_bearer_failures_go_by_sms_and_clear_on_the_packet_bearer():
    # 4.3.5: the packet bearer fails (the engine falls back to SMS: 0x0003;
    # open failed: 0x0004, type 0x01): the alarms go by SMS; once the packet
    # bearer is back they are cleared there, one 0x300E each, 0x300B=0 last.
    t, pf, clk, m, b = setup()
    m.packet_open(False, clk.t)
    for _ in range(E.FALLBACK_AFTER):
        t.bearer_failed(PKT, clk.t)
    traps = run(t, pf, clk, m, HOLD + 1)
    got = alarm_traps(traps)
    assert [bb for bb, msg in traps if msg.tlv(0x300D) is not None] == [SMS, SMS]
    assert is_raise(got[0], K.ALARM_PACKET_OPEN_FAILED, K.ALARM_TYPE_COMM)
    assert is_raise(got[1], K.ALARM_PACKET_CONNECT_FAILED, K.ALARM_TYPE_COMM)
    m.packet_open(True, clk.t)
    t.bearer_restored(PKT, clk.t)
    traps = run(t, pf, clk, m, HOLD + 1)
    got = alarm_traps(traps)
    assert [bb for bb, _ in traps] == [PKT, PKT]
    assert is_clear(got[0], K.ALARM_PACKET_OPEN_FAILED, last=False)
    assert is_clear(got[1], K.ALARM_PACKET_CONNECT_FAILED) and t.alarms == []


def test_platform_unreachable_is_queued_until_online_then_cleared():
    # 4.3.5 / appendix E e 0x000E (type 0x01): LOGIN unanswered, the terminal
    # backs off; the alarm is queued and sent after the next login (with
    # 0x300B=1 in the login's CONFIG_TRAP), then cleared once online for the hold.
    p = F.provisioned_params()
    p.set(0x0027, b"\xff")                     # login retries for ever
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), p)
    b = Board()
    m = A.AlarmMonitor(lambda: t, b)
    t.start(clk.t)
    traps = []
    for _ in range(600):
        traps += run(t, pf, clk, m, 1)
        if K.ALARM_PLATFORM_CONNECT_FAILED in m.holding():
            break
    assert traps == [] and t.state != E.S_ONLINE
    assert K.ALARM_PLATFORM_CONNECT_FAILED in t.alarms
    for _ in range(600):
        traps += run(t, pf, clk, m, 1, login=True)
        if t.state == E.S_ONLINE:
            break
    traps += run(t, pf, clk, m, 2)
    assert traps[0][1].tlv(0x300B) == b"\x01"  # the login's own CONFIG_TRAP (G b)
    got = alarm_traps(traps)
    assert len(got) == 1 and is_raise(got[0], K.ALARM_PLATFORM_CONNECT_FAILED, K.ALARM_TYPE_COMM)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_PLATFORM_CONNECT_FAILED) and t.alarms == []


def test_clears_only_what_it_raised():
    # 4.3.5: an alarm the engine raised itself (0x0011 at start for a damaged
    # record) is neither raised again nor cleared by the monitor.
    t, pf, clk, m, b = setup()
    t.raise_alarm(K.ALARM_MEMORY_ERROR, clk.t, K.ALARM_TYPE_HARDWARE)
    run(t, pf, clk, m, 1)
    m.store(False, clk.t)
    assert alarm_traps(run(t, pf, clk, m, HOLD + 1)) == []
    m.store(True, clk.t)
    assert alarm_traps(run(t, pf, clk, m, HOLD + 1)) == [] and t.alarms == [K.ALARM_MEMORY_ERROR]


def test_new_terminal_gets_what_still_holds():
    # 4.3.5: a fresh Terminal (engine restarted) starts without alarms: what
    # still holds is raised on it again (0x300D), and cleared there later.
    cur = [None]
    b = Board()
    m = A.AlarmMonitor(lambda: cur[0], b)
    m.module(False, 0)                         # bring-up failing: no terminal yet
    assert m.poll(HOLD) == "alarm" and m.holding() == [K.ALARM_SELF_TEST_FAULT]
    t, pf, clk = online()
    cur[0] = t
    m.module(True, clk.t)
    got = alarm_traps(run(t, pf, clk, m, 2))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE)
    m.module(False, clk.t)
    run(t, pf, clk, m, 1)
    t2, pf2, clk2 = online()
    cur[0] = t2
    got = alarm_traps(run(t2, pf2, clk2, m, 2))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE)
    m.module(True, clk2.t)
    got = alarm_traps(run(t2, pf2, clk2, m, HOLD + 1))
    assert len(got) == 1 and is_clear(got[0], K.ALARM_SELF_TEST_FAULT)


def test_status_led_follows_state_and_alarms():
    # The LED: off (no terminal, off, idle), registering (on the way), online,
    # alarm (0x300B would be 1, appendix E e); the hook hears each change once.
    cur = [None]
    b = Board()
    m = A.AlarmMonitor(lambda: cur[0], b)
    assert m.poll(0) == "off" and m.poll(1) == "off"
    clk, pf = F.Clock(), F.Platform()
    pf.serial = b"M2MMAKER0000A1B2"
    t = cur[0] = E.Terminal(E.Config(F.IMEI, F.IMSI, serial=pf.serial), F.provisioned_params())
    assert m.poll(clk.t) == "off"              # not started
    t.start(clk.t)
    assert m.poll(clk.t) == "registering"
    run(t, pf, clk, m, 2, login=True)
    assert t.state == E.S_ONLINE and m.led() == "online"
    m.signal(5, clk.t)
    run(t, pf, clk, m, HOLD + 1)
    assert m.led() == "alarm"
    m.signal(90, clk.t)
    run(t, pf, clk, m, HOLD + 1)
    assert m.led() == "online"
    t.logout(K.LOGOUT_NORMAL, clk.t)
    assert m.poll(clk.t) == "registering"
    lo = pf.read(F.only(t.outgoing())[1])
    t.receive(pf.ack(lo), PKT, clk.advance(1))
    assert m.poll(clk.t) == "off" and t.state_name == "idle"
    assert b.leds == ["off", "registering", "online", "alarm", "online", "registering", "off"]
    assert A.led_state(None) == "off" and A.led_state(None, True) == "alarm"


def test_broken_led_hook_does_not_stop_the_alarms():
    # 4.3.5: the alarm still goes when the board's LED hook fails.
    class Bad(Board):
        def status_led(self, state):
            raise OSError(5)
    said = []
    t, pf, clk = online()
    m = A.AlarmMonitor(lambda: t, Bad(), said.append)
    m.module(False, clk.t)
    got = alarm_traps(run(t, pf, clk, m, HOLD + 1))
    assert len(got) == 1 and is_raise(got[0], K.ALARM_SELF_TEST_FAULT, K.ALARM_TYPE_HARDWARE)
    assert [s for s in said if "LED hook failed" in s] and "alarms: raise 0x0006" in said
