"""A scripted DTLS 1.2 PSK server for the portable tests of andlink.dtls
(MicroPython and CPython): enough of RFC 6347 to answer one client, with
knobs for what a real server or network does (cookie exchange, an identity
hint, a fragmented ServerHello, each message in its own datagram, a wrong
key), over the device's record protection (andlink.dtls.record, server
side): this checks the handshake's flow; the records themselves are checked
against OpenSSL and GnuTLS (host_tests/test_dtls_interop.py) and against
the simulator's own (test_andlink_e2e_coaps.py).

    srv = FakeDtlsServer(key, suite=CCM8, cookie=True, hint=b"", split=False,
                         fragment=False, ems=True)     ems: take the extended
                                                       master secret if offered
    srv.receive(datagram) -> [datagram]     the server's answer
    srv.app                                  application data it received
    srv.send_app(data) -> datagram
"""

from hashlib import sha256

from andlink.dtls import crypto as K
from andlink.dtls.record import CCM8, VERSION as _V, Protection, master_secret, u16 as _u16, u24 as _u24, uint as _int


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
        self.prot = None                # andlink.dtls.record.Protection, server side, once keyed

    def _rec(self, ct, epoch, body):
        s = self.seq[epoch]
        self.seq[epoch] += 1
        hdr = _u16(epoch) + _u16(0) + _u16(s >> 16) + _u16(s & 0xFFFF)
        if epoch:
            body = self.prot.seal(ct, hdr, body)
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
                if self.prot is None:
                    continue                            # no session: dropped
                body = self.prot.open(ct, hdr, body)
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
            self.ms = master_secret(self.key, self.cr, self.sr,
                                    sha256(self.transcript).digest() if self.used_ems else None)
            self.prot = Protection(self.suite, self.ms, self.cr, self.sr, False, lambda n: bytes(n))
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
