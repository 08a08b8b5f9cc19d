"""FlashStorage (wmmp.board.store): keys and parameters on flash that survive power loss
(issue 4 "Persistent store"; appendix E b 0x002C: persistent user parameters survive
power loss; 4.4.3: new passwords and keys are "stored safely at once"; appendix E e
alarm 0x0011 memory error).  Portable: the real filesystem through wmmp.board.fsio.OsFS,
in /tmp on MicroPython (its in-memory FS) and in a temporary directory on CPython."""
import os
import sys

from wmmp.board import store as S, fsio
from wmmp.terminal import params as PM
from wmmp.errors import WmmpError, BadValue, BadLength

UP = b"Up123456"
DOWN = b"Dn654321"
BASE = b"BaseKey3DES12345"
SERVICE = b"svc-credential-0001"

_n = [0]
_roots = []
# the unix port writes into the host's temporary directory: names of this run's own
_TAG = "%08x" % int.from_bytes(os.urandom(4), "big") if hasattr(os, "urandom") else "0"
_TMP = (os.getenv("TMPDIR") if hasattr(os, "getenv") else None) or "/tmp"


def _dir():
    """A fresh empty directory for one test (teardown_module removes it)."""
    _n[0] += 1
    if sys.implementation.name == "cpython":
        import tempfile
        root = tempfile.mkdtemp(prefix="wmmp_store_")
    else:
        root = "%s/wmmp_store_%s_%d" % (_TMP, _TAG, _n[0])
        _rmtree(root)
        os.mkdir(root)
    _roots.append(root)
    return root + "/state"


def teardown_module():
    """Every directory _dir() made is removed (pytest calls this on CPython,
    host_tests/portable/mp_runner.py under MicroPython)."""
    while _roots:
        _rmtree(_roots.pop())


def _rmtree(d):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
    os.rmdir(d)


def _storage(d, **kw):
    return S.FlashStorage(fsio.OsFS(), d, **kw)


def _read(path):
    f = open(path, "rb")
    b = f.read()
    f.close()
    return b


def _write(path, b):
    f = open(path, "wb")
    f.write(b)
    f.close()


def _flip(path, bit):
    b = bytearray(_read(path))
    b[bit // 8] ^= 1 << (bit % 8)
    _write(path, b)


OLD = {0x0011: b"\x00\x00\x00\x1e", 0xE025: UP, 0xE028: DOWN, "serial": b"M2MMAKER0000A1B2", "registered": b"\x01"}
NEW = {0x0011: b"\x00\x00\x00\x3c", 0xE025: b"Up999999", 0xE028: b"Dn888888", "serial": b"M2MMAKER0000A1B2",
       "registered": b"\x01"}


def test_empty_store():
    # issue 4: a terminal out of the factory has nothing stored: defaults, no alarm
    d = _storage(_dir())
    assert d.load() is None
    assert d.last_load == S.EMPTY and not d.memory_error and d.generation == 0 and d.writes == 0


def test_round_trip_int_tags_and_string_keys():
    # appendix E b 0x002C: persistent values come back after a power cycle, byte-exact
    path = _dir()
    data = {0x0000: b"", 0xFFFF: b"\xff" * 300, 0xE036: BASE, 0x2008: b"\x00\x00\x01\x00",
            "serial": b"M2MMAKER0000A1B2", "secret_service": SERVICE, "k" * 32: b"\x00"}
    a = _storage(path)
    assert a.load() is None
    assert a.save(data) is True
    b = _storage(path)
    got = b.load()
    assert got == data and b.last_load == S.OK and not b.memory_error and b.generation == 1


def test_params_survive_restart_on_flash_storage():
    # 4.4.3 / appendix E b: Params over FlashStorage; new keys committed are there after reboot
    path = _dir()
    p = PM.Params(_storage(path))
    p.set(0xE025, UP)
    p.set("registered", b"\x01")
    assert p.commit()
    p2 = PM.Params(_storage(path))
    assert p2.get(0xE025) == UP and p2.get("registered") == b"\x01"
    assert p2.get(0x0011) == PM.DEFAULTS[0x0011]


def test_write_only_when_changed():
    # issue 4: flash is written only when the content differs (order of the dict does not matter)
    path = _dir()
    st = _storage(path)
    assert st.save(OLD) is True
    reordered = {}
    for k in ("registered", "serial", 0xE028, 0xE025, 0x0011):
        reordered[k] = OLD[k]
    assert st.save(reordered) is False
    assert st.writes == 1 and st.skipped == 1
    assert st.save(NEW) is True and st.writes == 2
    # a fresh instance compares against what it loaded
    st2 = _storage(path)
    st2.load()
    assert st2.save(dict(NEW)) is False and st2.writes == 0


def test_two_generations_kept():
    # issue 4: the previous good generation stays on flash as a second file (A/B)
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    st.save(NEW)
    names = sorted(os.listdir(path))
    assert names == ["store.a", "store.b"], names
    a = S.decode_record(_read(path + "/store.a"))
    b = S.decode_record(_read(path + "/store.b"))
    assert (a[0], a[1]) == (1, OLD) and (b[0], b[1]) == (2, NEW)
    st.save(OLD)                 # generation 3 replaces the older slot (a), b kept
    a = S.decode_record(_read(path + "/store.a"))
    assert a[0] == 3 and S.decode_record(_read(path + "/store.b"))[0] == 2


def test_bit_flip_in_current_falls_back_and_reports_memory_error():
    # issue 4 / appendix E e alarm 0x0011: a bit flip in the newest record -> previous
    # generation loaded, memory_error raised, never the damaged record
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    st.save(NEW)
    for bit in (0, 7 * 8 + 3, 14 * 8 + 1, 40 * 8 + 5, len(_read(path + "/store.b")) * 8 - 1):
        raw = _read(path + "/store.b")
        _flip(path + "/store.b", bit)
        r = _storage(path)
        assert r.load() == OLD
        assert r.last_load == S.FALLBACK and r.memory_error and r.discarded[0][0] == "store.b"
        _write(path + "/store.b", raw)
    r = _storage(path)
    assert r.load() == NEW and r.last_load == S.OK


def test_repair_after_fallback():
    # issue 4: after a fallback the good state is written again over the bad record
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    st.save(NEW)
    _flip(path + "/store.b", 100)
    r = _storage(path)
    assert r.load() == OLD and r.memory_error
    assert r.repair() is True
    r2 = _storage(path)
    assert r2.load() == OLD and r2.last_load == S.OK and not r2.memory_error


def test_torn_and_foreign_records_rejected():
    # issue 4: a truncated record, a wrong magic or an unknown format version is discarded
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    st.save(NEW)
    good = _read(path + "/store.b")
    for bad, reason in ((good[:len(good) // 2], "length"), (good[:10], "short"), (b"XXXX" + good[4:], "magic"),
                        (good[:4] + b"\x02" + good[5:], "version"), (b"", "short")):
        _write(path + "/store.b", bad)
        r = _storage(path)
        assert r.load() == OLD and r.discarded == [("store.b", reason)], r.discarded
    # a complete record whose CRC matches but whose entries are malformed
    payload = b"\x07\x00"
    _write(path + "/store.b", S.encode_record(9, payload))
    r = _storage(path)
    assert r.load() == OLD and r.discarded == [("store.b", "entries")]


def test_both_records_bad_gives_none_and_memory_error():
    # issue 4: nothing valid -> no garbage, None (defaults) and alarm 0x0011
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    st.save(NEW)
    _flip(path + "/store.a", 33)
    _flip(path + "/store.b", 77)
    r = _storage(path)
    assert r.load() is None and r.last_load == S.CORRUPT and r.memory_error
    assert r.save(NEW) is True            # a new generation after total loss
    r2 = _storage(path)
    assert r2.load() == NEW and r2.last_load == S.OK


def test_leftover_temporary_file_is_not_loaded():
    # issue 4: a record cut before its rename (the commit point) is never loaded
    path = _dir()
    st = _storage(path)
    st.save(OLD)
    _write(path + "/store.tmp", S.encode_record(5, S.encode_payload(NEW)))
    r = _storage(path)
    assert r.load() == OLD and r.last_load == S.OK and not r.memory_error
    assert r.save(NEW) is True
    assert _storage(path).load() == NEW


def test_misuse_raises_package_errors_and_writes_nothing():
    # errors.py: misuse is a WmmpError subclass; the message never carries the value
    path = _dir()
    st = _storage(path, max_size=256)
    for bad in ({0xE025: "Up123456"}, {0x10000: b"x"}, {-1: b"x"}, {"k" * 33: b"x"}, {"two words": b"x"},
                {1.5: b"x"}):
        try:
            st.save(bad)
            assert False, "accepted"
        except BadValue as e:
            assert "Up123456" not in str(e)
    try:
        st.save({1: b"x" * 300})
        assert False, "accepted"
    except BadLength:
        pass
    assert st.writes == 0 and not S.FlashStorage(fsio.OsFS(), path).load()
    assert issubclass(S.StorageError, WmmpError)


def test_audit_ring_is_bounded_and_monotonic():
    # issue 4: a small audit log, bounded, with a monotonic counter across reboots
    path = _dir()
    st = _storage(path, audit_max=8)
    for i in range(20):
        assert st.audit("event", "n=%d" % i) == i + 1
    ent = st.audit_entries()
    assert [e[0] for e in ent] == list(range(13, 21))
    assert ent[-1] == (20, "event", "n=19")
    lines = 0
    for n in S.AUDIT_FILES:
        lines += _read(path + "/" + n).count(b"\n")
    assert lines <= 16
    st2 = _storage(path, audit_max=8)           # after a reboot the counter goes on
    assert st2.audit("boot") == 21
    assert st2.audit_entries()[-1] == (21, "boot", "")


def test_audit_skips_torn_line():
    # issue 4: a line cut by power loss is dropped; the next entry is intact
    path = _dir()
    st = _storage(path)
    st.audit("a", "one")
    f = open(path + "/audit.0", "ab")
    f.write(b"2 half-writ")
    f.close()
    st2 = _storage(path)
    assert st2.audit("b", "two") == 2
    assert [(e[0], e[1]) for e in st2.audit_entries()] == [(1, "a"), (2, "b")]


def test_no_secret_in_repr_or_audit():
    # issue 4: secrets never appear in repr/str or the audit log (<secret> instead)
    path = _dir()
    st = _storage(path)
    st.save({0xE025: UP, 0xE028: DOWN, 0xE036: BASE, "secret_service": SERVICE, 0x0011: b"\x00\x00\x00\x1e"})
    st.audit("security_set", [(0xE025, UP), (0xE028, DOWN), (0x0011, b"\x00\x00\x00\x1e")])
    st.audit("login", {0xE036: BASE, "secret_service": SERVICE})
    st.audit("typed", "user typed %s and %s" % (UP.decode(), SERVICE.decode()))
    st.audit("hex", "key " + "".join("%02X" % c for c in BASE))
    st.audit("raw", BASE)
    st.audit("note\nforged 99 line", "x\ny")
    texts = [repr(st), str(st), S.redact({0xE025: UP, 0xE036: BASE}), S.redact([(0xE028, DOWN)])]
    raw = b""
    for n in S.AUDIT_FILES:
        try:
            raw += _read(path + "/" + n)
        except OSError:
            pass
    for e in st.audit_entries():
        texts.append(" ".join(str(x) for x in e))
    blob = " ".join(texts).encode() + raw
    for s in (UP, DOWN, BASE, SERVICE):
        assert s not in blob, s
        assert "".join("%02x" % c for c in s).encode() not in blob.lower(), s
    assert b"E025=<secret>" in raw and b"0011=0000001e" in raw and b"<16 bytes>" in raw
    assert raw.count(b"\n") == 6                   # the newline in the event/detail did not split an entry
    assert S.is_secret_key(0xE025) and S.is_secret_key("secret_pin") and not S.is_secret_key("serial")
