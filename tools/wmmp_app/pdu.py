"""A Message to PDU bytes and back, with the keys and digest of section 5.2.1:
the one place messages.py, xmlform.py and security.py meet.

    data = seal(msg, account, key)              # encrypt the body, sign, XML
    raw = xmlform.decode_pdu(data)              # root, head, BODY and HASH texts
    spec, head = check(raw)                     # known message, head well formed
    verify(raw, spec, account)                  # DigestMismatch
    body, how = open_body(raw, spec, [key])     # BadBody / InvalidBody

A refusal the sender cannot decrypt or verify (security.Refusal.plain / signed)
is sealed with plain=True (BODY is the base64 of the plain body document)
and/or signed=False (empty HASH): docs/APP.md decision 11.
"""

import base64
import binascii

from wmmp_app import messages as M
from wmmp_app import security as S
from wmmp_app import xmlform as X


def head_values(spec, head):
    """The head texts the digest covers, in appendix order."""
    return [head.get(k, "") for k in spec.head]


def seal(msg, account, key, plain=False, signed=True, namespace=None):
    """The PDU document of `msg`: body encrypted with `key` (in clear when
    `plain`), HASH over head, body bytes, user and password (empty unless `signed`)."""
    doc = M.body_xml(msg)
    if doc is None:
        body_bytes, body_text = b"", None
    else:
        body_bytes = doc if plain else S.encrypt(key, doc)
        body_text = base64.b64encode(body_bytes).decode("ascii")
    hv = head_values(msg.spec, msg.head)
    h = S.digest(hv, body_bytes, account.username, account.password) if signed else ""
    return X.encode_pdu(msg.name, {k: msg.head[k] for k in msg.spec.head}, body_text, h, namespace)


def check(raw):
    """(Spec, checked head) of a RawPdu; MessageError if not a message of appendix H."""
    spec = M.spec(raw.name)
    return spec, M.check_head(spec, raw.head)


def check_answer(raw, request):
    """(Spec, checked head) of the answer to `request` (a Message): its root must
    be the response's name or one of the appendix's other spellings of it, and
    its SID the request's; MessageError otherwise."""
    names = M.response_names(request.name)
    if raw.name not in names or raw.sid != request.sid:
        raise M.MessageError("answer %s SID %s does not answer %s SID %s" % (
            raw.name[:60], str(raw.sid)[:20], request.name, request.sid), raw.name)
    spec = request.call.response
    return spec, M.check_head(spec, raw.head)


def _body_bytes(raw):
    if not raw.body:
        return b""
    try:
        return base64.b64decode("".join(raw.body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise S.BadBody("BODY is not base64 (appendix C 2.1)")


def verify(raw, spec, account):
    """DigestMismatch unless HASH is the digest of this PDU with the account's secrets."""
    if not raw.hash:
        raise S.DigestMismatch("%s carries no HASH" % raw.name)
    try:
        body = _body_bytes(raw)
    except S.BadBody:
        raise S.DigestMismatch("%s: BODY is not base64, so HASH cannot match" % raw.name)
    if not S.digest_matches(raw.hash, head_values(spec, raw.head), body, account.username, account.password):
        raise S.DigestMismatch("%s: HASH does not match (wrong user name or password?)" % raw.name)


def _looks_plain(b):
    s = b.lstrip()
    return s.startswith(b"<?xml") or s.startswith(b"<BODY")


def open_body(raw, spec, keys, allow_plain=False):
    """(body dict or None, how): the body decrypted with the first key of `keys`
    that works ("key0", "key1", ...) or read in clear ("plain", only when
    `allow_plain`).  BadBody when no key decrypts it; InvalidBody when the
    plain document does not follow appendix H."""
    if spec.body is None:
        if raw.body and not spec.body_read_optional:
            raise S.InvalidBody("%s has no body (appendix H %s)), but BODY is not empty" % (raw.name, spec.call.letter))
        return None, "none"
    if not raw.body:
        if spec.body_read_optional:
            return {}, "none"
        raise S.InvalidBody("%s needs a BODY (appendix H %s))" % (raw.name, spec.call.letter))
    data = _body_bytes(raw)
    if _looks_plain(data):
        if not allow_plain:
            raise S.BadBody("%s: the body is not encrypted (section 5.2.1 asks for 3DES)" % raw.name)
        return _read(spec, data), "plain"
    last = None
    for i, k in enumerate(keys):
        if k is None:
            continue
        try:
            doc = S.decrypt(k, data)
        except S.BadBody as e:
            last = e
            continue
        try:
            root = X.parse(doc, what="decrypted body")
        except M.MessageError:
            last = S.BadBody("%s: the decrypted body is not XML (wrong key?)" % raw.name)
            continue
        return _read(spec, root), "key%d" % i
    raise last or S.BadBody("%s: no key to decrypt the body with" % raw.name)


def _read(spec, doc):
    try:
        root = doc if not isinstance(doc, (bytes, bytearray)) else X.parse(doc, what="body")
        return M.read_body(spec, root)
    except M.MessageError as e:
        raise S.InvalidBody(str(e))
