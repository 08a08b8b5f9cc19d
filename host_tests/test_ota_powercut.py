"""Power cuts against the software update (docs/PROTOCOL.md 12, 4.3.8;
docs/UPDATE.md): the SimFS flash model of test_store_powercut (every open for
writing, write, flush, close, rename, remove and mkdir is a step; unflushed
data lost, kept, halved, short by a byte or half erased) cuts power at EVERY
step of the download, the staging, the switch and the first boot, and, for
the ESP32, every erase and write of the OTA partition and the set_boot.

After each cut the board boots again over what survived: it must run the old
software or the new verified one (its files / partition hash to the image's),
never anything else; then the update carries on (a cut download resumes from
its record, never from further back than the last flushed chunk) and must end
on the new software.  A second scenario cuts every step of a failed trial's
rollback.  The count of cut points is printed and written to
build/ota-powercut.json."""
import hashlib
import json
import os

import pytest

from test_store_powercut import SimFS, PowerCut
from wmmp.board import ota, otaesp32, otaimage as I

D = "/flash/ota"
BOARD = "pico_bc95"
CHUNK = 700
REPORT = {}
VARIANTS = ("lost", "all", "half", "short1", "erased", "done")


def _image(version, files):
    payload = b"".join(I.archive_entry(n, d) for n, d in files)
    return I.build_header(BOARD, version, "mpy-app", len(payload), hashlib.sha256(payload).digest()) + payload


OLD_FILES = {"app.mpy": b"old-app" * 300, "board.mpy": b"old-board" * 100}
NEW_FILES = {"app.mpy": bytes(range(256)) * 14, "board.mpy": b"new-board" * 150}
OLD = _image("APP0.1", sorted(OLD_FILES.items()))
NEW = _image("APP0.2", sorted(NEW_FILES.items()))
TID = 77


def _installed():
    """A flash with APP0.1 installed and confirmed."""
    fs = SimFS(dirs=("/flash",))
    st = ota.AppStager(fs, D, BOARD)
    st.begin(1, len(OLD), "CRC32", 1, "APP0.1")
    st.write(0, OLD)
    assert st.finish()[0]
    st.apply()
    st.boot()
    st.confirm()
    return fs.disk, fs.dirs


def _slot_files(fs, st):
    path = st.path()
    if path is None:
        return None
    out = {}
    for name in fs.listdir(path):
        out[name] = fs.disk[path + "/" + name]
    return out


def _check_runs_old_or_new(fs, st):
    v = st.version()
    files = _slot_files(fs, st)
    if v == "APP0.1":
        assert files == OLD_FILES
    elif v == "APP0.2":
        assert files == NEW_FILES
    else:
        raise AssertionError("running %r" % v)
    return v


def _update(st, fs, progress):
    """The whole update: download (resumed), finish, apply, first boot, confirm."""
    n = st.begin(TID, len(NEW), "CRC32", 0xABCD, "APP0.2")
    progress["resumed"] = n
    assert n <= progress.get("durable", 0) + CHUNK and n % 1 == 0
    while n < len(NEW):
        k = min(CHUNK, len(NEW) - n)
        st.write(n, NEW[n:n + k])
        n += k
        progress["durable"] = n
    ok, why = st.finish()
    assert ok, why
    st.apply()
    progress["applied"] = True
    assert st.boot() == "trial"
    st.confirm()


def _recover(disk, dirs, progress):
    """Reboot over what survived; check; then finish the update without cuts."""
    fs = SimFS(disk, dirs)
    st = ota.AppStager(fs, D, BOARD)
    st.boot()
    v = _check_runs_old_or_new(fs, st)
    if v == "APP0.1" and st.rolled_back() is None:
        p = {"durable": progress.get("durable", 0)}
        _update(st, fs, p)
        st = ota.AppStager(fs, D, BOARD)
        st.boot()
        progress["resumed_after"] = p["resumed"]
    elif st.pending() is not None:
        st.confirm()
    assert _check_runs_old_or_new(fs, st) == "APP0.2" or st.rolled_back() == TID
    return st


def _steps(base, run):
    fs = SimFS(*base)
    run(fs, {})
    return fs.n


@pytest.mark.parametrize("variant", VARIANTS)
def test_cut_at_every_step_of_download_staging_switch_and_first_boot(variant):
    base = _installed()

    def run(fs, progress):
        st = ota.AppStager(fs, D, BOARD)
        st.boot()
        _update(st, fs, progress)
    total = _steps(base, run)
    resumed = 0
    for cut in range(1, total + 1):
        fs = SimFS(*base, cut=cut, variant=variant)
        progress = {}
        with pytest.raises(PowerCut):
            run(fs, progress)
        _recover(fs.disk, fs.dirs, progress)
        if progress.get("resumed_after", 0) > 0:
            resumed += 1
    assert resumed > total // 3          # a cut download goes on from its record
    REPORT["update-" + variant] = {"cut points": total, "resumed downloads": resumed}
    _write()


@pytest.mark.parametrize("variant", VARIANTS)
def test_cut_at_every_step_of_a_failed_trials_rollback(variant):
    fs = SimFS(*_installed())
    st = ota.AppStager(fs, D, BOARD)
    st.begin(TID, len(NEW), "CRC32", 1, "APP0.2")
    st.write(0, NEW)
    st.finish()
    st.apply()
    base = fs.disk, fs.dirs

    def run(fs, progress):
        for _ in range(3):                # boots that never confirm (a crash each time)
            st = ota.AppStager(fs, D, BOARD)
            st.boot()
            _check_runs_old_or_new(fs, st)
        st.reported()
    total = _steps(base, run)
    for cut in range(1, total + 1):
        fs = SimFS(*base, cut=cut, variant=variant)
        with pytest.raises(PowerCut):
            run(fs, {})
        fs = SimFS(fs.disk, fs.dirs)
        for _ in range(3):
            st = ota.AppStager(fs, D, BOARD)
            st.boot()
            v = _check_runs_old_or_new(fs, st)
        assert v == "APP0.1"
    REPORT["rollback-" + variant] = {"cut points": total}
    _write()


# -- ESP32: the OTA partition, set_boot and the bootloader's rollback ------------------------

class Flash:
    """Two app partitions and otadata; erase/write steps counted with the SimFS."""

    def __init__(self, fs, parts=None, boot=None):
        self.fs = fs
        self.p = parts or {"ota_0": bytearray(b"\xff" * 8 * 4096), "ota_1": bytearray(b"\xff" * 8 * 4096)}
        self.boot = boot or {"label": "ota_0", "state": "valid", "prev": None}
        self.running = self.boot["label"]

    def reboot(self):                     # the bootloader (rollback enabled)
        b = self.boot
        if b["state"] == "new":
            b["state"] = "pending"
        elif b["state"] == "pending":     # reset without mark_app_valid: roll back
            b.update(label=b["prev"], state="valid", prev=None)
        self.running = b["label"]

    def running_label(self):
        return self.running

    def next_update(self):
        return Part(self, "ota_1" if self.running == "ota_0" else "ota_0")

    def mark_valid(self):
        self.fs._step("otadata", "otadata")
        self.boot["state"] = "valid"
        self.fs._after()


class Part:
    def __init__(self, flash, label):
        self.f, self.label = flash, label

    def info(self):
        return (0, 0x10, 0, 8 * 4096, self.label, False)

    def ioctl(self, op, arg):
        return {4: 8, 5: 4096}[op]

    def readblocks(self, blk, buf, off=0):
        a = blk * 4096 + off
        buf[:] = self.f.p[self.label][a:a + len(buf)]

    def writeblocks(self, blk, buf):
        mem = self.f.p[self.label]
        a = blk * 4096
        for op, data in (("erase", b"\xff" * 4096), ("program", bytes(buf))):
            try:
                self.f.fs._step(op, self.label)
            except PowerCut:
                if self.f.fs.variant in ("half", "erased", "short1"):
                    mem[a:a + 2048] = data[:2048]
                raise
            mem[a:a + 4096] = data
            self.f.fs._after()

    def set_boot(self):
        self.f.fs._step("otadata", "otadata")      # two otadata sectors, sequence numbers: atomic
        self.f.boot.update(prev=self.f.running, label=self.label, state="new")
        self.f.fs._after()


FW_OLD = b"\xe9" + b"old-firmware" * 1500
FW_NEW = b"\xe9" + bytes(range(251)) * 90
ESP = I.build_header("esp32_sim7600", "FW0.2", "esp32-app", len(FW_NEW), hashlib.sha256(FW_NEW).digest()) + FW_NEW


def _esp_base():
    fs = SimFS(dirs=("/flash",))
    fl = Flash(fs)
    fl.p["ota_0"][:len(FW_OLD)] = FW_OLD
    return fs, fl


def _esp_running(fl):
    mem = fl.p[fl.running]
    if bytes(mem[:len(FW_NEW)]) == FW_NEW and fl.running == "ota_1":
        return "new"
    assert fl.running == "ota_0" and bytes(mem[:len(FW_OLD)]) == FW_OLD
    return "old"


def _esp_update(fs, fl, progress):
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    st.boot()
    n = st.begin(TID, len(ESP), "CRC32", 5, "FW0.2")
    progress["resumed"] = n
    while n < len(ESP):
        k = min(1000, len(ESP) - n)
        st.write(n, ESP[n:n + k])
        n += k
    assert st.finish()[0]
    st.apply()
    fl.reboot()
    st = otaesp32.Esp32Stager(fl, fs, D, "esp32_sim7600")
    assert st.boot() == "trial" and st.version() == "FW0.2"
    st.confirm()


@pytest.mark.parametrize("variant", ("lost", "half", "erased", "done"))
def test_esp32_cut_at_every_erase_write_and_set_boot(variant):
    fs, fl = _esp_base()
    disk0, p0 = dict(fs.disk), {k: bytearray(v) for k, v in fl.p.items()}
    _esp_update(fs, fl, {})
    total = fs.n
    resumed = 0
    for cut in range(1, total + 1):
        fs = SimFS(disk0, ("/flash",), cut=cut, variant=variant)
        fl = Flash(fs, {k: bytearray(v) for k, v in p0.items()})
        with pytest.raises(PowerCut):
            _esp_update(fs, fl, {})
        fs2 = SimFS(fs.disk, fs.dirs)
        fl2 = Flash(fs2, fl.p, fl.boot)
        fl2.running = fl.running
        fl2.reboot()
        assert _esp_running(fl2) in ("old", "new")
        st = otaesp32.Esp32Stager(fl2, fs2, D, "esp32_sim7600")
        if st.boot() == "trial":
            st.confirm()
        elif _esp_running(fl2) == "old":
            p = {}
            _esp_update(fs2, fl2, p)
            resumed += p["resumed"] > 0
        assert _esp_running(fl2) == "new" and st.version() in ("FW0.2", None)
    assert resumed > 0
    REPORT["esp32-" + variant] = {"cut points": total, "resumed downloads": resumed}
    _write()


def _write():
    total = sum(v["cut points"] for v in REPORT.values())
    print("ota power cuts: %d cut points exercised %s" % (total, REPORT))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(os.path.join(root, "build"), exist_ok=True)
    with open(os.path.join(root, "build", "ota-powercut.json"), "w") as f:
        json.dump({"total cut points": total, "runs": REPORT}, f, indent=1, sort_keys=True)
