"""The Wireshark dissector (tools/wireshark/wmmp.lua) under tshark.

Pcaps are written from real runs of the `make demo` scenario (every packet-bearer
message the terminal sent and received, as its runner saw them): over UDP, and over
TCP with the stream cut into segments that split messages and join several in one.
Built messages add what the demo does not send (sub-packets in clear and
encrypted, full and partial encryption, FILE_REQ_ACK, a header echo, maker and
platform tags) and malformed ones.  For every message the dissector's header,
security bits, command, fixed fields and TLVs (tag, length, value) are compared
with `wmmp decode --json`; the E021 digest is checked with the credentials of the
run given as preferences (and found wrong with wrong ones); malformed messages get
expert info and never a Lua error.

tshark is Debian's package (`make setup` installs it); without it, and when it cannot
be installed here, the tests are skipped with the reason.
"""
import asyncio
import contextlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = os.path.join(ROOT, "tools", "wireshark", "wmmp.lua")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tools", "wireshark"))
import demo  # noqa: E402
import gen_tables  # noqa: E402

from wmmp.crypto import cipher as CI  # noqa: E402
from wmmp.errors import WmmpError  # noqa: E402
from wmmp.wire import codec  # noqa: E402
from wmmp.wire import commands as C  # noqa: E402
from wmmp.wire import digest as D  # noqa: E402
from wmmp.wire import header as H  # noqa: E402
from wmmp.wire import profile as P  # noqa: E402
from wmmp.wire import subpacket as S  # noqa: E402
from wmmp_tools import cli  # noqa: E402
from wmmp_tools import term as TERM  # noqa: E402

UDP_PORT = 7301            # the dissector's default UDP port (the platform simulator's)
TCP_PORT = 9302            # not a default: the TCP run sets the preference
BUILT_PORT = 17301         # the built and malformed messages: set by preference too
TERM_PORT = 40000
TERM_IP, PLATFORM_IP = bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1])
SEVERITY_ERROR = 0x00800000      # expert severities as PDML shows them
SEVERITY_WARN = 0x00600000
BUILT_SERIAL = b"BUILT00000000001"


# -- tshark ---------------------------------------------------------------------------

def _find_tshark():
    path = shutil.which("tshark")
    if path:
        return path, None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, ("tshark is not installed and cannot be installed here (not root or no "
                      "apt-get): run `apt-get install tshark` as root, or `make setup`")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "install", "-y", "-q", "tshark"], ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "tshark"]):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if cmd[1] == "install" and p.returncode == 0:
            break
    path = shutil.which("tshark")
    if path:
        return path, None
    return None, "tshark is not installed and `apt-get install tshark` failed: %s" % (
        (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"])[0]


@pytest.fixture(scope="module")
def tshark():
    path, why = _find_tshark()
    if path is None:
        pytest.skip(why)
    return path


def run_tshark(tshark, pcap, prefs=()):
    """[(frame number, <proto name="wmmp"> element)] of a capture, in order, and stderr."""
    with tempfile.TemporaryDirectory() as home:
        # a home of its own: no personal preferences or plugins (a copy of wmmp.lua there
        # would be loaded twice)
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
        cmd = [tshark, "-n", "-2", "-X", "lua_script:" + LUA, "-r", pcap, "-T", "pdml"]
        for p in prefs:
            cmd += ["-o", p]
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    assert "Lua" not in err and "rror" not in err, err
    assert b"Lua Error" not in p.stdout and b"_ws.lua.error" not in p.stdout
    out = []
    for packet in ET.fromstring(p.stdout).iter("packet"):
        frame = None
        for proto in packet.findall("proto"):
            if proto.get("name") == "frame":
                frame = int(next(f.get("show") for f in proto.iter("field") if f.get("name") == "frame.number"))
            if proto.get("name") == "wmmp":
                out.append((frame, proto))
    return out, err


# -- pcap -------------------------------------------------------------------------------

def _checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ipv4(src, dst, proto, payload, ident):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000,
                              64, proto, 0, src, dst))
    struct.pack_into("!H", h, 10, _checksum(bytes(h)))
    eth = b"\x02\x00\x00\x00\x00" + dst[3:] + b"\x02\x00\x00\x00\x00" + src[3:] + b"\x08\x00"
    return eth + bytes(h) + payload


def udp_frame(uplink, data, ident, port=UDP_PORT):
    src, sport, dst, dport = (TERM_IP, TERM_PORT, PLATFORM_IP, port) if uplink else \
        (PLATFORM_IP, port, TERM_IP, TERM_PORT)
    return _ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data, ident)


def tcp_frame(uplink, seq, ack, flags, data, ident, port=TCP_PORT):
    src, sport, dst, dport = (TERM_IP, TERM_PORT, PLATFORM_IP, port) if uplink else \
        (PLATFORM_IP, port, TERM_IP, TERM_PORT)
    return _ipv4(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0)
                 + data, ident)


def write_pcap(path, frames):
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]     # Ethernet
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 1700000000 + i // 100, (i % 100) * 10000, len(f), len(f)) + f)
    with open(path, "wb") as fh:
        fh.write(b"".join(out))


SEGMENT_SIZES = (1, 7, 29, 120, 3, 200, 45, 64)     # cut through and across messages


def tcp_frames(messages):
    """TCP segments of [(uplink, raw)]: each run of messages one way is one stream
    piece cut by SEGMENT_SIZES, so that segments split messages and carry several.
    Returns (frames, plan) where plan[i] = the frames message i spans."""
    seq = {True: 1000, False: 5000}
    frames = [tcp_frame(True, seq[True] - 1, 0, 0x02, b"", 0),
              tcp_frame(False, seq[False] - 1, seq[True], 0x12, b"", 1),
              tcp_frame(True, seq[True], seq[False], 0x10, b"", 2)]
    plan = []
    i, k = 0, 0
    while i < len(messages):
        way = messages[i][0]
        j = i
        while j < len(messages) and messages[j][0] == way:
            j += 1
        stream = b"".join(raw for _, raw in messages[i:j])
        bounds, off = [], 0
        for _, raw in messages[i:j]:
            bounds.append((off, off + len(raw)))
            off += len(raw)
        cuts, off = [], 0
        while off < len(stream):
            n = SEGMENT_SIZES[k % len(SEGMENT_SIZES)]
            k += 1
            cuts.append((off, min(off + n, len(stream))))
            off += n
        first = len(frames)
        for a, b in cuts:
            frames.append(tcp_frame(way, seq[way] + a, seq[not way], 0x18, stream[a:b], len(frames)))
        for a, b in bounds:
            plan.append([first + n + 1 for n, (ca, cb) in enumerate(cuts) if ca < b and cb > a])
        seq[way] += len(stream)
        i = j
    return frames, plan


# -- the demo, recorded --------------------------------------------------------------------

class Run:
    """One `make demo` run: its packet-bearer messages [(uplink, raw)] and the
    terminal's credentials (the passwords came by SMS in SECURITY_CONFIG)."""

    def __init__(self, transport, messages, sms):
        self.transport = transport
        self.messages = messages
        self.imei, self.imsi = demo.IMEI, demo.IMSI
        keys = [codec.decode(raw, P.DEFAULT, P.BEARER_SMS) for raw in sms]
        keys = [m for m in keys if m.command == C.SECURITY_CONFIG and m.tlv(0xE025)]
        assert keys, "the demo delivered no passwords by SMS"
        self.up = keys[0].tlv(0xE025).decode()
        self.down = keys[0].tlv(0xE028).decode()

    def prefs(self, up=None, down=None):
        return ["wmmp.imei:" + self.imei, "wmmp.imsi:" + self.imsi,
                "wmmp.uplink_password:" + (up or self.up), "wmmp.downlink_password:" + (down or self.down)]


def _record(transport):
    packet, sms = [], []

    class Recording(TERM.Transcript):
        def message(self, direction, kind, raw):
            (sms if kind == P.BEARER_SMS else packet).append((direction == "out", bytes(raw)))
            super().message(direction, kind, raw)

    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory() as state:
        mp.setattr(TERM, "Transcript", Recording)
        out = io.StringIO()
        d = demo.Demo(out=out, transport=transport)
        ok = asyncio.run(asyncio.wait_for(d.run(state), 60))
    assert ok, out.getvalue()[-3000:]
    return Run(transport, packet, [raw for _, raw in sms])


@pytest.fixture(scope="module")
def udp_run(tshark):
    return _record("udp")


@pytest.fixture(scope="module")
def tcp_run(tshark):
    return _record("tcp")


# -- the oracle: wmmp decode --json -----------------------------------------------------------

def wmmp_decode(raw, *options):
    """(exit status, JSON document or None) of `wmmp decode HEX --json --show-secrets`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["decode", raw.hex(), "--json", "--show-secrets"] + list(options))
    return rc, (json.loads(out.getvalue()) if out.getvalue().strip() else None)


# -- what the dissector showed ----------------------------------------------------------------

def _children(el):
    return [c for c in el if c.tag == "field"]


def _walk(el, into_reassembled=False):
    """Fields under `el` in order, not inside a reassembled content unless asked."""
    for c in _children(el):
        yield c
        if c.get("name") == "wmmp.reassembled" and not into_reassembled:
            continue
        yield from _walk(c, into_reassembled)


def _tlv(el):
    t = {"items": []}
    for c in _children(el):
        n = c.get("name")
        if n == "wmmp.tlv.tag":
            t["tag"] = int(c.get("value"), 16)
        elif n == "wmmp.tlv.length":
            t["length"] = int(c.get("show"))
        elif n == "wmmp.tlv.value":
            t["value_hex"] = c.get("value")
        elif n == "wmmp.tlv.uint":
            t["uint"] = int(c.get("show"))
        elif n == "wmmp.tlv.item":
            t["items"].append(int(c.get("value"), 16))
        elif n == "wmmp.tlv.name":
            t["name"] = c.get("show")
    t.setdefault("value_hex", "")
    return t


def _content(el):
    """Fixed fields and TLVs directly under `el` (a message or a reassembled content)."""
    fields, tlvs = {}, []
    for c in _walk(el):
        n = c.get("name") or ""
        if n.startswith("wmmp.field."):
            fields[n[len("wmmp.field."):]] = c.get("value")
        elif n == "wmmp.tlv":
            tlvs.append(_tlv(c))
    return fields, tlvs


def shown(proto):
    """The dissector's view of one message, from its PDML element."""
    got = {"flags": [], "experts": []}
    for c in _walk(proto, into_reassembled=True):
        n = c.get("name") or ""
        if n == "_ws.expert":
            kids = {k.get("name"): k for k in _children(c)}
            name = next(k for k in kids if k.startswith("wmmp.expert."))
            got["experts"].append((name[len("wmmp.expert."):], kids["_ws.expert.message"].get("show"),
                                   int(kids["_ws.expert.severity"].get("show"))))
    for c in _walk(proto):
        n = c.get("name") or ""
        if n in ("wmmp.total_length", "wmmp.seq") and n not in got:
            got[n] = int(c.get("show"))
        elif n in ("wmmp.version", "wmmp.command", "wmmp.security", "wmmp.reserved") and n not in got:
            got[n] = int(c.get("value"), 16)
        elif n in ("wmmp.serial", "wmmp.command_name", "wmmp.digest.status") and n not in got:
            got[n] = c.get("show")
        elif n == "wmmp.digest.timestamp":
            got[n] = int(c.get("show"))
        elif n == "wmmp.digest":
            got[n] = c.get("value")
        elif n.startswith("wmmp.security.") and c.get("show") == "1":
            got["flags"].append(n[len("wmmp.security."):])
        elif n.startswith("wmmp.subpacket.") and n not in got:
            got[n] = c.get("value") if n == "wmmp.subpacket.data" else c.get("show")
        elif n in ("wmmp.notice", "wmmp.encrypted"):
            got.setdefault(n, c.get("value"))
        elif n == "wmmp.reassembled":
            got["reassembled"] = c
    got["fields"], got["tlvs"] = _content(proto)
    return got


def errors(got):
    return [e for e in got["experts"] if e[2] >= SEVERITY_ERROR]


def _json_bytes(v):
    return v.encode("ascii") if isinstance(v, str) else bytes.fromhex(v["hex"])


def assert_same(doc, got, raw):
    """The dissector's fields equal those of `wmmp decode --json` for one message."""
    where = "%s seq %s (%s)" % (doc["command"], doc["seq"], raw.hex())
    assert got["wmmp.command"] == doc["command_id"] and got["wmmp.command_name"] == doc["command"], where
    assert got["wmmp.total_length"] == doc["total_length"], where
    serial = doc["serial"]
    assert got["wmmp.serial"] == (serial if isinstance(serial, str) else serial["hex"]), where
    v = got["wmmp.version"]
    assert "%d.%d" % (v >> 8, v & 0xFF) == doc["version"], where
    assert got["wmmp.seq"] == doc["seq"] and got["wmmp.security"] == doc["security"], where
    assert got["wmmp.reserved"] == doc["reserved"], where
    assert got["flags"] == doc["flags"], where                 # every bit by name, in table order
    assert bool(got.get("wmmp.notice")) == doc["notice"], where
    # the fixed part, field by field (appendix G)
    assert set(got["fields"]) == set(doc["fields"]), where
    codes = dict(C.layout(doc["command_id"]) or ())
    for fname, want in doc["fields"].items():
        have = bytes.fromhex(got["fields"][fname])
        if fname == "block":
            assert have == _json_bytes(want), where
        elif codes[fname].endswith("s"):
            assert (have.rstrip(b"\0") if isinstance(want, str) else have) == _json_bytes(want), (where, fname)
        else:
            assert int.from_bytes(have, "big") == want, (where, fname)
    # every TLV, in wire order (the digest last), by tag, name, length and value
    assert [(t["tag"], t["length"], t["value_hex"]) for t in got["tlvs"]] == \
        [(t["tag"], t["length"], t["value_hex"]) for t in doc["tlvs"]], where
    for mine, theirs in zip(got["tlvs"], doc["tlvs"]):
        assert mine["name"] == theirs["name"], where
        value = theirs.get("value")
        if isinstance(value, int):
            assert mine.get("uint") == value, (where, theirs["tag_hex"])
        elif isinstance(value, list):
            assert mine["items"] == value, (where, theirs["tag_hex"])
        else:
            assert "uint" not in mine and not mine["items"], (where, theirs["tag_hex"])
    assert got.get("wmmp.digest") == doc["digest"], where
    sp = doc["subpacket"]
    if sp is None:
        assert "wmmp.subpacket.trans_id" not in got, where
    else:
        assert [int(got["wmmp.subpacket." + k], 0) for k in ("trans_id", "total", "index", "op")] == \
            [sp["trans_id"], sp["total"], sp["index"], sp["op"]], where
        assert got["wmmp.subpacket.encrypted"] == ("1" if sp["encrypted"] else "0"), where
        assert got.get("wmmp.subpacket.data", "") == sp["data_hex"], where


def compare_all(pdus, messages):
    """Message by message: the dissector against wmmp decode --json."""
    assert len(pdus) == len(messages), (len(pdus), len(messages))
    for (frame, proto), (uplink, raw) in zip(pdus, messages):
        rc, doc = wmmp_decode(raw)
        assert rc == 0, raw.hex()
        got = shown(proto)
        assert_same(doc, got, raw)
        yield frame, got, doc, uplink, raw


def check_digests_with_the_oracle(run, results):
    """Every digest the dissector calls correct verifies in `wmmp decode` too, with the
    password of its direction and the session timestamp the dissector tracked."""
    n = 0
    for frame, got, doc, uplink, raw in results:
        if doc["digest"] is None:
            assert "wmmp.digest.status" not in got
            continue
        n += 1
        assert got["wmmp.digest.status"] == "correct", (frame, doc["command"], got["experts"])
        assert ("digest_correct", "digest: correct", 0x00200000) in got["experts"]
        rc, checked = wmmp_decode(raw, "--imei", run.imei, "--imsi", run.imsi, "--password",
                                  run.up if uplink else run.down,
                                  "--timestamp", str(got["wmmp.digest.timestamp"]))
        assert rc == 0 and checked["digest_ok"] is True, (frame, doc["command"])
    return n


# -- tests ------------------------------------------------------------------------------------

def test_generated_tables_match_the_python_tables():
    with open(LUA, encoding="utf-8") as f:
        text = f.read()
    assert gen_tables.splice(text, gen_tables.render()) == text, \
        "tools/wireshark/wmmp.lua is out of date: run python tools/wireshark/gen_tables.py"
    block = gen_tables.render()
    for cmd in C.all_commands():
        assert '[0x%04X] = "%s"' % (cmd, C.name(cmd)) in block
    assert '[0xE021] = {"ACCESS_DIGEST"' in block and '{"prev_overflow", 0x01' in block
    assert gen_tables.main(["--check"]) == 0


def test_udp_demo_capture_matches_wmmp_decode(tshark, udp_run, tmp_path):
    pcap = str(tmp_path / "demo-udp.pcap")
    write_pcap(pcap, [udp_frame(up, raw, i) for i, (up, raw) in enumerate(udp_run.messages)])
    pdus, _ = run_tshark(tshark, pcap, udp_run.prefs())
    assert [f for f, _ in pdus] == list(range(1, len(udp_run.messages) + 1))
    results = list(compare_all(pdus, udp_run.messages))
    names = [doc["command"] for _, _, doc, _, _ in results]
    for needed in ("REGISTER", "REGISTER_ACK", "LOGIN", "LOGIN_ACK", "HEART_BEAT", "HEART_BEAT_ACK",
                   "CONFIG_SET", "CONFIG_TRAP", "REMOTE_CTRL_ACK", "LOGOUT", "LOGOUT_ACK"):
        assert needed in names
    assert not any(errors(got) for _, got, _, _, _ in results)
    assert check_digests_with_the_oracle(udp_run, results) >= 15
    # the oracle in-process is the command itself
    raw = udp_run.messages[2][1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
    p = subprocess.run([sys.executable, "-m", "wmmp_tools.cli", "decode", raw.hex(), "--json", "--show-secrets"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0 and json.loads(p.stdout) == wmmp_decode(raw)[1]
    # a later message is signed with the CURTIME of the LOGIN_ACK before it
    login_acks = [doc["fields"]["curtime"] for _, _, doc, _, _ in results if doc["command"] == "LOGIN_ACK"]
    stamps = [got["wmmp.digest.timestamp"] for _, got, doc, _, _ in results
              if doc["command"] == "LOGOUT" and doc["digest"]]
    assert len(login_acks) == 2 and stamps == login_acks


def test_wrong_or_missing_credentials(tshark, udp_run, tmp_path):
    pcap = str(tmp_path / "demo-udp.pcap")
    write_pcap(pcap, [udp_frame(up, raw, i) for i, (up, raw) in enumerate(udp_run.messages)])
    signed = sum(1 for _, raw in udp_run.messages if raw[26] & H.SEC_DIGEST)
    pdus, _ = run_tshark(tshark, pcap, udp_run.prefs(up="WRONGpw1"))
    status = [shown(p).get("wmmp.digest.status") for _, p in pdus]
    wrong = [s for s in status if s == "WRONG"]
    ups = [up for (up, raw) in udp_run.messages if raw[26] & H.SEC_DIGEST]
    assert len(wrong) == ups.count(True) > 0 and status.count("correct") == ups.count(False) > 0
    for _, p in pdus:
        got = shown(p)
        if got.get("wmmp.digest.status") == "WRONG":
            assert ("digest_wrong", "digest: WRONG", SEVERITY_ERROR) in got["experts"]
    # the oracle agrees that such a digest is wrong
    raw = next(raw for up, raw in udp_run.messages if up and raw[26] & H.SEC_DIGEST and raw[20:22] != b"\x00\x01")
    rc, doc = wmmp_decode(raw, "--imei", udp_run.imei, "--imsi", udp_run.imsi, "--password", "WRONGpw1",
                          "--timestamp", "0")
    assert rc == 1 and doc["digest_ok"] is False
    # without credentials the digest is shown, not judged
    pdus, _ = run_tshark(tshark, pcap)
    got = [shown(p) for _, p in pdus]
    assert sum(1 for g in got if g.get("wmmp.digest")) == signed
    assert not any("wmmp.digest.status" in g or any(e[0].startswith("digest") for e in g["experts"])
                   for g in got)


def test_ports_come_from_the_preferences(tshark, udp_run, tmp_path):
    pcap = str(tmp_path / "demo-udp.pcap")
    write_pcap(pcap, [udp_frame(up, raw, i) for i, (up, raw) in enumerate(udp_run.messages)])
    pdus, _ = run_tshark(tshark, pcap, ["wmmp.udp_ports:7399"])
    assert pdus == []
    pdus, _ = run_tshark(tshark, pcap, ["wmmp.udp_ports:7000-7400,8000"])
    assert len(pdus) == len(udp_run.messages)


def test_tcp_demo_capture_reassembled_by_total_length(tshark, tcp_run, tmp_path):
    frames, plan = tcp_frames(tcp_run.messages)
    pcap = str(tmp_path / "demo-tcp.pcap")
    write_pcap(pcap, frames)
    assert run_tshark(tshark, pcap)[0] == []          # port 9302 is not WMMP-T by default
    pdus, _ = run_tshark(tshark, pcap, ["wmmp.tcp_ports:%d" % TCP_PORT] + tcp_run.prefs())
    results = list(compare_all(pdus, tcp_run.messages))
    assert not any(errors(got) for _, got, _, _, _ in results)
    assert check_digests_with_the_oracle(tcp_run, results) >= 15
    # each message is shown in the frame that completes it; the cut really split
    # messages across segments and put several in one segment
    assert [f for f, _ in pdus] == [spans[-1] for spans in plan]
    assert sum(1 for spans in plan if len(spans) > 1) >= 10
    per_frame = [f for f, _ in pdus]
    assert any(per_frame.count(f) >= 2 for f in per_frame)


# -- built and malformed messages ----------------------------------------------------------------

AES_KEY = b"0123456789abcdef"
CIPHER = (CI.ALG_AES, AES_KEY)


def _built(run):
    """[(uplink, raw, what)] of messages the demo does not send, signed with the run's
    credentials at timestamp 0 (no LOGIN_ACK of this serial in the capture)."""
    up = D.DigestKey(run.imei, run.imsi, run.up, 0)
    down = D.DigestKey(run.imei, run.imsi, run.down, 0)
    out = []

    def add(uplink, msg, what, key=True, cipher=None):
        msg.serial = BUILT_SERIAL
        out.append((uplink, bytes(codec.encode(msg, key=(up if uplink else down) if key else None,
                                               cipher=cipher)), what))

    add(True, codec.Message(C.FILE_REQ, {"trans_id": 0x01020304, "status": 1, "read_point": 4096,
                                         "block_size": 512}, seq=20), "FILE_REQ")
    add(False, codec.Message(C.FILE_REQ_ACK, {"trans_id": 0x01020304, "status": 0, "read_point": 4096,
                                              "block": bytes(range(200))}, seq=20), "FILE_REQ_ACK")
    add(True, codec.Message(C.TRANSPARENT_DATA, tlvs=[(0x4014, b"METER01"), (0x4007, b"\x01\x03\x00\x10")],
                            seq=21), "TRANSPARENT_DATA")
    add(True, codec.Message(C.CONFIG_TRAP, tlvs=[(0x0025, b"\x00\x02\x00\x11"), (0x300D, b"\x00\x11\x00\x13"),
                                                 (0x5001, b"platform"), (0x8001, bytes(24)),
                                                 (0x0011, b"\x00\x00\x01")], seq=22),
        "CONFIG_TRAP with lists, platform and maker tags, a bad 0x0011 length")
    add(False, codec.Message(C.CONFIG_GET, tlvs=[(0xE023, b""), (0x0002, b"")], seq=23), "CONFIG_GET with L=0")
    enc = codec.Message(C.CONFIG_SET, tlvs=[(0x0011, b"\x00\x00\x00\x3c")], seq=24)
    enc.encryption = codec.ENC_FULL
    add(False, enc, "CONFIG_SET fully encrypted (E042)", cipher=CIPHER)
    part = codec.Message(C.SECURITY_CONFIG, {"operation": 0}, [(0xE025, b"NEWpass1"), (0xE027, bytes(4))],
                         seq=25)
    part.encryption, part.encrypt_tags = codec.ENC_PARTIAL, (0xE025,)
    add(False, part, "SECURITY_CONFIG with E043", cipher=CIPHER)
    beat = codec.Message(C.HEART_BEAT, seq=26, security=H.SEC_PREV_DIGEST_FAILED)
    add(True, beat, "HEART_BEAT reporting a failed digest", key=False)
    echo = codec.encode_notice(out[0][1][:28], H.SEC_PREV_OVERFLOW)
    out.append((False, bytes(echo), "header echo of FILE_REQ (overflow)"))
    return out


def _subpackets(run):
    """Two sub-packet sets of CONFIG_TRAP: in clear (0x4008) and encrypted (E044)."""
    up = D.DigestKey(run.imei, run.imsi, run.up, 0)
    trap = codec.Message(C.CONFIG_TRAP, tlvs=[(0x2008, b"\x00\x00\x00\x05"), (0x3004, b"WMMP0.1\x00"),
                                              (0x8002, bytes(range(60)))], serial=BUILT_SERIAL)
    sets = []
    for trans, cipher in ((0x0ABC, None), (0x0BCD, CIPHER)):
        m = codec.Message(trap.command, tlvs=list(trap.tlvs), serial=BUILT_SERIAL)
        if cipher:
            m.encryption = codec.ENC_FULL
        sp = S.Splitter(m, trans, P.DEFAULT, P.BEARER_PACKET, digest=True, cipher=cipher, chunk=30)
        raws = [bytes(codec.encode(sp.message(i, seq=40 + i + (10 if cipher else 0)), key=up))
                for i in range(1, sp.total + 1)]
        sets.append((sp, raws))
    return trap, sets


def _malformed(run):
    """[(raw, what)]: messages `wmmp decode` refuses."""
    good = bytes(codec.encode(codec.Message(C.LOGIN, {"software_version": b"WMMP0.1", "config_crc32": 0},
                                            [(0x0011, b"\x00\x00\x00\x03")], BUILT_SERIAL, 90)))
    bad = []
    bad.append((good[:20], "shorter than the header"))
    bad.append((good[:40], "cut short: total_length says more"))
    bad.append((struct.pack(">H", 10) + good[2:], "total_length below 28"))
    b = bytearray(good)
    struct.pack_into(">H", b, len(b) - 6, 40)
    bad.append((bytes(b), "TLV length runs past the end"))
    b = bytearray(good + b"\x00\x12")
    struct.pack_into(">H", b, 0, len(b))
    bad.append((bytes(b), "2 bytes left after the last TLV"))
    b = bytearray(good[:28] + good[28:33])
    struct.pack_into(">H", b, 0, len(b))
    bad.append((bytes(b), "LOGIN fixed part cut"))
    b = bytearray(good)
    struct.pack_into(">H", b, 20, 0x0009)
    bad.append((bytes(b), "command 0x0009 is not in appendix D"))
    b = bytearray(good)
    b[26] |= H.SEC_DIGEST
    bad.append((bytes(b), "digest bit without E021"))
    b = bytearray(good)
    b[26] |= H.SEC_FULL_OR_SUBPACKET
    bad.append((bytes(b), "bit 0x10 over a fixed part and a TLV"))
    body = struct.pack(">HH", 0x4008, 3) + b"\x00\x01\x00"
    b = bytearray(good[:28] + body)
    struct.pack_into(">H", b, 0, len(b))
    b[26] |= H.SEC_FULL_OR_SUBPACKET
    bad.append((bytes(b), "sub-packet TLV of 3 bytes"))
    b = bytearray(good + struct.pack(">HH", 0xE021, 16) + bytes(16))
    struct.pack_into(">H", b, 0, len(b))
    bad.append((bytes(b), "E021 without the digest bit"))
    fra = bytes(codec.encode(codec.Message(C.FILE_REQ_ACK, {"trans_id": 1, "status": 0, "read_point": 0,
                                                            "block": b"abcdef"}, serial=BUILT_SERIAL)))
    b = bytearray(fra)
    struct.pack_into(">H", b, 28 + 11, 100)
    bad.append((bytes(b), "FILE_REQ_ACK block_size past the end"))
    b = bytearray(good[:28] + struct.pack(">HH", 0x0002, 1100) + b"a" * 1100)
    struct.pack_into(">H", b, 0, len(b))
    bad.append((bytes(b), "TLV value over the packet bearer's 1024 bytes"))
    return bad


@pytest.fixture(scope="module")
def built_capture(tshark, udp_run, tmp_path_factory):
    built = _built(udp_run)
    trap, sets = _subpackets(udp_run)
    malformed = _malformed(udp_run)
    messages = [(up, raw) for up, raw, _ in built]
    for _, raws in sets:
        messages += [(True, raw) for raw in raws]
    pcap = str(tmp_path_factory.mktemp("built") / "built.pcap")
    frames = [udp_frame(up, raw, i, BUILT_PORT) for i, (up, raw) in enumerate(messages)]
    frames += [udp_frame(True, raw, 1000 + i, BUILT_PORT) for i, (raw, _) in enumerate(malformed)]
    write_pcap(pcap, frames)
    pdus, _ = run_tshark(tshark, pcap, ["wmmp.udp_ports:%d" % BUILT_PORT] + udp_run.prefs())
    assert len(pdus) == len(messages) + len(malformed)
    return {"built": built, "trap": trap, "sets": sets, "malformed": malformed, "messages": messages,
            "pdus": pdus[:len(messages)], "bad_pdus": pdus[len(messages):]}


def test_built_messages_match_wmmp_decode(built_capture):
    c = built_capture
    results = list(compare_all(c["pdus"], c["messages"]))
    by_what = {what: got for (_, _, what), (_, got, _, _, _) in zip(c["built"], results)}
    for (_, raw, what), (_, got, doc, _, _) in zip(c["built"], results):
        assert not errors(got), (what, got["experts"])
        if doc["digest"]:
            assert got["wmmp.digest.status"] == "correct", what
    got = by_what["CONFIG_SET fully encrypted (E042)"]
    assert got["wmmp.encrypted"] and ("encrypted", "content encrypted with the session key (E042, "
                                      "not decrypted)", 0x00400000) in got["experts"]
    got = by_what["SECURITY_CONFIG with E043"]
    assert [t["tag"] for t in got["tlvs"]] == [0xE043, 0xE027, 0xE021] and got["wmmp.encrypted"]
    got = by_what["HEART_BEAT reporting a failed digest"]
    assert got["flags"] == ["prev_digest_failed"] and any(e[0] == "feedback" for e in got["experts"])
    got = by_what["header echo of FILE_REQ (overflow)"]
    assert got["wmmp.notice"] and got["wmmp.total_length"] == len(c["built"][0][1])
    assert any(e[0] == "notice" for e in got["experts"])
    got = by_what["CONFIG_TRAP with lists, platform and maker tags, a bad 0x0011 length"]
    assert [t["name"] for t in got["tlvs"]][:5] == ["CORE_CONFIG_TAGS", "ALARM_CODES", "PLATFORM_0x5001",
                                                    "MAKER_0x8001", "HEARTBEAT_PERIOD"]
    assert [e[0] for e in got["experts"] if e[2] == SEVERITY_WARN] == ["tlv_length"]
    _, doc = wmmp_decode(c["built"][3][1])
    assert [t["tag"] for t in doc["tlvs"] if t.get("problem")] == [0x0011]     # the oracle agrees


def test_subpackets_are_put_back_together(built_capture):
    c = built_capture
    n = len(c["built"])
    trap = c["trap"]
    start = n
    for sp, raws in c["sets"]:
        shown_set = [shown(p) for _, p in c["pdus"][start:start + len(raws)]]
        frames = [f for f, _ in c["pdus"][start:start + len(raws)]]
        start += len(raws)
        assert sp.total == len(raws) >= 3
        assert [int(g["wmmp.subpacket.index"]) for g in shown_set] == list(range(1, sp.total + 1))
        # every piece but the last points to the frame that completes the set
        for g in shown_set[:-1]:
            assert int(g["wmmp.subpacket.reassembled_in"]) == frames[-1] and "reassembled" not in g
        last = shown_set[-1]
        assert any(e[0] == "reassembled" for e in last["experts"])
        whole = last["reassembled"]
        if sp.encrypted:
            enc = [f for f in _walk(whole) if f.get("name") == "wmmp.encrypted"]
            assert bytes.fromhex(enc[0].get("value")) == sp.content
        else:
            fields, tlvs = _content(whole)
            assert fields == {} and [(t["tag"], bytes.fromhex(t["value_hex"])) for t in tlvs] == trap.tlvs
            assert codec.decode_content(trap.command, sp.content).tlvs == trap.tlvs


def test_malformed_messages_get_expert_info_not_lua_errors(built_capture):
    for (raw, what), (frame, proto) in zip(built_capture["malformed"], built_capture["bad_pdus"]):
        with pytest.raises(WmmpError):
            codec.decode(raw)
        rc, _ = wmmp_decode(raw)
        assert rc == 2, what
        got = shown(proto)
        assert errors(got), (what, got["experts"])
        assert all(e[0] in ("malformed", "unknown_command", "too_long") for e in errors(got)), what


def _mutants(seeds, count, rnd):
    """Damaged copies of `seeds`: bytes changed, cut, added; total_length sometimes
    set to the new size so that the damage inside is reached."""
    out = []
    while len(out) < count:
        b = bytearray(rnd.choice(seeds))
        how = rnd.randrange(4)
        if how == 0:
            for _ in range(rnd.randint(1, 3)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif how == 1:
            del b[rnd.randrange(len(b)):]
        elif how == 2:
            b += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 9)))
        else:
            i = rnd.randrange(28, len(b)) if len(b) > 28 else len(b)
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 5)))
        if len(b) >= 2 and rnd.random() < 0.7:
            struct.pack_into(">H", b, 0, len(b))
        if b:
            out.append(bytes(b))
    return out


def test_damaged_messages_agree_with_the_decoder(tshark, udp_run, built_capture, tmp_path):
    """Hundreds of damaged messages: never a Lua error, and the dissector reports an
    error exactly when `wmmp decode` refuses the message."""
    import random
    seeds = [raw for _, raw in udp_run.messages] + [raw for _, raw in built_capture["messages"]]
    damaged = _mutants(seeds, 400, random.Random(20240611))
    pcap = str(tmp_path / "damaged.pcap")
    write_pcap(pcap, [udp_frame(True, raw, i) for i, raw in enumerate(damaged)])
    pdus, _ = run_tshark(tshark, pcap)
    assert len(pdus) == len(damaged)
    refused = 0
    for raw, (frame, proto) in zip(damaged, pdus):
        try:
            codec.decode(raw)
            ok = True
        except WmmpError:
            ok = False
            refused += 1
        got = shown(proto)
        assert bool(errors(got)) == (not ok), (frame, raw.hex(), got["experts"])
    assert 100 < refused < len(damaged) - 50
