"""The update file and the application stager (docs/PROTOCOL.md 12, 4.3.8;
docs/UPDATE.md): header fields and its CRC, incremental SHA-256 check, an
image for another board or of another kind refused as soon as its header is
in, a bad hash refused at finish, the "mpy-app" archive; AppStager over a RAM
filesystem: a download resumed where the record says, the switch, the trial
boot, confirm, rollback to the previous application and to the frozen stack.
Portable (MicroPython unix port: hashlib.sha256)."""
from hashlib import sha256

from ramfs import RamFS
from wmmp.board import ota, otaimage as I

BOARD = "pico_bc95"


def _archive(files):
    return b"".join(I.archive_entry(n, d) for n, d in files)


def image(version="APP0.2", board=BOARD, kind="mpy-app", files=None, payload=None):
    if payload is None:
        payload = _archive(files or [("app.mpy", b"A" * 3000), ("board.mpy", b"B" * 1500)])
    return I.build_header(board, version, kind, len(payload), sha256(payload).digest()) + payload


def test_header_round_trip_and_crc():
    img = image()
    h = I.parse_header(img)
    assert (h.board, h.version, h.kind) == (BOARD, "APP0.2", "mpy-app")
    assert h.size == len(img) - I.HEADER and len(img[:I.HEADER]) == 72
    bad = bytearray(img)
    bad[30] ^= 1
    for raw, why in ((bad, "CRC32"), (b"XXXX" + img[4:], "magic"), (img[:40], "shorter")):
        try:
            I.parse_header(raw)
            assert False, why
        except I.ImageError as e:
            assert why in str(e), (why, e)


def test_checker_incremental_any_split():
    img = image()
    for step in (1, 7, 72, 500, len(img)):
        c = I.Checker(BOARD, ("mpy-app",))
        for i in range(0, len(img), step):
            c.feed(img[i:i + step])
        assert c.result() == (True, None), step


def test_wrong_board_and_kind_refused_at_the_header():
    for img, word in ((image(board="esp32_sim7600"), "board"), (image(kind="romfs", payload=b"r" * 10), "romfs")):
        c = I.Checker(BOARD, ("mpy-app",))
        assert c.feed(img[:71]) == 0 and c.error is None
        assert c.feed(img[71:200]) == 0 and word in c.error
        assert not c.result()[0]


def test_bad_hash_and_wrong_length_refused():
    img = bytearray(image())
    img[-1] ^= 0xFF
    c = I.Checker(BOARD)
    c.feed(img)
    assert c.result() == (False, "SHA-256 of the payload does not match")
    c = I.Checker(BOARD)
    c.feed(image()[:-1])
    assert not c.result()[0]
    c = I.Checker(BOARD)
    c.feed(image() + b"x")
    assert "longer" in c.error


def test_archive_entries_any_split():
    files = [("app.mpy", b"a" * 100), ("e.py", b""), ("board.mpy", b"b" * 33)]
    raw = _archive(files)
    for step in (1, 5, len(raw)):
        e = I.Entries()
        got = {}
        cur = None
        for i in range(0, len(raw), step):
            for ev in e.feed(raw[i:i + step]):
                if ev[0] == "file":
                    cur = ev[1]
                    got[cur] = b""
                elif ev[0] == "data":
                    got[cur] += ev[1]
        assert e.complete() and got == dict(files), step
    try:
        I.archive_entry("../x.mpy", b"")
        assert False
    except I.ImageError:
        pass


def _download(st, img, tid=5, start=None, step=1000, stop=None):
    n = st.begin(tid, len(img), "CRC32", 0x1234, "APP0.2") if start is None else start
    end = len(img) if stop is None else stop
    while n < end:
        st.write(n, img[n:min(n + step, end)])
        n = min(n + step, end)
    return n


def test_app_stager_resumes_switches_and_confirms():
    fs = RamFS()
    img = image()
    st = ota.AppStager(fs, "/ota", BOARD)
    assert st.boot() == "ok" and st.version() is None and st.path() is None
    _download(st, img, stop=2000)
    st = ota.AppStager(fs, "/ota", BOARD)                 # a reboot mid-download
    assert st.begin(5, len(img), "CRC32", 0x1234, "APP0.2") == 2000
    assert st.begin(6, len(img), "CRC32", 0x1234, "APP0.2") == 0     # another download: afresh
    _download(st, img, tid=6)
    assert st.finish() == (True, None)
    assert st.apply() == "APP0.2"
    st = ota.AppStager(fs, "/ota", BOARD)
    assert st.boot() == "trial" and st.version() == "APP0.2" and st.path() == "/ota/app.a"
    assert sorted(fs.listdir("/ota/app.a")) == ["app.mpy", "board.mpy"]
    st.confirm()
    st = ota.AppStager(fs, "/ota", BOARD)
    assert st.boot() == "ok" and st.version() == "APP0.2" and st.rolled_back() is None


def test_unconfirmed_trial_rolls_back_to_previous_then_frozen():
    fs = RamFS()
    st = ota.AppStager(fs, "/ota", BOARD)
    _download(st, image("APP0.2"))
    st.finish()
    st.apply()
    st.boot()
    st.confirm()
    st = ota.AppStager(fs, "/ota", BOARD)
    _download(st, image("APP0.3"), tid=9)
    assert st.finish() == (True, None) and st.apply() == "APP0.3"
    st = ota.AppStager(fs, "/ota", BOARD)
    assert st.boot() == "trial" and st.path() == "/ota/app.b"
    st = ota.AppStager(fs, "/ota", BOARD)                 # it crashed: no confirm
    assert st.boot() == "rolled_back" and st.version() == "APP0.2" and st.path() == "/ota/app.a"
    assert st.rolled_back() == 9
    st.reported()
    assert st.rolled_back() is None
    # a first update that fails its health check: back to the frozen stack
    fs = RamFS()
    st = ota.AppStager(fs, "/ota", BOARD)
    _download(st, image("APP0.2"), tid=3)
    st.finish()
    st.apply()
    assert st.boot() == "trial"
    st.rollback()
    assert st.version() is None and st.path() is None and st.rolled_back() == 3


def test_app_stager_refuses_wrong_board_and_bad_hash_without_switching():
    fs = RamFS()
    st = ota.AppStager(fs, "/ota", BOARD)
    img = image(board="esp32_sim7600")
    _download(st, img)
    assert st.error() is not None and "board" in st.error()
    assert st.finish() == (False, 0x04)
    bad = bytearray(image())
    bad[-5] ^= 1
    st.abort()
    _download(st, bytes(bad), tid=8)
    assert st.finish() == (False, 0x04)
    try:
        st.apply()
        assert False
    except I.ImageError:
        pass
    assert st.boot() == "ok" and st.path() is None
    assert not fs.exists("/ota/app.a")
