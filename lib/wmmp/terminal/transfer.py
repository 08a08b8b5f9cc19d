"""Long messages in sub-packets (appendix F, PROTOCOL.md 6): the core's transfers
of requests and responses too long for their bearer, and the reassembly of the
platform's.  Functions over the terminal (wmmp.terminal.core); the split and
reassembly themselves are wmmp.wire.subpacket.
"""

from micropython import const

from wmmp.wire import codec, commands as C, profile as P, subpacket as SP
from wmmp.errors import WmmpError, SubpacketError

_SPLITS = const(2)              # sub-packet transactions held at once, each direction


def trans_id(t):
    t._trans = (t._trans * 75 + 74 + (t._seq & 0xFF)) % 65537 & 0xFFFF
    return t._trans


def splitter(t, msg, bearer, chunk=None):
    """Splitter for `msg` (its encryption policy applied first: encrypted
    content is encrypted whole, then cut into E044)."""
    t.encryption_policy(msg)
    cipher = t.cipher() if msg.encryption != codec.ENC_NONE else None
    digest = t.params.get(0xE025) is not None and t.digest_wanted(msg.command, [], bearer)
    return SP.Splitter(msg, trans_id(t), t.profile, bearer, digest, cipher, chunk)


def request_split(t, msg, bearer, on_ack, on_fail, chunk=None):
    """A request too long for the bearer: send sub-packet 1; each ACK names the
    next one wanted (0x4008 op 0x01); the ACK to the last carries the real
    response (PROTOCOL.md 6)."""
    try:
        sp = splitter(t, msg, bearer, chunk)
    except WmmpError as e:
        t.event("error", "%s cannot be sent: %s" % (C.name(msg.command), e))
        if on_fail:
            on_fail(t, t._now)
        return None
    t.event("split", C.name(msg.command), sp.trans_id, sp.total)

    def next_part(t, ack, now):
        got = ack.subpacket
        if got is None:                       # the real response
            if on_ack:
                on_ack(t, ack, now)
            return
        if got.trans_id != sp.trans_id or got.op != SP.OP_REQUEST or not 1 <= got.index <= sp.total:
            t.event("split_aborted", sp.trans_id, got.op)
            if on_fail:
                on_fail(t, now)
            return
        send(got.index)

    def send(index):
        t.request(sp.message(index, 0), bearer, next_part, on_fail)
    send(1)
    return sp


def first_of_response(t, req, msg, bearer):
    """A response too long for the bearer: the bytes of the ACK carrying
    sub-packet 1; the requester asks for the others by repeating the request
    with 0x4008 op 0x01 (PROTOCOL.md 6)."""
    sp = splitter(t, msg, bearer)
    t._resp_splits.append((sp.trans_id, sp))
    if len(t._resp_splits) > _SPLITS:
        t._resp_splits.pop(0)
    first = codec.Message(msg.command)
    first.subpacket = sp.subpacket(1)
    first.seq = req.seq
    return t.encode(first, bearer)



def on_subpacket(t, msg, bearer, now):
    """A sub-packet request from the platform: a piece of a fragmented request
    (collect; ask for the next; run it when complete, appendix F f) or a
    request for the next piece of one of our fragmented responses."""
    sp = msg.subpacket
    ack_cmd = msg.command | C.ACK
    if sp.op == SP.OP_REQUEST:
        for trans_id, splitter in t._resp_splits:
            if trans_id == sp.trans_id:
                m = codec.Message(ack_cmd)
                m.subpacket = splitter.answer(sp)
                t.respond(msg, m, bearer)
                return
        raise SubpacketError("no fragmented response with transaction %d" % sp.trans_id)
    key = (msg.command, sp.trans_id)
    r = None
    for k, held in t._reassembly:
        if k == key:
            r = held
    try:
        if r is None:
            r = SP.Reassembler(msg.command, sp)
            t._reassembly.append((key, r))
            if len(t._reassembly) > _SPLITS:
                t._reassembly.pop(0)
        else:
            r.add(sp)
        if not r.complete:
            m = codec.Message(ack_cmd)
            m.subpacket = r.request()
            t.respond(msg, m, bearer)
            return
        whole = r.message(t.profile, t.cipher())
    except WmmpError as e:
        t._reassembly = [(k, h) for k, h in t._reassembly if k != key]
        t.event("dropped", "sub-packets", str(e))
        m = codec.Message(ack_cmd)
        m.subpacket = codec.Subpacket(sp.trans_id, sp.total, sp.index, SP.OP_RECEIVER_ABORT)
        t.respond(msg, m, bearer)
        return
    t._reassembly = [(k, h) for k, h in t._reassembly if k != key]
    whole.seq = msg.seq                       # the ACK to the last sub-packet answers
    whole.serial = msg.serial
    t.dispatch(whole, bearer, now)


def on_overflow(t, seq, now):
    """Table A-2 bit 8: the peer could not take our request: resend it as
    sub-packets of at most an SMS's size."""
    x = t._txns.pop(seq, None)
    if x is None or x.msg is None:
        return
    t.event("overflow", C.name(x.command), seq)
    x.msg.seq = 0
    request_split(t, x.msg, x.bearer, x.on_ack, x.on_fail,
                        SP.chunk_size(t.profile, P.BEARER_SMS, True))
