"""Security of the platform <-> application interface (section 5.2): accounts,
keys, body encryption, the message digest, sessions, address lists, and the
typed refusals with the result code appendix H gives each.

Section 5.2.1, as this package applies it (docs/APP.md decisions 8-11):

* Each application has a SERVICEID (section 5.2.2 item 2), a user name and a
  password, and a base key (3DES), all assigned by the platform: an Account.
* Bodies are encrypted with 3DES, EDE with a 16-byte key K1||K2 (K3 = K1) or a
  24-byte key, CBC with an all-zero IV, PKCS#7 padding -- the "3DES (CBC,
  K1=K3)" the standard names for WMMP (appendix E, tag 0xE035).
* TAppLogin and its answer are encrypted with the base key; the answer carries
  the session key CONVKEY (16 letters and digits, used as its 16 ASCII bytes)
  and its lifetime EXPIRATION in minutes; every later body, both ways, is
  encrypted with the session key.
* HASH = base64( MD5( head values || body bytes || user name || password ) ):
  the head values are the HEAD element texts in appendix order (SID,
  TIMESTAMP, SERVICEID[, TERMINID]) as UTF-8; the body bytes are those the BODY
  element carries (the 3DES output; nothing when there is no BODY).

Refusal and its subclasses are what a check raises; code_for(call) gives the
RESULTCODE of the answer (table REFUSAL_CODES), `plain` says the answer's body
goes in clear (no key is shared with the sender yet) and `signed` whether the
answer carries a HASH (the sender proved it holds the password).
"""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import string

try:
    from Crypto.Cipher import DES3 as _DES3
except ImportError:         # pycryptodome is optional: the project's own 3DES does the same
    _DES3 = None

from wmmp.crypto import cipher as _wcipher
from wmmp.errors import WmmpError

from wmmp_app.fields import FieldError, visible

KEY_CHARS = string.ascii_letters + string.digits


# -- refusals ----------------------------------------------------------------------------

class Refusal(Exception):
    """A request the receiver refuses; `kind` keys REFUSAL_CODES."""

    kind = "refused"
    plain = False        # the answer's body in clear
    signed = True        # the answer carries a HASH

    def __init__(self, text, code=None):
        super().__init__(text)
        self.code = code

    def code_for(self, call):
        """The RESULTCODE of the answer to `call` (a call name)."""
        if self.code is not None:
            return self.code
        table = REFUSAL_CODES.get(call, REFUSAL_CODES[None])
        return table.get(self.kind, table["refused"])


class UnknownService(Refusal):
    """SERVICEID not configured (section 5.2.2 item 2)."""
    kind, plain, signed = "unknown-service", True, False


class AddressRefused(Refusal):
    """The sender's address is not on the application's list (section 5.2.2 item 3)."""
    kind, plain, signed = "address", True, False


class DigestMismatch(Refusal):
    """HASH missing or wrong (section 5.2.1)."""
    kind, plain, signed = "digest", True, False


class NotLoggedIn(Refusal):
    """No session: the application must log in first (section 5.2.1)."""
    kind, plain = "not-logged-in", True


class SessionExpired(NotLoggedIn):
    """The session's time is over: the application must log in again (section 5.2.1)."""


class BadBody(Refusal):
    """BODY is not base64, or does not decrypt with the key it must use."""
    kind, plain = "body", True


class InvalidBody(Refusal):
    """The decrypted body does not follow appendix H."""
    kind = "invalid"


class UnknownUser(Refusal):
    """USERNAME in the body is not the application's."""
    kind = "user"


class BadPassword(Refusal):
    """PASSWORD in the body does not match the user name."""
    kind = "password"


class Forbidden(Refusal):
    """A terminal or a remote control not open to this application (section 5.1.6)."""
    kind = "forbidden"


class Refused(Refusal):
    """The platform (its backend) refuses the request; code defaults to 1."""


# RESULTCODE per refusal kind (docs/APP.md decision 13): appendix H a) and b) number
# the same failures differently; every other request answers 1 "platform refuses",
# or 2 "the application is not logged in".
REFUSAL_CODES = {
    "TAppLogin": {"unknown-service": 1, "address": 1, "user": 1, "digest": 2, "password": 2,
                  "body": 3, "invalid": 3, "refused": 3},
    "TAppLogout": {"unknown-service": 2, "address": 2, "user": 2, "digest": 3, "password": 3,
                   "body": 4, "invalid": 4, "refused": 4},
    None: {"not-logged-in": 2, "refused": 1},
}


# -- keys and the cipher ---------------------------------------------------------------

def key_bytes(key, what="key"):
    """A 3DES key as bytes: 16 or 24 bytes, 16 or 24 ASCII characters, or
    "hex:" and 32 or 48 hex digits.  ValueError otherwise."""
    if isinstance(key, str):
        if key.startswith("hex:"):
            try:
                key = bytes.fromhex(key[4:])
            except ValueError:
                raise ValueError("%s: hex: must be followed by 32 or 48 hex digits" % what)
        else:
            if not key.isascii():
                raise ValueError("%s must be ASCII (or hex:...)" % what)
            key = key.encode("ascii")
    if not isinstance(key, (bytes, bytearray)) or len(key) not in (16, 24):
        raise ValueError("%s must be 16 or 24 bytes (3DES, section 5.2.1), got %s" % (
            what, "%d" % len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__))
    return bytes(key)


def new_session_key():
    """A fresh CONVKEY: 16 letters and digits (appendix H a), its ASCII bytes the key."""
    return "".join(secrets.choice(KEY_CHARS) for _ in range(16))


_ECB = {}          # key -> pycryptodome ECB object (stateless, reusable), or False when it refuses the key


def _native(key):
    c = _ECB.get(key)
    if c is None:
        if _DES3 is None:
            return None
        try:
            c = _DES3.new(key, _DES3.MODE_ECB)
        except ValueError:      # K1 == K2 (or K2 == K3): pycryptodome refuses, the standard does not
            c = False
        if len(_ECB) >= 256:
            _ECB.clear()
        _ECB[key] = c
    return c or None


def encrypt(key, data):
    """3DES-CBC, zero IV, PKCS#7 (section 5.2.1; docs/APP.md decision 9)."""
    pad = 8 - len(data) % 8
    c = _native(key)
    if c is None:
        return _wcipher.encrypt(_wcipher.ALG_3DES, key, bytes(data))
    src = bytes(data) + bytes([pad]) * pad
    if len(src) > 48:           # past a few blocks a fresh CBC object costs less than block-by-block calls
        return _DES3.new(key, _DES3.MODE_CBC, iv=bytes(8)).encrypt(src)
    out = bytearray()
    prev = 0
    enc = c.encrypt
    for i in range(0, len(src), 8):
        blk = enc((int.from_bytes(src[i:i + 8], "big") ^ prev).to_bytes(8, "big"))
        out += blk
        prev = int.from_bytes(blk, "big")
    return bytes(out)


def decrypt(key, data):
    """The plaintext of encrypt(key, ...); BadBody when the length or padding is wrong."""
    if not data or len(data) % 8:
        raise BadBody("encrypted body is not a whole number of 3DES blocks")
    c = _native(key)
    if c is None:
        try:
            return _wcipher.decrypt(_wcipher.ALG_3DES, key, bytes(data))
        except WmmpError:
            raise BadBody("body does not decrypt with the key (bad padding)")
    data = bytes(data)
    n = len(data)
    out = (int.from_bytes(c.decrypt(data), "big") ^ int.from_bytes(data[:-8], "big")).to_bytes(n, "big")
    pad = out[-1]
    if not 1 <= pad <= 8 or out[-pad:] != bytes([pad]) * pad:
        raise BadBody("body does not decrypt with the key (bad padding)")
    return out[:-pad]


# -- the digest --------------------------------------------------------------------------

def digest(head_values, body_bytes, username, password):
    """HASH text: base64(MD5(head values || body bytes || user || password))."""
    h = hashlib.md5()
    for v in head_values:
        h.update(v.encode("utf-8"))
    h.update(body_bytes or b"")
    h.update(username.encode("utf-8"))
    h.update(password.encode("utf-8"))
    return base64.b64encode(h.digest()).decode("ascii")


def digest_matches(text, head_values, body_bytes, username, password):
    """True when HASH `text` is the digest (base64, or 32 hex digits, read)."""
    if not text:
        return False
    want = base64.b64decode(digest(head_values, body_bytes, username, password))
    try:
        got = bytes.fromhex(text) if len(text) == 32 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(want, got)


# -- accounts, sessions, addresses --------------------------------------------------------

class Account:
    """What the platform and one application share (section 5.2): SERVICEID,
    user name and password (at most 12 characters, appendix H b), base key."""

    def __init__(self, service_id, username, password, base_key):
        try:
            self.service_id = visible(service_id, "SERVICEID")
            self.username = visible(username, "user name", hi=12)
            self.password = visible(password, "password", hi=12)
        except FieldError as e:
            raise ValueError(str(e))
        self.base_key = key_bytes(base_key, "base key")

    def __repr__(self):
        return "<Account %s>" % self.service_id       # never the secrets


class Session:
    """One login: the session key (its text and bytes), when it was issued and
    when it ends (Unix times), and where the application is reached."""

    def __init__(self, key_text, issued, minutes, link=None, transport=None):
        self.key_text = key_text
        self.key = key_text.encode("ascii")
        self.issued = issued
        self.minutes = minutes
        self.expires = issued + 60.0 * minutes
        self.link = link
        self.transport = transport
        self.announced = None        # the gateway's: a future done once the answer to the login has gone out

    def valid(self, now):
        return now < self.expires

    def __repr__(self):
        return "<Session until %.0f>" % self.expires


class AddressList:
    """The addresses an application may call from (section 5.2.2 item 1, 3):
    IPs and networks ("10.1.2.0/24"), or "*" for any."""

    def __init__(self, entries):
        if isinstance(entries, str):
            entries = [entries]
        self.any = False
        self.nets = []
        for e in entries:
            if e == "*":
                self.any = True
                continue
            try:
                self.nets.append(ipaddress.ip_network(e, strict=False))
            except ValueError:
                raise ValueError("%r is not an IP address or network" % (e,))

    def allows(self, address):
        if self.any:
            return True
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in n for n in self.nets)

    def __repr__(self):
        return "*" if self.any else ",".join(str(n) for n in self.nets)


LOOPBACK = ("127.0.0.0/8", "::1")
