"""The service console's identity check and its credential (wmmp.board.console;
docs/CONSOLE.md), and what the console's command modules share: the store keys,
the limits of the identity check and the reply helpers word() and uint().

The console asks for identity (sections 4.4.1.4 and 4.4.4 of the standard)
before RESET SIM, RESET KEYS, REKEY and AUDIT:
  identity  CHALLENGE gives a random nonce; AUTH <hex> must carry
            HMAC-MD5(key = the service credential, message = nonce) (RFC 2104).
            The credential is stored under "secret_service" and never sent.
            A wrong answer raises a persistent failure counter ("console_fails",
            survives power cycles): the next AUTH waits 2**n s (up to
            LOCK_CAP); after a reboot the full wait starts again.  A right one
            clears it and opens an authorisation valid AUTH_TTL s.
The credential gets onto the device over the console too (docs/CONSOLE.md,
"Provisioning"): PROVISION <32 hex> [<id>] stores it in the factory state only
(no credential stored, the firmware's factory switch on, the terminal never
registered, within PROVISION_WINDOW s of boot); REKEY <32 hex> [<id>] replaces
it after a right AUTH and ends that authorisation.  The value is never echoed,
logged or shown (STATUS says credential=yes|no, IDENT the non-secret id).

Commands are functions handler(console, args) over the Console object, listed
in the command table of wmmp.board.console (which imports this module, never
the other way round): challenge, auth, provision, rekey.
"""

import struct
from binascii import hexlify, unhexlify
from micropython import const

from wmmp.crypto import md5
from wmmp.wire.digest import equal as _same   # compare without an early exit
from wmmp.errors import WmmpError

NONCE_LEN = const(16)
NONCE_TTL = const(60)       # s a challenge may be answered
AUTH_TTL = const(300)       # s an accepted AUTH allows resets
LOCK_CAP = const(600)       # longest wait after wrong answers, s
CRED_HEX = const(32)        # hex digits of a service credential given by PROVISION/REKEY
CRED_MIN_DIGITS = const(5)  # fewer different digits than this: a placeholder, refused
ID_MAX = const(32)          # characters of a credential id
PROVISION_WINDOW = const(600)   # s after boot PROVISION is accepted (factory switch on)

KEY_CREDENTIAL = "secret_service"
KEY_FAILS = "console_fails"     # u16: wrong AUTH answers since the last right one
KEY_CLEARED = "cleared"         # E020 bits for REGISTER operation 0x04 (4.4.4)
KEY_CLEARED_LOGIN = "cleared_login"  # E020 bits for the next LOGIN (4.4.1.4)
KEY_REGISTERED = "registered"
KEY_SERIAL = "serial"           # assigned by the platform at the first registration
KEY_CRED_ID = "service_cred_id"  # non-secret id of the credential (e.g. "<IMEI>/<generation>")
_HEX = "0123456789abcdef"
_ID_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._:/-"


def hmac_md5(key, msg):
    """HMAC-MD5 (RFC 2104) over wmmp.crypto.md5 (MicroPython's hashlib may lack MD5)."""
    key = bytes(key)
    if len(key) > 64:
        key = md5.md5(key)
    key = key + bytes(64 - len(key))
    h = md5.new(bytes(b ^ 0x36 for b in key))
    h.update(msg)
    inner = h.digest()
    h = md5.new(bytes(b ^ 0x5C for b in key))
    h.update(inner)
    return h.digest()


def response(credential, nonce):
    """The AUTH answer to `nonce` (bytes): HMAC-MD5(credential, nonce)."""
    return hmac_md5(credential, nonce)


def parse_credential(text):
    """(credential bytes, None) for a credential typed as CRED_HEX hex digits
    (either case; stored lowercase, the AUTH key is those ASCII bytes), or
    (None, problem): "length", "hex", or "weak" (fewer than CRED_MIN_DIGITS
    different digits: a placeholder such as all zeros, never a random value)."""
    if len(text) != CRED_HEX:
        return None, "length"
    t = text.lower()
    for ch in t:
        if ch not in _HEX:
            return None, "hex"
    if len(set(t)) < CRED_MIN_DIGITS:
        return None, "weak"
    return t.encode(), None


def valid_id(text):
    """A credential id: 1..ID_MAX characters of A-Z a-z 0-9 . _ : / -."""
    if not 1 <= len(text) <= ID_MAX:
        return False
    for ch in text:
        if ch not in _ID_CHARS:
            return False
    return True


def lock_delay(fails):
    """Seconds the next AUTH waits after `fails` wrong answers: 2, 4, 8 ... LOCK_CAP."""
    if fails <= 0:
        return 0
    return min(LOCK_CAP, 1 << min(fails, 16))


def word(v, limit=40):
    """A value as one printable token (no spaces), bounded."""
    if v is None:
        return "-"
    if isinstance(v, (bytes, bytearray, memoryview)):
        v = bytes(v)
        while v[-1:] in (b"\x00", b" "):
            v = v[:-1]
        for c in v:
            if not 0x21 <= c <= 0x7E:
                return hexlify(v[:limit // 2]).decode()
        v = v.decode()
    v = str(v)
    out = []
    for ch in v[:limit]:
        out.append(ch if 0x21 <= ord(ch) <= 0x7E else "_")
    return "".join(out) or "-"


def uint(v):
    """A stored unsigned big-endian value of 1-4 bytes (anything else: 0)."""
    if v is None or not 1 <= len(v) <= 4:
        return 0
    n = 0
    for b in bytes(v):
        n = (n << 8) | b
    return n


# -- identity check ------------------------------------------------------------------
def credential(c):
    """The stored service credential (bytes) of console `c`, or None."""
    v = c.st.view().get(KEY_CREDENTIAL)
    return bytes(v) if v else None


def stored_fails(st):
    """The failure counter in the console's store view `st`."""
    v = st.view().get(KEY_FAILS)
    return struct.unpack(">H", bytes(v))[0] if v is not None and len(v) == 2 else 0


def _save_fails(c, n):
    c.st.update({KEY_FAILS: struct.pack(">H", min(n, 0xFFFF))}, ())
    c.fails = n


def challenge(c, args):
    if c.now < c.locked_until:
        c.refuse("locked", "wait %d s after %d wrong answers" % (c.wait(), c.fails), "fails=%d" % c.fails)
        return
    if credential(c) is None:
        c.refuse("no_credential", "no service credential provisioned", "none stored")
        return
    c.nonce = bytes(c.rng(NONCE_LEN))
    c.nonce_until = c.now + NONCE_TTL
    c.ok("CHALLENGE " + hexlify(c.nonce).decode())


def auth(c, args):
    if len(args) != 1 or len(args[0]) != 2 * 16:
        c.refuse("syntax", "AUTH takes 32 hex digits", "AUTH")
        return
    try:
        answer = unhexlify(args[0])
    except ValueError:
        c.refuse("syntax", "AUTH takes 32 hex digits", "AUTH")
        return
    if c.now < c.locked_until:
        c.refuse("locked", "wait %d s after %d wrong answers" % (c.wait(), c.fails), "fails=%d" % c.fails)
        return
    cred = credential(c)
    if cred is None:
        c.refuse("no_credential", "no service credential provisioned", "none stored")
        return
    nonce = c.nonce
    if nonce is None or c.now >= c.nonce_until:
        c.nonce = None
        c.refuse("no_challenge", "send CHALLENGE first (a nonce lasts %d s)" % NONCE_TTL, "no nonce")
        return
    c.nonce = None              # single use, whatever the answer
    n = c.fails + 1
    try:
        _save_fails(c, n)       # counted BEFORE the comparison: a power cut cannot undo it
    except WmmpError:
        c.err("storage", "flash write failed: AUTH refused")
        c.st.audit("console_auth_refused", "failure counter could not be saved")
        return
    if _same(response(cred, nonce), answer):
        try:
            _save_fails(c, 0)
        except WmmpError:
            pass                # stays counted on flash: only a longer wait after a reboot
        c.fails = 0
        c.locked_until = c.now
        c.auth_until = c.now + AUTH_TTL
        c.st.audit("console_auth_ok", "technician authenticated")
        c.ok("AUTH valid=%d" % AUTH_TTL)
        return
    c.auth_until = None
    d = lock_delay(n)
    c.locked_until = c.now + d
    c.st.audit("console_auth_fail", "fails=%d wait=%ds" % (n, d))
    c.err("auth", "wrong answer: %d failures, next AUTH in %d s" % (n, d))


# -- provisioning and rotation of the credential -------------------------------------
def provision_closed(c, v):
    """None while PROVISION may store a credential (v: the store view), else
    (code, reason, why): why is the word STATUS shows as provisioning=closed-<why>."""
    if v.get(KEY_CREDENTIAL):
        return ("provisioned", "a service credential is already stored: REKEY after AUTH replaces it",
                "stored")
    if not c.provisioning:
        return ("provision_closed", "provisioning is off in this firmware (factory switch)", "switch")
    if v.get(KEY_SERIAL):
        return ("provision_closed", "terminal has registered: provisioning only before the first "
                "registration", "registered")
    if c.window_lost or c.boot is None or c.now is None or c.now - c.boot >= c.provision_window:
        return ("provision_closed", "provisioning only in the first %d s after boot" %
                c.provision_window, "window")
    return None


def _new_credential(c, args, cmd):
    """(credential bytes, id or None) from PROVISION/REKEY arguments, or None
    after a refusal.  Neither the value nor its length goes into a reply or
    the audit log."""
    cred, problem = parse_credential(args[0])
    if problem == "weak":
        c.refuse("weak", "credential has fewer than %d different digits: use a random one" %
                 CRED_MIN_DIGITS, "%s weak" % cmd)
        return None
    if cred is None:
        c.refuse("syntax", "%s takes %d hex digits and an optional id" % (cmd, CRED_HEX),
                 "%s %s" % (cmd, problem))
        return None
    cid = args[1] if len(args) == 2 else None
    if cid is not None and not valid_id(cid):
        c.refuse("syntax", "id: 1-%d characters of A-Z a-z 0-9 . _ : / -" % ID_MAX, "%s id" % cmd)
        return None
    return cred, cid


def _store_credential(c, cred, cid, event):
    """One store write of the credential and its id (no id: none kept); False
    (reply and audit done) when the flash write failed."""
    puts = {KEY_CREDENTIAL: cred}
    drops = ()
    if cid is None:
        drops = (KEY_CRED_ID,)
    else:
        puts[KEY_CRED_ID] = cid.encode()
    try:
        c.st.update(puts, drops)
    except WmmpError:
        c.st.audit(event, "flash write failed: nothing changed")
        c.err("storage", "flash write failed: nothing changed")
        return False
    return True


def provision(c, args):
    new = _new_credential(c, args, "PROVISION")
    if new is None:
        return
    closed = provision_closed(c, c.st.view())
    if closed is not None:
        c.refuse(closed[0], closed[1], "PROVISION " + closed[2])
        return
    cred, cid = new
    if not _store_credential(c, cred, cid, "console_provision"):
        return
    c.st.audit("console_provision", "service credential stored id=%s" % word(cid))
    c.ok("PROVISION credential=stored id=%s" % word(cid))


def rekey(c, args):
    new = _new_credential(c, args, "REKEY")
    if new is None:
        return
    if not c.authed():
        c.refuse("need_auth", "REKEY needs CHALLENGE and AUTH first", "REKEY")
        return
    cred, cid = new
    old = credential(c)
    if old is not None and _same(old, cred):
        c.refuse("unchanged", "the new credential is the stored one: nothing changed", "REKEY unchanged")
        return
    if not _store_credential(c, cred, cid, "console_rekey"):
        return
    c.auth_until = None         # the old credential's authorisation ends with it
    c.nonce = None
    c.st.audit("console_rekey", "service credential replaced id=%s" % word(cid))
    c.ok("REKEY credential=replaced id=%s auth=ended" % word(cid))
