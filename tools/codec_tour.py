"""`make tour` (the message layer alone): a terminal's first minutes on the
wire, encoded by lib/wmmp and read back with the `wmmp` CLI.

REGISTER (platform assigns the serial) -> REGISTER_ACK 0x00 -> SECURITY_CONFIG with
passwords and base key (no digest: first delivery) -> LOGIN asking for a session
key (E03A) -> LOGIN_ACK with the session key wrapped in E040 -> the security
CONFIG_TRAP, fully encrypted with the session key -> HEART_BEAT.  Every digest is
checked and the session key unwrapped as a terminal would.  The terminal engine,
platform simulator and the end-to-end run over sockets are `make demo`.
"""
import struct
import subprocess
import sys
import os

from wmmp.wire import codec, commands as C, digest as D, keys, codes
from wmmp.crypto import cipher as CI

IMEI, IMSI = "860000000000001", "460001234567890"
UP, DOWN = "Up123456", "Dn654321"
BASE_KEY = b"BaseKey3DES12345"
NOW = 1763700000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def show(title, raw, key_args=()):
    print("\n=== %s (%d bytes) ===" % (title, len(raw)))
    print(raw.hex())
    wmmp = os.path.join(os.path.dirname(sys.executable), "wmmp")
    p = subprocess.run([wmmp, "decode", raw.hex()] + list(key_args), capture_output=True, text=True)
    print(p.stdout.rstrip())
    if p.returncode != 0:
        print(p.stderr.rstrip())
        raise SystemExit("demo failed: wmmp decode exit %d" % p.returncode)


def ids(password, ts):
    return ["--imei", IMEI, "--imsi", IMSI, "--password", password, "--timestamp", str(ts)]


def main():
    serial = b"M2MMAKER"                         # bytes 9..16 zero: please assign (G a)
    reg = codec.Message(C.REGISTER, {"operation": codes.REG_OP_ASSIGN_SERIAL,
                                     "imei": D.imei_field(IMEI), "imsi": IMSI},
                        serial=serial, seq=1, security=0x80)
    show("REGISTER, terminal -> platform", codec.encode(reg))
    assigned = b"M2MMAKER0000A1B2"
    ack = codec.Message(C.REGISTER_ACK, {"result": codes.REG_ACK_OK_WAIT_SMS_KEYS, "terminal_id": assigned},
                        serial=serial, seq=1)
    show("REGISTER_ACK 0x00: wait for keys by SMS", codec.encode(ack))
    v = struct.pack(">I", NOW + 365 * 86400)
    sec = codec.Message(C.SECURITY_CONFIG, {"operation": 0}, [
        (0xE025, UP.encode()), (0xE027, v), (0xE028, DOWN.encode()), (0xE02A, v),
        (0xE036, BASE_KEY), (0xE038, v), (0xE039, b"\x01")], serial=assigned, seq=1)
    show("SECURITY_CONFIG by SMS: passwords and base key (secrets hidden)", codec.encode(sec))
    up0 = D.DigestKey(IMEI, IMSI, UP, 0)
    login = codec.Message(C.LOGIN, {"software_version": b"WMMP0.1", "config_crc32": 0},
                          [(0x0011, struct.pack(">I", 30)),
                           (0xE03A, D.base_key_digest(BASE_KEY, NOW + 365 * 86400))],
                          serial=assigned, seq=2, security=0xC0)
    show("LOGIN with digest, asking for a session key", codec.encode(login, key=up0), ids(UP, 0))
    e040 = keys.wrap(CI.ALG_3DES, BASE_KEY, b"SessKeyAES128abc", NOW + 3600)
    lack = codec.Message(C.LOGIN_ACK, {"result": 0, "curtime": NOW}, [(0xE040, e040)], serial=assigned, seq=2)
    raw = codec.encode(lack, key=D.DigestKey(IMEI, IMSI, DOWN, 0))
    show("LOGIN_ACK with E040 (digest uses its own CURTIME)", raw, ids(DOWN, NOW))
    got = codec.decode(raw, key=D.DigestKey(IMEI, IMSI, DOWN, 0))
    sk = keys.unwrap(CI.ALG_3DES, BASE_KEY, got.tlv(0xE040), session_alg=CI.ALG_AES)
    print("\nterminal: LOGIN_ACK digest ok=%s, session key unwrapped: %r" % (got.digest_ok, sk))
    trap = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x50"), (0x300B, b"\x00")], serial=assigned,
                         seq=3, security=0xC0)
    trap.encryption = codec.ENC_FULL
    raw = codec.encode(trap, key=D.DigestKey(IMEI, IMSI, UP, NOW), cipher=sk.cipher())
    show("CONFIG_TRAP right after login, fully encrypted (E042)", raw,
         ids(UP, NOW) + ["--session-key", sk.key.decode(), "--alg", "aes"])
    hb = codec.Message(C.HEART_BEAT, tlvs=[(0x3007, b"\x50")], serial=assigned, seq=4, security=0xC0)
    show("HEART_BEAT (never a digest)", codec.encode(hb))
    print("\nmessage-layer demo: every step encoded, decoded and verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
