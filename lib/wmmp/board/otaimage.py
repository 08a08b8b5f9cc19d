"""The update file (section 12 of docs/PROTOCOL.md, 4.3.8: what a software
download delivers) and its checks, incremental: bytes are fed as they stream
in or as they are read back from flash, never the whole image in RAM.
Portable (MicroPython: hashlib.sha256 of the ESP32, RP2040 and unix ports).

Update file = a fixed 72-byte header, then the payload (big-endian):

    0   magic "WMUP"            4
    4   format version u8       1 (FORMAT)
    5   kind u8                 1 "esp32-app" firmware image (an app partition's
                                  contents), 2 "mpy-app" application package (an
                                  archive of top-level modules, below), 3 "romfs"
    6   header size u16         72
    8   board name              16 ASCII, NUL padded (boards/<name>)
    24  software version        8 ASCII, NUL padded (the VER_DSC it reports)
    32  payload size u32
    36  SHA-256 of the payload  32
    68  CRC32 (IEEE) of bytes 0..67

"mpy-app" payload: entries [name length u8][name][size u32][data], names of
top-level modules ("app.mpy", "board.mpy": ASCII letters, digits, "_", ".";
no "/"), in the order they are unpacked.

    build_header(board, version, kind, size, sha256) -> bytes   (wmmp_tools.mkupdate)
    parse_header(buf) -> Header                    raises ImageError
    Checker(board, kinds)   feed(data) as bytes come; error (None or text) as
                            soon as the header says another board or kind;
                            result() -> (ok, why) once all is fed
    Entries()               feed(data) -> [(event, value)] of an "mpy-app"
                            archive: ("file", name, size), ("data", bytes), ("end", name)
"""

import struct

from wmmp.wire import crc

try:
    from hashlib import sha256
except ImportError:               # a port built without it: updates are refused
    sha256 = None

MAGIC = b"WMUP"
FORMAT = 1
HEADER = 72
_FMT = ">4sBBH16s8sI32s"         # 68 bytes, then the CRC32
KINDS = {"esp32-app": 1, "mpy-app": 2, "romfs": 3}
KIND_NAMES = {1: "esp32-app", 2: "mpy-app", 3: "romfs"}
NAME_MAX = 48                    # longest module name in an "mpy-app" archive


class ImageError(ValueError):
    """Not an update file this board takes (the text says why)."""


class Header:
    """board, version (str), kind (name), size (payload bytes), sha256 (32 bytes)."""

    def __init__(self, board, version, kind, size, digest):
        self.board = board
        self.version = version
        self.kind = kind
        self.size = size
        self.sha256 = digest

    def __repr__(self):
        return "<update %s %s for %s, %d bytes>" % (self.kind, self.version, self.board, self.size)


def _ascii(text, n, what):
    b = text.encode() if isinstance(text, str) else bytes(text)
    if not 1 <= len(b) <= n:
        raise ImageError("%s of 1 to %d characters" % (what, n))
    for c in b:
        if not 0x21 <= c <= 0x7E:
            raise ImageError("%s: visible ASCII only" % what)
    return b + b"\x00" * (n - len(b))


def build_header(board, version, kind, size, digest):
    """The 72-byte header of an update file."""
    if kind not in KINDS:
        raise ImageError("kind is one of %s" % ", ".join(sorted(KINDS)))
    if len(digest) != 32:
        raise ImageError("SHA-256 is 32 bytes")
    h = struct.pack(_FMT, MAGIC, FORMAT, KINDS[kind], HEADER, _ascii(board, 16, "board name"),
                    _ascii(version, 8, "software version"), size, bytes(digest))
    return h + struct.pack(">I", crc.crc32(h))


def _text(b):
    b = bytes(b)
    i = b.find(b"\x00")
    return (b if i < 0 else b[:i]).decode()


def parse_header(buf):
    """Header of the first HEADER bytes of `buf` (ImageError when not one)."""
    if len(buf) < HEADER:
        raise ImageError("shorter than its header")
    mv = memoryview(buf)
    magic, fmt, kind, hsize, board, ver, size, digest = struct.unpack_from(_FMT, mv, 0)
    if magic != MAGIC:
        raise ImageError("not an update file (magic)")
    if struct.unpack_from(">I", mv, 68)[0] != crc.crc32(mv[:68]):
        raise ImageError("header CRC32 fails")
    if fmt != FORMAT or hsize != HEADER:
        raise ImageError("update file format %d not known" % fmt)
    if kind not in KIND_NAMES:
        raise ImageError("content kind %d not known" % kind)
    try:
        b, v = _text(board), _text(ver)
    except UnicodeError:
        raise ImageError("board or version not ASCII")
    return Header(b, v, KIND_NAMES[kind], size, bytes(digest))


class Checker:
    """The update file checked as it is fed: the header as soon as its 72
    bytes are in (another board or kind: `error` set at once, before any
    payload byte is taken), then the SHA-256 and the size of the payload."""

    def __init__(self, board=None, kinds=None):
        self.board = board
        self.kinds = kinds
        self.header = None
        self.error = None
        self.fed = 0                    # bytes fed, header included
        self._h = bytearray()
        self._sha = sha256() if sha256 is not None else None

    def feed(self, data):
        """Take the next bytes; returns how many of them are payload."""
        if self.error is not None:
            return 0
        n = len(data)
        i = 0
        if self.header is None:
            i = min(n, HEADER - len(self._h))
            self._h += data[:i]
            self.fed += i
            if len(self._h) < HEADER:
                return 0
            self._check(self._h)
            if self.error is not None:
                return 0
        rest = n - i
        if rest <= 0:
            return 0
        if self.fed - HEADER + rest > self.header.size:
            self.error = "longer than its header says"
            return 0
        self._sha.update(data[i:] if i else data)
        self.fed += rest
        return rest

    def _check(self, raw):
        try:
            h = parse_header(raw)
        except ImageError as e:
            self.error = str(e)
            return
        if self._sha is None:
            self.error = "no SHA-256 on this port"
        elif self.board is not None and h.board != self.board:
            self.error = "image for board %s, this is %s" % (h.board, self.board)
        elif self.kinds is not None and h.kind not in self.kinds:
            self.error = "content %s not taken here" % h.kind
        self.header = h

    def result(self):
        """(True, None) when the whole payload was fed and its SHA-256 matches,
        else (False, why)."""
        if self.error is not None:
            return False, self.error
        if self.header is None:
            return False, "shorter than its header"
        if self.fed != HEADER + self.header.size:
            return False, "payload %d of %d bytes" % (self.fed - HEADER, self.header.size)
        if self._sha.digest() != self.header.sha256:
            return False, "SHA-256 of the payload does not match"
        return True, None


class Entries:
    """An "mpy-app" archive parsed incrementally (ImageError when malformed)."""

    def __init__(self):
        self._hdr = bytearray()
        self._name = None
        self._left = 0

    def feed(self, data):
        out = []
        mv = memoryview(data)
        i, n = 0, len(data)
        while i < n:
            if self._name is None:
                self._hdr.append(mv[i])
                i += 1
                ln = self._hdr[0]
                if len(self._hdr) < 1 + ln + 4:
                    continue
                name = bytes(self._hdr[1:1 + ln])
                if not 1 <= ln <= NAME_MAX or not _name_ok(name):
                    raise ImageError("bad module name in the archive")
                self._name = name.decode()
                self._left = struct.unpack_from(">I", self._hdr, 1 + ln)[0]
                self._hdr = bytearray()
                out.append(("file", self._name, self._left))
            else:
                k = min(self._left, n - i)
                if k:
                    out.append(("data", bytes(mv[i:i + k])))
                    i += k
                    self._left -= k
            if self._name is not None and self._left == 0:
                out.append(("end", self._name))
                self._name = None
        return out

    def complete(self):
        return self._name is None and not self._hdr


def _name_ok(name):
    if name in (b".", b".."):
        return False
    for c in name:
        if not (0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A or c in b"_."):
            return False
    return True


def archive_entry(name, data):
    """One "mpy-app" archive entry (host tools and tests)."""
    nb = name.encode()
    if not 1 <= len(nb) <= NAME_MAX or not _name_ok(nb):
        raise ImageError("module name %r" % name)
    return bytes([len(nb)]) + nb + struct.pack(">I", len(data)) + bytes(data)
