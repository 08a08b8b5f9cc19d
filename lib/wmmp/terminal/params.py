"""The terminal's parameters by TLV tag, with the schema of wmmp.wire.catalogue.

Persistent values (configuration 0x0001-0x0FFF, statistics 0x2001-0x2FFF,
security settings, user tags named in 0x002C) are saved through a storage
object; volatile ones (monitoring 0x3001-0x3FFF, user tags named in 0x002D,
the session key) live in RAM only (appendix E b 0x002C/0x002D).

Storage is reached through a two-method interface so the same store runs on a
board (flash, wmmp.board.store), under tests and on the host:

    storage.load() -> dict or None     # {key: bytes}; keys are tags or short strings
    storage.save(dict)                 # called only when something changed
"""

import struct
from micropython import const

from wmmp.wire import catalogue as CAT
from wmmp.wire import crc
from wmmp.errors import BadValue, BadTlv

TAG_CORE_TAGS = const(0x0025)     # core params synced at login (config CRC32)
TAG_USER_PERSISTENT = const(0x002C)
TAG_USER_VOLATILE = const(0x002D)

# Defaults of PROTOCOL.md 8 and appendix E.
DEFAULTS = {
    0x0011: struct.pack(">I", 30),            # heartbeat period, s
    0x0026: struct.pack(">H", 120),           # SMS wait, s
    0x0027: b"\x03",                          # login retries
    0x0029: b"\x00",                          # register retries: 0 = forever
    0x002A: struct.pack(">II", 10, 300),      # login retry gap min/max
    0x002B: struct.pack(">II", 10, 300),      # register retry gap min/max
    0x0108: b"\x03",                          # retransmissions
    0x0101: b"\x00\x00", 0x0102: b"\x00", 0x0103: b"\x00", 0x0104: b"\x00", 0x0105: b"\x00\x01",
    0xE022: b"\x01",                          # digest on every message (default)
    0xE032: b"\x00",                          # no encryption until enabled
    0xE041: b"\x00",                          # drop failed messages silently
    0x2001: b"\x01", 0x2003: struct.pack(">I", 3600), 0x2005: b"\x00",
}

# Applying these drops the data connection (bearer, PDP context and platform
# address): the terminal logs out with reason 0x07 first and restarts (4.3.9.3
# d 2).  The DNS servers (0x0010, 0x0014) and the SMS centre (0x0005) are set in
# the module without dropping anything: applied at once, no restart.
RESTART_TAGS = (0x0001, 0x0002, 0x0003, 0x0004, 0x0008, 0x0009, 0x000A, 0x0013)

_STATS = (0x2008, 0x2009, 0x200A, 0x200B, 0x200C, 0x200D, 0x200E)


class MemoryStorage:
    """Storage in RAM (tests, host runs without a state directory)."""

    def __init__(self, data=None):
        self.data = dict(data) if data else None
        self.writes = 0

    def load(self):
        return dict(self.data) if self.data is not None else None

    def save(self, data):
        # a copy of `data`, updated in place: saving one changed value allocates
        # nothing (a fresh dict of every parameter on each commit would)
        d = self.data
        if d is None:
            self.data = dict(data)
        else:
            for k in data:
                d[k] = data[k]
            if len(d) > len(data):
                for k in [k for k in d if k not in data]:
                    del d[k]
        self.writes += 1


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


class Params:
    """Parameter values by tag.  Secrets (catalogue F_SECRET) are stored like the
    rest but never returned by readable(): CONFIG_GET answers them as unsupported
    (they are read only encrypted, SECURITY_CONFIG operation 0x01)."""

    def __init__(self, storage=None, defaults=DEFAULTS):
        self.storage = storage if storage is not None else MemoryStorage()
        self._defaults = defaults
        self._values = dict(defaults)
        self._volatile = {}
        loaded = self.storage.load()
        if loaded:
            self._values.update(loaded)
        self._dirty = False

    # -- reading -------------------------------------------------------------
    def get(self, key, default=None):
        if key in self._volatile:
            return self._volatile[key]
        return self._values.get(key, default)

    def get_int(self, tag, default=0):
        v = self.get(tag)
        if isinstance(v, int):
            return v
        if v is None or not 1 <= len(v) <= 4:
            return default
        return int.from_bytes(v, "big")

    def tag_list(self, tag):
        v = self.get(tag) or b""
        return [struct.unpack_from(">H", v, i)[0] for i in range(0, len(v) - 1, 2)]

    def in_list(self, tag, item):
        """`item in tag_list(tag)`, without building the list (hot paths)."""
        v = self.get(tag)
        if v:
            for i in range(0, len(v) - 1, 2):
                if (v[i] << 8) | v[i + 1] == item:
                    return True
        return False

    def is_volatile(self, tag):
        if not isinstance(tag, int):    # internal keys ("serial", "registered"...) persist
            return False
        return 0x3001 <= tag <= 0x3FFF or self.in_list(TAG_USER_VOLATILE, tag)

    def supports(self, tag):
        """True when the terminal keeps a value for `tag` (catalogue or a user tag)."""
        if self.in_list(TAG_USER_PERSISTENT, tag) or self.in_list(TAG_USER_VOLATILE, tag):
            return True
        info = CAT.lookup(tag)
        return info is not None and info[0] != CAT.T_RESERVED

    def readable(self, tag):
        """Value for CONFIG_GET / CONFIG_TRAP, or None when unsupported or secret."""
        if not self.supports(tag) or CAT.is_secret(tag) or 0xE001 <= tag <= 0xFFFF:
            return None
        return self.get(tag)

    # -- writing -------------------------------------------------------------
    def check(self, tlvs):
        """Tags of `tlvs` that cannot be set: unknown, read-only or invalid values
        (appendix G h: any such tag makes the whole CONFIG_SET "data invalid")."""
        bad = []
        for tag, value in tlvs:
            if tag == 0x4009:
                continue
            if not self.supports(tag) or 0x4001 <= tag <= 0x4FFF or 0xE001 <= tag <= 0xFFFF \
                    or 0x3001 <= tag <= 0x3FFF:
                bad.append(tag)
                continue
            if CAT.is_known(tag):
                try:
                    CAT.validate(tag, value)
                except (BadValue, BadTlv):
                    bad.append(tag)
        return bad

    def set(self, tag, value):
        value = bytes(value)
        if self.is_volatile(tag):
            self._volatile[tag] = value
            return
        if self._values.get(tag) != value:
            self._values[tag] = value
            self._dirty = True

    def set_volatile(self, tag, value):
        self._volatile[tag] = bytes(value)

    def delete(self, key):
        if key in self._values:
            del self._values[key]
            self._dirty = True

    def snapshot(self, tags):
        """Current values of `tags` (for rollback when an apply fails, 4.3.9.3 d)."""
        return [(t, self._values.get(t)) for t in tags]

    def restore(self, snap):
        for t, v in snap:
            if v is None:
                self.delete(t)
            else:
                self.set(t, v)

    def commit(self):
        """Save persistent values if anything changed; True when a write happened."""
        if not self._dirty:
            return False
        self.storage.save(self._values)
        self._dirty = False
        return True

    # -- derived -------------------------------------------------------------
    def core_crc32(self):
        """LOGIN config_crc32 over the tags named by 0x0025 (PROTOCOL.md 7, appendix G b)."""
        v = self.get(TAG_CORE_TAGS)
        if not v:
            return 0                # the CRC32 of no TLV at all (config_crc32 of nothing)
        return self.applied_crc32(self.tag_list(TAG_CORE_TAGS))

    def applied_crc32(self, tags):
        """TLV 0x4017: CRC32 over the applied parameters (PROTOCOL.md 7)."""
        c = 0
        prev = -1
        for t in tags:
            if t <= prev:       # not in ascending order: the general path sorts them
                return crc.config_crc32([(t, self.get(t) or b"") for t in tags])
            prev = t
            c = crc.tlv_crc32(t, self.get(t) or b"", c)
        return c

    def count(self, tag, n=1):
        """Add to a statistics counter (0x2008-0x200E), u32 wrapping."""
        self.set(tag, u32(self.get_int(tag) + n))

    def clear_stats(self):
        for t in _STATS:
            self.set(t, u32(0))

    def factory_reset(self):
        """Appendix E f 0x4001 = 0x0A: every parameter back to its factory default
        except the serial and registration state (internal keys) and the security
        values (E0xx: passwords, keys, SIM settings are not ordinary parameters,
        4.3.9.2)."""
        kept = {}
        for k, v in self._values.items():
            if not isinstance(k, int) or 0xE001 <= k <= 0xFFFF:
                kept[k] = v
        self._values = dict(self._defaults)
        self._values.update(kept)
        self._volatile = {}
        self._dirty = True

    def needs_restart(self, tags):
        for t in tags:
            if t in RESTART_TAGS:
                return True
        return False
