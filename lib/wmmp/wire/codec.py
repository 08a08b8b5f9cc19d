"""Whole-message encode and decode: header, fixed part, TLVs, digest, encryption and
sub-packet carriers (appendix A, D, E, F, G; PROTOCOL.md 1-6).

    encode(msg, ...)  -> bytearray ready for the bearer (not copied into bytes: one
                         buffer per message is what the RAM budget allows)
    decode(data, ...) -> Message

The decoder accepts bytes, bytearray or memoryview, never reads outside it, does
work linear in its size, and raises only WmmpError subclasses.  It refuses any
message whose total_length differs from its size, except the 28-byte header
echoes of table A-2 (overflow / security-failure notices), which are returned
with `notice` set.
"""

import struct
from micropython import const

from wmmp.wire import commands as C
from wmmp.wire import header as H
from wmmp.wire import tlv as T
from wmmp.wire import digest as D
from wmmp.wire import profile as P
from wmmp.errors import (WmmpError, Truncated, BadLength, UnknownCommand, BadTlv, BadValue,
                         DigestMismatch, DigestMissing, DecryptError, TooLongForBearer)

TAG_FULL = const(0xE042)       # fully encrypted content
TAG_PARTIAL = const(0xE043)    # some TLVs encrypted
TAG_SUBPACKET = const(0x4008)  # clear sub-packet
TAG_ENC_SUBPACKET = const(0xE044)  # encrypted sub-packet
TAG_USER_DATA = const(0x4007)

ENC_NONE = const(0)
ENC_FULL = const(1)
ENC_PARTIAL = const(2)

SUBPACKET_HEADER = const(7)    # trans_id:u16 total:u16 index:u16 op:u8 (PROTOCOL.md 6)


class Subpacket:
    """Value of a 0x4008 / E044 TLV (appendix F, PROTOCOL.md 6)."""

    def __init__(self, trans_id, total, index, op=0, data=b"", encrypted=False):
        self.trans_id = trans_id
        self.total = total
        self.index = index
        self.op = op
        self.data = data
        self.encrypted = encrypted

    def pack(self):
        return struct.pack(">HHHB", self.trans_id, self.total, self.index, self.op) + bytes(self.data)

    def __repr__(self):
        return "Subpacket(trans=%d, %d/%d, op=%d, %d bytes%s)" % (
            self.trans_id, self.index, self.total, self.op, len(self.data),
            ", encrypted" if self.encrypted else "")


def parse_subpacket(value, encrypted=False):
    if len(value) < SUBPACKET_HEADER:
        raise Truncated("sub-packet TLV needs 7 bytes, got %d" % len(value))
    trans_id, total, index, op = struct.unpack_from(">HHHB", value, 0)
    return Subpacket(trans_id, total, index, op, bytes(value[SUBPACKET_HEADER:]), encrypted)


class Message:
    """One WMMP message.

    Header: command, serial (16 bytes), version, seq, security (raw byte).
    Body: fields (dict of the fixed part by appendix G name), tlvs (list of
    (tag, bytes) in wire order, without the digest).
    Security: digest (received E021 value or None), digest_ok (None when not
    checked, else bool), encryption (ENC_NONE/FULL/PARTIAL as sent or received),
    encrypt_tags (tags to send inside E043 when encryption is ENC_PARTIAL),
    ciphertext (E042 value when it could not be decrypted).
    Sub-packets: subpacket (Subpacket) when this message is one; fields and tlvs
    are then empty until reassembly.
    notice: a 28-byte header echo (memory overflow or failed-security notice).
    """

    # Defaults of the attributes most messages never set, held by the class: an
    # instance's own attribute table stays small (fewer allocations per call).
    total_length = 0
    digest = None
    digest_ok = None
    encryption = ENC_NONE
    encrypt_tags = ()
    ciphertext = None
    subpacket = None
    notice = False

    def __init__(self, command, fields=None, tlvs=None, serial=b"", seq=0, security=0,
                 version=None):
        self.command = command
        self.fields = fields if fields is not None else {}
        self.tlvs = tlvs if tlvs is not None else []
        self.serial = H.pad_serial(serial)
        self.seq = seq
        self.security = security
        self.version = version

    @property
    def name(self):
        return C.name(self.command)

    def header(self, total_length=0, version=0x0300):
        return H.Header(self.command, self.serial, self.seq, self.security,
                        self.version if self.version is not None else version, total_length)

    def tlv(self, tag):
        return T.find(self.tlvs, tag)

    def __repr__(self):
        return "Message(%s, seq=%d, fields=%r, tlvs=%r)" % (
            self.name, self.seq, self.fields, [("0x%04X" % t, len(v)) for t, v in self.tlvs])


# -- fixed part ------------------------------------------------------------

def _size(code):
    """Bytes of one layout code ("B", "H", "I" or "Ns"), without building strings."""
    if code == "B":
        return 1
    if code == "H":
        return 2
    if code == "I":
        return 4
    n = 0
    i = 0
    while code[i] != "s":
        n = n * 10 + ord(code[i]) - 48
        i += 1
    return n


def _layout_size(lay):
    n = 0
    for _, code in lay:
        n += _size(code)
    return n


def _pad(value, size, fname):
    """A fixed byte-string field as bytes (at most `size`; the rest is 0x00 in
    the zeroed buffer it is written into)."""
    if isinstance(value, str):
        value = value.encode()
    elif type(value) is not bytes:
        value = bytes(value)
    if len(value) > size:
        raise BadValue("field %s is %d bytes, at most %d" % (fname, len(value), size))
    return value


def _auto_fields(msg):
    """Fill the derived fields the caller may leave out: TRANSPARENT_DATA crc16 of
    the user data (G j), FILE_REQ_ACK block_size and crc16 of the block (G l)."""
    cmd = msg.command
    if cmd != C.TRANSPARENT_DATA and cmd != C.FILE_REQ_ACK:
        return
    from wmmp.wire import crc
    f = msg.fields
    if cmd == C.TRANSPARENT_DATA and "crc16" not in f:
        ud = T.find(msg.tlvs, TAG_USER_DATA)
        f["crc16"] = crc.crc16(ud if ud is not None else b"")
    elif cmd == C.FILE_REQ_ACK:
        block = f.get("block", b"")
        if "block_size" not in f:
            f["block_size"] = len(block)
        if "crc16" not in f:
            f["crc16"] = crc.crc16(block) if block else 0


def _pack_fixed_into(cmd, fields, buf, off):
    for fname, code in C.layout(cmd):
        if fname not in fields:
            raise BadValue("%s needs field %s" % (C.name(cmd), fname))
        v = fields[fname]
        n = _size(code)
        if code[-1] == "s":
            v = _pad(v, n, fname)
            buf[off:off + len(v)] = v     # the buffer is zeroed: the padding is there
            off += n
        else:
            if not isinstance(v, int) or v < 0 or v >> (8 * n):
                raise BadValue("field %s = %r does not fit %d bytes" % (fname, v, n))
            off += n
            i = off
            while n:                      # big-endian, byte by byte (no format string)
                i -= 1
                buf[i] = v & 0xFF
                v >>= 8
                n -= 1
    if cmd == C.FILE_REQ_ACK:
        block = bytes(fields.get("block", b""))
        if len(block) != fields["block_size"]:
            raise BadValue("FILE_REQ_ACK block is %d bytes but block_size says %d"
                           % (len(block), fields["block_size"]))
        buf[off:off + len(block)] = block
        off += len(block)
    return off


def _fixed_len(cmd, fields):
    n = _layout_size(C.layout(cmd))
    if cmd == C.FILE_REQ_ACK:
        n += len(fields.get("block", b""))
    return n


def _unpack_fixed(msg, mv, off, end, views=False):
    """msg.fields from mv[off:end]; the offset after them.  views: FILE_REQ_ACK's
    block is a memoryview into the message, not a copy."""
    cmd = msg.command
    lay = C.layout(cmd)
    need = _layout_size(lay)
    if end - off < need:
        raise Truncated("%s fixed part needs %d bytes, %d present" % (C.name(cmd), need, end - off))
    fields = {}
    for fname, code in lay:
        n = _size(code)
        if code[-1] == "s":
            fields[fname] = bytes(mv[off:off + n])
        elif n == 4:
            # two 16-bit halves: no intermediate beyond the value itself on a 32-bit port
            fields[fname] = (((mv[off] << 8) | mv[off + 1]) << 16) | (mv[off + 2] << 8) | mv[off + 3]
        elif n == 2:
            fields[fname] = (mv[off] << 8) | mv[off + 1]
        else:
            fields[fname] = mv[off]
        off += n
    if cmd == C.FILE_REQ_ACK:
        bs = fields["block_size"]
        if end - off < bs:
            raise Truncated("FILE_REQ_ACK block_size %d but %d bytes left" % (bs, end - off))
        fields["block"] = mv[off:off + bs] if views else bytes(mv[off:off + bs])
        off += bs
    msg.fields = fields
    return off


# -- content (fixed part + TLVs), plain or partially encrypted ---------------

def _body_tlvs(msg, cipher, profile):
    """The TLV list as sent: with partial encryption, the TLVs named in
    encrypt_tags are replaced by one E043 at the place of the first (PROTOCOL.md 5)."""
    if msg.encryption != ENC_PARTIAL or not msg.encrypt_tags:
        return msg.tlvs
    from wmmp.crypto import cipher as CI
    if cipher is None:
        raise BadValue("partial encryption needs a session key")
    inner = [tv for tv in msg.tlvs if tv[0] in msg.encrypt_tags]
    if not inner:
        raise BadValue("none of the TLVs to encrypt is present")
    enc = CI.encrypt(cipher[0], cipher[1], T.encode_all(inner), profile)
    out = []
    placed = False
    for tv in msg.tlvs:
        if tv[0] in msg.encrypt_tags:
            if not placed:
                out.append((TAG_PARTIAL, enc))
                placed = True
        else:
            out.append(tv)
    return out


def encode_content(msg, cipher=None, profile=P.DEFAULT):
    """Fixed part + TLVs (no digest) as bytes: what full encryption encrypts and
    what sub-packets cut (PROTOCOL.md 5, 6)."""
    _auto_fields(msg)
    tlvs = _body_tlvs(msg, cipher, profile)
    n = _fixed_len(msg.command, msg.fields) + T.encoded_size(tlvs)
    buf = bytearray(n)
    off = _pack_fixed_into(msg.command, msg.fields, buf, 0)
    for tag, v in tlvs:
        off = T.pack_into(buf, off, tag, v)
    return bytes(buf)


# -- encode ------------------------------------------------------------------

def encode(msg, profile=P.DEFAULT, bearer=P.BEARER_PACKET, key=None, cipher=None):
    """Encode `msg` for `bearer`.

    key     DigestKey: append E021 and set security bit 0x20 (PROTOCOL.md 3)
    cipher  (alg, key bytes) session key, used when msg.encryption is ENC_FULL
            (content inside E042, bit 0x10) or ENC_PARTIAL (E043), PROTOCOL.md 5
    A message with `subpacket` set is sent as a sub-packet carrier (bit 0x10).
    Raises TooLongForBearer when a TLV value or the whole message exceeds the
    bearer (appendix E a, PROTOCOL.md 9), BadValue for fields that do not fit.
    """
    cmd = msg.command
    if not C.is_known(cmd):
        raise UnknownCommand("command 0x%04X is not in appendix D" % cmd)
    security = msg.security & ~(H.SEC_DIGEST | H.SEC_FULL_OR_SUBPACKET) & 0xFF
    limit = profile.tlv_max(bearer)
    if msg.subpacket is not None:
        sp = msg.subpacket
        tag = TAG_ENC_SUBPACKET if sp.encrypted else TAG_SUBPACKET
        body_tlvs = ((tag, sp.pack()),)
        fixed = b""
        security |= H.SEC_FULL_OR_SUBPACKET
    elif msg.encryption == ENC_FULL:
        from wmmp.crypto import cipher as CI
        if cipher is None:
            raise BadValue("full encryption needs a session key")
        enc = CI.encrypt(cipher[0], cipher[1], encode_content(msg, cipher, profile), profile)
        body_tlvs = ((TAG_FULL, enc),)
        fixed = b""
        security |= H.SEC_FULL_OR_SUBPACKET
    else:
        _auto_fields(msg)
        body_tlvs = _body_tlvs(msg, cipher, profile)
        fixed = None
    for tag, v in body_tlvs:
        if tag == D.DIGEST_TAG:
            raise BadTlv("the digest TLV is added by the codec, not passed in tlvs", tag)
        T.check_limit(tag, len(v), limit)
    if key is not None:
        security |= H.SEC_DIGEST
    fixed_len = len(fixed) if fixed is not None else _fixed_len(cmd, msg.fields)
    total = H.HEADER_SIZE + fixed_len + T.encoded_size(body_tlvs) + (
        D.DIGEST_TLV_SIZE if key is not None else 0)
    if total > profile.message_max(bearer):
        raise TooLongForBearer("%s is %d bytes, bearer allows %d" % (C.name(cmd), total,
                                                                       profile.message_max(bearer)))
    buf = bytearray(total)
    H.pack_into(buf, 0, total, msg.serial, msg.version if msg.version is not None else profile.version,
                cmd, msg.seq, security)
    off = H.HEADER_SIZE
    if fixed is None:
        off = _pack_fixed_into(cmd, msg.fields, buf, off)
    for tag, v in body_tlvs:
        off = T.pack_into(buf, off, tag, v)
    if key is not None:
        ts = D.timestamp_for(cmd, msg.fields.get("curtime"), key.timestamp)
        # the timestamp goes where the E021 TLV will be, so that header, content
        # and timestamp are hashed from the buffer in one piece (PROTOCOL.md 3)
        struct.pack_into(">I", buf, off, ts & 0xFFFFFFFF)
        value = D.compute_stamped(memoryview(buf)[:off + 4], key)
        off = T.pack_into(buf, off, D.DIGEST_TAG, value)
    return buf


def encode_notice(original_header, bits):
    """A header echo (table A-2): the offending message's header sent back with
    feedback bits set, e.g. SEC_PREV_OVERFLOW for a memory-overflow notice."""
    h = H.unpack(original_header)
    h.security = (h.security & ~H.SEC_FEEDBACK & 0xFF) | (bits & H.SEC_FEEDBACK)
    return h.pack()


# -- decode ------------------------------------------------------------------

def _is_digest_trailer(mv, end):
    o = end - D.DIGEST_TLV_SIZE
    return o >= H.HEADER_SIZE and (mv[o] << 8) | mv[o + 1] == D.DIGEST_TAG and \
        (mv[o + 2] << 8) | mv[o + 3] == D.DIGEST_SIZE


_serial = b""       # the serial of the last message decoded, reused while it repeats


def _serial_of(mv):
    """Header bytes 2..17 as bytes: the object of the previous message when they
    are the same (a terminal and its platform exchange one serial)."""
    global _serial
    s = _serial
    if len(s) == H.SERIAL_SIZE:
        for i in range(H.SERIAL_SIZE):
            if s[i] != mv[2 + i]:
                break
        else:
            return s
    s = _serial = bytes(mv[2:2 + H.SERIAL_SIZE])
    return s


def decode(data, profile=P.DEFAULT, bearer=P.BEARER_PACKET, key=None, cipher=None, views=False):
    """Decode one whole message.

    key     DigestKey of the sender's direction: sets msg.digest_ok
    cipher  (alg, key bytes) session key: decrypts E042 / E043 when present
    views   FILE_REQ_ACK's block as a memoryview into `data` (no copy of up to
            2 KB per block): valid only while `data` is not reused
    A message whose security byte says "digest" must end in a 16-byte E021;
    a message with bit 0x10 must carry E042, 0x4008 or E044 as its content.
    """
    mv = memoryview(data)
    if len(mv) < H.HEADER_SIZE or (mv[0] << 8) | mv[1] < H.HEADER_SIZE:
        H.unpack(mv)     # raises Truncated / BadLength
    try:
        return _decode_checked(mv, profile, bearer, key, cipher, views)
    except WmmpError as e:
        # the Header object is built only here, for the caller to answer per
        # 4.4.5 / E041 (seq, command); a good message needs none
        e.header = H.unpack(mv)
        raise


def _decode_checked(mv, profile, bearer, key, cipher, views):
    # the header fields straight from the bytes (table A-1), no Header object
    size = len(mv)
    total = (mv[0] << 8) | mv[1]
    cmd = (mv[20] << 8) | mv[21]
    security = mv[26]
    msg = Message(cmd, None, None, _serial_of(mv),
                  (((mv[22] << 8) | mv[23]) << 16) | (mv[24] << 8) | mv[25], security,
                  (mv[18] << 8) | mv[19])
    if total != size:
        if size == H.HEADER_SIZE and security & H.SEC_FEEDBACK:
            msg.total_length = total
            msg.notice = True
            return msg
        raise BadLength("total_length says %d bytes, message has %d" % (total, size))
    if size > profile.message_max(bearer):
        raise TooLongForBearer("message of %d bytes exceeds the bearer's %d"
                               % (size, profile.message_max(bearer)))
    if not C.is_known(cmd):
        raise UnknownCommand("command 0x%04X is not in appendix D" % cmd)
    msg.total_length = size
    _decode_body(msg, mv, profile, bearer, key, cipher, views)
    return msg


def _decode_body(msg, mv, profile, bearer, key, cipher, views):
    size = len(mv)
    end = size
    cmd = msg.command
    security = msg.security
    deferred = False
    if security & H.SEC_DIGEST:
        if not _is_digest_trailer(mv, end):
            raise BadTlv("security byte says digest but no 16-byte E021 ends the message", D.DIGEST_TAG)
        end -= D.DIGEST_TLV_SIZE
        msg.digest = bytes(mv[end + T.TLV_HEADER:size])
        if key is not None:
            # The digest covers the content as sent (PROTOCOL.md 3): check it before any
            # decryption.  LOGIN_ACK signs with its own CURTIME (G b), in clear at a
            # fixed offset unless the content is inside E042: then check after.
            if cmd == C.LOGIN_ACK and security & H.SEC_FULL_OR_SUBPACKET:
                deferred = True
            else:
                curtime = None
                if cmd == C.LOGIN_ACK and end >= H.HEADER_SIZE + 5:
                    o = H.HEADER_SIZE + 1
                    curtime = (((mv[o] << 8) | mv[o + 1]) << 16) | (mv[o + 2] << 8) | mv[o + 3]
                _check(msg, mv, end, key, curtime)
    limit = profile.tlv_max(bearer)
    try:
        if security & H.SEC_FULL_OR_SUBPACKET:
            _decode_carrier(msg, mv, end, limit, cipher, profile)
        else:
            _decode_content_into(msg, mv, H.HEADER_SIZE, end, limit, cipher, profile, views)
    except DecryptError:
        if msg.digest_ok is False:
            raise DigestMismatch("%s seq %d failed the digest check (and did not decrypt)"
                                 % (msg.name, msg.seq))
        raise
    if deferred and "curtime" in msg.fields:
        _check(msg, mv, end, key, msg.fields["curtime"])


def _check(msg, mv, end, key, curtime):
    ts = D.timestamp_for(msg.command, curtime, key.timestamp)
    msg.digest_ok = D.equal(D.compute(mv[:end], key, ts), msg.digest)


def _decode_carrier(msg, mv, end, limit, cipher, profile):
    """Content of a bit-0x10 message: one E042, 0x4008 or E044 TLV (appendix A-2 bit 4)."""
    carried = T.decode(mv, H.HEADER_SIZE, end, limit)
    if len(carried) != 1:
        raise BadTlv("bit 0x10 set: content must be one E042, 0x4008 or E044 TLV, found %d TLVs"
                     % len(carried))
    tag, value = carried[0]
    if tag == TAG_SUBPACKET or tag == TAG_ENC_SUBPACKET:
        msg.subpacket = parse_subpacket(value, tag == TAG_ENC_SUBPACKET)
    elif tag == TAG_FULL:
        msg.encryption = ENC_FULL
        if cipher is None:
            msg.ciphertext = value
        else:
            from wmmp.crypto import cipher as CI
            plain = CI.decrypt(cipher[0], cipher[1], value, profile)
            _decode_content_into(msg, memoryview(plain), 0, len(plain), limit, cipher, profile)
    else:
        raise BadTlv("bit 0x10 set but content is TLV 0x%04X" % tag, tag)


def decode_content(command, content, profile=P.DEFAULT, bearer=P.BEARER_PACKET, cipher=None):
    """Message from reassembled content (fixed part + TLVs), e.g. after sub-packets."""
    if not C.is_known(command):
        raise UnknownCommand("command 0x%04X is not in appendix D" % command)
    msg = Message(command)
    mv = memoryview(content)
    _decode_content_into(msg, mv, 0, len(mv), profile.tlv_max(bearer), cipher, profile)
    return msg


def _decode_content_into(msg, mv, off, end, limit, cipher, profile, views=False):
    off = _unpack_fixed(msg, mv, off, end, views)
    tlvs = T.decode(mv, off, end, limit)
    for tag, _ in tlvs:
        if tag == D.DIGEST_TAG:
            raise BadTlv("E021 digest inside the content (it must be last, with bit 0x20)", tag)
        if tag in (TAG_FULL, TAG_SUBPACKET, TAG_ENC_SUBPACKET):
            raise BadTlv("TLV 0x%04X only travels alone with bit 0x10" % tag, tag)
    if T.find(tlvs, TAG_PARTIAL) is not None:
        msg.encryption = ENC_PARTIAL
        if cipher is not None:
            tlvs = _decrypt_partial(msg, tlvs, cipher, limit, profile)
    msg.tlvs = tlvs


def _decrypt_partial(msg, tlvs, cipher, limit, profile):
    from wmmp.crypto import cipher as CI
    out = []
    tags = []
    for tag, v in tlvs:
        if tag == TAG_PARTIAL:
            plain = CI.decrypt(cipher[0], cipher[1], v, profile)
            inner = T.decode(plain, 0, None, limit)
            for itag, _ in inner:
                if itag == TAG_PARTIAL or itag == D.DIGEST_TAG:
                    raise BadTlv("E043 may not contain TLV 0x%04X" % itag, itag)
                tags.append(itag)
            out.extend(inner)
        else:
            out.append((tag, v))
    msg.encrypt_tags = tuple(tags)
    return out


def check_digest(msg, required=True):
    """Raise DigestMissing / DigestMismatch per PROTOCOL.md 3 after decode(key=...)."""
    if msg.digest is None:
        if required:
            raise DigestMissing("%s seq %d carries no digest" % (msg.name, msg.seq))
        return
    if msg.digest_ok is False:
        raise DigestMismatch("%s seq %d failed the digest check" % (msg.name, msg.seq))
