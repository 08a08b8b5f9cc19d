"""Flash storage for wmmp.terminal.params.Params that survives power loss at any instant,
and the terminal's security audit log ("Persistent store").

FlashStorage(fs, directory) offers the storage interface of wmmp.terminal.params:

    load() -> dict or None      {key: bytes}, keys int tags (0..0xFFFF) or short
                                ASCII strings; None when nothing valid is stored
    save(dict)                  writes only when the content differs

over the small filesystem interface of wmmp.board.fsio (on a board: `os` over littlefs,
wrapped by fsio.OsFS).

Files in `directory`:
    store.a, store.b   the two newest generations (A/B)
    store.tmp          a record being written (never loaded)
    audit.0, audit.1   the audit log, two halves of a ring

Record (big-endian):
    magic "WMST" | version u8 (1) | flags u8 (0) | generation u32 | length u32 |
    payload (length bytes) | CRC32 (IEEE) of everything before it
    payload entries, int tags ascending, then string keys ascending:
      0x01 | tag u16 | len u16 | value
      0x02 | klen u8 | key (ASCII 0x21-0x7E, 1..32) | len u16 | value

A save writes the whole record to store.tmp, flushes and closes it, then renames
it over the slot that holds the OLDER generation; the newest good generation in
the other slot is never touched.  The rename is the commit point: before it a
reboot loads the old state, after it the new one.  load() checks both slots
(magic, version, length, CRC32, entry structure) and returns the newest valid
one; a slot that fails is discarded and reported (memory_error, alarm 0x0011
memory error for the engine), never loaded.  On a filesystem that will not
rename over an existing file (FAT) the older slot is removed first: the newest
generation is still intact in the other slot.  A power cut is never reported as
a memory error (only a damaged committed record is); after one, repair() or the
next save replaces the bad record.

Audit lines are "<counter> <event> <detail> <crc32 hex>\n"; when one half holds
audit_max lines the other half is truncated and continued, so the newest
audit_max entries are always there (at most 2 * audit_max lines on flash); a
line torn by power loss fails its CRC and is skipped.

Values are stored as they are: where reading the flash chip out matters, the
board's flash encryption (ESP32) protects them.  Secrets (catalogue.is_secret tags, and string keys starting with "secret_") never
appear in repr/str of these objects, in exception messages or in the audit log:
they are shown as <secret>.
"""

import struct
from binascii import hexlify
from micropython import const

from wmmp.wire import catalogue as CAT
from wmmp.wire import crc
from wmmp.errors import WmmpError, BadValue, BadLength, StorageError

MAGIC = b"WMST"
VERSION = const(1)
_HDR = const(14)              # magic 4, version 1, flags 1, generation 4, length 4
_HDR_FMT = ">4sBBII"
KEY_MAX = const(32)           # longest string key
MAX_SIZE = const(8192)        # default largest record accepted, bytes
AUDIT_MAX = const(64)         # default audit entries kept
_DETAIL_MAX = const(96)       # audit detail characters kept
_EVENT_MAX = const(24)
SECRET_PREFIX = "secret_"     # string keys holding secrets (e.g. "secret_service")
SECRET = "<secret>"

SLOTS = ("store.a", "store.b")
TMP = "store.tmp"
AUDIT_FILES = ("audit.0", "audit.1")

# load() results (FlashStorage.last_load)
OK = "ok"               # the newest generation loaded
FALLBACK = "fallback"   # a record was bad and discarded: the other (good) generation loaded
                        # (a bad record's own header cannot be trusted to say which was newer)
EMPTY = "empty"         # nothing stored yet
CORRUPT = "corrupt"     # records exist but none is valid: load() returned None


def is_secret_key(key):
    """True for keys whose values are never shown: secret catalogue tags (E025,
    E028, E036, PINs...) and string keys starting with SECRET_PREFIX."""
    if isinstance(key, int):
        return CAT.is_secret(key)
    return isinstance(key, str) and key.startswith(SECRET_PREFIX)


def key_name(key):
    return "%04X" % key if isinstance(key, int) else str(key)


def _newer(a, b):
    """Generation a is newer than b (u32 serial-number order)."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


def _key_ok(kb):
    if not 1 <= len(kb) <= KEY_MAX:
        return False
    for c in kb:
        if not 0x21 <= c <= 0x7E:
            return False
    return True


def _value(data, key):
    v = data[key]
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise BadValue("store: value of %s is not bytes" % key_name(key))
    if len(v) > 0xFFFF:
        raise BadValue("store: value of %s is longer than 65535" % key_name(key))
    return v


def encode_payload(data):
    """Canonical payload of `data` (same dict -> same bytes, whatever its order)."""
    ints = []
    strs = []
    size = 0
    for k in data:
        if isinstance(k, int):
            if not 0 <= k <= 0xFFFF:
                raise BadValue("store: tag out of range")
            ints.append(k)
            size += 5 + len(_value(data, k))
        elif isinstance(k, str):
            if not _key_ok(k.encode()):
                raise BadValue("store: bad key name")
            strs.append(k)
            size += 4 + len(k) + len(_value(data, k))
        else:
            raise BadValue("store: keys are int tags or short strings")
    ints.sort()
    strs.sort()
    out = bytearray(size)
    i = 0
    for k in ints:
        v = data[k]
        struct.pack_into(">BHH", out, i, 1, k, len(v))
        i += 5
        out[i:i + len(v)] = v
        i += len(v)
    for k in strs:
        v = data[k]
        kl = len(k)
        struct.pack_into(">BB", out, i, 2, kl)
        out[i + 2:i + 2 + kl] = k.encode()
        i += 2 + kl
        struct.pack_into(">H", out, i, len(v))
        i += 2
        out[i:i + len(v)] = v
        i += len(v)
    return out


def encode_record(generation, payload):
    """The whole record: header, `payload`, CRC32."""
    n = len(payload)
    rec = bytearray(_HDR + n + 4)
    struct.pack_into(_HDR_FMT, rec, 0, MAGIC, VERSION, 0, generation, n)
    rec[_HDR:_HDR + n] = payload
    struct.pack_into(">I", rec, _HDR + n, crc.crc32(memoryview(rec)[:_HDR + n]))
    return rec


def _parse(mv, i, end):
    """Entries of a payload, or None when malformed."""
    d = {}
    while i < end:
        kind = mv[i]
        if kind == 1:
            if i + 5 > end:
                return None
            key = (mv[i + 1] << 8) | mv[i + 2]
            ln = (mv[i + 3] << 8) | mv[i + 4]
            i += 5
        elif kind == 2:
            if i + 2 > end:
                return None
            kl = mv[i + 1]
            if i + 4 + kl > end:
                return None
            kb = bytes(mv[i + 2:i + 2 + kl])
            if not _key_ok(kb):
                return None
            key = kb.decode()
            i += 2 + kl
            ln = (mv[i] << 8) | mv[i + 1]
            i += 2
        else:
            return None
        if i + ln > end or key in d:
            return None
        d[key] = bytes(mv[i:i + ln])
        i += ln
    return d


def decode_record(raw, max_size=MAX_SIZE):
    """(generation, payload offset, dict) of a valid record, else a short reason
    string ("short", "magic", "version", "length", "crc", "entries", "too long")."""
    n = len(raw)
    if n > max_size:
        return "too long"
    if n < _HDR + 4:
        return "short"
    magic, ver, _, gen, length = struct.unpack_from(_HDR_FMT, raw, 0)
    if magic != MAGIC:
        return "magic"
    if ver != VERSION:
        return "version"
    if length != n - _HDR - 4:
        return "length"
    mv = memoryview(raw)
    if crc.crc32(mv[:n - 4]) != struct.unpack_from(">I", raw, n - 4)[0]:
        return "crc"
    d = _parse(mv, _HDR, n - 4)
    if d is None:
        return "entries"
    return gen, d


def _printable(s, limit):
    out = []
    for ch in s:
        o = ord(ch)
        out.append(ch if 0x20 <= o <= 0x7E else "?")
        if len(out) >= limit:
            break
    return "".join(out)


def _show_value(key, v):
    if is_secret_key(key):
        return SECRET
    if isinstance(v, int):
        return "%d" % v
    if isinstance(v, str):
        return v
    if isinstance(v, (bytes, bytearray, memoryview)):
        h = hexlify(bytes(v[:16])).decode()
        return h + ("..." if len(v) > 16 else "")
    return "<%s>" % type(v).__name__


def redact(detail):
    """Text of an audit detail or a log line with secrets hidden:
    str / int as they are; bytes only as their length ("<8 bytes>": a bare value
    cannot be known not to be a secret); a dict or a list of (key, value) pairs
    as key=value with secret keys shown as <secret>; anything else by type name."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, int):
        return "%d" % detail
    if isinstance(detail, (bytes, bytearray, memoryview)):
        return "<%d bytes>" % len(detail)
    if isinstance(detail, dict):
        detail = [(k, detail[k]) for k in detail]
    if isinstance(detail, (list, tuple)):
        parts = []
        for item in detail:
            if isinstance(item, tuple) and len(item) == 2:
                parts.append("%s=%s" % (key_name(item[0]), _show_value(item[0], item[1])))
            else:
                parts.append(redact(item))
        return " ".join(parts)
    return "<%s>" % type(detail).__name__


class FlashStorage:
    """load()/save() for wmmp.terminal.params.Params over `fs` (wmmp.board.fsio interface) in
    `directory`, plus audit().  After load():

        last_load     "ok" | "fallback" | "empty" | "corrupt" (module constants)
        memory_error  True when a stored record had to be discarded (raise alarm
                      0x0011; the application resets it to False once reported)
                      or when a save failed
        discarded     [(file name, reason)] of the last load
        generation    generation loaded or last written (0: none)

    Counters: writes (records written), skipped (saves with nothing changed),
    bytes_written, write_errors, audit_writes, audit_errors.

    repair() rewrites the loaded state after a fallback; audit(event, detail)
    and audit_entries() keep the audit log (secret values known from the last
    load/save are hidden even inside free text, so load first: Params does).
    """

    def __init__(self, fs=None, directory="/state", max_size=MAX_SIZE, audit_max=AUDIT_MAX):
        if fs is None:
            from wmmp.board import fsio
            fs = fsio.OsFS()
        self.fs = fs
        self.directory = directory.rstrip("/")
        self.max_size = max_size
        self.audit_max = audit_max
        self.last_load = None
        self.memory_error = False
        self.discarded = []
        self.generation = 0
        self.writes = 0
        self.skipped = 0
        self.bytes_written = 0
        self.write_errors = 0
        self.audit_writes = 0
        self.audit_errors = 0
        self._slot = None           # slot index holding `generation`
        self._payload = None        # payload of that record (write-only-when-changed)
        self._bad_slot = None       # a slot discarded at load, replaced/removed by the next save
        self._loaded = False
        self._dir_ok = False
        self._secrets = ()
        self._aseq = None           # last audit counter (None: files not scanned yet)
        self._acur = 0
        self._alines = 0
        self._anl = False           # current audit file ends in a torn line

    def __repr__(self):
        return "<FlashStorage %s gen=%d writes=%d last_load=%s memory_error=%s>" % (
            self.directory, self.generation, self.writes, self.last_load, self.memory_error)

    __str__ = __repr__

    def _path(self, name):
        return self.directory + "/" + name if self.directory else name

    def _read(self, name, limit):
        """Contents of a file as a bytearray (reading stops once past `limit`),
        None when it does not exist, b"" when it cannot be read."""
        try:
            f = self.fs.open(self._path(name), "rb")
        except OSError:
            return None
        buf = bytearray()
        try:
            # in small pieces: read(limit) would reserve `limit` bytes at once on MicroPython
            while len(buf) <= limit:
                b = f.read(256)
                if not b:
                    break
                buf += b
            return buf
        except OSError:
            return b""
        finally:
            try:
                f.close()
            except OSError:
                pass

    def _note_secrets(self, data):
        s = []
        for k in data:
            v = data[k]
            if is_secret_key(k) and isinstance(v, (bytes, bytearray)) and len(v) >= 4:
                s.append(bytes(v))
        self._secrets = tuple(s)

    # -- storage interface ---------------------------------------------------
    def load(self):
        """The newest valid generation as {key: bytes}, or None.  Never raises on a
        bad record; reports in last_load / memory_error / discarded."""
        best = None
        bad = []                        # (file name, reason)
        bad_slot = None
        for slot in (0, 1):
            raw = self._read(SLOTS[slot], self.max_size)
            if raw is None:
                continue
            try:
                res = decode_record(raw, self.max_size)
            except Exception:          # nothing in a bad file may stop the terminal
                res = "unreadable"
            if isinstance(res, str):
                bad.append((SLOTS[slot], res))
                bad_slot = slot
            elif best is None or _newer(res[0], best[0]):
                best = (res[0], slot, res[1], raw)
        self.discarded = bad
        self._loaded = True
        self._bad_slot = bad_slot
        if bad:
            self.memory_error = True
        if best is None:
            self.last_load = CORRUPT if bad else EMPTY
            self.generation = 0
            self._slot = None
            self._payload = None
            self._secrets = ()
            return None
        gen, slot, data, raw = best
        self.last_load = FALLBACK if bad else OK
        self.generation = gen
        self._slot = slot
        self._payload = bytes(memoryview(raw)[_HDR:len(raw) - 4])
        self._note_secrets(data)
        return data

    def save(self, data):
        """Write `data` as a new generation unless it equals what is stored (or a
        bad slot is waiting to be replaced).  True when a record was written.
        Raises BadValue/BadLength for keys or values the format cannot hold and
        StorageError when the filesystem fails (the old state stays loadable)."""
        payload = encode_payload(data)
        size = len(payload) + _HDR + 4
        if size > self.max_size:
            raise BadLength("store: record of %d bytes exceeds %d" % (size, self.max_size))
        if not self._loaded:
            self.load()
        self._note_secrets(data)
        if self._payload is not None and self._bad_slot is None and payload == self._payload:
            self.skipped += 1
            return False
        gen = (self.generation + 1) & 0xFFFFFFFF or 1
        target = 0 if self._slot is None else 1 - self._slot
        rec = encode_record(gen, payload)
        self._commit(rec, SLOTS[target])
        if self._bad_slot is not None and self._bad_slot != target:
            try:                      # a corrupt record must not be found again at boot
                self.fs.remove(self._path(SLOTS[self._bad_slot]))
            except OSError:
                pass
        self._bad_slot = None
        self.generation = gen
        self._slot = target
        self._payload = bytes(payload)
        self.writes += 1
        self.bytes_written += len(rec)
        return True

    def repair(self):
        """After a load that discarded a record: write the loaded state again so
        both generations are good (True when written)."""
        if self._bad_slot is None or self._payload is None:
            return False
        return self.save(_parse(memoryview(self._payload), 0, len(self._payload)))

    def _ensure_dir(self):
        if self._dir_ok or not self.directory:
            return
        if not self.fs.exists(self.directory):
            self.fs.mkdir(self.directory)
        self._dir_ok = True

    def _commit(self, rec, slot_name):
        fs = self.fs
        tmp = self._path(TMP)
        dst = self._path(slot_name)
        try:
            self._ensure_dir()
            f = fs.open(tmp, "wb")
            try:
                n = f.write(rec)
                if n is not None and n != len(rec):
                    raise OSError(28)          # ENOSPC: short write
                f.flush()
            finally:
                f.close()
            try:
                fs.rename(tmp, dst)
            except OSError:
                if not fs.exists(dst):
                    raise
                fs.remove(dst)                  # FAT: no rename over a file; the
                fs.rename(tmp, dst)             # newest generation is in the other slot
        except OSError as e:
            self.write_errors += 1
            self.memory_error = True
            raise StorageError("store: flash write failed (%s)" % (e.args[0] if e.args else "?"))

    # -- audit log -------------------------------------------------------------
    def _audit_scan(self):
        """Find the newest audit counter, the current half and its line count."""
        best = 0
        cur = 0
        counts = [0, 0]
        torn = [False, False]
        for i in (0, 1):
            raw = self._read(AUDIT_FILES[i], self.audit_max * 160)
            if not raw:
                continue
            raw = bytes(raw)
            torn[i] = raw[-1:] != b"\n"
            for line in raw.split(b"\n"):
                if not line:
                    continue
                counts[i] += 1
                e = _audit_parse(line)
                if e is not None and e[0] > best:
                    best = e[0]
                    cur = i
        self._aseq = best
        self._acur = cur
        self._alines = counts[cur]
        self._anl = torn[cur]

    def audit(self, event, detail=None):
        """Append an entry to the audit ring; its counter, or None when the
        filesystem failed (the terminal carries on).  `detail` goes through
        redact(); known secret values are hidden even inside text."""
        try:
            if self._aseq is None:
                self._audit_scan()
            seq = self._aseq + 1
            line = _audit_line(seq, self._scrub(str(event)), self._scrub(redact(detail)))
            mode = "ab"
            if self._alines >= self.audit_max:
                self._acur ^= 1
                self._alines = 0
                self._anl = False
                mode = "wb"
            if self._anl:
                line = b"\n" + line
            self._ensure_dir()
            f = self.fs.open(self._path(AUDIT_FILES[self._acur]), mode)
            try:
                f.write(line)
                f.flush()
            finally:
                f.close()
        except OSError:
            self.audit_errors += 1
            self._aseq = None          # rescan next time: the file state is unknown
            return None
        self._aseq = seq
        self._alines += 1
        self._anl = False
        self.audit_writes += 1
        return seq

    def audit_entries(self):
        """The newest audit entries (at most audit_max), oldest first, as
        (counter, event, detail); torn or damaged lines are skipped."""
        out = []
        for i in (0, 1):
            raw = self._read(AUDIT_FILES[i], self.audit_max * 160)
            if not raw:
                continue
            raw = bytes(raw)
            for line in raw.split(b"\n"):
                e = _audit_parse(line) if line else None
                if e is not None:
                    out.append(e)
        out.sort(key=lambda e: e[0])
        return out[-self.audit_max:]

    def _scrub(self, text):
        for s in self._secrets:
            h = hexlify(s).decode()
            for form in (h, h.upper(), _ascii(s)):
                if form and form in text:
                    text = text.replace(form, SECRET)
        return text


def _ascii(b):
    for c in b:
        if not 0x20 <= c <= 0x7E:
            return None
    return b.decode()


def _audit_line(seq, event, detail):
    ev = []
    for ch in str(event)[:_EVENT_MAX]:
        ev.append(ch if ch.isalpha() or ch.isdigit() or ch in "_.-" else "_")
    body = "%d %s %s" % (seq, "".join(ev) or "event", _printable(detail, _DETAIL_MAX))
    b = body.encode()
    return b + (" %08x\n" % crc.crc32(b)).encode()


def _audit_parse(line):
    """(counter, event, detail) of one audit line, or None when damaged."""
    if len(line) < 10 or line[-9:-8] != b" ":
        return None
    body = line[:-9]
    try:
        if int(line[-8:].decode(), 16) != crc.crc32(body):
            return None
        parts = body.decode().split(" ", 2)
        return int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""
    except (ValueError, IndexError, UnicodeError):
        return None
