"""The XML form of a PDU (appendix C 2.1) and the safe XML reader every side uses.

A PDU on either transport is one UTF-8 XML document:

    <?xml version="1.0" encoding="UTF-8"?>
    <TTransparentDataDownReq>
      <HEAD><SID>..</SID><TIMESTAMP>..</TIMESTAMP><SERVICEID>..</SERVICEID></HEAD>
      <BODY>base64( 3DES( plain body document ) )</BODY>
      <HASH>base64( MD5(...) )</HASH>
    </TTransparentDataDownReq>

This module knows nothing of keys: encode_pdu() takes the BODY and HASH texts
ready made (pdu.py makes them), decode_pdu() returns them as text with the head.
On HTTP the PDU may travel inside a SOAP 1.1 envelope, its elements in the
namespace NS (soap_wrap / soap_unwrap; docs/APP.md decision 12).

parse() is the only XML parser here: it refuses documents over a size limit,
any DOCTYPE or ENTITY declaration (no entity expansion, no external fetch),
documents not in UTF-8, and trees too deep or with too many elements.
Element names are read without their namespace; "Head" is read as HEAD.
"""

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from wmmp_app.messages import MessageError

NS = "urn:wmmp:app"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_PDU = 1 << 20          # bytes of one PDU document (both transports; configurable per server)
MAX_ELEMENTS = 20000
MAX_DEPTH = 12

_DECL = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\?>", re.S)
_ENC = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.I)


class RawPdu:
    """A PDU as read: root name, head dict (document order), BODY text (None:
    no BODY element), HASH text (None: none), and whether it came in SOAP."""

    __slots__ = ("name", "head", "body", "hash", "soap")

    def __init__(self, name, head, body, hash_, soap=False):
        self.name, self.head, self.body, self.hash, self.soap = name, head, body, hash_, soap

    @property
    def sid(self):
        return self.head.get("SID")

    @property
    def service_id(self):
        return self.head.get("SERVICEID")


def local(tag):
    """An element name without its {namespace}."""
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def parse(data, limit=MAX_PDU, what="document"):
    """The root Element of an XML document (bytes), read safely; MessageError."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, (bytes, bytearray)):
        raise MessageError("%s is not bytes" % what)
    if len(data) > limit:
        raise MessageError("%s of %d bytes is over the limit of %d" % (what, len(data), limit))
    if not data.strip():
        raise MessageError("%s is empty" % what)
    if _FORBIDDEN.search(data):
        raise MessageError("%s declares a DTD or entities, which are refused" % what)
    m = _DECL.match(data)
    if m:
        enc = _ENC.search(m.group(0))
        if enc and enc.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise MessageError("%s is in %s; only UTF-8 is read (appendix C 2.1)" % (what, enc.group(1).decode()))
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise MessageError("%s is not UTF-8" % what)
    try:
        root = ET.fromstring(bytes(data))
    except ET.ParseError as e:
        raise MessageError("%s is not well-formed XML (%s)" % (what, e))
    n = 0
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        n += 1
        if n > MAX_ELEMENTS or depth > MAX_DEPTH:
            raise MessageError("%s is too large a tree (over %d elements or %d levels)"
                               % (what, MAX_ELEMENTS, MAX_DEPTH))
        el.tag = local(el.tag) if isinstance(el.tag, str) else el.tag
        stack.extend((c, depth + 1) for c in el)
    return root


# -- PDU -------------------------------------------------------------------------------

def encode_pdu(name, head, body, hash_text, namespace=None):
    """The PDU document (bytes): head is an ordered dict of text values; body the
    BODY text (None: no BODY element); hash_text the HASH text."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<', name]
    if namespace:
        parts.append(' xmlns="%s"' % namespace)
    parts.append("><HEAD>")
    for k, v in head.items():
        parts.append("<%s>%s</%s>" % (k, escape(v), k))
    parts.append("</HEAD>")
    if body is not None:
        parts.append("<BODY>%s</BODY>" % escape(body))
    parts.append("<HASH>%s</HASH></%s>" % (escape(hash_text or ""), name))
    return "".join(parts).encode("utf-8")


def decode_pdu(data, limit=MAX_PDU):
    """A RawPdu from a PDU document (bytes) or an already parsed root Element
    (its tags already without namespace); MessageError when it is not one."""
    root = data if isinstance(data, ET.Element) else parse(data, limit, "PDU")
    soap = False
    if root.tag == "Envelope":
        root = _soap_payload(root)
        soap = True
    name = root.tag
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier():
        raise MessageError("PDU root <%s> is not a message name" % str(name)[:40])
    head = body = hash_ = None
    for el in root:
        t = el.tag.upper() if el.tag in ("Head", "Body", "Hash") else el.tag
        if t == "HEAD":
            if head is not None:
                raise MessageError("%s: two HEAD elements" % name, name)
            head = {}
            for h in el:
                if len(h):
                    raise MessageError("%s: HEAD %s holds elements" % (name, h.tag), name, h.tag)
                if h.tag in head:
                    raise MessageError("%s: HEAD %s occurs twice" % (name, h.tag), name, h.tag)
                head[h.tag] = (h.text or "").strip()
        elif t == "BODY":
            if body is not None:
                raise MessageError("%s: two BODY elements" % name, name)
            if len(el):
                raise MessageError("%s: BODY holds XML; it must hold the encrypted body as base64 (appendix C 2.1)"
                                   % name, name)
            body = (el.text or "").strip()
        elif t == "HASH":
            if hash_ is not None:
                raise MessageError("%s: two HASH elements" % name, name)
            hash_ = (el.text or "").strip()
        else:
            raise MessageError("%s: unexpected element <%s> (HEAD, BODY, HASH expected)" % (name, el.tag[:40]), name)
    if head is None:
        raise MessageError("%s has no HEAD" % name, name)
    return RawPdu(name, head, body, hash_, soap)


def peek(data, limit=MAX_PDU):
    """(root name, SID) of a PDU without checking more; (None, None) if unreadable."""
    try:
        raw = decode_pdu(data, limit)
        return raw.name, raw.sid
    except MessageError:
        return None, None


# -- SOAP 1.1 (the HTTP binding of wsdl.py) ------------------------------------------------

def _soap_payload(env):
    bodies = [c for c in env if c.tag == "Body"]
    if len(bodies) != 1:
        raise MessageError("SOAP envelope without exactly one Body")
    kids = list(bodies[0])
    if len(kids) != 1:
        raise MessageError("SOAP Body must hold exactly one PDU element, holds %d" % len(kids))
    if kids[0].tag == "Fault":
        f = kids[0].find("faultstring")
        raise MessageError("SOAP fault: %s" % ((f.text or "").strip()[:200] if f is not None else "(no text)"))
    return kids[0]


def soap_wrap(pdu):
    """A PDU document (as encode_pdu made it) inside a SOAP 1.1 envelope, its
    elements in namespace NS."""
    m = _DECL.match(pdu)
    inner = pdu[m.end():].lstrip() if m else pdu.lstrip()
    name = re.match(rb"<[A-Za-z_][\w.-]*", inner)
    if name is None:
        raise MessageError("not a PDU document")
    if b"xmlns=" not in inner[:inner.find(b">")]:
        inner = inner[:name.end()] + (' xmlns="%s"' % NS).encode() + inner[name.end():]
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="' + SOAP_NS.encode()
            + b'"><soap:Body>' + inner + b"</soap:Body></soap:Envelope>")


def soap_fault(text, code="soap:Client"):
    """A SOAP 1.1 Fault document (bytes)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="%s"><soap:Body><soap:Fault>'
            "<faultcode>%s</faultcode><faultstring>%s</faultstring></soap:Fault></soap:Body></soap:Envelope>"
            % (SOAP_NS, code, escape(text))).encode("utf-8")


def is_soap(root):
    return root.tag == "Envelope"
