"""A scripted DTLS 1.2 PSK server for the portable tests of andlink.dtls
(MicroPython and CPython): enough of RFC 6347 to answer one client, with
knobs for what a real server or network does (cookie exchange, an identity
hint, a fragmented ServerHello, each message in its own datagram, a wrong
key).  The interop tests (host_tests/test_dtls_interop.py) use OpenSSL and
GnuTLS instead.

    srv = FakeDtlsServer(key, suite=CCM8, cookie=True, hint=b"", split=False,
                         fragment=False, ems=True)     ems: take the extended
                                                       master secret if offered
    srv.receive(datagram) -> [datagram]     the server's answer
    srv.app                                  application data it received
    srv.send_app(data) -> datagram
"""

from hashlib import sha256

from andlink.dtls import crypto as K
from andlink.dtls.session import CCM8

_V = b"\xfe\xfd"


def _u16(n):
    return bytes(((n >> 8) & 255, n & 255))


def _u24(n):
    return bytes(((n >> 16) & 255, (n >> 8) & 255, n & 255))


def _int(b):
    n = 0
    for x in b:
        n = (n << 8) | x
    return n


class FakeDtlsServer:
    def __init__(self, key, suite=CCM8, cookie=True, hint=b"", split=False, fragment=False, rand=None, ems=True):
        self.key = key
        self.suite = suite
        self.cookie = cookie
        self.hint = hint
        self.split = split
        self.fragment = fragment
        self.sr = rand or bytes(range(32))
        self.seq = [0, 0]
        self.hs_seq = 0
        self.transcript = b""
        self.app = []
        self.identity = None
        self.connected = False
        self.epoch1 = False
        self.hellos = 0
        self.finished_flight = None
        self.ems = ems
        self.used_ems = False

    def _rec(self, ct, epoch, body):
        s = self.seq[epoch]
        self.seq[epoch] += 1
        hdr = _u16(epoch) + _u16(0) + _u16(s >> 16) + _u16(s & 0xFFFF)
        if epoch:
            aad = hdr + bytes((ct,)) + _V + _u16(len(body))
            if self.suite == CCM8:
                body = hdr + self.wkey.seal(self.wiv + hdr, aad, body)
            else:
                data = body + K.hmac_sha256(self.wiv, aad + body)
                p = 15 - len(data) % 16
                iv = bytes(16)
                body = iv + self.wkey.encrypt(iv, data + bytes((p,)) * (p + 1))
        return bytes((ct,)) + _V + hdr + _u16(len(body)) + body

    def _hs(self, mt, body, seq=None):
        if seq is None:
            seq = self.hs_seq
            self.hs_seq += 1
        return bytes((mt,)) + _u24(len(body)) + _u16(seq) + _u24(0) + _u24(len(body)) + body

    def send_app(self, data):
        return self._rec(23, 1, data)

    def alert(self, level, desc):
        return self._rec(21, 1 if self.connected else 0, bytes((level, desc)))

    def receive(self, d):
        out = []
        i = 0
        while i + 13 <= len(d):
            ct, epoch = d[i], _int(d[i + 3:i + 5])
            ln = _int(d[i + 11:i + 13])
            hdr = d[i + 3:i + 11]
            body = d[i + 13:i + 13 + ln]
            i += 13 + ln
            if epoch == 1:
                if not hasattr(self, "rkey"):
                    continue                            # no session: dropped
                body = self._open(ct, hdr, body)
                if body is None:
                    out.append(self._rec(21, 0, b"\x02\x14"))      # bad_record_mac
                    continue
            if ct == 22:
                out += self._handshake(body, epoch)
            elif ct == 20:
                self.epoch1 = True
            elif ct == 23 and self.connected:
                self.app.append(body)
        return out

    def _open(self, ct, hdr, body):
        if self.suite == CCM8:
            aad = hdr + bytes((ct,)) + _V + _u16(len(body) - 16)
            return self.rkey.open(self.riv + body[:8], aad, body[8:])
        data = self.rkey.decrypt(body[:16], body[16:])
        p = data[-1]
        plain = data[:len(data) - p - 1 - 32]
        mac = data[len(plain):len(plain) + 32]
        aad = hdr + bytes((ct,)) + _V + _u16(len(plain))
        return plain if K.hmac_sha256(self.riv, aad + plain) == mac else None

    def _handshake(self, b, epoch):
        out = []
        mt = b[0]
        body = b[12:12 + _int(b[1:4])]
        if mt == 1:                                     # ClientHello
            self.hellos += 1
            k = 34 + 1 + body[34]
            ck = body[k + 1:k + 1 + body[k]]
            if self.finished_flight is not None:
                return []
            if self.cookie and not ck:
                hvr = self._hs(3, _V + b"\x04ABCD", seq=0)
                return [self._rec(22, 0, hvr)]
            self.cr = body[2:34]
            self.transcript = b[:12 + len(body)]
            self.hs_seq = _int(b[4:6])
            k += 1 + body[k]
            k += 2 + _int(body[k:k + 2])                # cipher suites
            k += 1 + body[k]                            # compression methods
            self.used_ems = self.ems and b"\x00\x17\x00\x00" in body[k + 2:]
            ext = b"\x00\x04\x00\x17\x00\x00" if self.used_ems else b""
            sh = self._hs(2, _V + self.sr + b"\x00" + _u16(self.suite) + b"\x00" + ext)
            msgs = [sh]
            if self.hint:
                msgs.append(self._hs(12, _u16(len(self.hint)) + self.hint))
            msgs.append(self._hs(14, b""))
            for m in msgs:
                self.transcript += m
            if self.fragment:                           # the ServerHello in two fragments
                n = _int(sh[1:4])
                h = n // 2
                sh1 = sh[:6] + _u24(0) + _u24(h) + sh[12:12 + h]
                sh2 = sh[:6] + _u24(h) + _u24(n - h) + sh[12 + h:]
                msgs = [sh2, sh1] + msgs[1:]
            if self.split:                              # each in its own datagram, the last first
                return [self._rec(22, 0, m) for m in reversed(msgs)]
            return [b"".join(self._rec(22, 0, m) for m in msgs)]
        if mt == 16:                                    # ClientKeyExchange
            self.identity = body[2:2 + _int(body[:2])]
            self.transcript += b[:12 + len(body)]
            z = len(self.key)
            pms = _u16(z) + bytes(z) + _u16(z) + self.key
            if self.used_ems:
                self.ms = K.prf(pms, b"extended master secret", sha256(self.transcript).digest(), 48)
            else:
                self.ms = K.prf(pms, b"master secret", self.cr + self.sr, 48)
            if self.suite == CCM8:
                kb = K.prf(self.ms, b"key expansion", self.sr + self.cr, 40)
                self.rkey, self.wkey = K.Ccm8(kb[0:16]), K.Ccm8(kb[16:32])
                self.riv, self.wiv = kb[32:36], kb[36:40]
            else:
                kb = K.prf(self.ms, b"key expansion", self.sr + self.cr, 96)
                self.riv, self.wiv = kb[0:32], kb[32:64]
                self.rkey, self.wkey = K.Cbc(kb[64:80]), K.Cbc(kb[80:96])
        elif mt == 20 and epoch == 1:                   # Finished
            want = K.prf(self.ms, b"client finished", sha256(self.transcript).digest(), 12)
            if body != want:
                return [self._rec(21, 1, b"\x02\x33")]  # decrypt_error
            self.transcript += b[:12 + len(body)]
            v = K.prf(self.ms, b"server finished", sha256(self.transcript).digest(), 12)
            fin = self._hs(20, v)
            self.finished_flight = fin
            self.connected = True
            out.append(self._rec(20, 0, b"\x01") + self._rec(22, 1, fin))
        return out
