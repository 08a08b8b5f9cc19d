"""Sub-packets: splitting a message too long for its bearer and putting it back
together (appendix F; TLV 0x4008 and E044; PROTOCOL.md 6).

The content (fixed part + non-digest TLVs) is cut in order into chunks; a TLV may
straddle chunks.  Each sub-packet keeps the command ID, sets security bit 0x10,
takes its own seq and its own digest.  Encrypted content is encrypted whole
first, then cut, and carried in E044 instead of 0x4008.

    Splitter     sender side: chunks, sub-packet messages, answers to requests
    Reassembler  receiver side: collects chunks, names the next one wanted,
                 rejects inconsistent sets, yields the content or the Message
"""

from micropython import const

from wmmp.wire import codec
from wmmp.wire import header as H
from wmmp.wire import tlv as T
from wmmp.wire import profile as P
from wmmp.wire.codec import Subpacket, SUBPACKET_HEADER
from wmmp.wire.digest import DIGEST_TLV_SIZE
from wmmp.errors import SubpacketError, TooLongForBearer, BadValue

OP_DATA = const(0x00)            # data of sub-packet `index`
OP_REQUEST = const(0x01)         # the receiver asks for sub-packet `index`
OP_SENDER_ABORT = const(0x02)    # the sender gives up (index: last one sent)
OP_RECEIVER_ABORT = const(0x03)  # the receiver gives up (index: last one received)

MAX_PARTS = const(0xFFFF)


def chunk_size(profile=P.DEFAULT, bearer=P.BEARER_PACKET, digest=True):
    """Largest data per sub-packet: the carrier TLV must fit the bearer's TLV limit
    and the whole sub-packet message its message limit (appendix E a, PROTOCOL.md 9)."""
    by_tlv = profile.tlv_max(bearer) - SUBPACKET_HEADER
    by_msg = (profile.message_max(bearer) - H.HEADER_SIZE - T.TLV_HEADER - SUBPACKET_HEADER
              - (DIGEST_TLV_SIZE if digest else 0))
    n = by_tlv if by_tlv < by_msg else by_msg
    if n < 1:
        raise TooLongForBearer("bearer too small to carry any sub-packet data")
    return n


def fits(msg, profile=P.DEFAULT, bearer=P.BEARER_PACKET, digest=True, cipher=None):
    """True when `msg` can go whole on `bearer`; False when it needs sub-packets."""
    try:
        codec.encode(msg, profile, bearer, _SIZE_KEY if digest else None, cipher)
        return True
    except TooLongForBearer:
        return False


class _SizeOnlyKey:
    """Stand-in digest key for size checks: same 20 bytes on the wire."""
    imei = b"000000000000000\x00"
    imsi = b"000000000000000"
    password = b"00000000"
    timestamp = 0


_SIZE_KEY = _SizeOnlyKey()


class Splitter:
    """Sender side of one sub-packet transaction (PROTOCOL.md 6).

    msg        the message to send (fields and TLVs); its encryption setting is
               honoured: ENC_FULL content is encrypted whole, then cut into E044
    trans_id   u16 chosen by the sender (a random number, appendix E 0x4008)
    digest     whether each sub-packet will carry a digest (shrinks the chunk)
    """

    def __init__(self, msg, trans_id, profile=P.DEFAULT, bearer=P.BEARER_PACKET,
                 digest=True, cipher=None, chunk=None):
        if not 0 <= trans_id <= 0xFFFF:
            raise BadValue("sub-packet trans_id must be a u16")
        self.command = msg.command
        self.serial = msg.serial
        self.trans_id = trans_id
        self.encrypted = msg.encryption == codec.ENC_FULL
        content = codec.encode_content(msg, cipher, profile)
        if self.encrypted:
            from wmmp.crypto import cipher as CI
            if cipher is None:
                raise BadValue("full encryption needs a session key")
            content = CI.encrypt(cipher[0], cipher[1], content, profile)
        self.content = content
        self.chunk = chunk if chunk is not None else chunk_size(profile, bearer, digest)
        self.total = (len(content) + self.chunk - 1) // self.chunk or 1
        if self.total > MAX_PARTS:
            raise TooLongForBearer("content of %d bytes needs more than 65535 sub-packets" % len(content))
        self.aborted = False

    def subpacket(self, index):
        if not 1 <= index <= self.total:
            raise SubpacketError("sub-packet %d of %d does not exist" % (index, self.total))
        start = (index - 1) * self.chunk
        return Subpacket(self.trans_id, self.total, index, OP_DATA,
                         self.content[start:start + self.chunk], self.encrypted)

    def message(self, index, seq, security=0):
        """Sub-packet `index` as a Message ready for codec.encode (bit 0x10 is set
        there); each sub-packet takes its own seq (appendix F d)."""
        m = codec.Message(self.command, serial=self.serial, seq=seq, security=security)
        m.subpacket = self.subpacket(index)
        return m

    def answer(self, request):
        """Sub-packet the receiver asks for in `request` (a Subpacket with op 0x01).
        A receiver abort (op 0x03) ends the transaction with SubpacketError."""
        if request.trans_id != self.trans_id:
            raise SubpacketError("request names transaction %d, this is %d" % (request.trans_id, self.trans_id))
        if request.op == OP_RECEIVER_ABORT:
            self.aborted = True
            raise SubpacketError("receiver aborted the transfer at sub-packet %d" % request.index)
        if request.op != OP_REQUEST:
            raise SubpacketError("expected a request (op 1), got op %d" % request.op)
        return self.subpacket(request.index)

    def abort(self, index):
        """Sender abort notice (op 0x02); index is the last sub-packet sent."""
        self.aborted = True
        return Subpacket(self.trans_id, self.total, index, OP_SENDER_ABORT, b"", self.encrypted)


class Reassembler:
    """Receiver side of one sub-packet transaction.

    Created from the first sub-packet received; later ones are fed to add().
    Holds at most `max_bytes` of data (a message can never exceed 65535 bytes),
    so a hostile peer cannot make it allocate more than that.
    """

    def __init__(self, command, first, max_bytes=P.MESSAGE_MAX):
        if first.total < 1 or first.total > MAX_PARTS:
            raise SubpacketError("sub-packet total %d is out of range" % first.total)
        self.command = command
        self.trans_id = first.trans_id
        self.total = first.total
        self.encrypted = first.encrypted
        self.max_bytes = max_bytes
        self.parts = {}
        self.size = 0
        self.aborted = False
        self.add(first)

    def add(self, sp):
        """Store one sub-packet; True once every sub-packet has arrived.  A repeat
        of an index already held is accepted when identical (a retransmission)."""
        if sp.trans_id != self.trans_id:
            raise SubpacketError("sub-packet of transaction %d inside transaction %d"
                                 % (sp.trans_id, self.trans_id))
        if sp.op == OP_SENDER_ABORT:
            self.aborted = True
            raise SubpacketError("sender aborted the transfer after sub-packet %d" % sp.index)
        if sp.op != OP_DATA:
            raise SubpacketError("expected data (op 0), got op %d" % sp.op)
        if sp.total != self.total:
            raise SubpacketError("sub-packet says %d parts, transaction has %d" % (sp.total, self.total))
        if not 1 <= sp.index <= self.total:
            raise SubpacketError("sub-packet index %d outside 1..%d" % (sp.index, self.total))
        if sp.encrypted != self.encrypted:
            raise SubpacketError("0x4008 and E044 sub-packets mixed in one transaction")
        held = self.parts.get(sp.index)
        if held is not None:
            if held != sp.data:
                raise SubpacketError("sub-packet %d arrived twice with different data" % sp.index)
            return self.complete
        if self.size + len(sp.data) > self.max_bytes:
            raise SubpacketError("sub-packets exceed %d bytes" % self.max_bytes)
        self.parts[sp.index] = bytes(sp.data)
        self.size += len(sp.data)
        return self.complete

    @property
    def complete(self):
        return len(self.parts) == self.total

    def missing(self):
        return [i for i in range(1, self.total + 1) if i not in self.parts]

    def next_wanted(self):
        """Lowest index not yet received, or None when complete."""
        for i in range(1, self.total + 1):
            if i not in self.parts:
                return i
        return None

    def request(self, index=None):
        """Request for sub-packet `index` (default: the next one wanted), op 0x01."""
        if index is None:
            index = self.next_wanted()
            if index is None:
                raise SubpacketError("nothing left to request")
        return Subpacket(self.trans_id, self.total, index, OP_REQUEST, b"", self.encrypted)

    def abort(self, index=None):
        """Receiver abort (op 0x03); index is the last sub-packet received."""
        self.aborted = True
        if index is None:
            index = max(self.parts) if self.parts else 0
        return Subpacket(self.trans_id, self.total, index, OP_RECEIVER_ABORT, b"", self.encrypted)

    def content(self):
        if not self.complete:
            raise SubpacketError("missing sub-packets %r" % self.missing())
        buf = bytearray(self.size)
        off = 0
        for i in range(1, self.total + 1):
            d = self.parts[i]
            buf[off:off + len(d)] = d
            off += len(d)
        return bytes(buf)

    def message(self, profile=P.DEFAULT, cipher=None):
        """The reassembled Message; E044 content is decrypted first (appendix F).
        The command runs only now, when every sub-packet is in (appendix F f).
        Inner TLVs may straddle chunks, so they are held to the packet-bearer
        value limit (appendix E a), not to the carrier's."""
        content = self.content()
        if self.encrypted:
            from wmmp.crypto import cipher as CI
            if cipher is None:
                raise BadValue("encrypted sub-packets need the session key")
            content = CI.decrypt(cipher[0], cipher[1], content, profile)
        msg = codec.decode_content(self.command, content, profile, P.BEARER_PACKET, cipher)
        if self.encrypted:
            msg.encryption = codec.ENC_FULL
        return msg
