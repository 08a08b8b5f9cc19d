"""The ESP32's stager (section 12 of docs/PROTOCOL.md, 4.3.8; the stager
interface and the records: wmmp.board.ota).  Portable code over a small
partition interface.

Esp32Stager(parts, fs, directory, board): the payload goes to the next OTA
partition (esp32.Partition.get_next_update) in 4 KB blocks, each read back and
compared; finish() hashes it back from flash; apply() is set_boot(); the new
firmware calls mark_app_valid_cancel_rollback() (confirm) only after its health
check, else the bootloader boots the previous one at the next reset.  `parts`:
EspPartitions() on a board, a fake in the tests (running_label(),
next_update() -> partition, mark_valid()).
"""

from wmmp.board import otaimage as I
from wmmp.board.ota import BLOCK, _PIECE, _Download, _int, _str
from wmmp.wire import codes as K


class EspPartitions:
    """esp32.Partition as the Esp32Stager's `parts` (on an ESP32 only)."""

    def __init__(self):
        import esp32
        self.P = esp32.Partition

    def running_label(self):
        return self.P(self.P.RUNNING).info()[4]

    def next_update(self):
        return self.P(self.P.RUNNING).get_next_update()

    def mark_valid(self):
        self.P.mark_app_valid_cancel_rollback()


class Esp32Stager(_Download):
    KINDS = ("esp32-app",)

    def __init__(self, parts, fs, directory, board, kinds=None, log=None):
        _Download.__init__(self, fs, directory, board, kinds, log)
        self.parts = parts
        self.part = None
        self.buf = None
        self.fill = 0

    def _target(self):
        if self.part is None:
            self.part = self.parts.next_update()
        return self.part

    def capacity(self):
        p = self._target()
        return p.ioctl(4, 0) * p.ioctl(5, 0) + I.HEADER

    def begin(self, trans_id, size, crc_kind=None, crc_value=None, version=None):
        self._mkdir(self.dir)
        self.spill_reset()
        chk = self._new_checker()
        self.fill = 0
        if self.buf is None:
            self.buf = bytearray(BLOCK)
        label = self._target().info()[4]
        if self._match(trans_id, size, crc_kind, crc_value) and _str(self.rec.load(), "label") == label:
            r = self.rec.load()
            n = _int(r, "n", 0)
            if n >= I.HEADER and r.get("hdr") is not None:
                chk.feed(bytes(r["hdr"]))
                self._readback(n - I.HEADER, chk.feed)
                self.n = self.total = n
                return n
        self._fresh(trans_id, size, crc_kind, crc_value, version)
        self.n = self.total = 0
        return 0

    def _fresh(self, tid, size, crc_kind, crc_value, version, **kw):
        self.rec.save(tid=tid, size=size, ck=crc_kind, cv=crc_value, ver=version, n=0,
                      label=self._target().info()[4], **kw)

    def _save_n(self, n, **kw):
        r = self.rec.load()
        d = {"tid": _int(r, "tid"), "size": _int(r, "size"), "ck": _str(r, "ck"), "cv": _str(r, "cv"),
             "ver": _str(r, "ver"), "n": n, "label": _str(r, "label"), "hdr": r.get("hdr")}
        d.update(kw)
        self.rec.save(**d)

    def read(self, offset, n):
        """Bytes offset.. of what is durably staged: the header from the record,
        the payload from the partition (PROTOCOL.md 12, a resumed download's CRC)."""
        n = min(n, self.n - offset)
        if n <= 0:
            return b""
        if offset < I.HEADER:
            return bytes(self.rec.load().get("hdr") or b"")[offset:min(I.HEADER, offset + n)]
        out = bytearray(n)
        pos = offset - I.HEADER
        self._target().readblocks(pos // BLOCK, out, pos % BLOCK)
        return bytes(out)

    def _readback(self, length, sink):
        piece = bytearray(_PIECE)
        p = self._target()
        off = 0
        while off < length:
            k = min(_PIECE, length - off)
            p.readblocks(off // BLOCK, piece, off % BLOCK)
            sink(piece if k == _PIECE else bytes(piece[:k]))
            off += k

    def write(self, offset, data):
        if offset != self.total:
            raise ValueError("ota: write at %d, expected %d" % (offset, self.total))
        chk = self.chk
        had = chk.header is not None
        pay = chk.feed(data)
        self.total += len(data)
        if chk.error is not None or chk.header is None:
            return                      # refused (finish() says so) or the header not yet in
        if not had:                     # the header is in: recorded before any block is written
            self.n = I.HEADER
            self._save_n(I.HEADER, hdr=bytes(chk._h))
        mv = memoryview(data)
        i = len(data) - pay
        while i < len(data):
            k = min(BLOCK - self.fill, len(data) - i)
            self.buf[self.fill:self.fill + k] = mv[i:i + k]
            self.fill += k
            i += k
            if self.fill == BLOCK:
                self._block(BLOCK)

    def _block(self, k):
        """Write the buffered block, read it back, then record it durable."""
        p = self._target()
        blk = (self.n - I.HEADER) // BLOCK
        if k < BLOCK:
            for j in range(k, BLOCK):
                self.buf[j] = 0xFF
        p.writeblocks(blk, self.buf)
        piece = bytearray(_PIECE)
        for off in range(0, BLOCK, _PIECE):
            p.readblocks(blk, piece, off)
            if piece != self.buf[off:off + _PIECE]:
                raise OSError(5, "ota: block %d does not read back" % blk)
        self.n += k
        self.fill = 0
        self._save_n(self.n)

    def finish(self):
        self.spill_reset()
        chk = self.chk
        ok, why = chk.result() if chk is not None else (False, "nothing staged")
        if ok:
            if self.fill:
                self._block(self.fill)
            chk2 = I.Checker(self.board, self.kinds)
            chk2.feed(bytes(self.rec.load()["hdr"]))
            self._readback(self.n - I.HEADER, chk2.feed)
            ok, why = chk2.result()
        if not ok:
            self.log("ota: update refused: %s" % why)
            return False, K.DL_FAIL_CRC
        self.header = chk.header
        self._save_n(self.n, done=1, newv=chk.header.version)
        self.buf = None
        return True, None

    def abort(self):
        self.spill_reset()
        self.rec.save()
        self.n = self.fill = self.total = 0
        self.chk = None
        self.buf = None

    def apply(self):
        r = self.rec.load()
        if not _int(r, "done", 0):
            raise I.ImageError("no verified update staged")
        label = self._target().info()[4]
        ver = _str(r, "newv")
        self.rec.save(applied=label, tid=_int(r, "tid"), newv=ver, vlabel=_str(r, "vlabel"),
                      runv=_str(r, "runv"))
        self._target().set_boot()
        return ver

    def boot(self):
        r = self.rec.load()
        applied = _str(r, "applied")
        if applied is None:
            return "ok"
        if self.parts.running_label() == applied:
            return "trial"
        self.rec.save(rb=_int(r, "tid"), vlabel=_str(r, "vlabel"), runv=_str(r, "runv"))
        return "rolled_back"

    def pending(self):
        r = self.rec.load()
        if _str(r, "applied") is not None and self.parts.running_label() == _str(r, "applied"):
            return _int(r, "tid")
        return None

    def confirm(self):
        r = self.rec.load()
        if self.pending() is not None:
            self.parts.mark_valid()
            self.rec.save(vlabel=_str(r, "applied"), runv=_str(r, "newv"))

    def rollback(self):
        """Nothing to write: not confirmed, the bootloader goes back at the next reset."""

    def rolled_back(self):
        return _int(self.rec.load(), "rb")

    def reported(self):
        r = self.rec.load()
        self.rec.save(vlabel=_str(r, "vlabel"), runv=_str(r, "runv"))

    def version(self):
        r = self.rec.load()
        run = self.parts.running_label()
        if _str(r, "applied") == run:
            return _str(r, "newv")
        if _str(r, "vlabel") == run:
            return _str(r, "runv")
        return None
