"""The block download of a software upgrade through WMMP (section 4.3.8,
appendix G l; PROTOCOL.md 12): the FILE_REQ window, the block checks, blocks
held ahead of a missing one, retries and stalls.  Functions over the terminal
(wmmp.terminal.core), used by wmmp.terminal.download, which owns the download
as t._dl; the outcome goes back through t.upgrade_complete(now) and
t.upgrade_fail(now, reason, drop).
"""

from micropython import const

from wmmp.wire import codec, codes as K, commands as C, crc, header as H, profile as P
from wmmp.wire.digest import DIGEST_TLV_SIZE
from wmmp.terminal.core import S_ONLINE

CRC16 = const(16)           # crc_kind of the stager: the whole file's CRC16 (profile)
CRC32 = const(32)           # ... its CRC32 (IEEE)
END = 0xFFFFFFFF            # read point of FILE_REQ STATUS 0x02
_HOLD = const(4096)         # bytes of blocks held ahead of a missing one, at least (Config.upgrade_hold)
_HOLD_CAP = const(12288)    # ... at most, by default: the rest of a window (window - 1 blocks)
_SPILL_WINDOWS = const(3)   # windows of blocks held when the stager keeps them in flash (spill)
_BLOCK_CAP = const(2048)    # largest block asked for (RAM: the message and its block)
_AHEAD = const(2)           # later blocks that make a missing one be asked for again
_BURST = const(2)           # FILE_REQs one call sends at most (the rest at the next tick)
_POLL = const(5)            # s between looks at a download that waits


class Download:
    """One download in RAM.  out: [seq, read_point, size, sent, asks] of
    FILE_REQs outstanding; hold: [(read_point, size, block or its place in the
    stager's scratch file)] ahead of the first missing byte."""

    def __init__(self, tid, size, kind, want, ver, scheme, url, host, port):
        self.tid = tid
        self.size = size
        self.kind = kind
        self.want = want
        self.ver = ver
        self.scheme = scheme
        self.url = url
        self.host = host
        self.port = port
        self.written = 0
        self.crc = None
        self.out = []
        self.hold = []
        self.held = 0           # bytes in hold
        self.spill = False      # the stager keeps held blocks in flash (stager.spill)
        self.spilled = False    # ... and its scratch file has some
        self.bad = 0            # bad blocks without progress
        self.stalls = 0         # FILE_REQs timed out without progress
        self.later = 0          # blocks arrived past the missing one
        self.fast = -1          # read point asked for again early
        self.first = False      # the next FILE_REQ is the transaction's first (STATUS 0x00)
        self.go = False         # started (False: waiting until the terminal is idle)
        self.fetching = False   # http: the board is fetching
        self.tries = 0          # http: failed fetches without progress
        self.etag = None
        self.srtt = None        # smoothed FILE_REQ -> FILE_REQ_ACK time, s (the early re-ask)
        self.done = False       # finished: waiting for STATUS 0x02's answer
        self.block = 0


def crc_more(t, d, data, c):
    if d.kind == CRC16:
        return crc.crc16(data, t.profile.crc16, c)
    return crc.crc32(data, c or 0)


def write(t, d, data):
    st = t.cfg.stager
    st.write(d.written, data)
    d.crc = crc_more(t, d, data, d.crc)
    d.written += len(data)
    d.bad = d.stalls = d.later = d.tries = 0


def refused(t):
    """The stager refused the image already (its header names another board or
    kind: docs/UPDATE.md): no point fetching the rest (0x3012 reason 0x04)."""
    err = getattr(t.cfg.stager, "error", None)
    return err is not None and err() is not None


def block_size(t):
    """The largest FILE_REQ_ACK block that fits the packet bearer (PROTOCOL.md 12)."""
    prof = t.profile
    n = prof.message_max(P.BEARER_PACKET) - H.HEADER_SIZE - C.fixed_size(C.FILE_REQ_ACK) - DIGEST_TLV_SIZE
    if t.params.get_int(0xE032):
        # full encryption: the content (fixed part and block) in one E042 TLV,
        # with PKCS#7 padding of up to 16 bytes; the TLV within its limit
        by_tlv = prof.tlv_max(P.BEARER_PACKET) - C.fixed_size(C.FILE_REQ_ACK) - 16
        n = n - 4 - 16 if n - 4 - 16 < by_tlv else by_tlv
    return n if n < _BLOCK_CAP else _BLOCK_CAP


def _hold_max(t):
    """Bytes of blocks kept ahead of a missing one (only when a block is lost or
    overtaken): Config.upgrade_hold; else _SPILL_WINDOWS windows in the stager's
    scratch file; else, in RAM, the rest of a window (between _HOLD and
    _HOLD_CAP).  A lost block then costs one block fetched again, not the window."""
    h = getattr(t.cfg, "upgrade_hold", None)
    if h is not None:
        return h
    d = t._dl
    blk = d.block if d is not None and d.block else 0
    win = getattr(t.profile, "file_window", 1)
    if d is not None and d.spill:
        # in flash, not RAM: the window and one more, so that the link stays busy
        # while a lost block is asked for again (PROTOCOL.md 12)
        h = _SPILL_WINDOWS * win * blk
        return _HOLD if h < _HOLD else h
    h = (win - 1) * blk
    return _HOLD if h < _HOLD else _HOLD_CAP if h > _HOLD_CAP else h


def _next(d):
    """(read_point, size) of the first bytes neither written, held nor asked
    for; None when every byte is covered."""
    p = d.written
    while p < d.size:
        nxt = d.size
        hit = False
        for e in d.out:
            if e[1] == p:
                p = e[1] + e[2]
                hit = True
            elif p < e[1] < nxt:
                nxt = e[1]
        for h in d.hold:
            rp = h[0]
            if rp == p:
                p = rp + h[1]
                hit = True
            elif p < rp < nxt:
                nxt = rp
        if not hit:
            n = nxt - p
            return p, (n if n < d.block else d.block)
    return None


def fill(t, now):
    """Ask for the bytes missing, up to profile file_window requests at once."""
    d = t._dl
    if not d.block:
        d.block = block_size(t)
        d.spill = hasattr(t.cfg.stager, "spill")
    win = getattr(t.profile, "file_window", 1)
    sent = 0
    while len(d.out) < win:
        if sent == _BURST:
            # the rest of the window at the next tick: one call allocates for at
            # most _BURST requests (each one encoded and signed)
            t._timers["upgrade"] = now
            return
        nx = _next(d)
        if nx is None:
            return
        if (d.hold or d.later) and nx[0] != d.written:
            # blocks came ahead of a missing one: ask only for what the hold
            # can still take
            ahead = d.held + nx[1]
            for e in d.out:
                if e[1] > d.written:
                    ahead += e[2]
            if ahead > _hold_max(t):
                return
        _request(t, d, nx[0], nx[1])
        sent += 1


def _request(t, d, rp, n, asked=0):
    status = K.FILE_REQ_START if d.first else K.FILE_REQ_DOWNLOADING
    d.first = False
    m = codec.Message(C.FILE_REQ, {"trans_id": d.tid, "status": status, "read_point": rp, "block_size": n})
    # not kept (RAM per request in flight): after a new login the window starts
    # over from the bytes written (wmmp.terminal.download.online)
    x = t.request(m, P.BEARER_PACKET, on_ack, on_fail, keep=False)
    if x is not None:
        d.out.append([x.seq, rp, n, t._now, asked])
        _arm_rto(t, d)


def _rto(d):
    """How long a FILE_REQ may wait for its answer before it is asked again with a
    new seq: 2 x the smoothed answer time + 0.25 s, at least 0.5 s (a lost block
    then costs about one RTT, not the 0x0107 retransmission timeout)."""
    r = 2 * d.srtt + 0.25
    return r if r > 0.5 else 0.5


def _arm_rto(t, d):
    if d.srtt is None or not d.out:
        t._timers.pop("upgrade_rto", None)
        return
    first = min(e[3] for e in d.out)
    t._timers["upgrade_rto"] = first + _rto(d)


def on_rto(t, now):
    """Timer "upgrade_rto": FILE_REQs unanswered for _rto() are asked again with a
    new seq (their old transactions dropped), up to 0x0108 times each; past that
    the core's retransmission and on_fail take over."""
    d = t._dl
    if d is None or d.srtt is None:
        return
    late = [e for e in d.out if now - e[3] >= _rto(d) and not limit(t, e[4] + 1)]
    for e in late:
        d.out.remove(e)
        t._txns.pop(e[0], None)
        t.event("upgrade_reask", e[1])
        _request(t, d, e[1], e[2], e[4] + 1)
    _arm_rto(t, d)


def cancel_out(t, d):
    for e in d.out:
        t._txns.pop(e[0], None)
    d.out = []
    t._timers.pop("upgrade_rto", None)


def cancel(t, d):
    cancel_out(t, d)
    d.hold = []
    d.held = 0
    _unspill_all(t, d)
    t._timers.pop("upgrade", None)


def on_ack(t, ack, now):
    """A FILE_REQ_ACK, matched by seq, then by TRANS_ID and read point."""
    d = t._dl
    e = None
    if d is not None:
        for x in d.out:
            if x[0] == ack.seq:
                e = x
        if e is not None:
            d.out.remove(e)
            sample = now - e[3]
            d.srtt = sample if d.srtt is None else (7 * d.srtt + sample) / 8
            _arm_rto(t, d)
    if e is None:
        t.event("dropped", "FILE_REQ_ACK", ack.seq)     # of a download no longer running
        return
    f = ack.fields
    st = f["status"]
    if st != K.FILE_ACK_OK:
        t.event("upgrade_refused", d.tid, st)
        bad_id = st == K.FILE_ACK_BAD_TRANS_ID
        t.upgrade_fail(now, K.DL_FAIL_CONNECT if bad_id else K.DL_FAIL_TIMEOUT, bad_id)
        return
    rp, blk = f["read_point"], f["block"]
    if (f["trans_id"] != d.tid or rp != e[1] or not blk or len(blk) > e[2]
            or crc.crc16(blk, t.profile.crc16) != f["crc16"]):
        d.bad += 1
        t.event("upgrade_bad_block", e[1], d.bad)
        if limit(t, d.bad):
            t.upgrade_fail(now, K.DL_FAIL_TIMEOUT, False)
            return
        _request(t, d, e[1], e[2])
        return
    if rp == d.written:
        write(t, d, blk)
        _drain(t, d)
        if refused(t):
            t.upgrade_fail(now, K.DL_FAIL_CRC, True)
            return
    elif rp > d.written:
        if d.held + len(blk) <= _hold_max(t):
            _keep(t, d, rp, blk)
        d.later += 1
        if d.later >= _AHEAD and d.fast != d.written:
            for x in d.out:
                if x[1] == d.written:
                    # the block wanted next was overtaken: ask again now
                    d.fast = d.written
                    d.out.remove(x)
                    t._txns.pop(x[0], None)
                    _request(t, d, x[1], x[2])
                    break
    if d.written >= d.size:
        t.upgrade_complete(now)
    else:
        fill(t, now)


def _keep(t, d, rp, blk):
    """Hold a block that came ahead of a missing one: in the stager's scratch
    file when it has one (no RAM), else in RAM within the RAM limit."""
    if d.spill:
        try:
            d.hold.append((rp, len(blk), t.cfg.stager.spill(blk)))
            d.held += len(blk)
            d.spilled = True
            return
        except OSError as e:
            d.spill = False                 # flash full or failing: RAM from now on
            t.event("upgrade_spill_failed", str(e))
            if d.held + len(blk) > _hold_max(t):
                return                      # dropped: asked for again later
    d.hold.append((rp, len(blk), bytes(blk)))      # a copy: blk may be a view of the received message
    d.held += len(blk)


def _drain(t, d):
    moved = True
    while moved and d.hold:
        moved = False
        for h in d.hold:
            if h[0] <= d.written:
                d.hold.remove(h)
                d.held -= h[1]
                moved = True
                if h[0] == d.written:
                    blk = h[2]
                    if type(blk) is int:
                        try:
                            blk = t.cfg.stager.unspill(blk, h[1])
                        except OSError as e:
                            t.event("upgrade_spill_failed", str(e))
                            blk = None
                    if blk and len(blk) == h[1]:
                        write(t, d, blk)    # else dropped: asked for again
                break
    if not d.hold:
        _unspill_all(t, d)


def _unspill_all(t, d):
    if d.spilled:
        d.spilled = False
        try:
            t.cfg.stager.spill_reset()
        except OSError as e:
            t.event("upgrade_spill_failed", str(e))


def limit(t, n):
    r = t.params.get_int(0x0108, 3)
    return r != 0xFF and n > r


def on_fail(t, now):
    """A FILE_REQ's retransmissions ran out: a stall while online (asked for
    again with a new seq), nothing while offline (the next login resumes)."""
    d = t._dl
    if d is None:
        return
    gone = [e for e in d.out if e[0] not in t._txns]
    for e in gone:
        d.out.remove(e)
    if not gone or t.state != S_ONLINE:
        return
    if t.packet_down:
        # on the SMS fallback: not a stall; the timer "upgrade" goes on once the
        # packet bearer is back
        t._timers["upgrade"] = now + _POLL
        return
    d.stalls += 1
    t.event("upgrade_stall", d.tid, d.written, d.stalls)
    if limit(t, d.stalls):
        t.upgrade_fail(now, K.DL_FAIL_TIMEOUT, False)
        return
    fill(t, now)
