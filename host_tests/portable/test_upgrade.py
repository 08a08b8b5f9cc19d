"""The software upgrade flow (4.3.8, appendix G k, l; PROTOCOL.md 12): the
DOWNLOAD_INFO decision, the WMMP download (window, block and whole-file checks,
retries, resume) and the HTTP one, against the scripted platform and an
in-RAM stager.  Portable."""
import struct

from wmmp.terminal import engine as E, filereq as DL
from wmmp.wire import commands as C, codes as K, crc
from wmmp.wire import profile as P
import fakeplatform as F

TID = 0x1AFBDC01
BLOCK = 300 - 28 - 13 - 20          # packet limit 300: header, FILE_REQ_ACK fixed part, digest


def image(n=1000, seed=7):
    return bytes((i * seed + 3) & 0xFF for i in range(n))


class Stager:
    """The board's stager, in RAM.  `durable` (when set) is how many bytes a
    power cut keeps: begin() after a 'reboot' reports no more than that."""

    def __init__(self, cap=1 << 20, result=(True, None)):
        self.cap = cap
        self.buf = bytearray()
        self.tid = None
        self.begun = []
        self.aborts = 0
        self.result = result
        self.finished = None
        self.busy = None

    def capacity(self):
        return self.cap

    def begin(self, tid, size, kind, value, version):
        if tid != self.tid:
            self.buf = bytearray()
            self.tid = tid
        self.begun.append((tid, size, kind, value, version, len(self.buf)))
        return len(self.buf)

    def write(self, offset, data):
        assert offset == len(self.buf), (offset, len(self.buf))
        self.buf += data

    def written(self):
        return len(self.buf)

    def read(self, offset, n):
        return bytes(self.buf[offset:offset + n])

    def finish(self):
        self.finished = bytes(self.buf)
        return self.result

    def abort(self):
        self.buf = bytearray()
        self.tid = None
        self.aborts += 1

    def busy_reason(self):
        return self.busy


class NoReadStager(Stager):
    read = None


class Rig:
    def __init__(self, stager=None, window=1, limit=300, params=None, login=True, version=b"V1", **kw):
        self.clk, self.pf = F.Clock(), F.Platform()
        self.p = params if params is not None else F.provisioned_params()
        self.stager = stager if stager is not None else Stager()
        cfg = E.Config(F.IMEI, F.IMSI, serial=b"M2MMAKER0000A1B2", software_version=version, **kw)
        if stager is not False:
            cfg.stager = self.stager            # a board with an updater sets the attribute
        self.cfg = cfg
        prof = P.Profile(packet_message_max=limit)
        if window != 1:
            prof.file_window = window           # profile file_window, an optional attribute
        self.t = E.Terminal(cfg, self.p, prof)
        self.pf.serial = b"M2MMAKER0000A1B2"
        self.held = []
        if login:
            self.login()

    def login(self):
        t, pf = self.t, self.pf
        if t.state == E.S_OFF:
            t.start(self.clk.t)
        lg = [m for m in self.held if m.command == C.LOGIN]
        self.held = [m for m in self.held if m.command != C.LOGIN]
        lg += [pf.read(r, ts=0) for _, r in t.outgoing() if F.command(r) == C.LOGIN]
        t.receive(pf.login_ack(lg[-1]), 2, self.clk.advance(1))
        for m in self.sent(C.CONFIG_TRAP):
            t.receive(pf.ack(m, {"result": 0}), 2, self.clk.t)
        assert t.state == E.S_ONLINE

    def due(self):
        """Tick what is due now, as the runner does (the rest of a window: one call
        sends at most two FILE_REQs)."""
        for _ in range(16):
            due = self.t.deadline()
            if due is None or due > self.clk.t:
                break
            self.t.tick(self.clk.t)

    def sent(self, cmd=C.FILE_REQ):
        got = [m for m in self.held if m.command == cmd]
        self.held = [m for m in self.held if m.command != cmd]
        for _, raw in self.t.outgoing():
            m = self.pf.read(raw, ts=0) if F.command(raw) == C.LOGIN else self.pf.read(raw)
            (got if m.command == cmd else self.held).append(m)
        return got

    def push(self, url, tlvs=()):
        """DOWNLOAD_INFO with `url`: the ACK's result."""
        raw = self.pf.make(C.DOWNLOAD_INFO, {}, [(0x1001, url)] + list(tlvs))
        self.t.receive(raw, 2, self.clk.t)
        self.due()
        ack = self.sent(C.DOWNLOAD_INFO_ACK)
        assert len(ack) == 1
        return ack[0].fields["result"]

    def answer(self, req, data, status=0, crc16=None, block=None):
        f = req.fields
        blk = data[f["read_point"]:f["read_point"] + f["block_size"]] if block is None else block
        fields = {"trans_id": f["trans_id"], "status": status, "read_point": f["read_point"],
                  "block_size": len(blk), "block": blk}
        if crc16 is not None:
            fields["crc16"] = crc16
        self.t.receive(self.pf.ack(req, fields), 2, self.clk.t)

    def serve(self, data, rounds=1000, order=None):
        """Answer every FILE_REQ (in `order`: None as sent, "reverse", "oldest": one
        at a time) until STATUS 0x02 or 0x03; the FILE_REQs seen."""
        seen = []
        pending = []
        for _ in range(rounds):
            pending += self.sent()
            if not pending:
                self.clk.advance(1)
                self.t.tick(self.clk.t)
                pending += self.sent()
                if not pending:
                    return seen
            if order == "reverse":
                pending.reverse()
            batch = pending[:1] if order == "oldest" else pending
            pending = pending[1:] if order == "oldest" else []
            for req in batch:
                seen.append(req)
                if req.fields["status"] >= K.FILE_REQ_DONE:
                    self.t.receive(self.pf.ack(req, {"trans_id": req.fields["trans_id"], "status": 0,
                                                     "read_point": req.fields["read_point"],
                                                     "block_size": 0, "block": b""}), 2, self.clk.t)
                    continue
                self.answer(req, data)
        return seen

    def traps(self):
        """0x3012 values of the CONFIG_TRAPs sent (a retransmission counted once)."""
        out, seqs = [], []
        for m in self.sent(C.CONFIG_TRAP):
            if m.tlv(0x3012) is not None and m.seq not in seqs:
                seqs.append(m.seq)
                out.append(m.tlv(0x3012))
        return out

    def events(self, name):
        return [e for e in self.t.events() if e[0] == name]


def url(data, tid=TID, ver="V2", crc_param=None, scheme=""):
    c = crc_param if crc_param is not None else "CRC16=%04X" % crc.crc16(data)
    return ("%s://127.0.0.1:9000/fw.bin?TRANS_ID=%08X&FILE_SIZE=%d&%s&VER_DSC=%s"
            % (scheme, tid, len(data), c, ver)).encode()


# == DOWNLOAD_INFO_ACK (G k, PROTOCOL.md 12) ======================================
def test_without_a_stager_every_download_info_is_0x03():
    # PROTOCOL.md 12 / Config.stager None: no updater, "protocol not supported".
    r = Rig(stager=False)
    assert r.push(url(image())) == K.DL_ACK_PROTOCOL_UNSUPPORTED
    assert r.sent() == []


def test_same_version_not_forced_is_up_to_date_0x00():
    # PROTOCOL.md 12: 0x00 when VER_DSC equals the running version and 0x100B is not set.
    r = Rig(version=b"V2")
    assert r.push(url(image(), ver="V2")) == K.DL_ACK_UP_TO_DATE
    assert r.sent() == [] and r.stager.begun == []
    assert r.push(url(image(), ver="V2"), [(0x100B, b"\x00")]) == K.DL_ACK_UP_TO_DATE


def test_same_version_forced_downloads_0x01():
    # PROTOCOL.md 12: 0x100B set -> the download starts even for the running version.
    r = Rig(version=b"V2")
    assert r.push(url(image(), ver="V2"), [(0x100B, b"\x01")]) == K.DL_ACK_UPDATING
    assert len(r.sent()) == 1


def test_unsupported_scheme_0x03():
    # PROTOCOL.md 12: 0x03 for an unsupported scheme (FTP), also for one not known.
    r = Rig()
    assert r.push(url(image(), scheme="ftp")) == K.DL_ACK_PROTOCOL_UNSUPPORTED
    assert r.push(url(image(), scheme="gopher")) == K.DL_ACK_PROTOCOL_UNSUPPORTED


def test_missing_or_malformed_parameters_0x04():
    # PROTOCOL.md 12: 0x04 when TRANS_ID, FILE_SIZE or the CRC is missing or malformed.
    r = Rig()
    for u in (b"://h:1/f?FILE_SIZE=10&CRC16=0001", b"://h:1/f?TRANS_ID=00000001&CRC16=0001",
              b"://h:1/f?TRANS_ID=00000001&FILE_SIZE=10", b"://h:1/f?TRANS_ID=1&FILE_SIZE=10&CRC16=0001",
              b"://h:1/f?TRANS_ID=00000001&FILE_SIZE=1x&CRC16=0001",
              b"://h:1/f?TRANS_ID=00000001&FILE_SIZE=10&CRC16=00001"):
        assert r.push(u) == K.DL_ACK_BAD_URL, u
    assert r.sent() == [] and r.stager.begun == []


def test_too_big_for_the_staging_space_0x05():
    # PROTOCOL.md 12: 0x05 when FILE_SIZE exceeds stager.capacity().
    r = Rig(stager=Stager(cap=999))
    assert r.push(url(image(1000))) == K.DL_ACK_NO_BUFFER
    assert r.push(url(image(999))) == K.DL_ACK_UPDATING


def test_busy_0x02_then_starts_when_idle():
    # PROTOCOL.md 12: busy (the application said so) -> 0x02; the download starts once idle.
    r = Rig()
    r.t.busy = True
    assert r.push(url(image())) == K.DL_ACK_DEFERRED
    assert r.sent() == []
    r.clk.advance(5)
    r.t.tick(r.clk.t)
    assert r.sent() == []
    r.t.busy = False
    r.clk.advance(5)
    r.t.tick(r.clk.t)
    reqs = r.sent()
    assert len(reqs) == 1 and reqs[0].fields["status"] == K.FILE_REQ_START


def test_stager_busy_0x02_and_forced_while_busy_0x01():
    # PROTOCOL.md 12: busy unless forced; the stager's busy_reason() counts as busy.
    r = Rig()
    r.stager.busy = "applying"
    assert r.push(url(image())) == K.DL_ACK_DEFERRED
    assert r.push(url(image()), [(0x100B, b"\x01")]) == K.DL_ACK_UPDATING
    assert len(r.sent()) == 1


def test_bridge_frames_in_flight_make_it_busy():
    # PROTOCOL.md 12: the data bridge has frames in flight -> 0x02; the bridge keeps running.
    caps = {"bauds": (9600, 115200), "bits": (8,), "parity": ("N",), "stop": (1,)}
    p = F.provisioned_params()
    p.set(0x0028, b"\x00\x00\x30\x39")
    r = Rig(params=p, data_port=caps)
    r.t.bridge_feed(b"meter reading", r.clk.t)
    r.t.bridge_flush(r.clk.t)
    td = r.sent(C.TRANSPARENT_DATA)
    assert len(td) == 1 and r.t.bridge_busy()
    assert r.push(url(image())) == K.DL_ACK_DEFERRED
    r.t.receive(r.pf.ack(td[0], {"result": K.TD_ACK_FORWARDED}), 2, r.clk.t)
    assert not r.t.bridge_busy()
    r.clk.advance(5)
    r.t.tick(r.clk.t)
    assert len(r.sent()) == 1


def test_url_values_are_stored_and_0x100C_stays_the_running_version():
    # PROTOCOL.md 12: 0x1000-0x100C stored; 0x100C answers the running version (PROTOCOL.md 10).
    r = Rig()
    assert r.push(url(image())) == K.DL_ACK_UPDATING
    assert r.p.get(0x1009) == struct.pack(">I", TID) and r.p.get(0x1006) == struct.pack(">I", 1000)
    assert r.p.get(0x1005) == b"V2" and r.p.get(0x1003) == b"\x23\x28" and r.p.get(0x1000) == b"\x00"
    r.t.receive(r.pf.make(C.CONFIG_GET, {}, [(0x100C, b"")]), 2, r.clk.t)
    assert r.sent(C.CONFIG_GET_ACK)[0].tlv(0x100C) == b"V1"


# == the WMMP download (G l, PROTOCOL.md 12) ======================================
def test_wmmp_download_window_1_status_and_completion():
    # PROTOCOL.md 12: STATUS 0x00 first, 0x01 after, 0x02 (read point 0xFFFFFFFF, size 0) at
    # the end; block_size the largest that fits; ready after STATUS 0x02 is answered.
    data = image(1000)
    r = Rig()
    assert r.push(url(data)) == K.DL_ACK_UPDATING
    seen = r.serve(data)
    assert [q.fields["status"] for q in seen] == [0, 1, 1, 1, 1, 2]
    assert [q.fields["read_point"] for q in seen] == [0, BLOCK, 2 * BLOCK, 3 * BLOCK, 4 * BLOCK, 0xFFFFFFFF]
    assert [q.fields["block_size"] for q in seen] == [BLOCK] * 4 + [1000 - 4 * BLOCK, 0]
    assert all(q.digest_ok for q in seen)
    assert bytes(r.stager.buf) == data and r.stager.finished == data
    assert r.stager.begun[0][:5] == (TID, 1000, DL.CRC16, crc.crc16(data), b"V2")
    assert ("upgrade_ready", TID, b"V2") in r.t.events()
    assert r.p.get("dl_id") is None and r.t.upgrade_state() is None and r.traps() == []


def test_block_size_fits_the_bearer_limit():
    # PROTOCOL.md 12: header 28 + fixed part 13 + digest 20; SIM7600 UDP 1500 -> 1439.
    r = Rig(limit=1500)
    assert DL.block_size(r.t) == 1439
    assert DL.block_size(Rig(limit=65535).t) == 2048     # RAM cap


def test_window_keeps_consecutive_read_points_outstanding_each_its_own_seq():
    # PROTOCOL.md 12: up to file_window FILE_REQs, consecutive read points, own seqs.
    data = image(3000)
    r = Rig(window=4)
    r.push(url(data))
    reqs = r.sent()
    assert [q.fields["read_point"] for q in reqs] == [0, BLOCK, 2 * BLOCK, 3 * BLOCK]
    assert len(set(q.seq for q in reqs)) == 4
    r.held += reqs
    r.serve(data)
    assert bytes(r.stager.buf) == data and ("upgrade_ready", TID, b"V2") in r.t.events()


def test_window_answers_out_of_order_are_matched_by_seq_and_read_point():
    # PROTOCOL.md 12: each FILE_REQ_ACK matched by seq and read point; blocks written in order.
    data = image(3000)
    r = Rig(window=4)
    r.push(url(data))
    r.serve(data, order="reverse")
    assert bytes(r.stager.buf) == data and r.stager.finished == data


def test_a_peer_answering_one_at_a_time_still_works():
    # PROTOCOL.md 12: a peer that answers only one at a time: the window stays 1 deep.
    data = image(3000)
    r = Rig(window=8)
    r.push(url(data))
    r.serve(data, order="oldest")
    assert r.stager.finished == data


def test_bad_block_crc_is_asked_again_with_a_new_seq():
    # PROTOCOL.md 12: a block whose CRC16 fails is requested again.
    data = image(1000)
    r = Rig()
    r.push(url(data))
    q = r.sent()[0]
    r.answer(q, data, crc16=0x1234)
    q2 = r.sent()[0]
    assert q2.fields["read_point"] == 0 and q2.seq != q.seq and q2.fields["status"] == K.FILE_REQ_DOWNLOADING
    r.held.append(q2)
    r.serve(data)
    assert r.stager.finished == data


def test_bad_block_after_0x0108_retries_fails_0x3012_reason_0x03():
    # PROTOCOL.md 12: up to 0x0108 (default 3) requests again, then 0x3012 reason 0x03 and STATUS 0x03.
    data = image(1000)
    r = Rig()
    r.push(url(data))
    for _ in range(4):
        r.answer(r.sent()[0], data, crc16=0x1234)
    reqs = r.sent()
    assert [q.fields["status"] for q in reqs] == [K.FILE_REQ_FAILED]
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_TIMEOUT)]
    assert ("upgrade_failed", TID, K.DL_FAIL_TIMEOUT) in r.t.events()
    assert r.stager.aborts == 0 and r.p.get("dl_id") is None


def test_file_req_ack_status_refusals_fail():
    # G l / PROTOCOL.md 12: FILE_REQ_ACK STATUS 0x01 (bad TRANS_ID) -> reason 0x00, 0x02 -> 0x03.
    data = image(1000)
    for status, reason in ((K.FILE_ACK_BAD_TRANS_ID, K.DL_FAIL_CONNECT), (K.FILE_ACK_BAD_READ_POINT,
                                                                          K.DL_FAIL_TIMEOUT)):
        r = Rig()
        r.push(url(data))
        r.answer(r.sent()[0], data, status=status, block=b"")
        assert [q.fields["status"] for q in r.sent()] == [K.FILE_REQ_FAILED]
        assert r.traps() == [struct.pack(">IB", TID, reason)]


def test_whole_file_crc16_mismatch_fails_0x04_and_drops_the_file():
    # PROTOCOL.md 12: a whole-file CRC mismatch -> 0x3012 reason 0x04, STATUS 0x03.
    data = image(1000)
    r = Rig()
    r.push(url(data, crc_param="CRC16=%04X" % (crc.crc16(data) ^ 1)))
    seen = r.serve(data)
    assert seen[-1].fields["status"] == K.FILE_REQ_FAILED
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_CRC)]
    assert r.stager.aborts == 1 and r.stager.finished is None


def test_whole_file_crc32_and_crc_with_8_digits():
    # PROTOCOL.md 12: CRC32= (8 hex, IEEE) and CRC= with 8 digits mean the same.
    data = image(1000)
    for p in ("CRC32=%08X" % crc.crc32(data), "CRC=%08x" % crc.crc32(data)):
        r = Rig()
        r.push(url(data, crc_param=p))
        r.serve(data)
        assert r.stager.finished == data and r.stager.begun[0][2] == DL.CRC32
        assert ("upgrade_ready", TID, b"V2") in r.t.events()


def test_image_refused_by_the_stager_reports_its_reason():
    # PROTOCOL.md 12: stager.finish() not ok -> 0x3012 with its reason, STATUS 0x03, no ready.
    data = image(1000)
    r = Rig(stager=Stager(result=(False, K.DL_FAIL_CRC)))
    r.push(url(data))
    seen = r.serve(data)
    assert seen[-1].fields["status"] == K.FILE_REQ_FAILED
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_CRC)]
    assert not [e for e in r.t.events() if e[0] == "upgrade_ready"]


def test_resume_after_a_reboot_from_the_stagers_point():
    # PROTOCOL.md 12: TRANS_ID, URL, size, CRC persisted (dl_*); after a reboot the
    # download goes on from the first byte not verified (stager.begin), STATUS 0x01.
    data = image(2000)
    r = Rig()
    r.push(url(data))
    for _ in range(3):
        r.answer(r.sent()[0], data)
    assert len(r.stager.buf) == 3 * BLOCK
    assert r.p.get("dl_id") == struct.pack(">I", TID)
    # reboot: the same parameters (storage) and staged bytes, a new terminal
    r2 = Rig(stager=r.stager, params=r.p, login=False)
    r2.clk.t = r.clk.t
    r2.t.start(r2.clk.t)
    assert ("upgrade_resume", TID, 3 * BLOCK, 2000) in r2.t.events()
    r2.login()
    r2.clk.advance(1)
    r2.t.tick(r2.clk.t)
    q = r2.sent()
    assert [(x.fields["read_point"], x.fields["status"]) for x in q] == [(3 * BLOCK, K.FILE_REQ_DOWNLOADING)]
    r2.held += q
    r2.serve(data)
    assert r2.stager.finished == data and ("upgrade_ready", TID, b"V2") in r2.t.events()


def test_resume_with_a_stager_that_cannot_read_back_starts_from_0():
    # PROTOCOL.md 12: the whole-file CRC must cover every byte: without read() the
    # kept bytes cannot be checked, so the download starts again.
    data = image(1000)
    st = NoReadStager()
    r = Rig(stager=st)
    r.push(url(data))
    r.answer(r.sent()[0], data)
    r2 = Rig(stager=st, params=r.p)
    r2.clk.advance(1)
    r2.t.tick(r2.clk.t)
    q = r2.sent()
    assert q[0].fields["read_point"] == 0 and st.aborts == 1
    r2.held += q
    r2.serve(data)
    assert st.finished == data


def test_resume_after_link_loss_in_the_next_session():
    # PROTOCOL.md 12: after a link loss the download goes on from the bytes written;
    # FILE_REQs of the old session are not sent again.
    data = image(3000)
    r = Rig(window=2)
    r.push(url(data))
    reqs = r.sent()
    r.answer(reqs[0], data)
    r.sent()
    # the platform ends the session (communication failure): LOGOUT, then LOGIN again
    r.t.receive(r.pf.make(C.LOGOUT, {"reason": K.LOGOUT_COMM_FAILURE}), 2, r.clk.t)
    r.sent(C.LOGOUT_ACK)
    r.login()
    assert r.sent() == []                          # not before the login's CONFIG_TRAP
    r.clk.advance(1)
    r.t.tick(r.clk.t)
    q = r.sent()
    assert [x.fields["read_point"] for x in q] == [BLOCK, 2 * BLOCK]
    r.held += q
    r.serve(data)
    assert r.stager.finished == data


def test_timeouts_without_progress_fail_0x03_and_keep_the_staged_bytes():
    # PROTOCOL.md 12 / 0x0107, 0x0108: FILE_REQs unanswered -> stalls; past 0x0108
    # the download fails with reason 0x03; the same TRANS_ID pushed again resumes.
    data = image(1000)
    r = Rig()
    r.push(url(data))
    r.answer(r.sent()[0], data)
    r.sent()
    stalls = []
    for _ in range(60):
        r.clk.advance(10)
        r.t.tick(r.clk.t)
        r.sent()
        ev = r.t.events()
        stalls += [e for e in ev if e[0] == "upgrade_stall"]
        if ("upgrade_failed", TID, K.DL_FAIL_TIMEOUT) in ev:
            break
    assert len(stalls) == 4                              # 0x0108 = 3: the fourth fails
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_TIMEOUT)]
    assert len(r.stager.buf) == BLOCK and r.stager.aborts == 0
    assert r.t.state == E.S_ONLINE
    assert r.push(url(data)) == K.DL_ACK_UPDATING
    q = r.sent()
    assert q[0].fields["read_point"] == BLOCK
    r.held += q
    r.serve(data)
    assert r.stager.finished == data


def test_overtaken_block_is_asked_again_before_its_timeout():
    # PROTOCOL.md 12 window: two later blocks arriving before a missing one make it be
    # requested again at once (own seq); the later ones are held, not fetched again.
    data = image(3000)
    r = Rig(window=4)
    r.push(url(data))
    reqs = r.sent()
    for q in reqs[1:3]:
        r.answer(q, data)
    again = [x for x in r.sent() if x.fields["read_point"] == 0]
    assert len(again) == 1 and again[0].seq not in [q.seq for q in reqs]
    r.answer(again[0], data)
    assert len(r.stager.buf) == 3 * BLOCK
    r.answer(reqs[3], data)
    seen = r.serve(data)
    assert all(q.fields["read_point"] >= 4 * BLOCK for q in seen)
    assert r.stager.finished == data


def test_held_blocks_stay_within_the_bound():
    # PROTOCOL.md 12 / issue 14 RAM: blocks ahead of a missing one are held only up to
    # upgrade_hold bytes; the rest is dropped and asked for again later.
    data = image(3000)
    r = Rig(window=6)
    r.cfg.upgrade_hold = BLOCK
    r.push(url(data))
    reqs = r.sent()
    for q in reqs[1:]:
        r.answer(q, data)
    assert r.t._dl.held <= BLOCK
    r.serve(data)
    assert r.stager.finished == data


def test_a_new_trans_id_replaces_the_download():
    # PROTOCOL.md 12: a DOWNLOAD_INFO of another TRANS_ID starts over with it.
    data, other = image(1000), image(800, 11)
    r = Rig()
    r.push(url(data))
    r.answer(r.sent()[0], data)
    assert r.push(url(other, tid=0x22)) == K.DL_ACK_UPDATING
    seen = r.serve(other)
    assert seen[0].fields["trans_id"] == TID             # the old one's last request: answer dropped
    assert [q.fields["trans_id"] for q in seen[1:]] == [0x22] * (len(seen) - 1)
    assert r.stager.finished == other and r.stager.aborts == 0


def test_other_flows_go_on_during_a_download():
    # PROTOCOL.md 12: the updater does not disturb other flows: a report is sent and
    # answered while FILE_REQs are outstanding.
    data = image(3000)
    r = Rig(window=2)
    r.push(url(data))
    reqs = r.sent()
    r.t.report([(0x3007, b"\x40")], r.clk.t)
    tr = r.sent(C.CONFIG_TRAP)
    assert len(tr) == 1
    r.t.receive(r.pf.ack(tr[0], {"result": 0}), 2, r.clk.t)
    r.held += reqs
    r.serve(data)
    assert r.stager.finished == data and r.t.state == E.S_ONLINE


def test_upgrade_report_and_state():
    # PROTOCOL.md 12: a rollback reported by the board: 0x3012 reason 0x05; progress for tools.
    data = image(1000)
    r = Rig()
    r.t.upgrade_report(TID, K.DL_FAIL_UPGRADE, r.clk.t)
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_UPGRADE)]
    r.push(url(data))
    r.answer(r.sent()[0], data)
    s = r.t.upgrade_state()
    assert s["trans_id"] == TID and s["size"] == 1000 and s["written"] == BLOCK and s["scheme"] == "wmmp"


# == HTTP (PROTOCOL.md 12) =========================================================
def _fetch(r):
    ev = r.events("upgrade_fetch")
    assert len(ev) == 1, ev
    return ev[0]


def test_http_download_through_the_boards_fetch():
    # PROTOCOL.md 12: http -> the board fetches [offset, size) and hands the bytes over.
    data = image(5000)
    r = Rig()
    u = url(data, scheme="http")
    assert r.push(u) == K.DL_ACK_UPDATING
    ev = _fetch(r)
    assert ev == ("upgrade_fetch", TID, u.decode(), 0, 5000, None)
    for i in range(0, 5000, 700):
        r.t.upgrade_data(TID, i, data[i:i + 700], r.clk.t, etag='"e1"')
    assert r.stager.finished == data and ("upgrade_ready", TID, b"V2") in r.t.events()
    assert r.sent() == []                               # no FILE_REQ for HTTP


def test_http_server_ignoring_range_restarts_from_0():
    # PROTOCOL.md 12: a 200 (data from offset 0 again) -> the download restarts from 0;
    # data past the size is not written.
    data = image(3000)
    r = Rig()
    r.push(url(data, scheme="http"))
    _fetch(r)
    r.t.upgrade_data(TID, 0, data[:1000], r.clk.t)
    r.t.upgrade_fetch_failed(TID, r.clk.t)
    r.clk.advance(10)
    r.t.tick(r.clk.t)
    assert _fetch(r)[3] == 1000
    r.t.upgrade_data(TID, 0, data[:1500], r.clk.t)          # the server sent it all again
    assert r.stager.aborts == 1 and len(r.stager.buf) == 1500
    r.t.upgrade_data(TID, 1500, data[1500:] + b"extra", r.clk.t)
    assert r.stager.finished == data


def test_http_fetch_failures_retry_from_the_point_with_the_etag_then_fail():
    # PROTOCOL.md 12: a failed fetch is retried from the bytes written (If-Range etag)
    # up to 0x0108 times without progress, then 0x3012 reason 0x03.
    data = image(3000)
    r = Rig()
    r.push(url(data, scheme="http"))
    _fetch(r)
    r.t.upgrade_data(TID, 0, data[:1200], r.clk.t, etag='"v7"')
    for i in range(4):
        r.t.upgrade_fetch_failed(TID, r.clk.t)
        if i < 3:
            r.clk.advance(10)
            r.t.tick(r.clk.t)
            assert _fetch(r)[3:] == (1200, 3000, '"v7"')
    assert r.traps() == [struct.pack(">IB", TID, K.DL_FAIL_TIMEOUT)]
    assert r.sent() == [] and r.stager.aborts == 0


def test_http_resume_after_a_reboot_with_the_etag():
    # PROTOCOL.md 12: resume over HTTP from the stager's point, If-Range etag kept.
    data = image(3000)
    r = Rig()
    u = url(data, scheme="http")
    r.push(u)
    _fetch(r)
    r.t.upgrade_data(TID, 0, data[:1800], r.clk.t, etag=b'"v7"')
    r2 = Rig(stager=r.stager, params=r.p, login=False)
    r2.t.start(r2.clk.t)
    r2.t.tick(r2.clk.t)
    assert _fetch(r2) == ("upgrade_fetch", TID, u.decode(), 1800, 3000, '"v7"')
    r2.t.upgrade_data(TID, 1800, data[1800:], r2.clk.t)
    assert r2.stager.finished == data


def test_no_hold_at_all_still_completes_without_a_request_storm():
    # PROTOCOL.md 12: with upgrade_hold 0 a block ahead of a missing one is dropped; no
    # more is asked for until the missing one is in.
    data = image(3000)
    r = Rig(window=4)
    r.cfg.upgrade_hold = 0
    r.push(url(data))
    reqs = r.sent()
    for q in reqs[1:]:
        r.answer(q, data)
    again = r.sent()
    assert [x.fields["read_point"] for x in again] == [0]          # only the missing one
    r.held += again
    r.serve(data)
    assert r.stager.finished == data


def test_encryption_leaves_room_for_the_e042_tlv_and_padding():
    # PROTOCOL.md 12 block_size: with E032 on, also the E042 header (4) and padding (16),
    # and E042 within the packet TLV limit (1024): fixed part 13 and padding inside it.
    for limit, want in ((300, BLOCK - 20), (1500, 1024 - 13 - 16)):
        p = F.provisioned_params()
        p.set(0xE032, b"\x01")
        assert DL.block_size(Rig(params=p, limit=limit).t) == want


def test_download_waits_on_the_sms_fallback_and_goes_on_when_packet_is_back():
    # PROTOCOL.md 12: FILE_REQ only on the packet bearer; on the SMS fallback the download
    # waits (no stall counted) and goes on when the packet bearer works again.
    data = image(1000)
    r = Rig()
    r.push(url(data))
    r.answer(r.sent()[0], data)
    for _ in range(3):
        r.t.bearer_failed(P.BEARER_PACKET, r.clk.t)
    assert r.t.packet_down
    for _ in range(8):
        r.clk.advance(10)
        r.t.tick(r.clk.t)
    assert [e for e in r.t.events() if e[0] in ("upgrade_stall", "upgrade_failed")] == []
    r.sent()
    r.t.bearer_restored(P.BEARER_PACKET, r.clk.t)
    r.clk.advance(5)
    r.t.tick(r.clk.t)
    q = r.sent()
    assert [x.fields["read_point"] for x in q] == [BLOCK]
    r.held += q
    r.serve(data)
    assert r.stager.finished == data


def test_a_deferred_download_survives_a_reboot():
    # PROTOCOL.md 12: 0x02 (busy) downloads are persisted too and start once idle after a reboot.
    data = image(1000)
    r = Rig()
    r.t.busy = True
    assert r.push(url(data)) == K.DL_ACK_DEFERRED
    r2 = Rig(stager=r.stager, params=r.p)
    r2.clk.advance(1)
    r2.t.tick(r2.clk.t)
    q = r2.sent()
    assert [(x.fields["read_point"], x.fields["trans_id"], x.fields["status"]) for x in q] == [
        (0, TID, K.FILE_REQ_START)]
    r2.held += q
    r2.serve(data)
    assert r2.stager.finished == data


def test_unanswered_block_is_asked_again_after_about_two_answer_times():
    # PROTOCOL.md 12 window: once answer times are known, a FILE_REQ unanswered for
    # 2 x the smoothed answer time + 0.25 s (at least 0.5 s) is asked again with a new
    # seq, long before the 0x0107 retransmission timeout (10 s); its old transaction
    # is dropped, so the answer is not asked for twice.
    data = image(3000)
    r = Rig(window=2)
    r.push(url(data))
    reqs = r.sent()
    r.clk.advance(0.2)
    r.answer(reqs[0], data)                 # answer time 0.2 s: srtt 0.2, re-ask after 0.65 s
    nxt = [q for q in r.sent() if q.fields["read_point"] == 2 * BLOCK]
    assert len(nxt) == 1
    r.clk.advance(0.7)                      # reqs[1] (read point BLOCK) is 0.9 s old now
    r.t.tick(r.clk.t)
    again = [q for q in r.sent() if q.fields["read_point"] == BLOCK]
    assert len(again) == 1 and again[0].seq != reqs[1].seq
    assert ("upgrade_reask", BLOCK) in r.t.events()
    assert reqs[1].seq not in r.t._txns     # the old one is no longer retransmitted
    r.answer(again[0], data)
    r.answer(nxt[0], data)
    r.serve(data)
    assert r.stager.finished == data


RAM_HOLD = 4096         # filereq _HOLD: the RAM hold's least bound (a const, not an attribute on MicroPython)
SPILL_WINDOWS = 3       # filereq _SPILL_WINDOWS


class SpillStager(Stager):
    """A stager that keeps blocks ahead of a missing one in a scratch area (the
    board stagers' spill/unspill/spill_reset over flash); `fail` makes spill raise
    OSError (flash full), `short` makes unspill lose its bytes."""

    def __init__(self, fail=False, short=False):
        Stager.__init__(self)
        self.scratch = bytearray()
        self.fail = fail
        self.short = short
        self.resets = 0
        self.most = 0

    def spill(self, data):
        if self.fail:
            raise OSError(28)
        pos = len(self.scratch)
        self.scratch += data
        self.most = max(self.most, len(self.scratch))
        return pos

    def unspill(self, pos, n):
        if self.short:
            return b""
        return bytes(self.scratch[pos:pos + n])

    def spill_reset(self):
        self.scratch = bytearray()
        self.resets += 1


def _lose_first(r, data):
    """The first FILE_REQ of a window is lost: every later block answered."""
    reqs = r.sent()
    for q in reqs[1:]:
        r.answer(q, data)
    return reqs


def test_blocks_ahead_go_to_the_stager_s_scratch_not_to_ram():
    # PROTOCOL.md 12: with a stager that spills, blocks that came ahead of a missing one
    # are kept in its scratch file (the hold holds only their places), beyond the RAM
    # bound, and join the download in order once the missing block is in.
    data = image(9000)
    st = SpillStager()
    r = Rig(stager=st, window=8)
    r.push(url(data))
    first = _lose_first(r, data)[0]
    while True:                                  # the window goes on past the gap
        more = [q for q in r.sent() if q.fields["read_point"] != 0]
        if not more:
            break
        for q in more:
            r.answer(q, data)
    d = r.t._dl
    assert d.hold and all(type(h[2]) is int for h in d.hold)
    assert RAM_HOLD < d.held <= SPILL_WINDOWS * 8 * BLOCK    # past the RAM hold, bounded
    assert bytes(st.scratch[:BLOCK]) == data[BLOCK:2 * BLOCK]
    r.answer(first, data)
    r.serve(data)
    assert st.finished == data and st.resets >= 1 and not st.scratch


def test_a_failing_spill_falls_back_to_ram():
    # PROTOCOL.md 12: the scratch file failing (flash full) is logged; blocks are held
    # in RAM within its bound from then on, and the download completes.
    data = image(6000)
    st = SpillStager(fail=True)
    r = Rig(stager=st, window=8)
    r.push(url(data))
    _lose_first(r, data)
    d = r.t._dl
    assert not d.spill and all(type(h[2]) is not int for h in d.hold)
    assert d.held <= RAM_HOLD
    assert any(e[0] == "upgrade_spill_failed" for e in r.t.events())
    r.serve(data)
    assert st.finished == data


def test_a_spilled_block_that_comes_back_wrong_is_fetched_again():
    # PROTOCOL.md 12: a held block the scratch file cannot give back whole is dropped and
    # asked for again; nothing unverified reaches the stager.
    data = image(4000)
    st = SpillStager(short=True)
    r = Rig(stager=st, window=4)
    r.push(url(data))
    _lose_first(r, data)
    again = [q for q in r.sent() if q.fields["read_point"] == 0]     # asked again early
    r.answer(again[-1], data)
    assert len(st.buf) == BLOCK                  # the missing block only: the rest was lost
    seen = r.serve(data)
    assert any(q.fields["read_point"] == BLOCK for q in seen)
    assert st.finished == data


def test_one_call_sends_at_most_two_file_reqs_and_the_window_fills_at_the_next_ticks():
    # PROTOCOL.md 12 (RAM): the DOWNLOAD_INFO call encodes at most two FILE_REQs; the
    # rest of the window goes at the next tick, which is due at once.
    data = image(6000)
    r = Rig(window=8)
    raw = r.pf.make(C.DOWNLOAD_INFO, {}, [(0x1001, url(data))])
    r.t.receive(raw, 2, r.clk.t)
    assert len(r.sent()) == 2 and r.t.deadline() <= r.clk.t
    r.t.tick(r.clk.t)
    assert len(r.sent()) == 2
    r.due()
    assert len(r.t._dl.out) == 8
    r.held = []
    r.serve(data)
    assert r.stager.finished == data


def test_a_block_held_in_ram_is_a_copy_not_a_view_of_the_received_buffer():
    # PROTOCOL.md 12: the engine reads a block straight from the received message (no
    # copy); one held ahead of a missing one in RAM is copied, so a receive buffer the
    # board reuses cannot change it.
    data = image(3000)
    r = Rig(window=4)
    r.cfg.upgrade_hold = 4 * BLOCK
    r.push(url(data))
    reqs = r.sent()
    f = reqs[1].fields
    blk = data[f["read_point"]:f["read_point"] + f["block_size"]]
    buf = bytearray(r.pf.ack(reqs[1], {"trans_id": f["trans_id"], "status": 0, "read_point": f["read_point"],
                                       "block_size": len(blk), "block": blk}))
    r.t.receive(buf, 2, r.clk.t)
    for i in range(len(buf)):
        buf[i] = 0                                      # the board's buffer, reused
    held = r.t._dl.hold
    assert len(held) == 1 and bytes(held[0][2]) == blk
    r.held += reqs[2:]
    r.answer(reqs[0], data)
    r.serve(data)
    assert r.stager.finished == data
