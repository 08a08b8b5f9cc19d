"""CoRE link format (RFC 6690): the object list of a Register / Update payload
(And-link spec 4.1.4, appendix 6.3.4: </>;rt="oma.lwm2m",</1/0>,</3/0>,...) and
Discover answers, parsed and written by the simulator's own code."""

from andlink_tools import objects


class DecodeError(ValueError):
    """A payload that does not parse (also raised by andlink_tools.codec)."""


def decode_link(payload):
    """[(uri, {attr: value or None})] of a CoRE link-format payload."""
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("link format: not UTF-8")
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        if text[i] != "<":
            raise DecodeError("link format at %d: '<' expected, got %r" % (i, text[i]))
        j = text.find(">", i)
        if j < 0:
            raise DecodeError("link format at %d: no closing '>'" % i)
        uri, attrs, i = text[i + 1:j], {}, j + 1
        while i < n and text[i] == ";":
            i += 1
            j = i
            while j < n and text[j] not in "=;,":
                j += 1
            key = text[i:j].strip()
            if not key:
                raise DecodeError("link format at %d: empty attribute name" % i)
            i = j
            val = None
            if i < n and text[i] == "=":
                i += 1
                if i < n and text[i] == '"':
                    j = text.find('"', i + 1)
                    if j < 0:
                        raise DecodeError("link format at %d: unterminated quoted value" % i)
                    val, i = text[i + 1:j], j + 1
                else:
                    j = i
                    while j < n and text[j] not in ";,":
                        j += 1
                    val, i = text[i:j], j
            attrs[key] = val
        out.append((uri, attrs))
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n:
            if text[i] != ",":
                raise DecodeError("link format at %d: ',' expected, got %r" % (i, text[i]))
            i += 1
    return out


def link_objects(links):
    """The object instances (and bare objects) a Register payload announces,
    as path tuples, skipping the root "</>" and alternate-path links."""
    out = []
    for uri, _ in links:
        u = uri.rstrip("/") if uri != "/" else uri
        if u in ("", "/"):
            continue
        try:
            p = objects.parse_path(u, 1, 2)
        except objects.PathError:
            continue
        out.append(p)
    return out


def encode_link(links):
    parts = []
    for uri, attrs in links:
        s = "<%s>" % uri
        for k, v in attrs.items():
            s += ";%s" % k if v is None else ';%s="%s"' % (k, v) if not v.isdigit() else ";%s=%s" % (k, v)
        parts.append(s)
    return ",".join(parts).encode()
