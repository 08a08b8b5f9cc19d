"""CoAP messages as bytes (RFC 7252 section 3): the 4-byte header, the token,
options with delta/length extensions, the payload marker.  Also the code,
option and content-format numbers LwM2M needs, the And-link transmission
parameters (And-link spec section 3.4) and the package's CoAP errors.

Decoding never fails other than with a CoapError subclass: Truncated,
BadVersion (RFC 7252 3: silently ignored), FormatError (a message format
error, 3 and 3.1: a CON one is answered with RST), BadOption.  An error
raised once the header is read carries the message's .mtype and .mid.

    m = Message(CON, POST, payload=b"</1/0>")
    m.set_path("/rd").add(URI_QUERY, "ep=869976032983322")
    raw = encode(m)                      # or encode_into(m, buf) -> length
    m = decode(raw)                      # views=True: payload and option
                                         # values are views of `raw`
Options are kept as [(number, value)] in ascending number order (options of
one number in the order added); values are bytes (views with views=True).
"""

from micropython import const

VERSION = const(1)

# Message types (RFC 7252 3).
CON = const(0)
NON = const(1)
ACK = const(2)
RST = const(3)
TYPE_NAMES = ("CON", "NON", "ACK", "RST")

# Codes, class << 5 | detail (RFC 7252 12.1; 2.31 Continue, 4.08 and 4.13: RFC 7959 2.9).
EMPTY = const(0)
GET = const(1)
POST = const(2)
PUT = const(3)
DELETE = const(4)
FETCH = const(5)
CREATED = const(0x41)               # 2.01
DELETED = const(0x42)               # 2.02
VALID = const(0x43)                 # 2.03
CHANGED = const(0x44)               # 2.04
CONTENT = const(0x45)               # 2.05
CONTINUE = const(0x5F)              # 2.31
BAD_REQUEST = const(0x80)           # 4.00
UNAUTHORIZED = const(0x81)          # 4.01
BAD_OPTION = const(0x82)            # 4.02
FORBIDDEN = const(0x83)             # 4.03
NOT_FOUND = const(0x84)             # 4.04
METHOD_NOT_ALLOWED = const(0x85)    # 4.05
NOT_ACCEPTABLE = const(0x86)        # 4.06
REQUEST_ENTITY_INCOMPLETE = const(0x88)     # 4.08
PRECONDITION_FAILED = const(0x8C)   # 4.12
REQUEST_ENTITY_TOO_LARGE = const(0x8D)      # 4.13
UNSUPPORTED_CONTENT_FORMAT = const(0x8F)    # 4.15
INTERNAL_SERVER_ERROR = const(0xA0)         # 5.00
NOT_IMPLEMENTED = const(0xA1)       # 5.01
SERVICE_UNAVAILABLE = const(0xA3)   # 5.03

# Option numbers (RFC 7252 5.10 and 12.2; Observe RFC 7641; Block RFC 7959;
# No-Response RFC 7967).
IF_MATCH = const(1)
URI_HOST = const(3)
ETAG = const(4)
IF_NONE_MATCH = const(5)
OBSERVE = const(6)
URI_PORT = const(7)
LOCATION_PATH = const(8)
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
MAX_AGE = const(14)
URI_QUERY = const(15)
ACCEPT = const(17)
LOCATION_QUERY = const(20)
BLOCK2 = const(23)
BLOCK1 = const(27)
SIZE2 = const(28)
PROXY_URI = const(35)
PROXY_SCHEME = const(39)
SIZE1 = const(60)
NO_RESPONSE = const(258)

# Content-Formats (RFC 7252 12.3; LwM2M 1.x; SenML RFC 8428).  And-link spec
# section 3.6: plain text, opaque, CoRE link, TLV and JSON.
TEXT_PLAIN = const(0)
LINK_FORMAT = const(40)
OCTET_STREAM = const(42)
JSON = const(50)
CBOR = const(60)
SENML_JSON = const(110)
SENML_CBOR = const(112)
LWM2M_TLV = const(11542)
LWM2M_JSON = const(11543)

# uint-valued options: value() reads these as integers (RFC 7252 3.2).
UINT_OPTIONS = (URI_PORT, CONTENT_FORMAT, MAX_AGE, ACCEPT, OBSERVE, BLOCK2, BLOCK1, SIZE2, SIZE1, NO_RESPONSE)
# string-valued options: str() reads them as text
STRING_OPTIONS = (URI_HOST, LOCATION_PATH, URI_PATH, URI_QUERY, LOCATION_QUERY, PROXY_URI, PROXY_SCHEME)

HEADER_SIZE = const(4)
PAYLOAD_MARKER = const(0xFF)
MAX_TOKEN = const(8)


class Params:
    """CoAP transmission parameters; the defaults are And-link spec section 3.4
    (times in seconds, sizes in bytes):

    ack_timeout 5, ack_random_factor 1.5, max_retransmit 4 (the timeout
    doubles: ACK_TIMEOUT_SCALE 2), max_transmit_wait 93 (the longest wait for
    the ACK of a CON from its first transmission: the schedule 5-7.5 s, x2, x4,
    x8, x16 is cut there), max_payload 1024 (MAX_MESSAGE_SIZE, of payload),
    block_size 512 (PREFERRED_BLOCK_SIZE), block_lifetime 300
    (BLOCKWISE_STATUS_LIFETIME: the longest wait between two blocks);
    random first message ID and token (USE_RANDOM_MID_START,
    USE_RANDOM_TOKEN_START) always.

    Not in the spec: max_latency 100 and the derived EXCHANGE_LIFETIME and
    NON_LIFETIME (RFC 7252 4.8.2); response_timeout, the wait for a response
    after the empty ACK of a request or for the response to a NON request
    (default max_transmit_wait); ack_delay, how long the endpoint waits for the
    application's response before it sends an empty ACK (RFC 7252 5.2.2:
    below ack_timeout, so the peer does not retransmit); token_length."""

    def __init__(self, ack_timeout=5, ack_random_factor=1.5, max_retransmit=4, max_transmit_wait=93,
                 max_payload=1024, block_size=512, block_lifetime=300, max_latency=100,
                 response_timeout=None, ack_delay=2, token_length=4):
        self.ack_timeout = ack_timeout
        self.ack_random_factor = ack_random_factor
        self.max_retransmit = max_retransmit
        self.max_transmit_wait = max_transmit_wait
        self.max_payload = max_payload
        self.block_size = block_size
        self.block_lifetime = block_lifetime
        self.max_latency = max_latency
        self.response_timeout = max_transmit_wait if response_timeout is None else response_timeout
        self.ack_delay = ack_delay
        self.token_length = token_length

    def max_transmit_span(self):
        """RFC 7252 4.8.2: ACK_TIMEOUT * (2 ** MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR."""
        return self.ack_timeout * ((1 << self.max_retransmit) - 1) * self.ack_random_factor

    def exchange_lifetime(self):
        """RFC 7252 4.8.2: MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY
        (= ACK_TIMEOUT): how long a message ID is remembered for a CON."""
        return self.max_transmit_span() + 2 * self.max_latency + self.ack_timeout

    def non_lifetime(self):
        """RFC 7252 4.8.2: MAX_TRANSMIT_SPAN + MAX_LATENCY (a NON's message ID)."""
        return self.max_transmit_span() + self.max_latency


ANDLINK = Params()


class CoapError(Exception):
    """Base of every CoAP error of the package (bad input or misuse).  Once
    the 4-byte header was read, .mtype and .mid are the message's (a CON
    with a format error is answered with RST, RFC 7252 4.2)."""

    mtype = None
    mid = None


class Truncated(CoapError):
    """The data ends inside the header, token, an option or its extension."""


class BadVersion(CoapError):
    """Version is not 1 (RFC 7252 3: the message is silently ignored)."""


class FormatError(CoapError):
    """A message format error (RFC 7252 3, 3.1, 4.1): token length 9-15,
    option delta or length nibble 15, option number over 65535, a payload
    marker with no payload, an Empty message with a token or more bytes."""


class BadOption(CoapError):
    """An option value that cannot be read as what it is (a uint longer than
    4 bytes, a Block option with SZX 7 or over 3 bytes: RFC 7959 2.2)."""


def code_str(code):
    """"2.05" for 0x45."""
    return "%d.%02d" % (code >> 5, code & 31)


def uint_bytes(v):
    """An option's uint value (RFC 7252 3.2): big-endian, no leading zeros,
    0 as no bytes."""
    if v < 0 or v > 0xFFFFFFFF:
        raise CoapError("uint option value out of range: %r" % (v,))
    n = 0
    while v >> (n << 3):
        n += 1
    return v.to_bytes(n, "big") if n else b""


def uint_value(b):
    if len(b) > 4:
        raise BadOption("uint option value of %d bytes" % len(b))
    v = 0
    for x in b:
        v = (v << 8) | x
    return v


def _opt_bytes(v):
    if v is None:
        return b""
    if isinstance(v, int):
        return uint_bytes(v)
    if isinstance(v, str):
        return v.encode()
    return v


class Message:
    """One CoAP message.  .peer is where it came from (Endpoint.receive) or
    goes; the endpoint fills .mtype, .mid and .token of what it sends."""

    peer = None

    def __init__(self, mtype=CON, code=EMPTY, mid=0, token=b"", payload=b"", options=None):
        self.mtype = mtype
        self.code = code
        self.mid = mid
        self.token = token
        self.payload = payload
        self.options = [] if options is None else options

    def __repr__(self):
        return "<CoAP %s %s mid=%d token=%s %r %d B>" % (
            TYPE_NAMES[self.mtype], code_str(self.code), self.mid, bytes(self.token), self.options,
            len(self.payload))

    # == options ================================================================
    def add(self, num, value=None):
        """Append option `num` (after every option numbered <= num); `value`
        an int (uint), str (UTF-8), bytes-like or None (empty).  Returns self."""
        o = self.options
        i = len(o)
        while i and o[i - 1][0] > num:
            i -= 1
        o.insert(i, (num, _opt_bytes(value)))
        return self

    def remove(self, num):
        o = self.options
        i = len(o)
        while i:                        # in place: no new list
            i -= 1
            if o[i][0] == num:
                o.pop(i)
        return self

    def set(self, num, value=None):
        """Replace every option `num` with this one value."""
        return self.remove(num).add(num, value)

    def get(self, num, default=None):
        """The raw value of the first option `num`, or `default`."""
        for n, v in self.options:
            if n == num:
                return v
        return default

    def get_all(self, num):
        return [v for n, v in self.options if n == num]

    def has(self, num):
        for n, _ in self.options:
            if n == num:
                return True
        return False

    def uint(self, num, default=None):
        """The first option `num` read as a uint (BadOption over 4 bytes)."""
        v = self.get(num)
        return default if v is None else uint_value(v)

    def strs(self, num):
        """Every option `num` as text (str() of invalid UTF-8 raises BadOption)."""
        out = []
        for v in self.get_all(num):
            try:
                out.append(str(bytes(v), "utf-8"))
            except (UnicodeError, ValueError):
                raise BadOption("option %d is not UTF-8" % num)
        return out

    @property
    def path(self):
        """The Uri-Path as "/a/b" ("/" with none)."""
        return "/" + "/".join(self.strs(URI_PATH))

    def set_path(self, path, num=URI_PATH):
        """Uri-Path (or Location-Path) options from "/a/b"; returns self."""
        self.remove(num)
        for seg in path.split("/"):
            if seg:
                self.add(num, seg)
        return self

    @property
    def queries(self):
        return self.strs(URI_QUERY)

    @property
    def content_format(self):
        return self.uint(CONTENT_FORMAT)

    @property
    def observe(self):
        return self.uint(OBSERVE)

    # == what it is ==============================================================
    @property
    def is_request(self):
        return 0 < self.code < 32

    @property
    def is_response(self):
        return 64 <= self.code < 192

    @property
    def is_empty(self):
        return self.code == EMPTY


def _nibble(v):
    """(nibble, extension length) for an option delta or length (RFC 7252 3.1)."""
    if v < 13:
        return v, 0
    if v < 269:
        return 13, 1
    return 14, 2


def encoded_size(msg):
    """Bytes encode() will produce for `msg`."""
    n = HEADER_SIZE + len(msg.token)
    last = 0
    for num, v in msg.options:
        n += 1 + _nibble(num - last)[1] + _nibble(len(v))[1] + len(v)
        last = num
    if len(msg.payload):
        n += 1 + len(msg.payload)
    return n


def _put_ext(buf, i, v, ext):
    if ext == 1:
        buf[i] = v - 13
    elif ext == 2:
        v -= 269
        buf[i] = v >> 8
        buf[i + 1] = v & 0xFF
    return i + ext


def encode_into(msg, buf, off=0):
    """Write `msg` into the bytearray `buf` at `off`; returns its length.
    CoapError when a field is out of range or `buf` is too small."""
    tkl = len(msg.token)
    if tkl > MAX_TOKEN or not 0 <= msg.mid <= 0xFFFF or not 0 <= msg.code <= 0xFF or not 0 <= msg.mtype <= 3:
        raise CoapError("header field out of range")
    if msg.code == EMPTY and (tkl or msg.options or len(msg.payload)):
        raise CoapError("an Empty message has no token, option or payload (RFC 7252 4.1)")
    n = encoded_size(msg)
    if off + n > len(buf):
        raise CoapError("message of %d bytes does not fit the %d-byte buffer" % (n, len(buf) - off))
    i = off
    buf[i] = (VERSION << 6) | (msg.mtype << 4) | tkl
    buf[i + 1] = msg.code
    buf[i + 2] = msg.mid >> 8
    buf[i + 3] = msg.mid & 0xFF
    i += 4
    buf[i:i + tkl] = msg.token
    i += tkl
    last = 0
    for num, v in msg.options:
        d = num - last
        if d < 0 or num > 0xFFFF:
            raise CoapError("options out of order or over 65535")
        dn, dx = _nibble(d)
        ln, lx = _nibble(len(v))
        buf[i] = (dn << 4) | ln
        i = _put_ext(buf, i + 1, d, dx)
        i = _put_ext(buf, i, len(v), lx)
        buf[i:i + len(v)] = v
        i += len(v)
        last = num
    if len(msg.payload):
        buf[i] = PAYLOAD_MARKER
        buf[i + 1:i + 1 + len(msg.payload)] = msg.payload
    return n


def encode(msg):
    """`msg` as bytes."""
    buf = bytearray(encoded_size(msg))
    encode_into(msg, buf)
    return bytes(buf)


def _ext(data, i, end, nib, what):
    """An option delta or length from its nibble and extension bytes: (value, i)."""
    if nib < 13:
        return nib, i
    if nib == 13:
        if i >= end:
            raise Truncated("option %s extension missing" % what)
        return data[i] + 13, i + 1
    if nib == 14:
        if i + 2 > end:
            raise Truncated("option %s extension missing" % what)
        return ((data[i] << 8) | data[i + 1]) + 269, i + 2
    raise FormatError("option %s nibble 15" % what)


def decode(data, views=False):
    """The Message in `data` (bytes-like).  With views=True its token, option
    values and payload are memoryviews of `data` (valid while it is); else
    copies.  Raises a CoapError subclass on malformed input, nothing else."""
    n = len(data)
    if n < HEADER_SIZE:
        raise Truncated("%d bytes: shorter than the CoAP header" % n)
    mv = memoryview(data)
    b0 = mv[0]
    mtype = (b0 >> 4) & 3
    tkl = b0 & 15
    code = mv[1]
    mid = (mv[2] << 8) | mv[3]
    try:
        if b0 >> 6 != VERSION:
            raise BadVersion("version %d" % (b0 >> 6))
        if tkl > MAX_TOKEN:
            raise FormatError("token length %d (RFC 7252 3: 9-15 reserved)" % tkl)
        if code == EMPTY and n != HEADER_SIZE:
            raise FormatError("Empty message with %d bytes after the header (RFC 7252 4.1)" % (n - 4))
        i = HEADER_SIZE + tkl
        if i > n:
            raise Truncated("token of %d bytes cut" % tkl)
        token = mv[HEADER_SIZE:i]
        opts = []
        num = 0
        payload = b""
        while i < n:
            b = mv[i]
            i += 1
            if b == PAYLOAD_MARKER:
                if i == n:
                    raise FormatError("payload marker with no payload (RFC 7252 3)")
                payload = mv[i:]
                break
            d, i = _ext(mv, i, n, b >> 4, "delta")
            ln, i = _ext(mv, i, n, b & 15, "length")
            num += d
            if num > 0xFFFF:
                raise FormatError("option number %d over 65535" % num)
            if i + ln > n:
                raise Truncated("option %d value of %d bytes cut" % (num, ln))
            v = mv[i:i + ln]
            opts.append((num, v if views else bytes(v)))
            i += ln
    except CoapError as e:
        e.mtype = mtype
        e.mid = mid
        raise
    if not views:
        token = bytes(token)
        payload = bytes(payload)
    return Message(mtype, code, mid, token, payload, opts)
