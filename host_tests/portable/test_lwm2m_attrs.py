"""Notification attributes: Write-Attributes parsing, consistency, storage and
inheritance, and the notification rule (OMA LwM2M TS 1.1 sections 5.1.2 and
5.4.4; TS 1.0 section 5.1.2; And-link spec sections 3.3, 4.4.2 and 6.7).  Portable."""
from andlink.lwm2m import attrs as A
from andlink.lwm2m.codes import DecodeError


def _raises(exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    assert False, (fn, args)


def test_parse_queries():
    # And-link 6.7.4: PUT /3/0/3?pmin=60&pmax=120 (two Uri-Query options)
    assert A.parse(["pmin=60", "pmax=120"]) == [(A.PMIN, 60), (A.PMAX, 120)]
    assert A.parse("pmin=60&pmax=120") == [(A.PMIN, 60), (A.PMAX, 120)]
    assert A.parse([b"gt=50", b"lt=42.2", b"st=0.5"]) == [(A.GT, 50), (A.LT, 42.2), (A.ST, 0.5)]
    assert A.parse(["gt=-3.5e1"]) == [(A.GT, -35.0)]
    assert A.parse(["pmin"]) == [(A.PMIN, None)]                     # no value: remove it
    assert A.parse("") == [] and A.parse([]) == []
    for bad in (["foo=1"], ["pmin=-1"], ["pmin=1.5"], ["pmin="], ["pmax=x"], ["gt=abc"], ["gt="],
                ["pmin=1", "pmin=2"], ["dim=3"], ["ver=1.1"], ["pmin=12345678901"], [b"\xff"], ["st=nan"]):
        _raises(DecodeError, A.parse, bad)


def test_consistency_rules():
    A.check([None, None, 50, 10, 5])                                   # 10 + 2*5 < 50
    for bad in ([None, None, 10, 10, None], [None, None, 10, 20, None], [None, None, 50, 10, 20],
                [None, None, None, None, -1]):
        _raises(DecodeError, A.check, bad)


def test_write_stores_removes_and_refuses_whole():
    t = {}
    A.write(t, (3, 0, 9), ["pmin=10", "gt=50"], True)
    assert t == {(3, 0, 9): [10, None, 50, None, None]}
    A.write(t, (3, 0, 9), ["lt=20", "st=5"], True)
    assert t[(3, 0, 9)] == [10, None, 50, 20, 5]
    _raises(DecodeError, A.write, t, (3, 0, 9), ["st=20"], True)      # 20 + 40 >= 50: nothing changes
    assert t[(3, 0, 9)] == [10, None, 50, 20, 5]
    _raises(DecodeError, A.write, t, (3, 0), ["gt=1"], False)          # gt only on a numeric resource
    A.write(t, (3, 0), ["pmax=60"], False)
    A.write(t, (3, 0, 9), ["pmin", "gt", "lt", "st"], True)
    assert (3, 0, 9) not in t and t[(3, 0)] == [None, 60, None, None, None]
    A.write(t, (3, 0, 11, 1), "pmin=1", True)
    A.forget(t, (3, 0))
    assert t == {}


def test_effective_inheritance():
    t = {(3,): [1, 100, None, None, None], (3, 0): [None, 60, None, None, None],
         (3, 0, 9): [5, None, 50, None, None]}
    assert A.effective(t, (3, 0, 9)) == [5, 60, 50, None, None]
    assert A.effective(t, (3, 0, 10)) == [1, 60, None, None, None]
    assert A.effective(t, (3, 1)) == [1, 100, None, None, None]
    assert A.effective(t, (4, 0), 2, 300) == [2, 300, None, None, None]        # Server defaults
    assert A.effective(t, (3, 0, 9, 0), 2, 300) == [5, 60, 50, None, None]


def _a(pmin=None, pmax=None, gt=None, lt=None, st=None):
    return [pmin, pmax, gt, lt, st]


def test_due_any_change_and_periods():
    assert A.due(_a(), 1, 0, 2, 0) == 0                    # a change, no pmin: now
    assert A.due(_a(), 1, 0, 1, 1000) == -1                # no change, no pmax: never
    assert A.due(_a(), None, 0, 1, 0) == 0                 # nothing notified yet
    assert A.due(_a(pmin=10), 1, 100, 2, 103) == 7         # pmin holds the change back
    assert A.due(_a(pmin=10), 1, 100, 2, 110) == 0
    assert A.due(_a(pmax=60), 1, 100, 1, 150) == 10        # pmax: notify even without change
    assert A.due(_a(pmax=60), 1, 100, 1, 160) == 0
    assert A.due(_a(pmin=10, pmax=60), 1, 100, 2, 105) == 5
    assert A.due(_a(pmin=10, pmax=60), 1, 100, 1, 105) == 55
    assert A.due(_a(pmin=10, pmax=5), 1, 100, 1, 200) == -1    # pmax < pmin: ignored
    assert A.due(_a(pmax=0), 1, 100, 1, 200) == -1
    assert A.due(_a(), "1.0.0", 0, "1.1.0", 5) == 0        # And-link 6.11.4: a new firmware version


def test_due_thresholds_and_step():
    gt = _a(gt=50)
    assert A.due(gt, 40, 0, 45, 1) == -1 and A.due(gt, 45, 0, 55, 1) == 0
    assert A.due(gt, 55, 0, 60, 1) == -1 and A.due(gt, 60, 0, 49, 1) == 0      # either direction
    assert A.due(gt, 50, 0, 50.5, 1) == 0 and A.due(gt, 40, 0, 50, 1) == -1   # crossing is > gt
    lt = _a(lt=10)
    assert A.due(lt, 12, 0, 11, 1) == -1 and A.due(lt, 12, 0, 9, 1) == 0 and A.due(lt, 9, 0, 12, 1) == 0
    st = _a(st=5)
    assert A.due(st, 10, 0, 14, 1) == -1 and A.due(st, 10, 0, 15, 1) == 0 and A.due(st, 10, 0, 5, 1) == 0
    both = _a(gt=50, lt=10, st=5)
    assert A.due(both, 30, 0, 33, 1) == -1 and A.due(both, 30, 0, 35, 1) == 0
    assert A.due(both, 48, 0, 51, 1) == 0
    # thresholds with pmin: the crossing waits for pmin
    assert A.due(_a(pmin=30, gt=50), 45, 100, 55, 110) == 20
    # gt/lt/st are for numbers: a string only needs to change
    assert A.due(gt, "a", 0, "b", 1) == 0 and A.due(gt, True, 0, True, 1) == -1
