"""Software upgrade, the platform's side (4.3.8, appendix G k, l, appendix E c and e;
docs/PROTOCOL.md 9 and 12): published files, one transaction per push, the
DOWNLOAD_INFO URL, the FILE_REQ file server, and the outcome of each transaction.

    publish   a file and its version are stored with size, CRC16 (the profile's
              variant, PROTOCOL.md 7), CRC32 and SHA-256
    push      one new TRANS_ID (0x1009, u32) per DOWNLOAD_INFO; the URL (0x1001) is
              `[scheme]://host:port/upgrade/TTTTTTTT?TRANS_ID=TTTTTTTT&FILE_SIZE=n&CRC32=XXXXXXXX
              &VER_DSC=version` (CRC16=XXXX when asked): no scheme means FILE_REQ
              through this platform, `http` a GET with Range to the HTTP file server
              (httpfiles.py); 0x100B = 1 when forced.  An earlier transaction of the
              terminal still under way is superseded.
    FILE_REQ  each request is answered by its own seq (a terminal's window of several
              outstanding requests works): status 0x00 with the block at read_point of
              at most block_size bytes and its CRC16; 0x01 unknown TRANS_ID (or one of
              another terminal, or superseded); 0x02 read point beyond the file; 0x03
              block size 0 or more than the answer can carry on that bearer.  STATUS
              0x02 / 0x03 from the terminal are recorded as the outcome.
    outcome   DOWNLOAD_INFO_ACK result; FILE_REQ STATUS 0x02 (downloaded and checked)
              or 0x03; CONFIG_TRAP 0x3012 (trans_id, reason); the new version in the
              next LOGIN (or in 0x3004 / 0x100C) = applied; 0x3012 reason 0x05 after
              that = rolled back.

States: pushed (no answer yet), no-answer, up-to-date (ACK 0x00), downloading (0x01),
deferred (0x02), refused (0x03-0x05), downloaded, applied, failed, rolled-back,
superseded.

Switches for tests, kept in memory: corrupt the CRC16 of the block at a chosen read
point once (a block the terminal must ask for again), and a file window N (a peer
that answers only read points less than N blocks beyond the first byte it has not
yet served: after a lost request, those further ahead go unanswered until the gap
is filled).
"""

import hashlib
import logging
import re
import struct
import weakref

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import crc
from wmmp.wire import subpacket as S

from wmmp_tools.platform.model import PlatformError, serial_key

log = logging.getLogger("wmmp.platform")

VERSION_MAX = 8              # 0x100C / LOGIN software_version: 8 bytes
FILE_MAX = 16 << 20          # bytes of one published file
PROGRESS_WRITE_S = 1.0       # s between progress writes to the database
ACTIVE = ("pushed", "deferred", "downloading", "downloaded", "no-answer")
FINAL = ("up-to-date", "refused", "applied", "failed", "rolled-back", "superseded")
ACK_STATES = {0x00: "up-to-date", 0x01: "downloading", 0x02: "deferred",
              0x03: "refused", 0x04: "refused", 0x05: "refused"}
ACK_TEXT = {0x00: "already runs this version", 0x01: "download starts", 0x02: "busy: starts when idle",
            0x03: "download protocol not supported", 0x04: "URL refused (missing or malformed parameter)",
            0x05: "not enough room for the file"}
REASONS = {0x00: "cannot connect to the download address", 0x01: "not enough room to start",
           0x02: "out of memory during the download", 0x03: "connection timeout during the download",
           0x04: "the whole file failed its CRC", 0x05: "the upgrade itself failed (rollback)"}
_VERSION_RE = re.compile(r"[!-~]{1,8}")
_URL_UNSAFE = set("&=?#% ")


class _State:
    """In-memory upgrade state of one platform."""

    def __init__(self):
        self.cache = {}              # file_id -> bytes
        self.corrupt = {}            # trans_id -> set of read points (once each)
        self.window = {}             # trans_id -> N
        self.live = {}               # trans_id -> position, low, ahead, served, written (time)
        self.uploads = {}            # token -> bytearray (publish in parts)
        self.http = None             # httpfiles.HttpFiles, when serving


_STATES = weakref.WeakKeyDictionary()


def state(pf):
    st = _STATES.get(pf)
    if st is None:
        st = _STATES[pf] = _State()
    return st


def check_version(text):
    """A software version as it travels in VER_DSC, 0x100C and LOGIN: 1 to 8 visible
    ASCII characters, none of & = ? # % (they would break the URL)."""
    if not isinstance(text, str) or not _VERSION_RE.fullmatch(text) or set(text) & _URL_UNSAFE:
        raise ValueError("a version is 1 to %d visible ASCII characters without & = ? # %%, got %r"
                         % (VERSION_MAX, text if not isinstance(text, str) else text[:20]))
    return text


def file_checks(data, profile):
    """(crc16, crc32, sha256 hex) of a file: CRC16 in the profile's variant."""
    return crc.crc16(data, profile.crc16), crc.crc32(data), hashlib.sha256(data).hexdigest()


def make_url(scheme, host, port, trans_id, size, crc_kind, crc_value, version):
    """The DOWNLOAD_INFO URL of docs/PROTOCOL.md 9."""
    if ":" in host and not host.startswith("["):
        host = "[%s]" % host
    check = ("CRC16=%04X" % crc_value) if crc_kind == "crc16" else ("CRC32=%08X" % crc_value)
    return "%s://%s:%d/upgrade/%08X?TRANS_ID=%08X&FILE_SIZE=%d&%s&VER_DSC=%s" % (
        "http" if scheme == "http" else "", host, port, trans_id, trans_id, size, check, version)


def file_data(pf, file_id):
    st = state(pf)
    data = st.cache.get(file_id)
    if data is None:
        row = pf.db.upgrade_file(file_id, with_data=True)
        if row is None:
            return None
        data = st.cache[file_id] = bytes(row["data"])
    return data


# -- publish ---------------------------------------------------------------------------

def publish(pf, data, version, name=None):
    version = check_version(version)
    if not data:
        raise ValueError("the file is empty")
    if len(data) > FILE_MAX:
        raise ValueError("the file is %d bytes, at most %d" % (len(data), FILE_MAX))
    c16, c32, sha = file_checks(data, pf.profile)
    fid = pf.db.add_upgrade_file(version, name, data, c16, c32, sha)
    state(pf).cache[fid] = bytes(data)
    pf.note(None, None, "upgrade file %d published: version %s, %d bytes, CRC16 %04X, CRC32 %08X"
            % (fid, version, len(data), c16, c32))
    return pf.db.upgrade_file(fid)


# -- push ------------------------------------------------------------------------------

def new_trans_id(pf):
    while True:
        n = pf.db.next_counter("trans_id") & 0xFFFFFFFF
        if n and pf.db.upgrade(n) is None:
            return n


def url_address(pf, scheme, rt):
    """host, port the terminal is to fetch from: the HTTP file server, or this
    platform's address on the bearer the terminal uses (FILE_REQ)."""
    cfg = pf.config
    host = getattr(cfg, "url_host", None)
    if scheme == "http":
        http = state(pf).http
        if http is None:
            raise PlatformError("no HTTP file server is running (serve --http HOST:PORT)")
        return host or _reachable(http.host), http.port
    if rt is not None and rt.route is not None and rt.route.kind == "tcp" and pf.tcp_port:
        return host or _reachable(cfg.tcp_host or cfg.host), pf.tcp_port
    if pf.udp_port is None:
        raise PlatformError("the platform has no UDP port for FILE_REQ")
    return host or _reachable(cfg.host), pf.udp_port


def _reachable(host):
    return "127.0.0.1" if host in ("0.0.0.0", "", None) else ("::1" if host == "::" else host)


def begin(pf, serial, file_row, scheme, crc_kind, forced, corrupt_at=(), window=0):
    """A new transaction for `serial` (superseding one under way); returns its row
    and the DOWNLOAD_INFO to send."""
    rt = pf.runtimes.get(serial)
    host, port = url_address(pf, scheme, rt)
    tid = new_trans_id(pf)
    crc_value = file_row["crc16"] if crc_kind == "crc16" else file_row["crc32"]
    url = make_url(scheme, host, port, tid, file_row["size"], crc_kind, crc_value, file_row["version"])
    for old in pf.db.upgrades(serial):
        if old["state"] in ACTIVE:
            pf.db.update_upgrade(old["trans_id"], state="superseded",
                                 note="superseded by transaction %08X" % tid)
            _ended(pf, old, "superseded")
    pf.db.add_upgrade({"trans_id": tid, "terminal": serial, "file_id": file_row["id"],
                       "version": file_row["version"], "size": file_row["size"],
                       "scheme": "http" if scheme == "http" else "wmmp", "url": url,
                       "forced": 1 if forced else 0, "state": "pushed"})
    st = state(pf)
    if corrupt_at:
        st.corrupt[tid] = set(corrupt_at)
    if window:
        st.window[tid] = window
    tlvs = [(0x1001, url.encode("ascii"))]
    if forced:
        tlvs.append((0x100B, b"\x01"))
    return pf.db.upgrade(tid), codec.Message(C.DOWNLOAD_INFO, tlvs=tlvs)


def answered(pf, tid, result):
    """The DOWNLOAD_INFO_ACK result of transaction `tid`."""
    tr = pf.db.upgrade(tid)
    if tr is None:
        return None
    st = ACK_STATES.get(result, "refused")
    fields = {"ack": result, "note": "DOWNLOAD_INFO_ACK 0x%02X: %s" % (result, ACK_TEXT.get(result, "unknown"))}
    if tr["state"] in ("pushed", "no-answer", "deferred"):
        fields["state"] = st
    pf.db.update_upgrade(tid, **fields)
    return pf.db.upgrade(tid)


def no_answer(pf, tid, why):
    tr = pf.db.upgrade(tid)
    if tr is not None and tr["state"] == "pushed":
        pf.db.update_upgrade(tid, state="no-answer", note=why)


# -- FILE_REQ (appendix G l) ----------------------------------------------------------

def _max_fits(pf, ctx, block_size):
    """Can a FILE_REQ_ACK carry `block_size` bytes on this route, with the digest
    and encryption the answer will have?"""
    term, rt, route = ctx.term, ctx.rt, ctx.route
    cipher = None
    probe = codec.Message(C.FILE_REQ_ACK, {"trans_id": 0, "status": 0, "crc16": 0, "read_point": 0,
                                           "block_size": block_size, "block": bytes(block_size)})
    if ctx.msg.encryption == codec.ENC_FULL and rt is not None and rt.session is not None:
        cipher = rt.session.cipher()
        probe.encryption = codec.ENC_FULL
    sign = pf.sign_wanted(term, C.FILE_REQ_ACK, route) and pf.downlink_key(term, rt) is not None
    return S.fits(probe, pf.profile, route.bearer, digest=sign, cipher=cipher)


def on_file_req(ctx):
    pf, msg = ctx.pf, ctx.msg
    f = msg.fields
    serial = serial_key(msg.serial)
    tid, status, rp, bs = f["trans_id"], f["status"], f["read_point"], f["block_size"]

    def ack(result, block=b"", crc16=0, note=""):
        pf.respond(ctx, codec.Message(C.FILE_REQ_ACK, {
            "trans_id": tid, "status": result, "crc16": crc16, "read_point": rp,
            "block_size": len(block), "block": block}), note=note)

    tr = pf.db.upgrade(tid)
    if tr is None or tr["terminal"] != serial or tr["state"] == "superseded":
        why = "no upgrade transaction %08X" % tid if tr is None else (
            "transaction %08X is another terminal's" % tid if tr["terminal"] != serial
            else "transaction %08X was superseded" % tid)
        ack(0x01, note="status 0x01: " + why)
        return
    if status == 0x02:
        if tr["state"] not in FINAL:
            _live(pf, tr)["position"] = tr["size"]
            pf.db.update_upgrade(tid, state="downloaded", position=tr["size"],
                                 note="FILE_REQ STATUS 0x02: whole file received and checked")
        ack(0x00, note="STATUS 0x02: download of %08X complete" % tid)
        return
    if status == 0x03:
        if tr["state"] not in FINAL:
            pf.db.update_upgrade(tid, state="failed", note="FILE_REQ STATUS 0x03: the terminal gave up")
            _ended(pf, tr, "failed")
        ack(0x00, note="STATUS 0x03: download of %08X failed" % tid)
        return
    data = file_data(pf, tr["file_id"])
    if data is None:
        ack(0x01, note="status 0x01: the file of %08X is gone" % tid)
        return
    if rp >= len(data):
        ack(0x02, note="status 0x02: read point %d is beyond the file (%d bytes)" % (rp, len(data)))
        return
    if bs == 0 or not _max_fits(pf, ctx, bs):
        ack(0x03, note="status 0x03: block size %d %s" % (bs, "is 0" if bs == 0 else
                                                          "does not fit one answer on this bearer"))
        return
    st = state(pf)
    window = st.window.get(tid)
    live = _live(pf, tr)
    if window and rp >= live["low"] + window * bs:
        pf.note(serial, ctx.route, "FILE_REQ read point %d is more than %d block(s) beyond the first byte "
                "not yet served (%d): not answered (test switch)" % (rp, window, live["low"]))
        return
    block = data[rp:rp + bs]
    c16 = crc.crc16(block, pf.profile.crc16)
    note = "%d bytes at %d of %d" % (len(block), rp, len(data))
    bad = st.corrupt.get(tid)
    if bad and rp in bad:
        bad.discard(rp)
        c16 ^= 0xA5A5
        note += "; CRC16 corrupted on purpose (test switch)"
    ack(0x00, block, c16, note)
    progress(pf, tr, rp + len(block), len(block))


def progress(pf, tr, end, nbytes):
    """Bytes served for transaction `tr` (a FILE_REQ_ACK block or HTTP bytes): the
    position shown is the end of the latest; the database row is written when the
    state changes, at the end of the file, and otherwise at most every second."""
    tid = tr["trans_id"]
    live = _live(pf, tr)
    live["position"] = end
    start = end - nbytes
    if start > live["low"]:
        live["ahead"][start] = max(end, live["ahead"].get(start, 0))
    elif end > live["low"]:
        live["low"] = end
    while live["low"] in live["ahead"]:
        live["low"] = max(live["low"], live["ahead"].pop(live["low"]))
    live["served"] += nbytes
    fields = {}
    if tr["state"] in ("pushed", "deferred", "no-answer"):
        fields["state"] = "downloading"
    now = pf.clock()
    if fields or end >= (tr["size"] or 0) or now - live["written"] >= PROGRESS_WRITE_S:
        live["written"] = now
        pf.db.update_upgrade(tid, position=end, served=live["served"], **fields)


def _live(pf, tr):
    st = state(pf)
    live = st.live.get(tr["trans_id"])
    if live is None:
        live = st.live[tr["trans_id"]] = {"position": tr["position"], "low": 0, "ahead": {},
                                           "served": tr["served"], "written": 0.0}
    return live


def http_lookup(pf, path, query):
    """For httpfiles: (data, etag, served(start, end)) of the transaction a GET names
    (/upgrade/TTTTTTTT, or TRANS_ID= in the query), or None."""
    m = re.fullmatch(r"/upgrade/([0-9A-Fa-f]{8})(?:/.*)?", path)
    tid = int(m.group(1), 16) if m else None
    if tid is None:
        q = re.search(r"(?:^|&)(?:TRANS_ID|1009)=([0-9A-Fa-f]{8})(?:&|$)", query or "")
        tid = int(q.group(1), 16) if q else None
    tr = pf.db.upgrade(tid) if tid is not None else None
    if tr is None or tr["state"] == "superseded":
        return None
    data = file_data(pf, tr["file_id"])
    if data is None:
        return None
    sha = pf.db.upgrade_file(tr["file_id"])["sha256"]

    def served(start, end):
        row = pf.db.upgrade(tid)
        if row is not None and end > start:
            progress(pf, row, end, end - start)
    return data, '"%s"' % sha[:32], served


# -- outcome ---------------------------------------------------------------------------

def on_failure_trap(pf, serial, value):
    """CONFIG_TRAP 0x3012 = trans_id:u32, reason:u8: a note for the message log."""
    tid, reason = struct.unpack(">IB", bytes(value[:5]))
    tr = pf.db.upgrade(tid)
    text = REASONS.get(reason, "reason 0x%02X" % reason)
    if tr is None or tr["terminal"] != serial:
        return "0x3012: transaction %08X (not one of ours for this terminal) failed: %s" % (tid, text)
    new = "rolled-back" if reason == 0x05 and tr["state"] in ("applied", "downloaded") else "failed"
    pf.db.update_upgrade(tid, state=new, reason=reason, note="0x3012 reason 0x%02X: %s" % (reason, text))
    _ended(pf, tr, new, reason)
    return "upgrade %08X %s: 0x3012 reason 0x%02X (%s)" % (tid, new, reason, text)


def on_version(pf, serial, version, how):
    """The terminal reports the software it runs (LOGIN, 0x3004, 0x100C): a
    transaction under way for that version is applied.  A note, or None."""
    notes = []
    for tr in pf.db.upgrades(serial, 20):
        if tr["state"] in ACTIVE and tr["version"] == version:
            pf.db.update_upgrade(tr["trans_id"], state="applied", note="runs %s (%s)" % (version, how))
            _ended(pf, tr, "applied")
            notes.append("upgrade %08X applied: the terminal runs %s (%s)" % (tr["trans_id"], version, how))
    return "; ".join(notes) or None


def _ended(pf, tr, new, reason=None):
    """Transaction `tr` reached state `new`: told to the application interface
    (appif.py), which reports it to the application that asked for it."""
    pf.app_event("upgrade", tr["terminal"], trans_id=tr["trans_id"], state=new, reason=reason)


def summary(pf, tr):
    """A transaction as JSON for `upgrade status`."""
    out = dict(tr)
    live = state(pf).live.get(tr["trans_id"])
    if live is not None:
        out["position"], out["served"] = live["position"], live["served"]
    size = tr["size"] or 0
    out["percent"] = min(100.0, 100.0 * out["position"] / size) if size else 0.0
    out["trans_id_hex"] = "%08X" % tr["trans_id"]
    out["ack_text"] = ACK_TEXT.get(tr["ack"]) if tr["ack"] is not None else None
    out["reason_text"] = REASONS.get(tr["reason"]) if tr["reason"] is not None else None
    out["window"] = state(pf).window.get(tr["trans_id"])
    return out


# -- the HTTP file server ------------------------------------------------------------------

async def start_http(pf, host="127.0.0.1", port=0, ignore_range=False, sock=None):
    """Serve the files of the transactions over HTTP (httpfiles.py); `http` URLs of
    pushes name this server."""
    from wmmp_tools.platform.httpfiles import HttpFiles
    srv = HttpFiles(lambda path, query: http_lookup(pf, path, query), host, port, ignore_range)
    await srv.start(sock)
    state(pf).http = srv
    return srv


async def stop_http(pf):
    st = state(pf)
    if st.http is not None:
        await st.http.close()
        st.http = None
