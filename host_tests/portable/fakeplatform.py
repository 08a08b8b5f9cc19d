"""A scripted WMMP platform for engine scenario tests (portable).  It decodes what
the terminal sends, checks digests with the terminal's secrets, and builds
platform messages with the project's codec.  It has no policy of its own: each
test says what the platform answers."""
import struct

from wmmp.wire import codec, commands as C, digest as D, keys
from wmmp.crypto import cipher as CI
from wmmp.terminal import params as PM
from wmmp.wire import profile as P

IMEI = "860000000000001"
IMSI = "460001234567890"
UP = b"Up123456"
DOWN = b"Dn654321"
BASE = b"BaseKey3DES12345"
SESSION = b"SessKey3DES16abc"
CURTIME = 1763700000


class Clock:
    def __init__(self, t=1000):
        self.t = t

    def advance(self, dt):
        self.t += dt
        return self.t


class Platform:
    def __init__(self, imei=IMEI, imsi=IMSI):
        self.imei = imei
        self.imsi = imsi
        self.ts = 0
        self.seq = 500
        self.session = None
        self.serial = b""

    def key(self, password, ts=None, imsi=None):
        return D.DigestKey(self.imei, imsi or self.imsi, password, self.ts if ts is None else ts)

    def read(self, raw, bearer=P.BEARER_PACKET, ts=None, imsi=None):
        """Decode a terminal message, checking its digest against the uplink password."""
        m = codec.decode(raw, P.DEFAULT, bearer, self.key(UP, ts, imsi), self.cipher())
        return m

    def cipher(self):
        # the session key uses the base key's algorithm (E039 = 0x01, 3DES) unless
        # E035/E03E say otherwise
        return (CI.ALG_3DES, self.session) if self.session else None

    def make(self, cmd, fields=None, tlvs=None, seq=None, digest=True, ts=None, bearer=P.BEARER_PACKET,
             password=DOWN, imsi=None, security=0):
        if seq is None:
            self.seq += 1
            seq = self.seq
        m = codec.Message(cmd, fields or {}, tlvs or [], serial=self.serial, seq=seq, security=security)
        key = self.key(password, ts, imsi) if digest else None
        return codec.encode(m, P.DEFAULT, bearer, key, self.cipher())

    def ack(self, req, fields=None, tlvs=None, **kw):
        return self.make(req.command | C.ACK, fields, tlvs, seq=req.seq, **kw)

    def keys_sms(self, validity=CURTIME + 86400 * 365):
        v = struct.pack(">I", validity)
        return self.make(C.SECURITY_CONFIG, {"operation": 0},
                         [(0xE025, UP), (0xE027, v), (0xE028, DOWN), (0xE02A, v),
                          (0xE036, BASE), (0xE038, v), (0xE039, b"\x01")],
                         digest=False, bearer=P.BEARER_SMS)

    def login_ack(self, req, result=0, session=True, curtime=CURTIME):
        tl = []
        if session:
            tl.append((0xE040, keys.wrap(CI.ALG_3DES, BASE, SESSION, curtime + 3600)))
        raw = self.make(C.LOGIN_ACK, {"result": result, "curtime": curtime}, tl, seq=req.seq, ts=0)
        self.ts = curtime
        if session:
            self.session = SESSION
        return raw


def provisioned_params(registered=True, serial=b"M2MMAKER0000A1B2"):
    """A parameter store as left by a completed registration."""
    p = PM.Params()
    if registered:
        v = struct.pack(">I", CURTIME + 86400 * 365)
        for t, val in ((0xE025, UP), (0xE027, v), (0xE028, DOWN), (0xE02A, v), (0xE036, BASE),
                       (0xE038, v), (0xE039, b"\x01")):
            p.set(t, val)
        p.set("serial", serial)
        p.set("registered", b"\x01")
        p.set("imsi", IMSI.encode())
    return p


def only(out, n=1):
    assert len(out) == n, [(b, C.name(struct.unpack(">H", r[20:22])[0])) for b, r in out]
    return out[0] if n == 1 else out


def command(raw):
    return struct.unpack(">H", raw[20:22])[0]
