"""The service console's local configuration (wmmp.board.console; section
4.3.9.2 of the standard: parameters set by hand on the terminal) and the
terminal's requests to the platform a technician may start from it (4.3.9.1
CONFIG_REQ; 4.4.3.1.3.1 SECURITY_CONFIG operations 0x04-0x07); docs/CONSOLE.md.

All need a right AUTH (wmmp.board.consoleauth; refused and audited otherwise):
  GET <tag> ...         values as CONFIG_GET would show them (Params.readable):
                        <tag>=<hex>, "-" when none is kept, "***" for a secret or
                        security (E0xx) parameter: never shown here.
  SET <tag>=<hex> ...   all or nothing, checked as a CONFIG_SET (Params.check);
                        secrets (catalogue F_SECRET: passwords, keys, PINs) are
                        refused: they change only through the platform's
                        security procedures or RESET KEYS / RESET SIM.  Applied
                        through the engine's Terminal.local_config: the platform
                        gets CONFIG_TRAP 0x4011 with the values (after the next
                        login when not logged in); a tag that needs a restart
                        is applied after LOGOUT 0x03.  Refused (ERR not_ready)
                        while there is no engine: its report would have nowhere
                        to wait, and the platform would never learn of it.
  REQUEST CONFIG <tag> ...                 Terminal.request_config (logged in only)
  REQUEST SECURITY <op> [<tag>[=<hex>] ...] Terminal.security_request, op 04-07
Every accepted command and every refusal after AUTH is written to the audit log
(console_get, console_set, console_request, and *_refused): tag numbers, and for
SET the old and new values of the (never secret) parameters; never a secret,
never the text of a refused line.

The console reaches the engine through Console.terminal, a callable returning
the current wmmp.terminal.engine.Terminal or None; its clock is the console's.
Handlers are functions handler(console, args) in the command table of
wmmp.board.console (which imports this module, never the other way round).
"""

from binascii import hexlify, unhexlify

from wmmp.wire import catalogue as CAT, codes as K
from wmmp.errors import WmmpError

_ASK = (0xE025, 0xE028, 0xE036)     # secrets REQUEST SECURITY 05/06 may ask for (4.4.3.1.3.1)
_SHOW = 12                          # value bytes an audit entry shows (then "...")
_HEX = "0123456789abcdefABCDEF"


def engine(c):
    """The running Terminal of console `c`, or None (never raises)."""
    f = c.terminal
    if f is None:
        return None
    try:
        return f()
    except Exception:
        return None


def _params(c, t):
    """The parameters to read: the engine's, else the console's live Params,
    else a Params loaded from the console's storage (defaults included)."""
    if t is not None:
        return t.params
    if c.st.live:
        return c.store
    from wmmp.terminal.params import Params
    return Params(c.store)


def _hex(text, n):
    """The number typed as exactly `n` hex digits, or None."""
    if len(text) != n:
        return None
    for ch in text:
        if ch not in _HEX:
            return None
    return int(text, 16)


def _tag(text):
    """A tag typed as 4 hex digits, or None."""
    return _hex(text, 4)


def _tags(tags):
    return ",".join("%04X" % t for t in tags)


def _show(v):
    if v is None:
        return "-"
    v = bytes(v)
    return hexlify(v[:_SHOW]).decode() + ("..." if len(v) > _SHOW else "")


def _pairs(args):
    """[(tag, value bytes or None)] of <tag>[=<hex>] words (no tag twice), or
    None when one is malformed (an empty value is malformed)."""
    out = []
    for w in args:
        tag = _tag(w[:4])
        value = None
        if tag is None or (len(w) > 4 and (w[4] != "=" or len(w) < 7)):
            return None
        if len(w) > 4:
            try:
                value = unhexlify(w[5:])
            except ValueError:
                return None
        if tag in [t for t, _ in out]:
            return None
        out.append((tag, value))
    return out


def _authed(c, cmd):
    if c.authed():
        return True
    c.refuse("need_auth", "%s needs CHALLENGE and AUTH first" % cmd, cmd)
    return False


def _no(c, event, code, reason, detail):
    """A refusal after AUTH: ERR reply and an audit entry, always written."""
    c.err(code, reason)
    c.st.audit(event + "_refused", "%s %s" % (code, detail))


# -- GET ---------------------------------------------------------------------------
def get(c, args):
    if not _authed(c, "GET"):
        return
    tags = [_tag(w) for w in args]
    if None in tags:
        c.refuse("syntax", "GET <tag> ...: tags as 4 hex digits, e.g. GET 0011 0002", "GET")
        return
    p = _params(c, engine(c))
    unknown = [t for t in tags if not p.supports(t)]
    if unknown:
        _no(c, "console_get", "unknown_tag", "%s: not a parameter of this terminal" % _tags(unknown),
            _tags(unknown))
        return
    out = []
    for t in tags:
        if CAT.is_secret(t) or 0xE001 <= t <= 0xFFFF:
            v = "***"
        else:
            v = p.readable(t)
            v = "-" if v is None else hexlify(bytes(v)).decode()
        out.append("%04X=%s" % (t, v))
    c.st.audit("console_get", _tags(tags))
    c.ok("GET " + " ".join(out))


# -- SET (4.3.9.2) -------------------------------------------------------------------
def set_(c, args):
    if not _authed(c, "SET"):
        return
    tlvs = _pairs(args)
    if tlvs is None or None in [v for _, v in tlvs]:
        _no(c, "console_set", "syntax", "SET <tag>=<hex> ...: tag 4 hex digits, value an even number "
            "of hex digits, each tag once; nothing changed", "n=%d" % len(args))
        return
    tags = [t for t, _ in tlvs]
    secret = [t for t in tags if CAT.is_secret(t)]
    if secret:
        _no(c, "console_set", "secret", "%s: secrets change only through the platform's security "
            "procedures or RESET KEYS / RESET SIM; nothing changed" % _tags(secret), _tags(secret))
        return
    t = engine(c)
    p = _params(c, t)
    unknown = [tag for tag in tags if not p.supports(tag)]
    if unknown:
        _no(c, "console_set", "unknown_tag", "%s: not a parameter of this terminal; nothing changed" %
            _tags(unknown), _tags(unknown))
        return
    bad = [tag for tag in tags if 0x4001 <= tag <= 0x4FFF] or p.check(tlvs)
    if bad:
        _no(c, "console_set", "invalid", "%s: read-only here or a value the standard does not allow; "
            "nothing changed" % _tags(bad), _tags(bad))
        return
    if t is None:
        # No engine yet (the module is starting): 4.3.9.2 wants the platform told
        # (0x4011), and only the engine can queue that report; a value changed
        # behind it would stay unknown to the platform.  Refused, nothing lost.
        _no(c, "console_set", "not_ready", "the engine is not running yet (STATUS state=starting): "
            "try again shortly; nothing changed", _tags(tags))
        return
    online = t.state_name == "online"
    later = online and p.needs_restart(tags)
    old = [(tag, p.get(tag)) for tag in tags]
    try:
        bad = t.local_config(tlvs, c.now)
    except WmmpError:           # the flash write failed: back to the old values
        for tag, v in old:
            if v is None:
                p.delete(tag)
            else:
                p.set(tag, v)
        try:
            p.commit()          # in case the failure came after the write
        except WmmpError:
            pass
        _no(c, "console_set", "storage", "flash write failed: nothing changed", _tags(tags))
        return
    if bad:
        _no(c, "console_set", "invalid", "%s: refused by the engine; nothing changed" % _tags(bad),
            _tags(bad))
        return
    if later:
        how = "applied=after-logout logout=0x%02X report=next-login" % K.LOGOUT_LOCAL_CONFIG
    else:
        how = "applied=now report=" + ("now" if online else "next-login")
        if p.needs_restart(tags):
            how += " link=next-restart"
    for (tag, v), (_, new) in zip(old, tlvs):
        c.st.audit("console_set", "%04X %s>%s %s" % (tag, _show(v), _show(new), how.split()[0]))
    c.ok("SET tags=%s %s" % (_tags(tags), how))


# -- REQUEST CONFIG (4.3.9.1), REQUEST SECURITY (4.4.3.1.3.1) ----------------------------
def request(c, args):
    """REQUEST CONFIG <tag> ... | REQUEST SECURITY <op> [<tag>[=<hex>] ...];
    False for other arguments (the console refuses their syntax)."""
    what = args[0].upper()
    if what not in ("CONFIG", "SECURITY"):
        return False
    if not _authed(c, "REQUEST " + what):
        return
    if what == "CONFIG":
        _request_config(c, args[1:])
    else:
        _request_security(c, args[1:])


def _online(c, what):
    """The engine when logged in, else None after a refusal: a request goes to
    the platform only within a session."""
    t = engine(c)
    name = "starting" if t is None else t.state_name
    if name != "online":
        _no(c, "console_request", "not_online", "terminal is %s: requests go to the platform only "
            "while logged in; nothing sent" % name, "%s state=%s" % (what, name))
        return None
    return t


def _sent(c, what, txn, detail):
    seq = getattr(txn, "seq", None)
    seq = "-" if seq is None else seq
    c.st.audit("console_request", "%s %s seq=%s" % (what, detail, seq))
    c.ok("REQUEST %s %s seq=%s sent" % (what, detail, seq))


def _request_config(c, words):
    pairs = _pairs(words)
    if not pairs or [v for _, v in pairs if v is not None]:
        _no(c, "console_request", "syntax", "REQUEST CONFIG <tag> ...: tags as 4 hex digits",
            "CONFIG n=%d" % len(words))
        return
    t = _online(c, "CONFIG")
    if t is None:
        return
    tags = [tag for tag, _ in pairs]
    p = t.params
    bad = [tag for tag in tags if not p.supports(tag) or CAT.is_secret(tag) or 0x3001 <= tag <= 0x4FFF
           or 0xE001 <= tag <= 0xFFFF]
    if bad:
        _no(c, "console_request", "invalid", "%s: not a parameter the platform sets by CONFIG_REQ; "
            "nothing sent" % _tags(bad), "CONFIG " + _tags(bad))
        return
    _sent(c, "CONFIG", t.request_config(tags, c.now), "tags=" + _tags(tags))


def _request_security(c, words):
    op = None
    if words:
        w = words[0]
        op = _hex(w[2:] if w[:2] in ("0x", "0X") else w, 2)
    pairs = _pairs(words[1:]) if op is not None else None
    if pairs is None or not K.SEC_OP_REPORT <= op <= K.SEC_OP_REQ_ENABLE:
        _no(c, "console_request", "syntax", "REQUEST SECURITY 04 | 05 <tag> ... | 06 <tag> ... | "
            "07 <tag>=<hex> ...", "SECURITY n=%d" % len(words))
        return
    tags = [tag for tag, _ in pairs]
    values = [v for _, v in pairs if v is not None]
    if op == K.SEC_OP_REPORT:
        ok = not pairs
    elif op == K.SEC_OP_REQ_ENABLE:
        ok = pairs and len(values) == len(pairs) and _switches(pairs)
    else:
        ok = pairs and not values and not [tag for tag in tags if tag not in _ASK]
    if not ok:
        _no(c, "console_request", "invalid", "operation 0x%02X: 04 takes no tags, 05/06 the secrets "
            "wanted (E025 E028 E036), 07 switches with their values (e.g. E032=01); nothing sent" % op,
            "SECURITY op=0x%02X %s" % (op, _tags(tags)))
        return
    t = _online(c, "SECURITY")
    if t is None:
        return
    arg = pairs if op == K.SEC_OP_REQ_ENABLE else tags
    detail = "op=0x%02X" % op
    if pairs:
        detail += " tags=" + ",".join("%04X" % tag if v is None else "%04X=%s" % (tag, _show(v))
                                      for tag, v in pairs)
    _sent(c, "SECURITY", t.security_request(op, c.now, arg), detail)


def _switches(pairs):
    """Operation 0x07's tags: security settings (E0xx) that are no secret, each
    value one the catalogue allows."""
    for tag, v in pairs:
        if not 0xE001 <= tag <= 0xFFFF or not CAT.is_known(tag) or CAT.is_secret(tag):
            return False
        try:
            CAT.validate(tag, v)
        except WmmpError:
            return False
    return True
