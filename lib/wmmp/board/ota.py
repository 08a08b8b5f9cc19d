"""Staging and applying a software update on a board (section 12 of
docs/PROTOCOL.md, 4.3.8): the stagers the engine's upgrade flow writes into
(Config.stager), and what happens at the next boot.  Portable.

The stager interface (the engine calls these; all synchronous):
    capacity() -> bytes             room for an update file
    begin(trans_id, size, crc_kind, crc_value, version) -> resume point: the
                                    bytes already durably written and verified
                                    for that same download, else 0 (a new one)
    write(offset, data)             sequential; what is durable survives a cut
    written() -> bytes taken so far
    error() -> None or text         the header refused (another board / kind):
                                    known after the first 72 bytes, before any
                                    byte reaches the boot path
    finish() -> (ok, reason)        the whole file in: read back from flash and
                                    checked (header, size, SHA-256); reason 0x04
    abort()                         drop the download
    busy_reason() -> None
    spill(data) -> place, unspill(place, n) -> bytes, spill_reset()
                                    optional: blocks that came ahead of a
                                    missing one kept in a scratch file (flash,
                                    not RAM), not durable, not checked: they
                                    join the download through write() in order
and for the board (wmmp.board.otarun):
    apply() -> version              switch to the verified update (then restart)
    boot() -> "ok" | "trial" | "rolled_back"   at every start, before the rest
    confirm()                       the new software passed its health check
    rollback()                      it failed it (then restart)
    version() -> text or None       the running software's version (None: the
                                    board's own SETTINGS value)
    rolled_back() -> trans_id or None, reported()    the 0x3012 0x05 to send

Every record (the resume record, the boot pointer) is a wmmp.board.store
FlashStorage: written whole to a new file, then renamed: one rename commits
it, and after a cut the old or the new record loads, never a mix.

AppStager(fs, directory, board): RP2040 and the host.  The frozen stack is the
golden image; an "mpy-app" update carries top-level modules (the application,
`board`) that a slot directory put first on sys.path overrides.  Files:
    dl.img            the download (appended; flushed before the record says so)
    rec/              resume record: trans_id, size, CRC, version, bytes durable
    app.a/, app.b/    the two slots: the running one, and the one staged into
    boot/             the boot pointer: current slot and version, previous slot,
                      the trial (trans_id, boots tried), a rollback to report
apply(): the slot that is not running is emptied (the pointer first forgets it
as "previous" when it was), the archive unpacked into it, read back and hashed
against the header, then ONE pointer write makes it current on trial.
boot(): a trial that already had its TRIAL_BOOTS boots without confirm() (it
crashed, hung into the watchdog, or failed its health check) is rolled back
to the previous slot, or to the frozen stack when there is none.

Esp32Stager (the ESP32's A/B partitions): wmmp.board.otaesp32.
"""

from wmmp.board import otaimage as I
from wmmp.board.store import FlashStorage
from wmmp.wire import codes as K

BLOCK = 4096
_PIECE = 512                     # read-back piece (bytes held at once)
TRIAL_BOOTS = 1                  # boots a new application gets before it must confirm


def _int(d, k, default=None):
    v = d.get(k)
    return default if v is None else int(bytes(v).decode())


def _str(d, k):
    v = d.get(k)
    return None if v is None else bytes(v).decode()


def _enc(d):
    out = {}
    for k in d:
        v = d[k]
        if v is None:
            continue
        out[k] = v if isinstance(v, (bytes, bytearray)) else str(v).encode()
    return out


class _Record:
    """A small power-safe record {name: int/str} over FlashStorage."""

    def __init__(self, fs, path):
        self.st = FlashStorage(fs, path, max_size=512, audit_max=1)
        self.d = None

    def load(self):
        if self.d is None:
            self.d = self.st.load() or {}
        return self.d

    def save(self, **kv):
        d = _enc(kv)
        self.st.save(d)
        self.d = d


class _Download:
    """What both stagers share: the resume record and the header check."""

    KINDS = ()

    def __init__(self, fs, directory, board, kinds=None, log=None):
        self.fs = fs
        self.dir = directory.rstrip("/")
        self.board = board
        self.kinds = kinds or self.KINDS
        self.log = log or (lambda text: None)
        self.rec = _Record(fs, self.dir + "/rec")
        self.chk = None
        self.n = 0
        self.total = 0
        self._spilled = 0               # bytes in the scratch file of spill()

    def _mkdir(self, path):
        if not self.fs.exists(path):
            self.fs.mkdir(path)

    def _match(self, tid, size, crc_kind, crc_value):
        r = self.rec.load()
        return (_int(r, "tid") == tid and _int(r, "size") == size and _str(r, "ck") == str(crc_kind)
                and _str(r, "cv") == str(crc_value))

    def _fresh(self, tid, size, crc_kind, crc_value, version):
        self.rec.save(tid=tid, size=size, ck=crc_kind, cv=crc_value, ver=version, n=0)

    def written(self):
        return self.total

    def error(self):
        return None if self.chk is None else self.chk.error

    def busy_reason(self):
        return None

    def _new_checker(self):
        self.chk = I.Checker(self.board, self.kinds)
        return self.chk

    # -- blocks ahead of a missing one (the engine's hold in flash, PROTOCOL.md 12)
    def spill(self, data):
        """Keep `data`, a block that came ahead of a missing one, in the scratch
        file; returns its place for unspill().  Each call opens, appends and
        closes (the filesystem interface has no read-write mode)."""
        f = self.fs.open(self.dir + "/ahead", "ab")
        try:
            f.write(data)
        finally:
            f.close()
        pos = self._spilled
        self._spilled += len(data)
        return pos

    def unspill(self, pos, n):
        f = self.fs.open(self.dir + "/ahead", "rb")
        try:
            if not _seek(f, pos):
                return b""
            return f.read(n)
        finally:
            f.close()

    def spill_reset(self):
        """The scratch file is not needed any more (nothing is held, or the
        download starts, ends or is dropped)."""
        self._spilled = 0
        p = self.dir + "/ahead"
        if self.fs.exists(p):
            self.fs.remove(p)


class AppStager(_Download):
    KINDS = ("mpy-app",)
    SLOTS = ("app.a", "app.b")

    def __init__(self, fs, directory, board, kinds=None, capacity=256 * 1024,
                 trial_boots=TRIAL_BOOTS, log=None):
        _Download.__init__(self, fs, directory, board, kinds, log)
        self.cap = capacity
        self.trial_boots = trial_boots
        self.ptr = _Record(fs, self.dir + "/boot")
        self.dl = self.dir + "/dl.img"
        self._f = None
        self.booted = None              # boot() already run this start (firmware/main.py)

    def capacity(self):
        return self.cap

    def written(self):
        return self.n

    def read(self, offset, n):
        """Bytes offset.. of what is staged (the engine's whole-file CRC of a
        resumed download, PROTOCOL.md 12); b"" past the end."""
        n = min(n, self.n - offset)
        if n <= 0:
            return b""
        f = self.fs.open(self.dl, "rb")
        try:
            if not _seek(f, offset):
                return b""
            return f.read(n)
        finally:
            f.close()

    # -- download ------------------------------------------------------------
    def begin(self, trans_id, size, crc_kind=None, crc_value=None, version=None):
        self._close()
        self._mkdir(self.dir)
        self.spill_reset()
        chk = self._new_checker()
        if self._match(trans_id, size, crc_kind, crc_value):
            n = _int(self.rec.load(), "n", 0)
            if self._scan(n, chk) == n:
                self.n = n
                return n
            self.log("ota: staged file shorter than its record: download again")
            chk = self._new_checker()
        self._remove(self.dl)
        self._fresh(trans_id, size, crc_kind, crc_value, version)
        self.n = 0
        return 0

    def _scan(self, n, chk):
        """Feed the first n bytes of dl.img to `chk`; when the file holds more
        (the unrecorded tail of a cut), copy those n bytes to a new file first.
        Returns how many bytes there were (up to n)."""
        got, extra = self._read(self.dl, n, chk.feed)
        if got == n and extra:
            tmp = self.dl + ".tmp"
            f = self.fs.open(tmp, "wb")
            try:
                self._read(self.dl, n, f.write)
                f.flush()
            finally:
                f.close()
            self.fs.rename(tmp, self.dl)
        return got

    def _read(self, path, n, sink):
        """Pass the first n bytes of `path` to sink; (bytes passed, more there)."""
        try:
            f = self.fs.open(path, "rb")
        except OSError:
            return 0, False
        got = 0
        try:
            while got < n:
                b = f.read(min(_PIECE, n - got))
                if not b:
                    return got, False
                sink(b)
                got += len(b)
            return got, bool(f.read(1))
        finally:
            f.close()

    def write(self, offset, data):
        if offset != self.n:
            raise ValueError("ota: write at %d, expected %d" % (offset, self.n))
        self.chk.feed(data)
        if self.chk.error is None:
            if self._f is None:
                self._f = self.fs.open(self.dl, "ab")
            self._f.write(data)
            self._f.flush()            # durable before the record says so
        self.n += len(data)
        if self.chk.error is not None:
            return
        r = self.rec.load()
        self.rec.save(tid=_int(r, "tid"), size=_int(r, "size"), ck=_str(r, "ck"), cv=_str(r, "cv"),
                      ver=_str(r, "ver"), n=self.n)

    def _close(self):
        if self._f is not None:
            f, self._f = self._f, None
            f.close()

    def finish(self):
        """Check the staged file as flash holds it (read back)."""
        self._close()
        self.spill_reset()
        ok, why = self.chk.result() if self.chk is not None else (False, "nothing staged")
        if ok:
            chk = I.Checker(self.board, self.kinds)
            self._read(self.dl, self.n, chk.feed)
            ok, why = chk.result()
            if ok:
                self.header = chk.header
        if not ok:
            self.log("ota: update refused: %s" % why)
            return False, K.DL_FAIL_CRC
        r = self.rec.load()
        self.rec.save(tid=_int(r, "tid"), size=_int(r, "size"), ck=_str(r, "ck"), cv=_str(r, "cv"),
                      ver=chk.header.version, n=self.n, done=1)
        return True, None

    def abort(self):
        self._close()
        self.spill_reset()
        self._remove(self.dl)
        self.rec.save()
        self.n = 0
        self.chk = None

    def _remove(self, path):
        if self.fs.exists(path):
            self.fs.remove(path)

    # -- apply, boot ----------------------------------------------------------
    def _pointer(self):
        p = self.ptr.load()
        return {"cur": _str(p, "cur"), "curv": _str(p, "curv"), "prev": _str(p, "prev"),
                "prevv": _str(p, "prevv"), "pend": _int(p, "pend"), "tries": _int(p, "tries", 0),
                "rb": _int(p, "rb")}

    def apply(self):
        """Unpack the verified download into the slot not running and switch
        to it on trial (one pointer write).  The new version; ImageError when
        nothing verified is staged or the unpacked files do not read back."""
        r = self.rec.load()
        if not _int(r, "done", 0):
            raise I.ImageError("no verified update staged")
        p = self._pointer()
        target = self.SLOTS[1] if p["cur"] == self.SLOTS[0] else self.SLOTS[0]
        if p["prev"] == target:                      # forget it before it is overwritten
            p["prev"] = p["prevv"] = None
            self.ptr.save(**p)
        slot = self.dir + "/" + target
        self._mkdir(slot)
        for name in self.fs.listdir(slot):
            self.fs.remove(slot + "/" + name)
        names = self._unpack(slot, _int(r, "n", 0))
        hdr = self._verify(slot, names)
        tid = _int(r, "tid")
        self.ptr.save(cur=target, curv=hdr.version, prev=p["cur"], prevv=p["curv"], pend=tid, tries=0)
        self._remove(self.dl)
        self.rec.save()
        self.log("ota: %s staged in %s, on trial" % (hdr.version, slot))
        return hdr.version

    def _unpack(self, slot, n):
        ent = I.Entries()
        names = []
        state = {"f": None, "skip": I.HEADER}

        def sink(b):
            k = state["skip"]
            if k:
                state["skip"] = max(0, k - len(b))
                if k >= len(b):
                    return
                b = b[k:]
            for ev in ent.feed(b):
                if ev[0] == "file":
                    names.append(ev[1])
                    state["f"] = self.fs.open(slot + "/" + ev[1], "wb")
                elif ev[0] == "data":
                    state["f"].write(ev[1])
                else:
                    f, state["f"] = state["f"], None
                    f.flush()
                    f.close()
        self._read(self.dl, n, sink)
        if not ent.complete():
            raise I.ImageError("archive cut short")
        return names

    def _verify(self, slot, names):
        """Hash the slot's files in archive order against the header."""
        chk = I.Checker(self.board, self.kinds)
        self._read(self.dl, I.HEADER, chk.feed)
        for name in names:
            size = self._size(slot + "/" + name)
            chk.feed(I.archive_entry(name, b"")[:-4] + _u32(size))
            self._read(slot + "/" + name, size, chk.feed)
        ok, why = chk.result()
        if not ok:
            raise I.ImageError("unpacked files do not read back: %s" % why)
        return chk.header

    def _size(self, path):
        n = [0]

        def count(b):
            n[0] += len(b)
        self._read(path, 1 << 30, count)
        return n[0]

    def boot(self):
        """At every start: count the trial's boot, or roll it back."""
        if self.booted is not None:
            s, self.booted = self.booted, None
            return s
        p = self._pointer()
        if p["pend"] is None:
            return "ok"
        if p["tries"] >= self.trial_boots:
            self._rollback(p)
            return "rolled_back"
        p["tries"] += 1
        self.ptr.save(**p)
        return "trial"

    def _rollback(self, p):
        self.log("ota: %s not confirmed: back to %s" % (p["curv"], p["prevv"] or "the frozen stack"))
        self.ptr.save(cur=p["prev"], curv=p["prevv"], rb=p["pend"])

    def pending(self):
        return self._pointer()["pend"]

    def confirm(self):
        p = self._pointer()
        if p["pend"] is not None:
            p["pend"] = None
            p["tries"] = 0
            self.ptr.save(**p)

    def rollback(self):
        p = self._pointer()
        if p["pend"] is not None:
            self._rollback(p)

    def rolled_back(self):
        return self._pointer()["rb"]

    def reported(self):
        p = self._pointer()
        if p["rb"] is not None:
            p["rb"] = None
            self.ptr.save(**p)

    def version(self):
        return self._pointer()["curv"]

    def path(self):
        """The running slot's directory (first on sys.path), or None: the frozen stack."""
        cur = self._pointer()["cur"]
        return None if cur is None else self.dir + "/" + cur


def _seek(f, offset):
    """Move file f to offset; False when it is shorter."""
    if hasattr(f, "seek"):
        f.seek(offset)
        return True
    while offset > 0:                   # a filesystem without seek: skip to it
        b = f.read(min(_PIECE, offset))
        if not b:
            return False
        offset -= len(b)
    return True


def _u32(n):
    return bytes(((n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255))
