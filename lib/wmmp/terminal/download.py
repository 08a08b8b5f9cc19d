"""The updater behind the upgrade flow (section 4.3.8, appendix G k, l;
PROTOCOL.md 12), loaded only on a board with a stager (wmmp.terminal.upgrade
has the interface): the DOWNLOAD_INFO decision, the download's state kept
across a reboot (string keys dl_*), its resume, the HTTP side (the board
fetches), and the outcome.  The FILE_REQ window is wmmp.terminal.filereq.
Functions over the terminal `t`; t._dl is the download (filereq.Download).
"""

import struct
from micropython import const

from wmmp.wire import codec, codes as K, commands as C, profile as P, url as U
from wmmp.terminal import filereq as DL
from wmmp.terminal.filereq import Download
from wmmp.terminal.core import S_ONLINE
from wmmp.errors import BadValue

_POLL = const(5)            # s between looks at a download that waits
_HTTP = const(1)
_WMMP = const(0)
_STORED = (0x1000, 0x1001, 0x1002, 0x1003, 0x1005, 0x1006, 0x1007, 0x1008, 0x1009, 0x100B)



def init(t):
    """The updater of a terminal with a stager (engine.Terminal): its calls and
    its timer on the terminal, the resume at start and at each login."""
    t._dl = None
    t.TIMERS = dict(t.TIMERS)
    t.TIMERS["upgrade"] = pump      # a download starts (idle, online) or goes on
    t.TIMERS["upgrade_rto"] = DL.on_rto     # a FILE_REQ unanswered for about 2 RTT: asked again
    t.upgrade_data = lambda trans_id, offset, data, now, etag=None: upgrade_data(t, trans_id, offset, data,
                                                                               now, etag)
    t.upgrade_fetch_failed = lambda trans_id, now: upgrade_fetch_failed(t, trans_id, now)
    t.upgrade_report = lambda trans_id, reason, now: upgrade_report(t, trans_id, reason, now)
    t.upgrade_state = lambda: upgrade_state(t)
    t.upgrade_complete = lambda now: complete(t, now)
    t.upgrade_fail = lambda now, reason, drop: fail(t, now, reason, drop)
    start, set_state = t.start, t.set_state

    def started(now):
        boot(t, now)                # a download the parameters hold goes on
        start(now)

    def state(s):
        set_state(s)
        if s == S_ONLINE and t._dl is not None:
            online(t)               # ... in the new session
    t.start = started
    t.set_state = state


# == DOWNLOAD_INFO (appendix G k) =============================================
def _values(t, msg):
    """0x1000-0x100B of the request: the URL's, then TLVs it carries besides."""
    u = msg.tlv(0x1001)
    vals = U.parse(u) if u else {}
    for tag, v in msg.tlvs:
        if 0x1000 <= tag <= 0x100B and tag != 0x1001 and tag not in vals:
            if tag in (0x1002, 0x1004, 0x1005, 0x100A):
                vals[tag] = bytes(v)
            elif 1 <= len(v) <= 4:
                vals[tag] = int.from_bytes(v, "big")
            else:
                raise BadValue("0x%04X: bad length" % tag)
    if u is None and 0x1000 not in vals:
        vals[0x1000] = K.DL_PROTO_WMMP
    return vals


def _strip(v):
    v = v.encode() if isinstance(v, str) else bytes(v or b"")
    while v and v[-1] in (0, 0x20):
        v = v[:-1]
    return v


def _decide(t, msg):
    """(result, Download or None) for a DOWNLOAD_INFO."""
    st = t.cfg.stager
    if st is None:
        return K.DL_ACK_PROTOCOL_UNSUPPORTED, None
    try:
        vals = _values(t, msg)
    except BadValue:
        return K.DL_ACK_BAD_URL, None
    proto = vals.get(0x1000)
    if proto != K.DL_PROTO_WMMP and proto != K.DL_PROTO_HTTP:
        return K.DL_ACK_PROTOCOL_UNSUPPORTED, None
    tid, size = vals.get(0x1009), vals.get(0x1006)
    if 0x1008 in vals:
        kind, want = DL.CRC32, vals[0x1008]
    elif 0x1007 in vals:
        kind, want = DL.CRC16, vals[0x1007]
    else:
        kind = want = None
    if tid is None or not size or kind is None or (proto == K.DL_PROTO_HTTP and 0x1001 not in vals):
        return K.DL_ACK_BAD_URL, None
    force = vals.get(0x100B, 0) != 0
    ver = _strip(vals.get(0x1005))
    if ver and ver == _strip(t.cfg.software_version) and not force:
        return K.DL_ACK_UP_TO_DATE, None
    if size > st.capacity():
        return K.DL_ACK_NO_BUFFER, None
    for tag in _STORED:
        if tag in vals:
            t.params.set(tag, U.value_bytes(tag, vals[tag]))
    d = t._dl
    if d is not None and d.tid == tid and not d.done:
        if force:
            d.go = True
        return (K.DL_ACK_UPDATING if d.go else K.DL_ACK_DEFERRED), None
    d = Download(tid, size, kind, want, ver, _HTTP if proto == K.DL_PROTO_HTTP else _WMMP,
                 bytes(vals.get(0x1001) or b""), vals.get(0x1002), vals.get(0x1003))
    d.go = force or not _busy(t)
    return (K.DL_ACK_UPDATING if d.go else K.DL_ACK_DEFERRED), d


def on_download_info(t, msg, bearer, now):
    """G k: answer, then start (or wait until idle)."""
    r, d = _decide(t, msg)
    t.respond(msg, codec.Message(C.DOWNLOAD_INFO_ACK, {"result": r}), bearer)
    t.event("download_info", r)
    if d is None:
        t.params.commit()
        if t._dl is not None and t._dl.go:
            pump(t, now)
        else:
            _pump_soon(t, now)
        return
    old = t._dl
    if old is not None:
        # a new transaction replaces the one in progress
        DL.cancel(t, old)
        t.event("upgrade_replaced", old.tid, d.tid)
    _persist(t, d)
    d.first = True
    t._dl = d
    _begin(t, d)
    t.event("upgrade_start", d.tid, d.size, d.written)
    if d.go:
        pump(t, now)
    else:
        t._timers["upgrade"] = now + _POLL


def _busy(t):
    if t.busy or (t._bridge is not None and t.bridge_busy()):
        return True
    f = getattr(t.cfg.stager, "busy_reason", None)
    return f is not None and f() is not None


# == state kept across a reboot ================================================
def _persist(t, d):
    p = t.params
    p.set("dl_id", struct.pack(">I", d.tid))
    p.set("dl_size", struct.pack(">I", d.size))
    p.set("dl_crc", struct.pack(">BI", d.kind, d.want))
    p.set("dl_ver", d.ver)
    p.set("dl_scheme", bytes((d.scheme,)))
    p.set("dl_url", d.url)
    p.delete("dl_etag")
    p.commit()


def _forget(t):
    p = t.params
    for k in ("dl_id", "dl_size", "dl_crc", "dl_ver", "dl_scheme", "dl_url", "dl_etag"):
        p.delete(k)
    p.commit()


def boot(t, now):
    """At start: a download the parameters hold goes on from the stager's point."""
    p = t.params
    st = t.cfg.stager
    if st is None or p.get("dl_id") is None or t._dl is not None:
        return
    try:
        kind, want = struct.unpack(">BI", p.get("dl_crc"))
        url = p.get("dl_url") or b""
        host = port = None
        if url:
            v = U.parse(url)
            host, port = v.get(0x1002), v.get(0x1003)
        d = Download(p.get_int("dl_id"), p.get_int("dl_size"), kind, want, p.get("dl_ver") or b"",
                     p.get_int("dl_scheme"), url, host, port)
    except (BadValue, TypeError, ValueError):
        _forget(t)
        return
    d.etag = p.get("dl_etag")
    t._dl = d
    _begin(t, d)
    d.first = d.written == 0        # nothing fetched yet: the next FILE_REQ is the first
    t.event("upgrade_resume", d.tid, d.written, d.size)
    t._timers["upgrade"] = now


def _begin(t, d):
    """stager.begin(); the whole-file CRC of the bytes it already holds (read
    back); a stager that cannot read back starts again from 0."""
    st = t.cfg.stager
    pt = st.begin(d.tid, d.size, d.kind, d.want, d.ver)
    c = None
    if pt:
        rd = getattr(st, "read", None)
        off = 0
        if rd is not None and pt <= d.size:
            while off < pt:
                b = rd(off, pt - off if pt - off < 512 else 512)
                if not b:
                    break
                c = DL.crc_more(t, d, b, c)
                off += len(b)
        if off != pt:
            st.abort()
            pt = st.begin(d.tid, d.size, d.kind, d.want, d.ver)
            c = None
    d.written = pt
    d.crc = c


# == driving it ================================================================
def online(t):
    """The session is (again) online: requests of the old session are not sent
    again; the window starts over from the bytes written, at the next tick
    (after the login's own CONFIG_TRAP)."""
    d = t._dl
    if d is None:
        return
    keep = []
    for x in t._resend:
        if x.command != C.FILE_REQ or x.msg.fields.get("status", 0) > K.FILE_REQ_DOWNLOADING:
            keep.append(x)
    t._resend[:] = keep
    if d.scheme == _WMMP and not d.done:
        DL.cancel_out(t, d)
    t._timers["upgrade"] = t._now


def _pump_soon(t, now):
    if t._dl is not None and "upgrade" not in t._timers:
        t._timers["upgrade"] = now + _POLL


def pump(t, now):
    """Timer "upgrade": start a download that waited, ask for what is missing."""
    d = t._dl
    if d is None or d.done:
        return
    if not d.go:
        if _busy(t):
            t._timers["upgrade"] = now + _POLL
            return
        d.go = True
    if d.scheme == _HTTP:
        if d.written >= d.size:
            complete(t, now)
        elif not d.fetching:
            d.fetching = True
            t.event("upgrade_fetch", d.tid, d.url.decode(), d.written, d.size,
                    d.etag.decode() if d.etag else None)
        return
    if t.state != S_ONLINE or t.packet_down:
        t._timers["upgrade"] = now + _POLL        # offline, or on the SMS fallback: wait
        return
    if d.written >= d.size:
        complete(t, now)
        return
    DL.fill(t, now)


# == HTTP: the board fetches (PROTOCOL.md 12) ====================================
def _http(t, trans_id, now):
    t._now = now
    d = t._dl
    if d is None or d.tid != trans_id or d.scheme != _HTTP or d.done:
        return None
    return d


def upgrade_data(t, trans_id, offset, data, now, etag=None):
    """Bytes [offset, offset + len(data)) of the file the board fetched."""
    d = _http(t, trans_id, now)
    if d is None:
        return
    if etag is not None:
        etag = bytes(etag) if not isinstance(etag, str) else etag.encode()
        if etag != d.etag:
            d.etag = etag
            t.params.set("dl_etag", etag)
            t.params.commit()
    if offset == 0 and d.written:
        # the server ignored Range (a 200): start again from 0
        t.event("upgrade_restart", d.tid, d.written)
        t.cfg.stager.abort()
        _begin(t, d)
    if offset < d.written:
        skip = d.written - offset
        if skip >= len(data):
            return
        data = memoryview(data)[skip:]
        offset = d.written
    if offset > d.written:
        t.event("dropped", "upgrade_data", offset, d.written)
        return
    n = d.size - d.written
    if len(data) > n:
        data = memoryview(data)[:n]      # past the size: the whole-file CRC decides
    if len(data):
        DL.write(t, d, data)
        if DL.refused(t):
            d.fetching = False
            fail(t, now, K.DL_FAIL_CRC, True)
            return
    if d.written >= d.size:
        d.fetching = False
        complete(t, now)


def upgrade_fetch_failed(t, trans_id, now):
    """The board's fetch ended before the end of the file."""
    d = _http(t, trans_id, now)
    if d is None:
        return
    d.fetching = False
    d.tries += 1
    if DL.limit(t, d.tries):
        fail(t, now, K.DL_FAIL_TIMEOUT, False)
        return
    t._timers["upgrade"] = now + t._timeout(P.BEARER_PACKET)


# == outcome =====================================================================
def complete(t, now):
    d = t._dl
    DL.cancel(t, d)
    st = t.cfg.stager
    if d.crc != d.want:
        t.event("upgrade_crc", d.tid, d.crc, d.want)
        fail(t, now, K.DL_FAIL_CRC, True)
        return
    ok, reason = st.finish()
    if not ok:
        fail(t, now, reason if reason is not None else K.DL_FAIL_UPGRADE, True)
        return
    d.done = True
    _forget(t)
    if d.scheme == _WMMP and t.state == S_ONLINE:
        m = codec.Message(C.FILE_REQ, {"trans_id": d.tid, "status": K.FILE_REQ_DONE,
                                       "read_point": DL.END, "block_size": 0})
        t.request(m, P.BEARER_PACKET, _ready_ack, _ready)
        return
    _ready(t, now)


def _ready_ack(t, ack, now):
    _ready(t, now)


def _ready(t, now):
    d = t._dl
    if d is None or not d.done:
        return
    t._dl = None
    t.event("upgrade_ready", d.tid, d.ver)


def fail(t, now, reason, drop):
    """0x3012 (and FILE_REQ STATUS 0x03 for WMMP); the staged bytes dropped
    when they cannot serve a resume."""
    d = t._dl
    DL.cancel(t, d)
    t._dl = None
    if d.scheme == _WMMP and t.state == S_ONLINE and not t.packet_down:
        m = codec.Message(C.FILE_REQ, {"trans_id": d.tid, "status": K.FILE_REQ_FAILED,
                                       "read_point": d.written, "block_size": 0})
        t.request(m, P.BEARER_PACKET, None, _quiet)
    if drop:
        t.cfg.stager.abort()
    _forget(t)
    t.upgrade_report(d.tid, reason, now)
    t.event("upgrade_failed", d.tid, reason)


def _quiet(t, now):
    pass


def upgrade_report(t, trans_id, reason, now):
    """A CONFIG_TRAP with 0x3012 (trans_id:u32, reason:u8), now or after login."""
    t.report([(0x3012, struct.pack(">IB", trans_id & 0xFFFFFFFF, reason))], now)


def upgrade_state(t):
    """Progress for consoles and tools; None without a download."""
    d = t._dl
    if d is None:
        return None
    return {"trans_id": d.tid, "size": d.size, "written": d.written,
            "scheme": "http" if d.scheme == _HTTP else "wmmp", "version": d.ver,
            "waiting": not d.go, "host": d.host, "port": d.port, "outstanding": len(d.out)}
