"""Applying an update on the boards (docs/PROTOCOL.md 12, 4.3.8; docs/UPDATE.md):
an image for another board is refused before anything is written to the boot
path (no partition block, no slot file, no pointer); a bad hash is refused at
finish; Esp32Stager against a fake esp32.Partition (4 KB blocks read back,
set_boot only after the check, confirm = mark_app_valid_cancel_rollback);
wmmp.board.otarun: a new software that does not log in within OTA_HEALTH_S is
rolled back and, after the next login, reported by 0x3012 reason 0x05; one
that logs in is confirmed; the HTTP Range loop (206 checked against its
Content-Range, 200 starts again from 0, 4xx fails)."""
import asyncio
import hashlib

from test_store_powercut import SimFS
from test_ota_powercut import Flash, FW_NEW, ESP, NEW, BOARD, D
from wmmp.board import ota, otaesp32, otaimage as I, otarun


def _writes(fl):
    return sum(1 for op in fl.fs.trace if op in ("erase", "program", "otadata"))


def test_esp32_wrong_board_refused_before_the_partition_is_touched():
    fs = SimFS(dirs=("/flash",))
    fl = Flash(fs)
    bad = I.build_header("pico_bc95", "FW0.2", "esp32-app", len(FW_NEW),
                         hashlib.sha256(FW_NEW).digest()) + FW_NEW
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    st.begin(1, len(bad), "CRC32", 1, "FW0.2")
    for i in range(0, len(bad), 1000):
        st.write(i, bad[i:i + 1000])
    assert "board" in st.error() and st.finish() == (False, 0x04)
    assert _writes(fl) == 0 and fl.boot["label"] == "ota_0"


def test_esp32_bad_hash_refused_and_good_image_applied_then_confirmed():
    fs = SimFS(dirs=("/flash",))
    fl = Flash(fs)
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    assert st.capacity() == 8 * 4096 + 72
    bad = bytearray(ESP)
    bad[-1] ^= 1
    st.begin(1, len(bad), "CRC32", 1, "FW0.2")
    st.write(0, bytes(bad))
    assert st.finish() == (False, 0x04)
    try:
        st.apply()
        assert False
    except I.ImageError:
        pass
    assert fl.boot["label"] == "ota_0"
    st.abort()
    st.begin(2, len(ESP), "CRC32", 1, "FW0.2")
    st.write(0, ESP)
    assert st.finish() == (True, None)
    assert bytes(fl.p["ota_1"][:len(FW_NEW)]) == FW_NEW
    assert st.apply() == "FW0.2" and fl.boot == {"label": "ota_1", "state": "new", "prev": "ota_0"}
    fl.reboot()
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    assert st.boot() == "trial" and st.version() == "FW0.2"
    st.confirm()
    assert fl.boot["state"] == "valid"
    fl.reboot()
    assert otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600").boot() == "ok"


def test_esp32_unconfirmed_firmware_rolled_back_by_the_bootloader():
    fs = SimFS(dirs=("/flash",))
    fl = Flash(fs)
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    st.begin(3, len(ESP), "CRC32", 1, "FW0.2")
    st.write(0, ESP)
    st.finish()
    st.apply()
    fl.reboot()
    assert otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600").boot() == "trial"
    fl.reboot()                                   # reset without confirm
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    assert fl.running == "ota_0" and st.boot() == "rolled_back" and st.rolled_back() == 3


# -- otarun: health check, confirm, 0x3012 reason 0x05 ---------------------------------------

class Term:
    def __init__(self):
        self.state_name = "logging-in"
        self.reports = []
        self.data = []
        self.failed = []

    def upgrade_report(self, tid, reason, now):
        self.reports.append((tid, reason))

    def upgrade_data(self, tid, offset, data, now, etag=None):
        self.data.append((offset, bytes(data)))

    def upgrade_fetch_failed(self, tid, now):
        self.failed.append(tid)


class Runner:
    stopped = False

    def stop(self):
        self.stopped = True


class Board:
    OTA_HEALTH_S = 300

    def reset(self):
        pass


class Dev:
    def __init__(self):
        self.board = Board()
        self.logs = []
        self.log = self.logs.append
        self.now = 0.0
        self.clock = lambda: self.now
        self.term = Term()
        self.runner = Runner()
        self.drv = None
        self._restart = None


def _staged(fs):
    st = ota.AppStager(fs, D, BOARD)
    st.begin(11, len(NEW), "CRC32", 1, "APP0.2")
    st.write(0, NEW)
    assert st.finish()[0]
    st.apply()


def test_no_login_within_the_health_time_rolls_back_and_reports_0x05():
    fs = SimFS(dirs=("/flash",))
    _staged(fs)
    dev = Dev()
    run = otarun.OtaRun(dev, ota.AppStager(fs, D, BOARD))
    assert run.status == "trial" and run.version(b"WMMP0.1") == b"APP0.2"
    dev.now = 299
    run.step()
    assert dev._restart is None
    dev.now = 301
    run.step()                                    # no login in 300 s: back, restart
    assert dev._restart == "reset" and dev.runner.stopped
    dev2 = Dev()                                  # the old software after the restart
    run2 = otarun.OtaRun(dev2, ota.AppStager(fs, D, BOARD))
    assert run2.version(b"WMMP0.1") == b"WMMP0.1"
    run2.step()
    assert dev2.term.reports == []               # reported after the login only
    dev2.term.state_name = "online"
    run2.step()
    assert dev2.term.reports == [(11, 0x05)]
    run2.step()
    assert dev2.term.reports == [(11, 0x05)]      # once


def test_login_confirms_the_new_software():
    fs = SimFS(dirs=("/flash",))
    _staged(fs)
    dev = Dev()
    run = otarun.OtaRun(dev, ota.AppStager(fs, D, BOARD))
    dev.now = 20
    dev.term.state_name = "online"
    run.step()
    st = ota.AppStager(fs, D, BOARD)
    assert st.boot() == "ok" and st.version() == "APP0.2" and dev.term.reports == []


def test_http_range_loop():
    body = bytes(range(256)) * 40           # 10240 bytes
    calls = []

    def server(mode):
        async def get(url, start, end, etag):
            calls.append((start, end, etag))
            if mode == "ignore" and len(calls) == 1:
                return 200, None, "e2", body
            if mode == "fail":
                return 404, None, None, b""
            return 206, "bytes %d-%d/%d" % (start, end, len(body)), "e1", body[start:end + 1]
        return get
    for mode in ("range", "ignore", "fail"):
        calls.clear()
        t = Term()
        ok = asyncio.run(otarun.fetch(server(mode), lambda: t, 9, "http://h/f", 3000, len(body), None,
                                      lambda: 0))
        if mode == "range":
            assert ok and calls[0] == (3000, 7095, None) and calls[1][2] == "e1"
            assert b"".join(d for _, d in t.data) == body[3000:] and t.data[0][0] == 3000
        elif mode == "ignore":
            assert ok and t.data[0][0] == 0 and b"".join(d for _, d in t.data) == body
        else:
            assert not ok and t.failed == [9]


def test_stagers_read_back_what_a_cut_download_staged():
    """PROTOCOL.md 12 resume: after a restart the engine recomputes the whole-file
    CRC of the bytes already staged through stager.read(offset, n), so the
    download goes on from there instead of starting again from 0."""
    fs = SimFS(dirs=("/flash",))
    fl = Flash(fs)
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    st.begin(7, len(ESP), "CRC32", 1, "FW0.2")
    st.write(0, ESP[:3 * 4096 + 500])                # three 4 KB blocks written, a partial one in RAM
    fl.reboot()
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    n = st.begin(7, len(ESP), "CRC32", 1, "FW0.2")
    assert n >= 72 + 4096                              # durable: the header and whole blocks
    got, off = b"", 0
    while off < n:
        b = st.read(off, 512)
        assert b
        got += b
        off += len(b)
    assert got == ESP[:n] and st.read(n, 512) == b""

    fs2 = SimFS(dirs=("/app",))
    ap = ota.AppStager(fs2, "/app", BOARD)
    ap.begin(9, len(NEW), "CRC32", 1, "APP0.2")
    ap.write(0, NEW[:2000])
    ap = ota.AppStager(fs2, "/app", BOARD)
    n = ap.begin(9, len(NEW), "CRC32", 1, "APP0.2")
    assert n == 2000 and ap.read(0, 700) + ap.read(700, 2000) == NEW[:2000] and ap.read(2000, 10) == b""


def test_stagers_keep_blocks_ahead_in_a_scratch_file_and_drop_it():
    """PROTOCOL.md 12: blocks that came ahead of a missing one are kept in the
    stager's scratch file (flash, not RAM), given back by place, and the file is
    removed when the engine no longer needs it, at begin (a cut left it) and at
    finish / abort; nothing of it reaches the download until write() in order."""
    fs = SimFS(dirs=("/app",))
    ap = ota.AppStager(fs, "/app", BOARD)
    ap.begin(9, len(NEW), "CRC32", 1, "APP0.2")
    a, b = ap.spill(NEW[1000:1500]), ap.spill(NEW[1500:1900])
    assert (a, b) == (0, 500) and ap.unspill(b, 400) == NEW[1500:1900] and ap.unspill(a, 500) == NEW[1000:1500]
    assert ap.written() == 0 and fs.exists("/app/ahead")
    ap.spill_reset()
    assert not fs.exists("/app/ahead") and ap.spill(NEW[:10]) == 0
    ap = ota.AppStager(fs, "/app", BOARD)              # a restart: the scratch is stale
    ap.begin(9, len(NEW), "CRC32", 1, "APP0.2")
    assert not fs.exists("/app/ahead")
    ap.spill(NEW[:10])
    ap.abort()
    assert not fs.exists("/app/ahead")

    fl = Flash(SimFS(dirs=("/flash",)))
    st = otaesp32.Esp32Stager(fl, fl.fs, D, "esp32_sim7600")
    st.begin(7, len(ESP), "CRC32", 1, "FW0.2")
    p = st.spill(ESP[5000:6000])
    assert st.unspill(p, 1000) == ESP[5000:6000] and _writes(fl) == 0   # the partition untouched
    st.write(0, ESP)
    assert st.finish()[0] and not fl.fs.exists(D + "/ahead")
