"""Alarm reports are never lost and never reordered (4.3.5, appendix E e,
PROTOCOL.md 10): a raise (0x300D) whose retransmissions run out is sent again,
and the clear (0x300E) of an alarm goes only after the platform acknowledged
its raise."""
import struct

from wmmp.wire import commands as C
from test_engine_online import online
import fakeplatform as F


def _traps(t, pf):
    return [pf.read(raw) for _, raw in t.outgoing() if F.command(raw) == C.CONFIG_TRAP]


def _code(m, tag):
    v = m.tlv(tag)
    return None if v is None else struct.unpack(">H", v)[0]


def test_a_raise_whose_retries_run_out_is_sent_again():
    """4.3.5 / 4.4.6: the raise is retransmitted per 0x0108 (same seq); when the
    retransmissions run out it goes again as a new request, not dropped."""
    t, pf, clk = online()
    t.raise_alarm(0x0011, clk.t)
    (first,) = _traps(t, pf)
    assert _code(first, 0x300D) == 0x0011
    seqs = [first.seq]
    for _ in range(12):                 # no ACK: retransmissions, then a new request
        clk.advance(11)
        t.tick(clk.t)
        for m in _traps(t, pf):
            if _code(m, 0x300D) == 0x0011:
                seqs.append(m.seq)
        if len(set(seqs)) > 1:
            break
    assert len(set(seqs)) == 2, seqs                  # retransmitted (same seq), then anew
    assert ("alarm_resend", 0x0011) in t.events()


def test_the_clear_waits_for_the_raise_ack():
    """E e: the platform must see raise then clear: a clear made while the raise
    is unacknowledged is held and sent after the raise's ACK."""
    t, pf, clk = online()
    t.raise_alarm(0x0011, clk.t)
    (raise_,) = _traps(t, pf)
    t.clear_alarm(0x0011, clk.advance(1))
    assert _traps(t, pf) == []                        # held
    t.receive(pf.ack(raise_, {"result": 0}), 2, clk.advance(1))
    (clear,) = _traps(t, pf)
    assert _code(clear, 0x300E) == 0x0011 and clear.tlv(0x300B) == b"\x00"
    assert t.alarms == []


def test_a_clear_after_the_raise_ack_goes_at_once():
    """E e: raise acknowledged, then the clear goes at once."""
    t, pf, clk = online()
    t.raise_alarm(0x0011, clk.t)
    (raise_,) = _traps(t, pf)
    t.receive(pf.ack(raise_, {"result": 0}), 2, clk.advance(1))
    t.clear_alarm(0x0011, clk.advance(1))
    (clear,) = _traps(t, pf)
    assert _code(clear, 0x300E) == 0x0011
