"""`make tour` (the message layer alone): a terminal's first minutes on the
wire, encoded by lib/wmmp and read back with the `wmmp` CLI.

REGISTER (platform assigns the serial) -> REGISTER_ACK 0x00 -> SECURITY_CONFIG with
passwords and base key (no digest: first delivery) -> LOGIN asking for a session
key (E03A) -> LOGIN_ACK with the session key wrapped in E040 -> the security
CONFIG_TRAP, fully encrypted with the session key -> HEART_BEAT.  Every digest is
checked and the session key unwrapped as a terminal would.  The terminal engine,
platform simulator and the end-to-end run over sockets are `make demo`.

The passwords and keys are this file's test values.  The tour shows them as a
user's tools should: masked in the hex lines, hidden in the dumps (`wmmp decode`
without --show-secrets), and handed to `wmmp decode` through its environment
(WMMP_PASSWORD, WMMP_SESSION_KEY), never on its command line.
"""
import struct
import subprocess
import sys
import os

from wmmp.wire import codec, commands as C, digest as D, keys, codes
from wmmp.crypto import cipher as CI
from wmmp_tools import jsonform as J

IMEI, IMSI = "860000000000001", "460001234567890"
UP, DOWN = "Up123456", "Dn654321"
BASE_KEY = b"BaseKey3DES12345"
NOW = 1763700000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def masked_hex(raw):
    """`raw` in hex with the value of every TLV the dump hides (passwords, keys)
    written as ** per byte; encrypted content (E042/E043/E044) is shown as it is."""
    h = raw.hex()
    msg = codec.decode(raw)
    for tag, value, _ in J.wire_tlvs(msg):
        if not value or tag in J.CARRIER_TAGS or not J.is_secret(tag):
            continue
        at = raw.find(struct.pack(">HH", tag, len(value)) + value)
        if at >= 0:
            start = 2 * (at + 4)
            h = h[:start] + "**" * len(value) + h[start + 2 * len(value):]
    return h


def show(title, raw, key_args=(), secrets=None):
    """Print the message's hex (secrets masked) and `wmmp decode`'s dump of it;
    `secrets` go to wmmp through its environment, the message through stdin."""
    print("\n=== %s (%d bytes) ===" % (title, len(raw)))
    print(masked_hex(raw))
    wmmp = os.path.join(os.path.dirname(sys.executable), "wmmp")
    env = dict(os.environ)
    for name in ("WMMP_PASSWORD", "WMMP_SESSION_KEY"):
        env.pop(name, None)
    env.update(secrets or {})
    p = subprocess.run([wmmp, "decode", "-"] + list(key_args), input=raw.hex(), env=env,
                       capture_output=True, text=True)
    print(p.stdout.rstrip())
    if p.returncode != 0:
        print(p.stderr.rstrip())
        raise SystemExit("demo failed: wmmp decode exit %d" % p.returncode)


def ids(ts):
    """The digest options but the password (which goes in WMMP_PASSWORD)."""
    return ["--imei", IMEI, "--imsi", IMSI, "--timestamp", str(ts)]


def main():
    print("Passwords and keys below are the tour's test values: masked (**) in the hex lines and "
          "hidden in the dumps, as `wmmp decode` hides them without --show-secrets.")
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
    show("SECURITY_CONFIG by SMS: passwords and base key (secrets hidden: ** in the hex, "
         "<secret> in the dump)", codec.encode(sec))
    up0 = D.DigestKey(IMEI, IMSI, UP, 0)
    login = codec.Message(C.LOGIN, {"software_version": b"WMMP0.1", "config_crc32": 0},
                          [(0x0011, struct.pack(">I", 30)),
                           (0xE03A, D.base_key_digest(BASE_KEY, NOW + 365 * 86400))],
                          serial=assigned, seq=2, security=0xC0)
    show("LOGIN with digest, asking for a session key", codec.encode(login, key=up0), ids(0),
         {"WMMP_PASSWORD": UP})
    e040 = keys.wrap(CI.ALG_3DES, BASE_KEY, b"SessKeyAES128abc", NOW + 3600)
    lack = codec.Message(C.LOGIN_ACK, {"result": 0, "curtime": NOW}, [(0xE040, e040)], serial=assigned, seq=2)
    raw = codec.encode(lack, key=D.DigestKey(IMEI, IMSI, DOWN, 0))
    show("LOGIN_ACK with E040 (digest uses its own CURTIME)", raw, ids(NOW), {"WMMP_PASSWORD": DOWN})
    got = codec.decode(raw, key=D.DigestKey(IMEI, IMSI, DOWN, 0))
    sk = keys.unwrap(CI.ALG_3DES, BASE_KEY, got.tlv(0xE040), session_alg=CI.ALG_AES)
    print("\nterminal: LOGIN_ACK digest ok=%s, session key unwrapped: %r" % (got.digest_ok, sk))
    trap = codec.Message(C.CONFIG_TRAP, tlvs=[(0x3007, b"\x50"), (0x300B, b"\x00")], serial=assigned,
                         seq=3, security=0xC0)
    trap.encryption = codec.ENC_FULL
    raw = codec.encode(trap, key=D.DigestKey(IMEI, IMSI, UP, NOW), cipher=sk.cipher())
    show("CONFIG_TRAP right after login, fully encrypted (E042)", raw,
         ids(NOW) + ["--alg", "aes"], {"WMMP_PASSWORD": UP, "WMMP_SESSION_KEY": sk.key.decode()})
    hb = codec.Message(C.HEART_BEAT, tlvs=[(0x3007, b"\x50")], serial=assigned, seq=4, security=0xC0)
    show("HEART_BEAT (never a digest)", codec.encode(hb))
    print("\nmessage-layer demo: every step encoded, decoded and verified.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
