"""Field kinds of the appendix H message bodies: how one body element is checked,
written into the body XML and read back.

A body is a dict keyed by the element names of appendix H ("TERMID", "DATA",
"CONFIG", ...).  Each kind below turns the Python value into XML and back:

    Text        <X>text</X>                          str
    Code        <RESULTCODE>0</RESULTCODE>           int ("0", "00", "0x00" read)
    Int         <EXPIRATION>30</EXPIRATION>          int
    Serial      <TERMID>...</TERMID>                 str, 1-16 visible ASCII
    TagList     <X><TAG id="3001"/>...</X>           list of 4-hex-digit tags
    TagValues   <X><TAG id="0106">60</TAG>...</X>    list of (tag, text)
    TagTexts    <CONFIG>0106</CONFIG> (repeated)     list of tags
    Codes       <X><CODE>0001</CODE>...</X>          list of 4-hex-digit codes
    TermList    <TERMLIST><TERMID>..</TERMID>..      list of serials
    Filter      <FILTER>...</FILTER>                 dict (see Filter)
    Data        <DATA>base64</DATA>                  bytes
    Flag        <ALARMCOUNT/>                        True when present
    Range       <DATERANGE start=".." end=".."/>     (start, end)
    Group       <TERMCOUNT><AREA>..</AREA>..         dict child -> text
    Params      <PARAM>0106<VALUE>60</VALUE></PARAM> list of (tag, text)
    Invalidate  <INVALIDATE><MONITOR>..              dict MONITOR/CONFIG/STATISTIC -> tags

Every check raises FieldError (a ValueError) with a one-line reason naming the
field; messages.py adds the message name.  Decisions on the forms the appendix
writes loosely (unquoted attributes, a VALUE child or text, repeated
containers) are in docs/APP.md.
"""

import base64
import binascii
import re
import xml.etree.ElementTree as ET

_HEX4 = re.compile(r"[0-9A-Fa-f]{1,4}\Z")
_DIGITS = re.compile(r"[0-9]+\Z")
TEXT_MAX = 4096          # any single text value without a length of its own in appendix H
LIST_MAX = 10000         # entries of one list (TERMLIST, TAG lists, ...)


class FieldError(ValueError):
    """A body or head value that does not fit its field (one line)."""


def _short(v, n=40):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


_VISIBLE = re.compile(r"[\x21-\x7e]+\Z")


def visible(text, what, lo=1, hi=16):
    """`text` as 1..hi visible ASCII characters (SID, SERVICEID, TERMID)."""
    if not isinstance(text, str) or not lo <= len(text) <= hi or not _VISIBLE.match(text):
        raise FieldError("%s must be %d to %d visible ASCII characters, got %s" % (what, lo, hi, _short(text)))
    return text


def tag(v, what):
    """A TLV tag of appendix A as 4 upper-case hex digits ("3001"); ints taken too."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0xFFFF:
        return "%04X" % v
    if isinstance(v, str):
        t = v[2:] if v[:2] in ("0x", "0X") else v
        if _HEX4.match(t):
            return t.upper().rjust(4, "0")
    raise FieldError("%s: %s is not a tag (4 hex digits, e.g. 3001)" % (what, _short(v)))


def code(v, what, lo=0, hi=255):
    """A result or reason code: an int, or decimal / 0x-hex text."""
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, str) and v.strip():
        t = v.strip()
        try:
            n = int(t[2:], 16) if t[:2] in ("0x", "0X") else int(t, 10)
        except ValueError:
            raise FieldError("%s: %s is not a code (decimal or 0x hex)" % (what, _short(v)))
    else:
        raise FieldError("%s: %s is not a code" % (what, _short(v)))
    if not lo <= n <= hi:
        raise FieldError("%s: %d is out of range %d..%d" % (what, n, lo, hi))
    return n


def _text_of(el):
    return (el.text or "").strip()


def _only_child_free(el, what):
    if len(el):
        raise FieldError("%s: unexpected element <%s> inside" % (what, el[0].tag))


class Field:
    """One body element: name, required, aliases (other spellings read)."""

    repeated = False   # the element itself may occur more than once

    def __init__(self, name, required=False, aliases=(), doc=""):
        self.name = name
        self.required = required
        self.aliases = tuple(aliases)
        self.doc = doc

    def check(self, v):
        """The normalised value of `v` (FieldError if it does not fit)."""
        return v

    def write(self, parent, v):
        """Append the XML of (checked) value `v` to `parent`."""
        ET.SubElement(parent, self.name).text = str(v)

    def read(self, els):
        """The value of the elements `els` (one unless repeated)."""
        if len(els) > 1 and not self.repeated:
            raise FieldError("%s occurs %d times, at most once allowed" % (self.name, len(els)))
        _only_child_free(els[0], self.name)
        return self.check(_text_of(els[0]))

    def describe(self):
        return type(self).__name__.lower()


class Text(Field):
    def __init__(self, name, hi=TEXT_MAX, lo=1, pattern=None, **kw):
        super().__init__(name, **kw)
        self.hi, self.lo = hi, lo
        self.pattern = re.compile(pattern + r"\Z") if pattern else None

    def check(self, v):
        if not isinstance(v, str) or not self.lo <= len(v) <= self.hi:
            raise FieldError("%s must be text of %d to %d characters, got %s"
                             % (self.name, self.lo, self.hi, _short(v)))
        if self.pattern and not self.pattern.match(v):
            raise FieldError("%s: %s does not have the form the appendix gives" % (self.name, _short(v)))
        return v


class Serial(Text):
    def check(self, v):
        return visible(v, self.name)

    def describe(self):
        return "serial"


class Code(Field):
    def __init__(self, name, lo=0, hi=255, meanings=None, repeated=False, **kw):
        super().__init__(name, **kw)
        self.lo, self.hi = lo, hi
        self.meanings = dict(meanings or {})
        self.repeated = repeated

    def check(self, v):
        if self.repeated and isinstance(v, (list, tuple)):
            if not v or len(v) > LIST_MAX:
                raise FieldError("%s needs 1 to %d codes" % (self.name, LIST_MAX))
            return [code(x, self.name, self.lo, self.hi) for x in v]
        n = code(v, self.name, self.lo, self.hi)
        return [n] if self.repeated else n

    def write(self, parent, v):
        for n in (v if self.repeated else [v]):
            ET.SubElement(parent, self.name).text = "%d" % n

    def read(self, els):
        if not self.repeated:
            return super().read(els)
        for e in els:
            _only_child_free(e, self.name)
        return self.check([_text_of(e) for e in els])


class Int(Field):
    def __init__(self, name, lo=0, hi=2 ** 32 - 1, **kw):
        super().__init__(name, **kw)
        self.lo, self.hi = lo, hi

    def check(self, v):
        if isinstance(v, str) and _DIGITS.match(v.strip()):
            v = int(v.strip())
        if not isinstance(v, int) or isinstance(v, bool) or not self.lo <= v <= self.hi:
            raise FieldError("%s must be a whole number %d..%d, got %s" % (self.name, self.lo, self.hi, _short(v)))
        return v


class Flag(Field):
    """An empty element whose presence asks for something (PTermStatisticQuery)."""

    def check(self, v):
        if v is not True:
            raise FieldError("%s is a flag: True or absent" % self.name)
        return True

    def write(self, parent, v):
        ET.SubElement(parent, self.name)

    def read(self, els):
        if len(els) > 1:
            raise FieldError("%s occurs %d times, at most once allowed" % (self.name, len(els)))
        return True


class Data(Field):
    """Application data: bytes, base64 on the wire (appendix C 2.1)."""

    def check(self, v):
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v)
        raise FieldError("%s must be bytes, got %s" % (self.name, type(v).__name__))

    def write(self, parent, v):
        ET.SubElement(parent, self.name).text = base64.b64encode(v).decode("ascii")

    def read(self, els):
        if len(els) > 1:
            raise FieldError("%s occurs %d times, at most once allowed" % (self.name, len(els)))
        _only_child_free(els[0], self.name)
        text = "".join(_text_of(els[0]).split())
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise FieldError("%s is not base64" % self.name)


def _items(v, what):
    if not isinstance(v, (list, tuple)):
        raise FieldError("%s must be a list, got %s" % (what, type(v).__name__))
    if len(v) > LIST_MAX:
        raise FieldError("%s has more than %d entries" % (what, LIST_MAX))
    return v


class TagList(Field):
    """<X><TAG id="...."/>...</X>; the container may repeat (entries are joined).
    `only`: the one tag allowed (ALARM: 300D).  A container whose text is a tag
    (TTermCtrlRsp REMOTECTRL as appendix H i) writes it) is read too."""

    repeated = True

    def __init__(self, name, only=None, **kw):
        super().__init__(name, **kw)
        self.only = only

    def check(self, v):
        out = [tag(t, self.name) for t in _items(v, self.name)]
        if self.only and any(t != self.only for t in out):
            raise FieldError("%s may only hold tag %s" % (self.name, self.only))
        return out

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for t in v:
            ET.SubElement(c, "TAG", id=t)

    def read(self, els):
        out = []
        for e in els:
            if _text_of(e):
                out.append(_text_of(e))
            for t in e:
                if t.tag != "TAG":
                    raise FieldError("%s: unexpected element <%s> (TAG expected)" % (self.name, t.tag))
                if "id" not in t.attrib:
                    raise FieldError("%s: TAG without an id attribute" % self.name)
                out.append(t.attrib["id"])
        return self.check(out)


class TagValues(Field):
    """<X><TAG id="....">value</TAG>...</X>: list of (tag, text).  A TAG holding
    a <VALUE> child instead of text is read too (appendix H d's table)."""

    repeated = True

    def check(self, v):
        out = []
        for item in _items(v, self.name):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise FieldError("%s entries are (tag, value) pairs, got %s" % (self.name, _short(item)))
            t, val = item
            if not isinstance(val, str) or len(val) > TEXT_MAX:
                raise FieldError("%s: the value of tag %s must be text of at most %d characters"
                                 % (self.name, _short(t), TEXT_MAX))
            out.append((tag(t, self.name), val))
        return out

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for t, val in v:
            ET.SubElement(c, "TAG", id=t).text = val

    def read(self, els):
        out = []
        for e in els:
            for t in e:
                if t.tag != "TAG" or "id" not in t.attrib:
                    raise FieldError("%s: <%s> is not a <TAG id=...>" % (self.name, t.tag))
                val = t.text or ""
                vals = [x for x in t if x.tag == "VALUE"]
                if len(vals) == 1 and not val.strip():
                    val = vals[0].text or ""
                elif len(t):
                    raise FieldError("%s: TAG %s holds unexpected elements" % (self.name, t.attrib["id"]))
                out.append((t.attrib["id"], val.strip()))
        return self.check(out)


class TagTexts(Field):
    """The element repeated, each holding one tag as text (TConfigReq CONFIG)."""

    repeated = True

    def check(self, v):
        return [tag(t, self.name) for t in _items(v, self.name)]

    def write(self, parent, v):
        for t in v:
            ET.SubElement(parent, self.name).text = t

    def read(self, els):
        out = []
        for e in els:
            if _text_of(e):
                out.append(_text_of(e))
            out += [t.attrib.get("id", "") for t in e]
        return self.check(out)


class Codes(Field):
    """<X><CODE>....</CODE>...</X>: alarm codes of 0x300D, 4 hex digits."""

    repeated = True

    def check(self, v):
        return [tag(c, self.name) for c in _items(v, self.name)]

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for x in v:
            ET.SubElement(c, "CODE").text = x

    def read(self, els):
        out = []
        for e in els:
            for c in e:
                if c.tag != "CODE":
                    raise FieldError("%s: unexpected element <%s> (CODE expected)" % (self.name, c.tag))
                out.append(_text_of(c))
        return self.check(out)


class TermList(Field):
    """<TERMLIST><TERMID>..</TERMID>...</TERMLIST>: list of serials."""

    repeated = True

    def check(self, v):
        out = [visible(s, "TERMLIST entry") for s in _items(v, self.name)]
        if not out:
            raise FieldError("TERMLIST is empty")
        return out

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for s in v:
            ET.SubElement(c, "TERMID").text = s

    def read(self, els):
        out = []
        for e in els:
            for t in e:
                if t.tag not in ("TERMID", "TERMINID"):
                    raise FieldError("TERMLIST: unexpected element <%s> (TERMID expected)" % t.tag)
                out.append(_text_of(t))
        return self.check(out)


def _range(v, what):
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise FieldError("%s is a (start, end) pair, got %s" % (what, _short(v)))
    for x in v:
        if not isinstance(x, str) or not 1 <= len(x) <= 32 or not all(0x21 <= ord(c) <= 0x7E for c in x):
            raise FieldError("%s: %s is not a start/end value" % (what, _short(x)))
    return (v[0], v[1])


class Range(Field):
    """<X start="..." end="..."/>: (start, end)."""

    def check(self, v):
        return _range(v, self.name)

    def write(self, parent, v):
        ET.SubElement(parent, self.name, start=v[0], end=v[1])

    def read(self, els):
        if len(els) > 1:
            raise FieldError("%s occurs %d times, at most once allowed" % (self.name, len(els)))
        a = els[0].attrib
        if "start" not in a or "end" not in a:
            raise FieldError("%s needs start and end attributes" % self.name)
        return self.check((a["start"], a["end"]))


class Filter(Field):
    """FILTER of appendix H c): TERMIDRANGE and REGISTDATE as (start, end),
    MODEL, PRODUCTOR (PRODUTOR read too) and AREA as text; at least one."""

    RANGES = ("TERMIDRANGE", "REGISTDATE")
    TEXTS = ("MODEL", "PRODUCTOR", "AREA")

    def check(self, v):
        if not isinstance(v, dict) or not v:
            raise FieldError("FILTER must be a dict with at least one of %s"
                             % ", ".join(self.RANGES + self.TEXTS))
        out = {}
        for k, x in v.items():
            if k in self.RANGES:
                out[k] = _range(x, "FILTER " + k)
            elif k in self.TEXTS:
                out[k] = Text("FILTER " + k, hi=64).check(x)
            else:
                raise FieldError("FILTER has no element %s" % _short(k))
        return out

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for k in self.RANGES[:1] + self.TEXTS[:2] + self.RANGES[1:] + self.TEXTS[2:]:
            if k in v:
                if k in self.RANGES:
                    ET.SubElement(c, k, start=v[k][0], end=v[k][1])
                else:
                    ET.SubElement(c, k).text = v[k]

    def read(self, els):
        if len(els) > 1:
            raise FieldError("FILTER occurs %d times, at most once allowed" % len(els))
        out = {}
        for e in els[0]:
            k = "PRODUCTOR" if e.tag == "PRODUTOR" else e.tag
            if k in out:
                raise FieldError("FILTER %s occurs twice" % k)
            if k in self.RANGES:
                out[k] = (e.attrib.get("start", ""), e.attrib.get("end", ""))
            else:
                out[k] = _text_of(e)
        return self.check(out)


class Group(Field):
    """An element of named text children, each optional (PStatisticQuery)."""

    def __init__(self, name, children, **kw):
        super().__init__(name, **kw)
        self.children = tuple(children)

    def check(self, v):
        if not isinstance(v, dict):
            raise FieldError("%s must be a dict of %s" % (self.name, ", ".join(self.children)))
        out = {}
        for k, x in v.items():
            if k not in self.children:
                raise FieldError("%s has no element %s (only %s)" % (self.name, _short(k), ", ".join(self.children)))
            if isinstance(x, int) and not isinstance(x, bool):
                x = str(x)
            out[k] = Text("%s %s" % (self.name, k), hi=64).check(x)
        return out

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for k in self.children:
            if k in v:
                ET.SubElement(c, k).text = v[k]

    def read(self, els):
        if len(els) > 1:
            raise FieldError("%s occurs %d times, at most once allowed" % (self.name, len(els)))
        out = {}
        for e in els[0]:
            if e.tag in out:
                raise FieldError("%s %s occurs twice" % (self.name, e.tag))
            out[e.tag] = _text_of(e)
        return self.check(out)


class Params(Field):
    """TLogin PARAM, as appendix H p) writes it: <PARAM>0106<VALUE>60</VALUE></PARAM>."""

    repeated = True

    def check(self, v):
        return TagValues(self.name).check(v)

    def write(self, parent, v):
        for t, val in v:
            p = ET.SubElement(parent, self.name)
            p.text = t
            ET.SubElement(p, "VALUE").text = val

    def read(self, els):
        out = []
        for e in els:
            vals = [x for x in e if x.tag == "VALUE"]
            if len(vals) != 1 or len(e) != 1:
                raise FieldError("PARAM needs exactly one VALUE element")
            out.append((_text_of(e), (vals[0].text or "").strip()))
        return self.check(out)


class Invalidate(Field):
    """INVALIDATE of appendix H d): the tags the terminal does not support."""

    PARTS = ("MONITOR", "CONFIG", "STATISTIC")

    def check(self, v):
        if not isinstance(v, dict) or any(k not in self.PARTS for k in v):
            raise FieldError("INVALIDATE must be a dict of MONITOR / CONFIG / STATISTIC tag lists")
        return {k: TagList(k).check(x) for k, x in v.items()}

    def write(self, parent, v):
        c = ET.SubElement(parent, self.name)
        for k in self.PARTS:
            if k in v:
                TagList(k).write(c, v[k])

    def read(self, els):
        if len(els) > 1:
            raise FieldError("INVALIDATE occurs %d times, at most once allowed" % len(els))
        out = {}
        for k in self.PARTS:
            sub = [e for e in els[0] if e.tag == k]
            if sub:
                out[k] = TagList(k).read(sub)
        extra = [e.tag for e in els[0] if e.tag not in self.PARTS]
        if extra:
            raise FieldError("INVALIDATE: unexpected element <%s>" % extra[0])
        return out
