"""Tests of the WMMP-T platform simulator (tools/wmmp_tools/platform) driven over
real loopback sockets: UDP and TCP on ephemeral ports, SMS through the emulated SMS
centre (wmmp_tools.smsc, docs/SMSC.md), and a scripted fake terminal built from
the lib/wmmp codec.

CPython only.  What the platform sends is checked independently of the code under
test: E021 digests with hashlib's MD5 (PROTOCOL.md 3), E040 and E042 with pycryptodome
(PROTOCOL.md 5), CRCs with binascii/zlib.
"""

import asyncio
import binascii
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
import time

import pytest
from Crypto.Cipher import AES, DES3

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import digest as D
from wmmp.wire import header as H
from wmmp.wire import keys as KEYS
from wmmp.wire import profile as P
from wmmp.wire import subpacket as S

from wmmp_tools.bearers import SmsBearer, TcpBearer, UdpBearer
from wmmp_tools.smsc import SmsCentre
from wmmp_tools.platform import Config, Platform, Store
from wmmp_tools.platform import cli as PCLI
from wmmp_tools.platform.control import ControlServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLATFORM_NO = "10658000"
PREFIX = b"M2MMAKER"
IMEI = "861234567890123"
IMSI = "460001234567890"
MSISDN = "13800000001"
IMEI2 = "861234567890999"
IMSI2 = "460009999999999"
MSISDN2 = "13800000002"


# -- independent checks ---------------------------------------------------------

def md5(*parts):
    h = hashlib.md5()
    for p in parts:
        h.update(p)
    return h.digest()


def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value


def assert_digest(wire, ts, imei, imsi, password):
    """PROTOCOL.md 3: E021 = MD5(header || content || timestamp || IMEI || IMSI || password),
    the TLV last, bit 0x20 set."""
    assert wire[26] & 0x20, "security bit 0x20 missing"
    assert wire[-20:-16] == b"\xe0\x21\x00\x10", "E021 is not the last TLV"
    want = md5(wire[:-20], struct.pack(">I", ts), imei.encode() + b"\x00", imsi.encode(), password.encode())
    assert wire[-16:] == want, "E021 does not verify"


def assert_no_digest(wire):
    assert not wire[26] & 0x20 and wire[-20:-16] != b"\xe0\x21\x00\x10"


def cbc_decrypt(alg, key, data):
    """PROTOCOL.md 5: CBC, zero IV, PKCS#7; 3DES with a 16-byte key is K1||K2, K3 = K1."""
    if alg == "aes":
        plain = AES.new(key, AES.MODE_CBC, bytes(16)).decrypt(data)
    else:
        plain = DES3.new(key, DES3.MODE_CBC, bytes(8)).decrypt(data)
    pad = plain[-1]
    assert 1 <= pad <= (16 if alg == "aes" else 8) and plain[-pad:] == bytes([pad]) * pad
    return plain[:-pad]


def parse_tlvs(b):
    out, off = [], 0
    while off < len(b):
        tag, n = struct.unpack_from(">HH", b, off)
        out.append((tag, b[off + 4:off + 4 + n]))
        off += 4 + n
    return out


# -- environment ------------------------------------------------------------------

class Env:
    """SMS centre + platform + control socket on ephemeral loopback ports."""

    async def start(self, store=None, **cfg):
        self.smsc = await SmsCentre("127.0.0.1", 0).start()
        base = dict(udp_port=0, tcp_port=0, smsc=("127.0.0.1", self.smsc.port), key_delay=0.05,
                    packet_timeout=1.0, sms_timeout=1.0, retries=1, tick=0.1, trap_timeout=5.0)
        base.update(cfg)
        self.pf = await Platform(Config(**base), store or Store(":memory:")).start()
        self.ctl = await ControlServer(self.pf, "127.0.0.1", 0).start()
        self.op = self.ctl.operator
        self.terminals = []
        return self

    async def stop(self):
        for t in self.terminals:
            await t.close()
        await self.ctl.close()
        await self.pf.close()
        await self.smsc.close()

    def terminal(self, imei=IMEI, imsi=IMSI, msisdn=MSISDN, serial=PREFIX):
        t = FakeTerminal(self, imei, imsi, msisdn, serial)
        self.terminals.append(t)
        return t

    async def provision(self, imsi=IMSI, msisdn=MSISDN, **kw):
        """The scenarios re-provision SIMs on purpose: replace=True says so (without
        it the platform refuses to overwrite or delete a subscription)."""
        args = dict(imsi=imsi, msisdn=msisdn, replace=True)
        args.update(kw)
        return await self.op.provision(args)

    def messages(self, serial=None):
        return self.pf.db.messages(serial, 1000)


def run(scenario, **cfg):
    """Run `scenario(env)` against a fresh platform; at most 25 s."""
    async def main():
        env = await Env().start(**cfg)
        try:
            await asyncio.wait_for(scenario(env), 25)
        finally:
            await env.stop()
    asyncio.run(main())


class FakeTerminal:
    """A scripted terminal: builds messages with the lib/wmmp codec and sends them on
    UDP, TCP or SMS; keeps the secrets it has been given."""

    def __init__(self, env, imei, imsi, msisdn, serial):
        self.env = env
        self.imei, self.imsi, self.msisdn = imei, imsi, msisdn
        self.serial = H.pad_serial(serial)
        self.seq = 500
        self.up = self.down = None
        self.up_valid = self.down_valid = 0
        self.base_key = None
        self.base_valid = 0
        self.base_alg = 1
        self.session_alg = None
        self.session = None
        self.curtime = 0
        pf = env.pf
        self.udp = UdpBearer("127.0.0.1", pf.udp_port)
        self.tcp = TcpBearer("127.0.0.1", pf.tcp_port)
        self.sms = SmsBearer("127.0.0.1", env.smsc.port, msisdn, [PLATFORM_NO])

    async def open(self, *which):
        for w in which or ("udp", "sms"):
            await self.bearer(w).open()
        return self

    async def close(self):
        for b in (self.udp, self.tcp, self.sms):
            await b.close()

    def bearer(self, via):
        return {"udp": self.udp, "tcp": self.tcp, "sms": self.sms}[via]

    @property
    def serial_text(self):
        return self.serial.rstrip(b"\x00").decode()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def ukey(self, ts=None, imei=None, imsi=None, password=None):
        return D.DigestKey(imei or self.imei, imsi or self.imsi, password or self.up,
                           self.curtime if ts is None else ts)

    def dkey(self, imei=None, imsi=None):
        return D.DigestKey(imei or self.imei, imsi or self.imsi, self.down, self.curtime)

    def cipher(self):
        return self.session.cipher() if self.session is not None else None

    def encode(self, msg, via="udp", sign=None, key=None, seq=None, security=0):
        msg.serial = self.serial
        msg.seq = self.next_seq() if seq is None else seq
        msg.security |= security
        if sign is None:
            sign = self.up is not None and via != "sms" and msg.command not in (C.HEART_BEAT, C.HEART_BEAT_ACK)
        if sign and key is None:
            key = self.ukey()
        bearer = P.BEARER_SMS if via == "sms" else P.BEARER_PACKET
        return codec.encode(msg, P.DEFAULT, bearer, key if sign else None, self.cipher())

    async def send(self, msg, via="udp", **kw):
        wire = self.encode(msg, via, **kw)
        await self.bearer(via).send(wire)
        return wire

    async def recv(self, via="udp", timeout=3.0):
        return await asyncio.wait_for(self.bearer(via).recv(), timeout)

    def decode(self, wire, via="udp", key=None):
        bearer = P.BEARER_SMS if via == "sms" else P.BEARER_PACKET
        if key is None and self.down is not None:
            key = self.dkey()
        return codec.decode(wire, P.DEFAULT, bearer, key, self.cipher())

    async def call(self, msg, via="udp", **kw):
        """Send a request, return (decoded answer, answer bytes)."""
        sent = await self.send(msg, via, **kw)
        wire = await self.recv(via)
        ans = self.decode(wire, via)
        assert ans.command == C.response_to(msg.command) and ans.seq == msg.seq, ans
        return ans, wire

    async def silent(self, via="udp", wait=0.4):
        try:
            wire = await asyncio.wait_for(self.bearer(via).recv(), wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError("unexpected message %s" % wire.hex())

    async def answer(self, via="udp", result=0, tlvs=(), check=None, timeout=3.0):
        """Wait for one platform request and answer it; returns (request, bytes)."""
        wire = await self.recv(via, timeout)
        req = self.decode(wire, via)
        if check is not None:
            check(req, wire)
        ack = codec.Message(C.response_to(req.command), {"result": result}, list(tlvs))
        await self.send(ack, via, seq=req.seq)
        return req, wire

    # -- flows ---------------------------------------------------------------

    async def register(self, op=0x00, via="udp", tlvs=(), security=H.SEC_SUPPORTS_ENCRYPTION, **kw):
        msg = codec.Message(C.REGISTER, {"operation": op, "imei": self.imei, "imsi": self.imsi}, list(tlvs))
        return await self.call(msg, via, sign=False, security=security, **kw)

    async def take_keys(self, answer=True):
        """4.4.3.1.2: the SECURITY_CONFIG op 0x00 SMS with the secrets."""
        wire = await self.recv("sms")
        assert_no_digest(wire)     # PROTOCOL.md 3: nothing to key it with yet
        req = codec.decode(wire, P.DEFAULT, P.BEARER_SMS)
        assert req.command == C.SECURITY_CONFIG and req.fields["operation"] == 0x00
        v = dict(req.tlvs)
        if 0xE025 in v:
            self.up, self.up_valid = v[0xE025].decode(), struct.unpack(">I", v[0xE027])[0]
        if 0xE028 in v:
            self.down, self.down_valid = v[0xE028].decode(), struct.unpack(">I", v[0xE02A])[0]
        if 0xE036 in v:
            self.base_key = v[0xE036].decode()
            self.base_valid = struct.unpack(">I", v[0xE038])[0]
            self.base_alg = v[0xE039][0]
            self.session_alg = v[0xE03E][0] if 0xE03E in v else None
        if answer:
            ack = codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0x00})
            await self.send(ack, "sms", seq=req.seq, sign=False)
        return req, wire

    def e03a(self):
        return md5(tlv(0xE036, self.base_key.encode()), tlv(0xE038, struct.pack(">I", self.base_valid)))

    async def login(self, via="udp", session=True, crc32=0, tlvs=None, version="V1.0", **kw):
        extra = [(0x0011, struct.pack(">I", 30))] if tlvs is None else list(tlvs)
        if session and self.base_key:
            extra.append((0xE03A, self.e03a()))
        msg = codec.Message(C.LOGIN, {"software_version": version, "config_crc32": crc32}, extra)
        self.curtime = 0
        wire = await self.send(msg, via, key=self.ukey(ts=0) if self.up else None, **kw)
        raw = await self.recv(via)
        ans = codec.decode(raw, P.DEFAULT, P.BEARER_SMS if via == "sms" else P.BEARER_PACKET)
        assert ans.command == C.LOGIN_ACK and ans.seq == msg.seq
        if ans.fields["result"] in (0x00, 0x01, 0x07, 0x08):
            self.curtime = ans.fields["curtime"]
            e040 = ans.tlv(0xE040)
            if e040 is not None:
                self.session = unwrap_independently(self, e040)
        return ans, raw

    async def enroll(self, via="udp", session=True):
        """Registration op 0x00 -> key SMS -> login (4.3.1.1.1.1)."""
        await self.open("udp", "sms")
        ack, _ = await self.register(0x00)
        assert ack.fields["result"] == 0x00
        self.serial = H.pad_serial(ack.fields["terminal_id"])
        await self.take_keys()
        ans, raw = await self.login(via, session=session)
        assert ans.fields["result"] in (0x00, 0x01)
        return ans, raw


class RawUdp(asyncio.DatagramProtocol):
    """A bare UDP socket that keeps every datagram (also 28-byte header echoes)."""

    async def open(self, port):
        self.inbox = asyncio.Queue()
        self.transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: self, remote_addr=("127.0.0.1", port))
        return self

    def datagram_received(self, data, addr):
        self.inbox.put_nowait(data)

    def send(self, data):
        self.transport.sendto(data)

    async def recv(self, timeout=3.0):
        return await asyncio.wait_for(self.inbox.get(), timeout)

    def close(self):
        self.transport.close()


def unwrap_independently(t, e040):
    """PROTOCOL.md 5: E040 = Encrypt_base_key(TLV(E03B) || TLV(E03D)), base key 3DES."""
    alg = {0: "des", 1: "3des", 2: "aes"}[t.base_alg]
    plain = cbc_decrypt(alg, t.base_key.encode(), e040)
    v = dict(parse_tlvs(plain))
    key = v[0xE03B]
    assert key.isalnum() and len(key) == 16
    valid = struct.unpack(">I", v[0xE03D])[0]
    return KEYS.SessionKey(3 if (t.session_alg if t.session_alg is not None else t.base_alg) == 2
                           else t.base_alg + 1, key, valid)


async def until(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in %.1f s" % timeout)
        await asyncio.sleep(0.02)


# == registration, keys, login, session (4.3.1, 4.3.2, 4.4.3) ======================

def test_full_lifecycle():
    """4.3.1.1.1.1 / 4.4.3.1.2 / 4.3.2 / 4.4.3.2 / G b: REGISTER op 0x00 -> REGISTER_ACK
    0x00 with an assigned serial -> keys by SMS without digest -> LOGIN with E03A ->
    LOGIN_ACK with CURTIME, E040 and a downlink digest -> security CONFIG_TRAP ->
    heartbeats -> CONFIG_GET answered -> encrypted traffic -> LOGOUT."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open("udp", "sms")
        ack, raw = await t.register(0x00)
        # G a / PROTOCOL.md 1: bytes 9..16 filled with 8 ASCII characters, prefix kept;
        # the header keeps the serial as reported.
        assert ack.fields["result"] == 0x00
        tid = ack.fields["terminal_id"]
        assert tid[:8] == PREFIX and re.match(rb"^[0-9A-F]{8}$", tid[8:])
        assert raw[2:18] == PREFIX + bytes(8)
        assert_no_digest(raw)
        t.serial = tid
        req, wire = await t.take_keys()
        v = dict(req.tlvs)
        # Passwords: 8 letters/digits; base key: 16 letters/digits, 3DES (E039 0x01);
        # session algorithm AES announced in E03E (PROTOCOL.md 5, 8).
        for tag in (0xE025, 0xE028):
            assert len(v[tag]) == 8 and v[tag].isalnum()
        assert len(v[0xE036]) == 16 and v[0xE036].isalnum()
        assert v[0xE039] == b"\x01" and v[0xE03E] == b"\x02"
        now = time.time()
        assert now < t.up_valid < now + 400 * 86400
        await until(lambda: env.pf.db.terminal(t.serial_text)["keys_acked"] == 1)

        ans, raw = await t.login()
        # LOGIN_ACK: first login, the platform knows no core configuration -> 0x01.
        assert ans.fields["result"] == 0x01
        assert abs(ans.fields["curtime"] - time.time()) < 5
        assert_digest(raw, ans.fields["curtime"], IMEI, IMSI, t.down)   # G b: Timestamp = CURTIME
        assert t.session is not None and ans.tlv(0xE040) is not None
        assert env.pf.db.terminal(t.serial_text)["state"] == "online"

        # G b: the security-verification CONFIG_TRAP, with the core configuration.
        core = [(0x0011, struct.pack(">I", 30)), (0x0026, struct.pack(">H", 120))]
        ans, raw = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=core))
        assert ans.fields["result"] == 0x00
        assert_digest(raw, t.curtime, IMEI, IMSI, t.down)     # later messages: CURTIME
        assert env.pf.runtimes[t.serial_text].awaiting_trap is False

        # 4.3.4 / G d: heartbeats, answered without a digest.
        for _ in range(2):
            hb, raw = await t.call(codec.Message(C.HEART_BEAT, tlvs=[(0x3007, b"\x40")]), sign=False)
            assert_no_digest(raw)

        # 4.3.6 / G g: the operator reads parameters; the platform's CONFIG_GET is signed.
        def check(req, wire):
            assert req.command == C.CONFIG_GET and [t_ for t_, _ in req.tlvs] == [0x0011, 0x3007]
            assert all(v_ == b"" for _, v_ in req.tlvs)
            assert_digest(wire, t.curtime, IMEI, IMSI, t.down)
        task = asyncio.ensure_future(env.op.get({"serial": t.serial_text, "tags": ["HEARTBEAT_PERIOD", "0x3007"]}))
        await t.answer(tlvs=[(0x0011, struct.pack(">I", 45)), (0x3007, b"\x33")], check=check)
        got = await task
        assert got["result"] == 0 and [x["tag"] for x in got["tlvs"]] == [0x0011, 0x3007]
        assert got["tlvs"][0]["text"].startswith("45")
        assert env.pf.db.param(t.serial_text, 0x0011) == struct.pack(">I", 45)

        # PROTOCOL.md 5: a fully encrypted request (E042) gets a fully encrypted answer.
        m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x20")])
        m.encryption = codec.ENC_FULL
        ans, raw = await t.call(m)
        assert raw[26] & 0x10 and raw[28:30] == b"\xe0\x42"
        n = struct.unpack(">H", raw[30:32])[0]
        assert cbc_decrypt("aes", t.session.key, raw[32:32 + n]) == b"\x00"
        assert_digest(raw, t.curtime, IMEI, IMSI, t.down)
        # Partial encryption (E043) is honoured too.
        m = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x21"), (0x3006, struct.pack(">I", 0x12345678))])
        m.encryption, m.encrypt_tags = codec.ENC_PARTIAL, (0x3006,)
        ans, raw = await t.call(m)
        assert ans.fields["result"] == 0
        assert env.pf.db.param(t.serial_text, 0x3006) == struct.pack(">I", 0x12345678)

        # 4.3.3 / G c: LOGOUT -> LOGOUT_ACK with a digest; the session ends.
        ans, raw = await t.call(codec.Message(C.LOGOUT, {"reason": 0x00}))
        assert ans.command == C.LOGOUT_ACK
        assert_digest(raw, t.curtime, IMEI, IMSI, t.down)
        assert env.pf.db.terminal(t.serial_text)["state"] == "logged-out"
        assert env.pf.runtimes[t.serial_text].session is None

        # Logging in again with the CRC32 of the reported core config -> 0x00 (PROTOCOL.md 7).
        crc = binascii.crc32(b"".join(tlv(tg, vv) for tg, vv in sorted(
            [(0x0011, struct.pack(">I", 45)), (0x0026, struct.pack(">H", 120))])))
        ans, raw = await t.login(crc32=crc)
        assert ans.fields["result"] == 0x00
        # 4.3.2: a terminal that is not logged in is not served.
        await t.call(codec.Message(C.LOGOUT, {"reason": 0}))
        await t.send(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]))
        await t.silent()
        notes = [m_["note"] for m_ in env.messages(t.serial_text)]
        assert any("not logged in" in n for n in notes)
    run(scenario)


def test_register_retransmitted_gets_same_serial_and_keys():
    """4.4.6.1: a repeated REGISTER (lost ACK) is answered again with the same
    serial, and the key SMS carries the same secrets."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open()
        a1, _ = await t.register(0x00)
        r1, _ = await t.take_keys(answer=False)
        a2, _ = await t.register(0x00)
        r2, _ = await t.take_keys(answer=False)
        assert a1.fields["terminal_id"] == a2.fields["terminal_id"]
        assert dict(r1.tlvs)[0xE025] == dict(r2.tlvs)[0xE025]
        assert dict(r1.tlvs)[0xE036] == dict(r2.tlvs)[0xE036]
        # No base key for a terminal that does not announce encryption (bit 0x80).
        env.pf.db.delete_terminal(a1.fields["terminal_id"].decode())
        u = env.terminal(imei=IMEI2)
        await u.open()
        a, _ = await u.register(0x00, security=0)
        req, _ = await u.take_keys()
        assert 0xE036 not in dict(req.tlvs) and 0xE025 in dict(req.tlvs)
    run(scenario)


def test_key_ack_by_sms_after_login_by_udp():
    """Race of a normal registration: the SECURITY_CONFIG_ACK to the key SMS comes
    after the LOGIN by UDP (SMS is slower).  The LOGIN's digest, made from the
    secrets, already shows the terminal stored them: the platform records that
    then, stops retransmitting the key SMS, and still takes the late ACK (no
    "answers no outstanding request")."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open("udp", "sms")
        ack, _ = await t.register(0x00)
        t.serial = H.pad_serial(ack.fields["terminal_id"])
        req, _ = await t.take_keys(answer=False)
        ans, _ = await t.login()
        assert ans.fields["result"] in (0x00, 0x01)
        serial = t.serial_text
        assert env.pf.db.terminal(serial)["keys_acked"] == 1
        notes = [m["note"] for m in env.messages(serial)]
        assert any("terminal stored the secrets: this LOGIN's digest verifies" in n for n in notes), notes
        # the late ACK by SMS
        await t.send(codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0x00}), "sms", seq=req.seq, sign=False)
        await until(lambda: any("late answer" in m["note"] for m in env.messages(serial)))
        notes = [m["note"] for m in env.messages(serial)]
        assert not any("answers no outstanding request" in n for n in notes), notes
        assert any("SECURITY_CONFIG_ACK 0x00: terminal stored the secrets (its LOGIN had already shown it)" in n
                   for n in notes), notes
        # no retransmission of the key SMS after the LOGIN settled it
        await t.silent("sms", 1.2)
    run(scenario)


def test_late_answer_to_an_operator_request_is_recognised():
    """An answer that comes after the operator's request timed out is logged as
    a late answer to that request (and filed in its pending row), not as an
    answer to nothing."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        with pytest.raises(Exception) as exc:
            task = asyncio.ensure_future(env.op.get({"serial": t.serial_text, "tags": ["0x0011"],
                                                     "timeout": 0.3, "via": "packet"}))
            wire = await t.recv()
            await task
        assert "no answer" in str(exc.value)
        req = t.decode(wire)
        await t.send(codec.Message(C.CONFIG_GET_ACK, {"result": 0}, [(0x0011, struct.pack(">I", 30))]),
                     seq=req.seq)
        await until(lambda: any("late answer" in m["note"] for m in env.messages(t.serial_text)))
        notes = [m["note"] for m in env.messages(t.serial_text)]
        assert not any("answers no outstanding request" in n for n in notes), notes
        rows = env.pf.db.pendings(t.serial_text)
        assert rows[-1]["status"] == "answered-late"
    run(scenario)


def test_alarm_status_end_to_end_through_the_cli(tmp_path):
    """`wmmp-platform get SERIAL ALARM_STATUS` against the real terminal engine
    (wmmp-term's, through the `make demo` stack): answered 0x00 with 0x300B
    (the terminal side no longer says "data invalid"), printed by name."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import demo
    from wmmp.terminal import engine as E

    async def main():
        st = demo.Stack(str(tmp_path / "state"), io.StringIO(), heartbeat=3)
        await st.start()
        ctl = await ControlServer(st.pf, "127.0.0.1", 0).start()
        try:
            st.run()
            end = time.monotonic() + 10
            while st.term.state != E.S_ONLINE:
                assert time.monotonic() < end, "terminal not online"
                await asyncio.sleep(0.05)
            serial = st.pf.db.terminals()[0]["serial"]
            out, err = io.StringIO(), io.StringIO()
            code = await asyncio.to_thread(PCLI.main, ["get", serial, "ALARM_STATUS", "--timeout", "5",
                                                       "--control", "127.0.0.1:%d" % ctl.port], out, err)
            assert code == 0, err.getvalue()
            text = out.getvalue()
            assert "CONFIG_GET_ACK result 0x00" in text and "ALARM_STATUS (0x300B) = 0" in text, text
        finally:
            await ctl.close()
            await st.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_register_failure_codes():
    """Appendix G a REGISTER_ACK results 0x02-0x08 and 0x13 (4.3.1)."""
    async def scenario(env):
        t = env.terminal()
        await t.open()
        # 0x03: no subscription for the IMSI (illegal MSISDN/IMSI).
        a, raw = await t.register(0x00)
        assert a.fields["result"] == 0x03 and a.fields["terminal_id"] == PREFIX + bytes(8)
        # 0x03 too when the SMS comes from another number than the IMSI's MSISDN.
        await env.provision(msisdn="13899999999")
        a, _ = await t.register(0x00, via="sms")
        assert a.fields["result"] == 0x03
        # 0x02: the operator requires registration by SMS; by SMS it works.
        await env.provision(force_sms=True)
        a, _ = await t.register(0x00)
        assert a.fields["result"] == 0x02
        a, raw = await t.register(0x00, via="sms")
        assert a.fields["result"] == 0x00
        await t.take_keys()
        env.pf.db.delete_terminal(a.fields["terminal_id"].decode())
        await env.provision()
        # 0x05: a preset-serial operation with bytes 9..16 all zero, or a serial the
        # subscription is not provisioned for.
        a, _ = await t.register(0x01)
        assert a.fields["result"] == 0x05
        await env.provision(serial="M2MMAKER00000042")
        t.serial = H.pad_serial(b"M2MMAKER00000099")
        a, _ = await t.register(0x01)
        assert a.fields["result"] == 0x05
        # 0x08: major version differs (TLV 0x3001 note).
        msg = codec.Message(C.REGISTER, {"operation": 0, "imei": IMEI, "imsi": IMSI}, version=0x0200)
        a, _ = await t.call(msg, sign=False)
        assert a.fields["result"] == 0x08
        # 0x06 / 0x04 / 0x07 against an online terminal.
        await env.provision()
        on = env.terminal()
        await on.enroll()
        await env.provision(IMSI2, MSISDN2)
        other = env.terminal(imei=IMEI2, imsi=IMSI2, msisdn=MSISDN2, serial=on.serial)
        await other.open()
        a, _ = await other.register(0x01)
        assert a.fields["result"] == 0x06      # serial in use and online
        same_sim = env.terminal(imei=IMEI2, serial=b"OTHERMAK00000001")
        await same_sim.open("udp")
        a, _ = await same_sim.register(0x01)
        assert a.fields["result"] == 0x04      # IMSI online elsewhere
        same_dev = env.terminal(imsi=IMSI2, msisdn=MSISDN2, serial=b"OTHERMAK00000002")
        await same_dev.open("udp")
        a, _ = await same_dev.register(0x01)
        assert a.fields["result"] == 0x07      # IMEI online elsewhere
        # 0x13: security switched off for this subscription: no keys, no digests.
        await env.provision(IMSI2, MSISDN2, no_security=True)
        free = env.terminal(imei="861234567890555", imsi=IMSI2, msisdn=MSISDN2, serial=b"OTHERMAK00000003")
        await free.open("udp")
        a, raw = await free.register(0x01)
        assert a.fields["result"] == 0x13
        await free.silent("udp")
        ans, raw = await free.login(session=False)
        assert ans.fields["result"] == 0x01 and not raw[26] & 0x20
        # ... and never checks digests (a wrong one is ignored).
        ans, raw = await free.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]),
                                   sign=True, key=D.DigestKey(IMEI, IMSI2, "WrongPw1", 0))
        assert ans.fields["result"] == 0 and not raw[26] & 0x20
    run(scenario)


def test_register_no_security_globally():
    """4.3.1.1.2: a platform without security answers 0x13; the terminal logs in
    without digests and is served."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open("udp")
        a, raw = await t.register(0x00)
        assert a.fields["result"] == 0x13 and a.fields["terminal_id"][:8] == PREFIX
        t.serial = a.fields["terminal_id"]
        ans, raw = await t.login(session=False)
        assert ans.fields["result"] == 0x01 and not raw[26] & 0x20
        ans, raw = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]))
        assert ans.fields["result"] == 0 and not raw[26] & 0x20
    run(scenario, security=False)


def _preset_tlvs(up, down, key, valid, pw=True, with_key=True):
    out = []
    if pw:
        out.append((0xE026, md5(tlv(0xE025, up.encode()), tlv(0xE027, struct.pack(">I", valid)))))
        out.append((0xE029, md5(tlv(0xE028, down.encode()), tlv(0xE02A, struct.pack(">I", valid)))))
    if with_key:
        out.append((0xE03A, md5(tlv(0xE036, key.encode()), tlv(0xE038, struct.pack(">I", valid)))))
    return out


def test_preset_registration_codes():
    """4.3.1.1.1.2 / 4.4.3.1.1 / G a: REGISTER op 0x03 is checked against the preset
    secrets the operator provisioned: 0x09 ok, 0x0A-0x0C mismatch, 0x0D-0x0F the
    platform has none, 0x10-0x12 the terminal sent none; the terminal then logs in
    with its preset secrets and gets a session key under the base key's algorithm."""
    UP, DOWN, KEY, VALID = "Pre#up12", "Pre#dn34", "PresetKey0123456", 4102444800
    serial = "M2MMAKER0000PRE1"

    async def scenario(env):
        t = env.terminal(serial=serial.encode())
        await t.open("udp")

        async def try_with(tlvs, **prov):
            await env.provision(serial=serial, **prov)
            a, raw = await t.register(0x03, tlvs=tlvs)
            assert a.fields["terminal_id"] == serial.encode()
            return a.fields["result"]

        full = dict(preset_uplink=UP, preset_downlink=DOWN, preset_key=KEY)
        pw_only = dict(preset_uplink=UP, preset_downlink=DOWN)
        good = _preset_tlvs(UP, DOWN, KEY, VALID)
        assert await try_with(_preset_tlvs("Wrong#12", DOWN, KEY, VALID), **full) == 0x0A
        assert await try_with(_preset_tlvs(UP, DOWN, "WrongKey01234567", VALID), **full) == 0x0B
        assert await try_with(_preset_tlvs(UP, "Wrong#34", "WrongKey01234567", VALID), **full) == 0x0C
        assert await try_with(_preset_tlvs(UP, DOWN, KEY, VALID, with_key=False), preset_key=KEY) == 0x0D
        assert await try_with(good, **pw_only) == 0x0E
        assert await try_with(good) == 0x0F
        assert await try_with(_preset_tlvs(UP, DOWN, KEY, VALID, pw=False), **full) == 0x10
        assert await try_with(_preset_tlvs(UP, DOWN, KEY, VALID, with_key=False), **full) == 0x11
        assert await try_with([], **full) == 0x12
        assert env.pf.db.terminal(serial) is None        # nothing registered by a failure
        # Serial bytes 9..16 zero: not a preset serial -> 0x05.
        z = env.terminal(serial=PREFIX)
        await z.open("udp")
        await env.provision(**full)
        a, _ = await z.register(0x03, tlvs=good)
        assert a.fields["result"] == 0x05
        # Password-only preset: 0x09 without E03A.
        assert await try_with(_preset_tlvs(UP, DOWN, KEY, VALID, with_key=False), **pw_only) == 0x09
        assert await try_with(good, **full) == 0x09
        await t.silent("udp")                   # no key SMS: the terminal has its secrets
        t.up, t.down, t.base_key, t.base_valid, t.base_alg = UP, DOWN, KEY, VALID, 0x01
        ans, raw = await t.login()
        assert ans.fields["result"] == 0x01
        assert_digest(raw, ans.fields["curtime"], IMEI, IMSI, DOWN)
        assert t.session is not None and t.session.alg == 2 and len(t.session.key) == 16   # 3DES, no E03E
        ans, raw = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x05")]))
        assert ans.fields["result"] == 0
    run(scenario)


def test_login_result_codes():
    """G b LOGIN_ACK results 0x02, 0x03, 0x05, 0x06, 0x07, 0x08, 0x09; a LOGIN with a
    wrong digest gets no answer (4.4.5)."""
    async def scenario(env):
        # 0x03: unknown serial; 0x06: serial provisioned but never registered.
        stranger = env.terminal(serial=b"NOBODY0000000001")
        await stranger.open("udp")
        ans, _ = await stranger.login(session=False)
        assert ans.fields["result"] == 0x03
        await env.provision(IMSI2, MSISDN2, serial="WAITING000000001")
        waiting = env.terminal(serial=b"WAITING000000001")
        await waiting.open("udp")
        ans, _ = await waiting.login(session=False)
        assert ans.fields["result"] == 0x06
        await env.provision()
        t = env.terminal()
        await t.enroll()
        # 0x05: protocol version.
        msg = codec.Message(C.LOGIN, {"software_version": "V1", "config_crc32": 0}, version=0x0100)
        await t.send(msg, key=t.ukey(ts=0))
        a = codec.decode(await t.recv(), P.DEFAULT)
        assert a.fields["result"] == 0x05
        # 0x07: E03A does not match the base key: logged in, no session key.
        good_key = t.base_key
        t.base_key = "X" * 16
        t.session = None
        ans, _ = await t.login()
        assert ans.fields["result"] == 0x07 and ans.tlv(0xE040) is None
        t.base_key = good_key
        # 0x09: session keys required, E03A absent.
        await env.op.flag({"serial": t.serial_text, "flags": {"session-required": 1}})
        ans, _ = await t.login(session=False)
        assert ans.fields["result"] == 0x09
        await env.op.flag({"serial": t.serial_text, "flags": {"session-required": 0}})
        # 0x08: the operator keeps the terminal connected.
        await env.op.flag({"serial": t.serial_text, "flags": {"keep-connected": 1}})
        ans, _ = await t.login()
        assert ans.fields["result"] == 0x08 and ans.tlv(0xE040) is not None
        await env.op.flag({"serial": t.serial_text, "flags": {"keep-connected": 0}})
        # 0x02: the IMSI no longer maps to the terminal's MSISDN.
        await env.provision(msisdn="13811111111")
        ans, _ = await t.login()
        assert ans.fields["result"] == 0x02
        await env.provision()
        # Wrong uplink password: dropped silently (4.4.5).
        msg = codec.Message(C.LOGIN, {"software_version": "V1", "config_crc32": 0})
        await t.send(msg, key=t.ukey(ts=0, password="BadPass1"))
        await t.silent()
    run(scenario)


def test_imsi_change():
    """4.3.1.2 / appendix B 1.2: REGISTER op 0x02 signed with the OLD IMEI/IMSI and
    the uplink password (timestamp 0); the answer 0x01 is signed with the old
    IMEI/IMSI and the downlink password; unsigned or wrongly signed requests are
    dropped without an answer."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        await env.provision(IMSI2, MSISDN2)
        old_key = D.DigestKey(IMEI, IMSI, t.up, 0)
        change = codec.Message(C.REGISTER, {"operation": 0x02, "imei": IMEI, "imsi": IMSI2})
        # Unsigned, then signed with the new IMSI: both dropped.
        await t.send(change, sign=False)
        await t.silent()
        change = codec.Message(C.REGISTER, {"operation": 0x02, "imei": IMEI, "imsi": IMSI2})
        await t.send(change, key=D.DigestKey(IMEI, IMSI2, t.up, 0))
        await t.silent()
        # New IMSI without a subscription -> 0x03, still signed with the old identity.
        other = codec.Message(C.REGISTER, {"operation": 0x02, "imei": IMEI, "imsi": "460001111111111"})
        await t.send(other, key=old_key)
        raw = await t.recv()
        a = codec.decode(raw, P.DEFAULT)
        assert a.fields["result"] == 0x03
        assert_digest(raw, 0, IMEI, IMSI, t.down)
        change = codec.Message(C.REGISTER, {"operation": 0x02, "imei": IMEI, "imsi": IMSI2})
        wire = await t.send(change, key=old_key)
        assert_digest(wire, 0, IMEI, IMSI, t.up)
        raw = await t.recv()
        a = codec.decode(raw, P.DEFAULT)
        assert a.command == C.REGISTER_ACK and a.fields["result"] == 0x01
        assert a.fields["terminal_id"] == t.serial
        assert_digest(raw, 0, IMEI, IMSI, t.down)
        row = env.pf.db.terminal(t.serial_text)
        assert (row["imsi"], row["msisdn"]) == (IMSI2, MSISDN2)
        # From now on the digest uses the new IMSI.
        t.imsi, t.msisdn = IMSI2, MSISDN2
        ans, raw = await t.login()
        assert ans.fields["result"] in (0x00, 0x01)
        assert_digest(raw, ans.fields["curtime"], IMEI, IMSI2, t.down)
    run(scenario)


def test_wrong_and_missing_digests():
    """4.4.5 / PROTOCOL.md 3: a request with a wrong digest is dropped silently and the
    next message to the terminal has bit 0x08 (0x04 when the digest was missing);
    with E041 = 0x01 the header comes back at once with the bit set; a response
    that fails is treated as lost (retransmitted with the same seq)."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        bad = D.DigestKey(IMEI, IMSI, "Wrong#pw", t.curtime)
        await t.send(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]), key=bad)
        await t.silent()
        ans, raw = await t.call(codec.Message(C.HEART_BEAT), sign=False)
        assert raw[26] & 0x0F == 0x08
        ans, raw = await t.call(codec.Message(C.HEART_BEAT), sign=False)
        assert raw[26] & 0x0F == 0x00            # reported once
        await t.send(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]), sign=False)
        await t.silent()
        ans, raw = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x02")]))
        assert raw[26] & 0x0F == 0x04 and ans.fields["result"] == 0
        notes = [m["note"] for m in env.messages(t.serial_text)]
        assert any("digest wrong" in n for n in notes) and any("digest missing" in n for n in notes)
        # E041 = 0x01: the offending header is echoed with the bit (table A-2).  The
        # echo's total_length is the original's, so it is read from a raw socket.
        await env.op.flag({"serial": t.serial_text, "flags": {"fail-reply": 1}})
        raw_sock = await RawUdp().open(env.pf.udp_port)
        wire = t.encode(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x01")]), key=bad)
        raw_sock.send(wire)
        echo = await raw_sock.recv()
        raw_sock.close()
        assert len(echo) == 28 and echo[:26] == wire[:26] and echo[26] == (wire[26] & 0xF0) | 0x08
        # A response with a wrong digest is lost: the platform retransmits (same seq).
        task = asyncio.ensure_future(env.op.get({"serial": t.serial_text, "tags": ["0x3007"], "timeout": 5}))
        req_wire = await t.recv()
        req = t.decode(req_wire)
        await t.send(codec.Message(C.CONFIG_GET_ACK, {"result": 0}, [(0x3007, b"\x10")]), seq=req.seq, key=bad)
        again = await t.recv(timeout=3)
        assert again == req_wire
        await t.send(codec.Message(C.CONFIG_GET_ACK, {"result": 0}, [(0x3007, b"\x11")]), seq=req.seq)
        got = await task
        assert got["tlvs"][0]["hex"] == "11"
    run(scenario)


def test_subpackets_both_ways():
    """Appendix F, PROTOCOL.md 6: a fragmented request is acknowledged part by part with
    0x4008 op 0x01 naming the next index and runs only when complete; a response too
    long for SMS goes as sub-packets, index 1 in the ACK and the rest on repeated
    requests; an inconsistent set is aborted (op 0x03)."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        report = [(0x0002, b"cmnet.m2m.example" + bytes(15)), (0x0003, b"user-name-for-dialing"),
                  (0x0008, b"http://platform.example.com:7301/m2m/terminal/endpoint/long-path"),
                  (0x000C, b"http://application.example.com:8080/service/terminal/data/path")]
        trap = codec.Message(C.CONFIG_TRAP, tlvs=report, serial=t.serial)
        sp = S.Splitter(trap, 0x0ABC, P.DEFAULT, P.BEARER_PACKET, digest=True, chunk=60)
        assert sp.total >= 4
        for i in range(1, sp.total + 1):
            m = sp.message(i, 0)
            ans, raw = await t.call(m)
            if i < sp.total:
                assert ans.subpacket is not None and ans.subpacket.op == S.OP_REQUEST
                assert ans.subpacket.index == i + 1 and ans.subpacket.trans_id == 0x0ABC
                assert raw[26] & 0x10
                assert env.pf.db.param(t.serial_text, 0x0008) is None     # appendix F f
            else:
                assert ans.subpacket is None and ans.fields["result"] == 0
        assert env.pf.db.param(t.serial_text, 0x0008) == report[2][1]
        # A fragmented answer over SMS (140 bytes, PROTOCOL.md 9).
        req = codec.Message(C.CONFIG_REQ, tlvs=[(tag, b"") for tag, _ in report])
        await t.send(req, "sms")
        raw = await t.recv("sms")
        assert len(raw) <= 140
        first = t.decode(raw, "sms")
        assert first.command == C.CONFIG_REQ_ACK and first.seq == req.seq
        assert first.subpacket.index == 1 and first.subpacket.total > 1
        r = S.Reassembler(first.command, first.subpacket)
        while not r.complete:
            rep = codec.Message(C.CONFIG_REQ)
            rep.subpacket = r.request()
            wire = await t.send(rep, "sms")
            got = t.decode(await t.recv("sms"), "sms")
            assert got.seq == rep.seq and got.subpacket.index == rep.subpacket.index
            r.add(got.subpacket)
        whole = r.message(P.DEFAULT)
        assert whole.fields["result"] == 0 and whole.tlvs == report
        # A set whose total changes half-way is aborted (appendix F e).
        sp = S.Splitter(trap, 0x0BCD, P.DEFAULT, P.BEARER_PACKET, digest=True, chunk=60)
        ans, _ = await t.call(sp.message(1, 0))
        forged = sp.message(2, 0)
        forged.subpacket.total += 1
        ans, _ = await t.call(forged)
        assert ans.subpacket.op == S.OP_RECEIVER_ABORT
    run(scenario)


def test_config_trap_and_req_contents():
    """G e: a CONFIG_TRAP with an unsupported tag -> 0x01, the tag echoed with L=0, and
    nothing applied; alarms are stored; G f: CONFIG_REQ returns stored values and
    refuses unknown tags."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        ans, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x09"), (0x8001, b"xx")]))
        assert ans.fields["result"] == 0x01 and ans.tlvs == [(0x8001, b"")]
        assert env.pf.db.param(t.serial_text, 0x3007) != b"\x09"
        ans, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\xff")]))   # 0..100 only
        assert ans.fields["result"] == 0x01 and ans.tlvs == [(0x3007, b"")]
        alarm = [(0x300B, b"\x01"), (0x300C, b"\x01"), (0x300D, struct.pack(">HH", 0x0003, 0x000B))]
        ans, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=alarm))
        assert ans.fields["result"] == 0
        assert env.pf.db.param(t.serial_text, 0x300D) == struct.pack(">HH", 3, 11)
        assert any("ALARM" in m["note"] for m in env.messages(t.serial_text))
        ans, _ = await t.call(codec.Message(C.CONFIG_REQ, tlvs=[(0x300D, b""), (0x0011, b"")]))
        assert ans.fields["result"] == 0 and dict(ans.tlvs)[0x300D] == struct.pack(">HH", 3, 11)
        ans, _ = await t.call(codec.Message(C.CONFIG_REQ, tlvs=[(0x8002, b"")]))
        assert ans.fields["result"] == 0x01 and ans.tlvs == [(0x8002, b"")]
        # By SMS only the terminal's own MSISDN is believed.
        spoof = SmsBearer("127.0.0.1", env.smsc.port, "13812345678", [PLATFORM_NO])
        await spoof.open()
        await spoof.send(t.encode(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x07")]), "sms"))
        await until(lambda: any("SMS from 13812345678" in m["note"] for m in env.messages(t.serial_text)),
                    timeout=5.0)
        await spoof.close()
        # An alarm by SMS is taken without a login (4.3.5).
        await t.call(codec.Message(C.LOGOUT, {"reason": 0}))
        ans, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x300B, b"\x01"), (0x300D, b"\x00\x03")]), "sms")
        assert ans.fields["result"] == 0
    run(scenario)


def test_transparent_data():
    """4.3.11 / G j: forwarded to an online terminal (0x4012), 0x01 when it is
    offline, 0x02 unknown destination, stored for an EC code (0x4014), 0x04 when
    the CRC16 is wrong."""
    async def scenario(env):
        await env.provision()
        await env.provision(IMSI2, MSISDN2)
        a = env.terminal()
        await a.enroll()
        b = env.terminal(imei=IMEI2, imsi=IMSI2, msisdn=MSISDN2)
        await b.enroll()
        data = b"meter=1234;temp=21.5"
        crc16 = binascii.crc_hqx(data, 0xFFFF)         # CRC-16/CCITT-FALSE (PROTOCOL.md 7)
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16}, [(0x4012, b.serial), (0x4007, data)])
        ans, _ = await a.call(msg)
        assert ans.fields["result"] == 0x00
        req, wire = await b.answer(result=0x05)
        assert req.command == C.TRANSPARENT_DATA and req.tlv(0x4007) == data
        assert req.tlv(0x4013) == a.serial and req.fields["crc16"] == crc16
        assert_digest(wire, b.curtime, IMEI2, IMSI2, b.down)
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16 ^ 1}, [(0x4014, b"EC0001"), (0x4007, data)])
        ans, _ = await a.call(msg)
        assert ans.fields["result"] == 0x04
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16}, [(0x4014, b"EC0001"), (0x4007, data)])
        ans, _ = await a.call(msg)
        assert ans.fields["result"] == 0x00
        rows = (await env.op.app_data({}))["app_data"]
        assert rows[-1]["ec_code"] == "EC0001" and rows[-1]["data"] == data.hex()
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16}, [(0x4012, b"NOBODY0000000009"), (0x4007, data)])
        ans, _ = await a.call(msg)
        assert ans.fields["result"] == 0x02
        await b.call(codec.Message(C.LOGOUT, {"reason": 0}))
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc16}, [(0x4012, b.serial), (0x4007, data)])
        ans, _ = await a.call(msg)
        assert ans.fields["result"] == 0x01
    run(scenario)


def test_tcp_framing_and_routing():
    """PROTOCOL.md 9: the TCP stream is split by total_length (several messages in one
    write, one message over several writes); platform requests go back on the same
    connection (4.2); an impossible length closes the connection."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open("udp", "sms", "tcp")
        a, _ = await t.register(0x00, via="tcp")
        t.serial = a.fields["terminal_id"]
        await t.take_keys()
        ans, raw = await t.login("tcp")
        assert ans.fields["result"] == 0x01
        w1 = t.encode(codec.Message(C.HEART_BEAT), "tcp", sign=False)
        w2 = t.encode(codec.Message(C.HEART_BEAT), "tcp", sign=False)
        blob = w1 + w2
        writer = t.tcp._writer
        writer.write(blob[:5])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(blob[5:])
        await writer.drain()
        seqs = [codec.decode(await t.recv("tcp"), P.DEFAULT).seq for _ in range(2)]
        assert seqs == [t.seq - 1, t.seq]
        task = asyncio.ensure_future(env.op.ctrl({"serial": t.serial_text, "code": "report-stats"}))
        req, wire = await t.answer("tcp")
        assert req.command == C.REMOTE_CTRL and req.tlv(0x4001) == b"\x04"
        assert (await task)["result"] == 0
        writer.write(b"\x00\x05junk")
        await writer.drain()
        with pytest.raises(ConnectionError):
            await t.recv("tcp")
        await until(lambda: not env.pf.tcp_conns)
    run(scenario)


def test_offline_after_silent_heartbeats():
    """4.3.4: a terminal silent for 3 heartbeat periods (its 0x0011) is marked
    offline and the event is logged; platform requests then go by SMS (4.2)."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.open()
        a, _ = await t.register(0x00)
        t.serial = a.fields["terminal_id"]
        await t.take_keys()
        ans, _ = await t.login(tlvs=[(0x0011, struct.pack(">I", 1))])
        assert env.pf.db.terminal(t.serial_text)["state"] == "online"
        await asyncio.sleep(2.0)
        assert env.pf.db.terminal(t.serial_text)["state"] == "online"
        await until(lambda: env.pf.db.terminal(t.serial_text)["state"] == "offline", 3.0)
        assert any("offline" in m["note"] for m in env.messages(t.serial_text))
        task = asyncio.ensure_future(env.op.ctrl({"serial": t.serial_text, "code": "wake-up"}))
        req, wire = await t.answer("sms")
        assert req.command == C.REMOTE_CTRL and req.tlv(0x4001) == b"\x03"
        assert_no_digest(wire)                 # 4.4.2.1: no digest on SMS by default
        assert (await task)["result"] == 0
    run(scenario)


def test_local_reset_and_key_updates():
    """4.4.4 / G a op 0x04: after a local reset (E020) the platform sends new secrets
    for what was cleared; 4.4.3.1.3.2: the operator changes the uplink password
    (in clear -> by SMS), the terminal logs out with 0x09 and logs in with it;
    4.4.3.1.3.1: the terminal asks for a new downlink password by SMS (op 0x05)."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        await t.call(codec.Message(C.LOGOUT, {"reason": 0}))
        old_down, old_key = t.down, t.base_key
        a, _ = await t.register(0x04, tlvs=[(0xE020, b"\x0A")])      # uplink + base key cleared
        assert a.fields["result"] == 0x00 and a.fields["terminal_id"] == t.serial
        req, _ = await t.take_keys()
        tags = [tg for tg, _ in req.tlvs]
        assert 0xE025 in tags and 0xE036 in tags and 0xE028 not in tags
        assert t.down == old_down and t.base_key != old_key
        ans, _ = await t.login()
        assert ans.fields["result"] in (0, 1) and t.session is not None
        assert env.pf.db.terminal(t.serial_text)["cleared"] == 0x0A
        # Operator: new uplink password; in clear it goes by SMS without a digest.
        task = asyncio.ensure_future(env.op.security({"serial": t.serial_text, "operation": 0,
                                                      "tlvs": [["0xE025", "new"]]}))
        raw = await t.recv("sms")
        assert_no_digest(raw)
        req = codec.decode(raw, P.DEFAULT, P.BEARER_SMS)
        new_up = dict(req.tlvs)[0xE025].decode()
        assert new_up != t.up and 0xE027 in dict(req.tlvs)
        await t.send(codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0}), "sms", seq=req.seq)
        res = await task
        assert res["result"] == 0
        assert env.pf.db.terminal(t.serial_text)["up_pw"] != new_up       # pending until LOGOUT 0x09
        ans, raw = await t.call(codec.Message(C.LOGOUT, {"reason": 0x09}))
        assert_digest(raw, t.curtime, IMEI, IMSI, t.down)
        assert env.pf.db.terminal(t.serial_text)["up_pw"] == new_up
        t.up = new_up
        ans, _ = await t.login()
        assert ans.fields["result"] in (0, 1)
        # Terminal asks for a new downlink password in clear (op 0x05): 0x00, then SMS.
        ans, _ = await t.call(codec.Message(C.SECURITY_CONFIG, {"operation": 0x05}, [(0xE028, b"")]))
        assert ans.fields["result"] == 0
        raw = await t.recv("sms")
        req = codec.decode(raw, P.DEFAULT, P.BEARER_SMS)
        v = dict(req.tlvs)
        assert list(v) == [0xE028, 0xE02A]
        await t.send(codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0}), "sms", seq=req.seq)
        # 4.4.3.1.3.3: LOGOUT 0x09 is still answered with the old downlink password;
        # the new one signs from the next login on.
        ans, raw = await t.call(codec.Message(C.LOGOUT, {"reason": 0x09}))
        assert_digest(raw, t.curtime, IMEI, IMSI, t.down)
        t.down = v[0xE028].decode()
        ans, raw = await t.login()
        assert_digest(raw, ans.fields["curtime"], IMEI, IMSI, t.down)
    run(scenario)


def test_platform_logout_and_security_read():
    """G c: platform-initiated LOGOUT with a reason ends the session once the
    terminal acknowledges; G m op 0x02: digests read back in clear."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()

        def check(req, wire):
            assert req.command == C.SECURITY_CONFIG and req.fields["operation"] == 0x02
            assert_digest(wire, t.curtime, IMEI, IMSI, t.down)
        e026 = md5(tlv(0xE025, t.up.encode()), tlv(0xE027, struct.pack(">I", t.up_valid)))
        task = asyncio.ensure_future(env.op.security({"serial": t.serial_text, "operation": "read-digests",
                                                      "tlvs": [["0xE026", ""]]}))
        await t.answer(tlvs=[(0xE026, e026)], check=check)
        res = await task
        assert res["result"] == 0 and res["tlvs"][0]["hex"] == e026.hex()
        task = asyncio.ensure_future(env.op.logout({"serial": t.serial_text, "reason": "platform-config"}))
        wire = await t.recv()
        req = t.decode(wire)
        assert req.command == C.LOGOUT and req.fields["reason"] == 0x07
        await t.send(codec.Message(C.LOGOUT_ACK), seq=req.seq)
        await task
        assert env.pf.db.terminal(t.serial_text)["state"] == "logged-out"
    run(scenario)


def test_platform_requests_encrypted_and_as_subpackets():
    """PROTOCOL.md 5: the operator may have a request encrypted with the session key
    (E042); PROTOCOL.md 6: a platform request too long for SMS goes as sub-packets
    (the terminal asks for each next one), and an answer the terminal sends as
    sub-packets is collected by repeating the request with 0x4008 op 0x01."""
    async def scenario(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        task = asyncio.ensure_future(env.op.get({"serial": t.serial_text, "tags": ["0x0011"], "encrypt": "full"}))
        wire = await t.recv()
        assert wire[26] & 0x10 and wire[28:30] == b"\xe0\x42"
        n = struct.unpack(">H", wire[30:32])[0]
        assert cbc_decrypt("aes", t.session.key, wire[32:32 + n]) == tlv(0x0011, b"")
        assert_digest(wire, t.curtime, IMEI, IMSI, t.down)
        req = t.decode(wire)
        await t.send(codec.Message(C.CONFIG_GET_ACK, {"result": 0}, [(0x0011, struct.pack(">I", 30))]), seq=req.seq)
        assert (await task)["tlvs"][0]["hex"] == "0000001e"
        # A CONFIG_SET longer than one SMS: sub-packets, each asked for by the terminal.
        url = "http://platform.example.com:7301/m2m/terminal/endpoint/very-long-path"
        task = asyncio.ensure_future(env.op.set({
            "serial": t.serial_text, "via": "sms", "report_wait": 0,
            "tlvs": [[0x0008, url.encode().hex()], [0x000C, url.replace("platform", "app").encode().hex()]]}))
        r = None
        while True:
            raw = await t.recv("sms")
            assert len(raw) <= 140 and raw[26] & 0x10
            part = t.decode(raw, "sms")
            assert part.command == C.CONFIG_SET and part.subpacket.op == S.OP_DATA
            if r is None:
                r = S.Reassembler(part.command, part.subpacket)
            else:
                r.add(part.subpacket)
            ack = codec.Message(C.CONFIG_SET_ACK, {"result": 0})
            if not r.complete:
                ack = codec.Message(C.CONFIG_SET_ACK)
                ack.subpacket = r.request()
            await t.send(ack, "sms", seq=part.seq)
            if r.complete:
                break
        assert r.total >= 2 and dict(r.message().tlvs)[0x0008] == url.encode()
        assert (await task)["result"] == 0
        # The terminal answers a CONFIG_GET with sub-packets: index 1 in the ACK ...
        task = asyncio.ensure_future(env.op.get({"serial": t.serial_text, "tags": ["0x0008", "0x000C"]}))
        req = t.decode(await t.recv())
        answer = codec.Message(C.CONFIG_GET_ACK, {"result": 0}, [(0x0008, url.encode()), (0x000C, url.encode())],
                               serial=t.serial)
        sp = S.Splitter(answer, 0x1111, P.DEFAULT, P.BEARER_PACKET, digest=True, chunk=50)
        await t.send(sp.message(1, 0), seq=req.seq)
        # ... the platform repeats the request asking for the others (new seq each).
        for i in range(2, sp.total + 1):
            rep = t.decode(await t.recv())
            assert rep.command == C.CONFIG_GET and rep.subpacket.op == S.OP_REQUEST
            assert rep.subpacket.index == i and rep.seq != req.seq
            await t.send(sp.message(i, 0), seq=rep.seq)
        got = await task
        assert got["result"] == 0 and [x["hex"] for x in got["tlvs"]] == [url.encode().hex()] * 2
    run(scenario)


def test_state_survives_restart(tmp_path):
    """The SQLite file keeps subscriptions, terminals, secrets, parameters and the log;
    sessions do not survive a restart (the terminal logs in again, 4.3.2)."""
    path = str(tmp_path / "platform.db")

    async def first(env):
        await env.provision()
        t = env.terminal()
        await t.enroll()
        await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x33")]))
        return t

    async def main():
        env = await Env().start(store=Store(path))
        try:
            t = await first(env)
            serial, up = t.serial_text, t.up
        finally:
            await env.stop()
        pf = await Platform(Config(udp_port=0, tcp_port=0), Store(path)).start()
        try:
            row = pf.db.terminal(serial)
            assert row["state"] == "offline" and row["up_pw"] == up
            assert pf.db.param(serial, 0x3007) == b"\x33"
            assert any(m["command"] == "LOGIN_ACK" for m in pf.db.messages(serial, 100))
        finally:
            await pf.close()
    asyncio.run(main())


# == operator CLI and control socket ==================================================

def _cli(env, *argv):
    out, err = io.StringIO(), io.StringIO()
    argv = list(argv) + ["--control", "127.0.0.1:%d" % env.ctl.port]
    code = PCLI.main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_commands_over_control_socket():
    """The operator commands through the line-JSON control socket: provision, list,
    show, get, set (ACK + 0x4010 report, 4.3.9.3), ctrl, flag, log; bad input is
    one line on stderr and exit 2."""
    async def scenario(env):
        cli = lambda *a: asyncio.to_thread(_cli, env, *a)
        code, out, err = await cli("provision", "--imsi", IMSI, "--msisdn", MSISDN)
        assert code == 0 and IMSI in out
        t = env.terminal()
        await t.enroll()
        code, out, err = await cli("list")
        assert code == 0 and t.serial_text in out and "online" in out and "session key" in out
        # get: the answer printed by tag name.
        task = asyncio.ensure_future(cli("get", t.serial_text, "HEARTBEAT_PERIOD"))
        await t.answer(tlvs=[(0x0011, struct.pack(">I", 60))])
        code, out, err = await task
        assert code == 0 and "HEARTBEAT_PERIOD (0x0011) = 60" in out
        # set: CONFIG_SET_ACK, then the terminal reports 0x4010 for that seq.
        task = asyncio.ensure_future(cli("set", t.serial_text, "HEARTBEAT_PERIOD=90", "0x0002=cmnet", "--force"))
        req, wire = await t.answer()
        assert req.command == C.CONFIG_SET
        assert req.tlvs == [(0x0011, struct.pack(">I", 90)), (0x0002, b"cmnet"), (0x4009, b"\x01")]
        ans, _ = await t.call(codec.Message(C.CONFIG_TRAP, tlvs=[(0x4010, b"\x00" + struct.pack(">I", req.seq))]))
        code, out, err = await task
        assert code == 0 and "CONFIG_SET_ACK result 0x00" in out and "0x4010 report: applied" in out
        assert env.pf.db.param(t.serial_text, 0x0011) == struct.pack(">I", 90)
        # ctrl by name; the terminal refuses -> exit 1.
        task = asyncio.ensure_future(cli("ctrl", t.serial_text, "restart"))
        req, wire = await t.answer(result=1, tlvs=[(0x4001, b"")])
        assert req.tlv(0x4001) == b"\x02"
        code, out, err = await task
        assert code == 1 and "result 0x01" in out
        code, out, err = await cli("flag", t.serial_text, "keep-connected=1")
        assert code == 0 and "keep_connected=1" in out
        code, out, err = await cli("show", t.serial_text)
        assert code == 0 and IMEI in out and "HEARTBEAT_PERIOD" in out and "CONFIG_SET" in out
        code, out, err = await cli("log", t.serial_text, "--hex", "--limit", "500")
        assert code == 0 and "REGISTER" in out and "LOGIN_ACK" in out
        code, out, err = await cli("list", "--json")
        assert code == 0 and json.loads(out)["terminals"][0]["serial"] == t.serial_text
        # security (read digests) and logout from the command line.
        task = asyncio.ensure_future(cli("security", t.serial_text, "read-digests", "0xE029="))
        req, wire = await t.answer(tlvs=[(0xE029, bytes(16))])
        assert req.fields["operation"] == 0x02 and req.tlvs == [(0xE029, b"")]
        code, out, err = await task
        assert code == 0 and "SECURITY_CONFIG_ACK result 0x00" in out
        task = asyncio.ensure_future(cli("logout", t.serial_text, "update-keys"))
        req, wire = await t.recv(), None
        req = t.decode(req)
        assert req.command == C.LOGOUT and req.fields["reason"] == 0x09
        await t.send(codec.Message(C.LOGOUT_ACK), seq=req.seq)
        code, out, err = await task
        assert code == 0 and "LOGOUT_ACK" in out
        code, out, err = await cli("list")
        assert "logged-out" in out
        # Bad input: one line, exit 2.
        for argv in (("get", t.serial_text, "NO_SUCH_TAG"), ("set", t.serial_text, "HEARTBEAT_PERIOD=abc"),
                     ("set", t.serial_text, "0x3007=200"), ("ctrl", t.serial_text, "explode"),
                     ("provision", "--imsi", "123", "--msisdn", MSISDN), ("get", "NOBODY", "0x0011"),
                     ("security", t.serial_text, "9"), ("frobnicate",)):
            code, out, err = await cli(*argv)
            assert code == 2 and err.count("\n") == 1 and err.startswith("wmmp-platform: error:"), (argv, err)
        # A terminal that does not answer: exit 1 after the timeout.
        code, out, err = await cli("ctrl", t.serial_text, "4", "--timeout", "0.5", "--packet")
        assert code == 1 and "no answer" in err
    run(scenario)


def test_serve_console_script(tmp_path):
    """`wmmp-platform serve` runs as a program (console script) and answers `list`
    on its control socket."""
    exe = os.path.join(ROOT, ".venv", "bin", "wmmp-platform")
    if not os.path.exists(exe):
        exe = None
    cmd = [exe] if exe else [sys.executable, "-m", "wmmp_tools.platform.cli"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]))
    proc = subprocess.Popen(cmd + ["serve", "--db", str(tmp_path / "p.db"), "--udp", "127.0.0.1:0",
                                   "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stderr.readline()
        m = re.search(r"control 127\.0\.0\.1:(\d+)", line)
        assert m, line
        port = m.group(1)
        r = subprocess.run(cmd + ["provision", "--imsi", IMSI, "--msisdn", MSISDN, "--control", "127.0.0.1:" + port],
                           capture_output=True, text=True, env=env, timeout=20)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(cmd + ["list", "--control", "127.0.0.1:" + port],
                           capture_output=True, text=True, env=env, timeout=20)
        assert r.returncode == 0 and IMSI in r.stdout and "provisioned" in r.stdout
    finally:
        proc.terminate()
        proc.wait(10)
    assert os.path.exists(tmp_path / "p.db")
