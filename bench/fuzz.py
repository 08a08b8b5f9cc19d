"""Long fuzz run of the WMMP decoder ("bad input"): random and mutated
valid messages, on both bearers, with digest keys and session keys.

Every case must either decode (and then total_length equals its size, unless it
is a 28-byte header echo) or raise a WmmpError subclass; anything else stops
the run with the offending input in hex.  Prints the number of cases and what
happened to them.

    python bench/fuzz.py [--cases N] [--seed S]
"""
import argparse
import os
import random
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]

from wmmp.wire import codec, commands as C, digest as D, subpacket as S   # noqa: E402
from wmmp.crypto import cipher as CI   # noqa: E402
from wmmp.wire import profile as P
from wmmp.errors import WmmpError  # noqa: E402

KEY = D.DigestKey("860000000000001", "460001234567890", "Up123456", 1700000000)
CIPHERS = [(CI.ALG_DES, b"DesKey01"), (CI.ALG_3DES, b"BaseKey3DES12345"), (CI.ALG_AES, b"Sess1onKeyAES128")]
RESERVED = {0xE021, 0xE042, 0xE043, 0xE044, 0x4008}


def random_message(rnd):
    cmd = rnd.choice(C.all_commands())
    fields = {}
    for name, code in C.layout(cmd):
        if code in ("B", "H", "I"):
            fields[name] = rnd.getrandbits({"B": 8, "H": 16, "I": 32}[code])
        else:
            fields[name] = rnd.randbytes(int(code[:-1]))
    if cmd == C.FILE_REQ_ACK:
        fields["block"] = rnd.randbytes(rnd.randint(0, 64))
        fields["block_size"] = len(fields["block"])
    tlvs = []
    for _ in range(rnd.randint(0, 10)):
        t = rnd.getrandbits(16)
        if t not in RESERVED:
            tlvs.append((t, rnd.randbytes(rnd.choice((0, 1, 2, 4, 16, rnd.randint(0, 90))))))
    m = codec.Message(cmd, fields, tlvs, serial=rnd.randbytes(16), seq=rnd.getrandbits(32),
                      security=rnd.getrandbits(8) & ~0x30)
    return m


def valid_wire(rnd):
    m = random_message(rnd)
    key = KEY if rnd.random() < 0.6 else None
    ck = rnd.choice(CIPHERS)
    r = rnd.random()
    if r < 0.2:
        m.encryption = codec.ENC_FULL
    elif r < 0.3 and m.tlvs:
        m.encryption = codec.ENC_PARTIAL
        m.encrypt_tags = (m.tlvs[0][0],)
    elif r < 0.4:
        sp = S.Splitter(m, rnd.getrandbits(16), digest=key is not None, cipher=ck,
                        chunk=rnd.randint(1, 60))
        m = sp.message(rnd.randint(1, sp.total), rnd.getrandbits(32))
    try:
        return codec.encode(m, key=key, cipher=ck), ck
    except WmmpError:
        return None, ck


def mutate(rnd, raw):
    raw = bytearray(raw)
    for _ in range(rnd.randint(1, 4)):
        k = rnd.randrange(7)
        if k == 0 and raw:
            i = rnd.randrange(len(raw))
            raw[i] ^= 1 << rnd.randrange(8)
        elif k == 1:
            raw = raw[:rnd.randint(0, len(raw))]
        elif k == 2:
            raw += rnd.randbytes(rnd.randint(1, 16))
        elif k == 3 and len(raw) >= 2:
            struct.pack_into(">H", raw, 0, rnd.getrandbits(16))
        elif k == 4 and len(raw) > 32:
            struct.pack_into(">H", raw, rnd.randrange(28, len(raw) - 1), rnd.getrandbits(16))
        elif k == 5:
            i = rnd.randint(0, len(raw))
            raw[i:i] = rnd.randbytes(rnd.randint(1, 12))
        elif k == 6 and len(raw) > 27:
            raw[26] = rnd.getrandbits(8)   # security byte
    if len(raw) >= 2 and rnd.random() < 0.5:
        struct.pack_into(">H", raw, 0, len(raw) & 0xFFFF)   # reach past the length check
    return bytes(raw)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=20261121)
    a = ap.parse_args(argv)
    rnd = random.Random(a.seed)
    outcomes = {}
    t0 = time.time()
    for n in range(a.cases):
        r = rnd.random()
        ck = rnd.choice(CIPHERS)
        if r < 0.15:
            data = rnd.randbytes(rnd.randint(0, 200))
        else:
            raw, ck = valid_wire(rnd)
            if raw is None:
                data = rnd.randbytes(rnd.randint(0, 60))
            else:
                data = raw if r < 0.3 else mutate(rnd, raw)
        bearer = P.BEARER_SMS if rnd.random() < 0.2 else P.BEARER_PACKET
        try:
            m = codec.decode(data, P.DEFAULT, bearer, key=KEY, cipher=ck)
            if not m.notice and m.total_length != len(data):
                raise AssertionError("accepted a message whose total_length disagrees")
            k = "accepted" + (" (notice)" if m.notice else "") + (
                " digest-ok" if m.digest_ok else " digest-bad" if m.digest_ok is False else "")
        except WmmpError as e:
            k = type(e).__name__
        except Exception:
            print("FUZZ FAILURE on case %d, input %s" % (n, data.hex()))
            raise
        outcomes[k] = outcomes.get(k, 0) + 1
    dt = time.time() - t0
    print("fuzz: %d cases in %.1f s (%.0f/s), seed %d, no unexpected exception"
          % (a.cases, dt, a.cases / dt, a.seed))
    for k in sorted(outcomes, key=lambda k: -outcomes[k]):
        print("  %-28s %8d" % (k, outcomes[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
