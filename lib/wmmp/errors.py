"""Exception types of the wmmp package.

Every failure the message layer can report on bad input is a WmmpError subclass,
so a caller (the engine, a tool) needs one except clause to stay alive.
"""


class WmmpError(Exception):
    """Base class of every error the package raises on bad input or misuse.

    `header` is the decoded header of the offending message when the decoder got
    that far (so the engine can answer per 4.4.5 / E041), else None."""

    header = None


class Truncated(WmmpError):
    """Input ends before a header, TLV or fixed field is complete."""


class BadLength(WmmpError):
    """A length field disagrees with the data (total_length, TLV length, fixed size)."""


class UnknownCommand(WmmpError):
    """Command ID not in appendix D."""


def _tagged(self, msg, tag=None):
    """__init__ of BadTlv and BadValue (one function for both, deleted below):
    the message, and the tag at fault or None in .tag."""
    super(WmmpError, self).__init__(msg)
    self.tag = tag


class BadTlv(WmmpError):
    """A TLV is malformed, unknown where a known tag is required, or repeated."""

    __init__ = _tagged


class BadValue(WmmpError):
    """A field or TLV value is outside what the standard allows."""

    __init__ = _tagged


del _tagged


class DigestMismatch(WmmpError):
    """The E021 digest is wrong (security byte bit 0x08 for the peer)."""


class DigestMissing(WmmpError):
    """A digest was required but the message has none (security bit 0x04)."""


class DecryptError(WmmpError):
    """Ciphertext has a bad length or padding, or the key is wrong (bit 0x02)."""


class TooLongForBearer(WmmpError):
    """A message or TLV value exceeds the bearer limit (appendix E a, PROTOCOL.md 9)."""


class Unsupported(WmmpError):
    """A valid request the implementation does not support (e.g. RSA, PROTOCOL.md 5)."""


class SubpacketError(WmmpError):
    """Inconsistent sub-packet set: wrong total, index, transaction or op (appendix F)."""


class StorageError(WmmpError):
    """The filesystem failed while saving; the previous state is intact
    (raised by the flash store, wmmp.board.store)."""
