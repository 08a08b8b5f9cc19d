"""One DTLS 1.2 client session with a pre-shared key (RFC 6347 over RFC 5246,
PSK key exchange RFC 4279 2), sans-I/O: datagrams and time in, datagrams,
plaintext and events out.  The cipher suites of And-link spec section 3.5:
TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655) and TLS_PSK_WITH_AES_128_CBC_SHA256
(RFC 5487), offered in that order.

    s = Session(identity, key, rng=None, suites=(CCM8, CBC256), timeout=9,
                max_timeout=60, tries=5, max_queue=4, resume=None)
    s.start(now)                         the ClientHello
    s.send(data, now)                    application data (queued while the
                                         handshake runs, the oldest dropped
                                         past max_queue)
    s.receive(datagram, now) -> [plaintext]
    s.tick(now); s.deadline() -> seconds or None
    s.outgoing() -> [datagram]           records to send, in order
    s.events() -> [("connected", suite) | ("failed", why) | ("closed",)]
    s.close()                            close_notify (RFC 5246 7.2.1)
    s.resumable() -> resume= for a later Session, or None
    s.state                              HANDSHAKE, CONNECTED, FAILED, CLOSED

A flight is sent again when its answer does not come: `timeout` s, doubling
to `max_timeout`, at most `tries` times (RFC 6347 4.2.4; 9 s is the initial
value RFC 7925 11 suggests for slow links such as NB-IoT), then ("failed",
"timeout").  The cookie exchange (HelloVerifyRequest, RFC 6347 4.2.1) is
answered; handshake messages may come fragmented, out of order or
duplicated (4.2.3); a retransmitted server flight makes the client send its
last flight again (4.2.4).  Records that do not decrypt, replays (the
64-record window of 4.1.2.6) and records of unknown epochs are dropped in
silence (4.1.2.7).  resume= offers an earlier session's id: when the
server takes it, the abbreviated handshake (RFC 5246 7.3) skips the key
exchange.  No renegotiation, no extensions but
the renegotiation SCSV and the extended master secret (RFC 7627: used when
the server takes it; tinydtls insists on it).  Never raises on bad input: a
malformed handshake ends the session with ("failed", why).
"""

from micropython import const
from hashlib import sha256

from andlink.dtls import crypto as K
from andlink.dtls.record import (CCM8, CBC256, SUITE_NAMES, VERSION as _VER, Protection, master_secret, u16 as _u16,
                                 u24 as _u24, uint as _int)

HANDSHAKE = const(0)
CONNECTED = const(1)
FAILED = const(2)
CLOSED = const(3)

_CT_CCS = const(20)
_CT_ALERT = const(21)
_CT_HS = const(22)
_CT_APP = const(23)

_HS_HELLO_REQ = const(0)
_HS_CH = const(1)
_HS_SH = const(2)
_HS_HVR = const(3)
_HS_SKE = const(12)
_HS_SHD = const(14)
_HS_CKE = const(16)
_HS_FIN = const(20)

_W_HELLO = const(0)         # ClientHello sent: HelloVerifyRequest or ServerHello next
_W_DONE = const(1)          # ServerHello had: ServerKeyExchange, ServerHelloDone
_W_FIN = const(2)           # our Finished sent: the server's CCS and Finished
_W_NONE = const(3)          # connected
_W_RESUMED = const(4)       # the server resumed our session: its CCS and Finished next

_EMS = const(0x0017)        # extended_master_secret (RFC 7627)
_EXTENSIONS = b"\x00\x04\x00\x17\x00\x00"     # the extensions: extended_master_secret, empty
_MAX_MSG = const(1024)      # the longest handshake message taken (a PSK server's are < 100 B)
_AHEAD = const(4)           # handshake messages kept ahead of the next expected


class Session:
    def __init__(self, identity, key, rng=None, suites=(CCM8, CBC256), timeout=9, max_timeout=60, tries=5,
                 max_queue=4, resume=None):
        if not key:
            raise ValueError("DTLS: an empty pre-shared key")
        self.identity = bytes(identity)
        self._psk = bytes(key)
        self.rng = rng or _urandom
        self.suites = tuple(suites)
        self.timeout = timeout
        self.max_timeout = max_timeout
        self.tries = tries
        self.max_queue = max_queue
        self.state = HANDSHAKE
        self.suite = None
        self.ems = False                # the server took the extended master secret
        self.resumed = False            # an abbreviated handshake (RFC 5246 7.3) took place
        self._resume = resume           # (session id, master secret, suite, ems) of an earlier session
        self._sid = b""
        self.error = None
        self._w = _W_HELLO
        self._out = []
        self._events = []
        self._queue = []
        self._seq = [0, 0]              # our next record sequence number per epoch
        self._hs_seq = 0                # our next handshake message_seq
        self._rx_seq = 0                # the server's next handshake message_seq
        self._frags = {}                # message_seq -> [type, length, body, got bytearray, epoch]
        self._transcript = bytearray()
        self._cookie = b""
        self._hvr = 0
        self._cr = None
        self._sr = None
        self._ms = None
        self._prot = None               # epoch 1's andlink.dtls.record.Protection
        self._rx_epoch1 = False         # the server's ChangeCipherSpec came
        self._flight = None             # [(content type, epoch, body)] our last flight
        self._due = None
        self._rto = timeout
        self._sent = 0
        self._resent_at = None

    # == the caller's side =================================================
    def start(self, now):
        self._cr = bytes(self.rng(32))
        self._hello(now)

    def send(self, data, now):
        if self.state == CONNECTED:
            self._out.append(self._record(_CT_APP, 1, data))
        elif self.state == HANDSHAKE:
            self._queue.append(bytes(data))
            if len(self._queue) > self.max_queue:
                self._queue.pop(0)

    def outgoing(self):
        out, self._out = self._out, []
        return out

    def events(self):
        ev, self._events = self._events, []
        return ev

    def deadline(self):
        return self._due if self.state == HANDSHAKE else None

    def tick(self, now):
        if self.state != HANDSHAKE or self._due is None or now < self._due:
            return
        if self._sent >= self.tries:
            self._fail("timeout" if self._w != _W_FIN else "timeout: no Finished (a wrong key or identity?)")
            return
        self._rto = min(self._rto * 2, self.max_timeout)
        self._send_flight(now)

    def close(self):
        if self.state == CONNECTED:
            self._out.append(self._record(_CT_ALERT, 1, b"\x01\x00"))
        if self.state in (HANDSHAKE, CONNECTED):
            self.state = CLOSED
            self._events.append(("closed",))
        self._queue = []
        self._due = None

    def receive(self, data, now):
        app = []
        try:
            self._records(memoryview(data), now, app)
        except MemoryError:
            raise
        except Exception as e:              # a malformed handshake message
            if self.state == HANDSHAKE:
                self._fail("bad handshake: %r" % (e,))
        return app

    # == records ===========================================================
    def _records(self, mv, now, app):
        i = 0
        n = len(mv)
        while i + 13 <= n and self.state in (HANDSHAKE, CONNECTED):
            ctype = mv[i]
            epoch = (mv[i + 3] << 8) | mv[i + 4]
            ln = (mv[i + 11] << 8) | mv[i + 12]
            if mv[i + 1] != 0xFE or i + 13 + ln > n:
                return                      # not DTLS, or cut short: the rest is dropped
            body = mv[i + 13:i + 13 + ln]
            i += 13 + ln
            if epoch == 1:
                if not self._rx_epoch1:
                    continue
                seq = 0
                for k in range(i - ln - 8, i - ln - 2):
                    seq = (seq << 8) | mv[k]
                if not self._prot.fresh(seq):
                    continue
                body = self._prot.open(ctype, mv[i - ln - 10:i - ln - 2], body)
                if body is None:
                    continue
                self._prot.seen(seq)
            elif epoch != 0:
                continue
            else:
                body = bytes(body)
            self._record_in(ctype, epoch, body, now, app)

    def _record_in(self, ctype, epoch, body, now, app):
        if ctype == _CT_APP:
            if epoch == 1 and self.state == CONNECTED:
                self._flight = None         # the server has our Finished
                app.append(body)
        elif ctype == _CT_ALERT:
            if len(body) >= 2:
                if body[1] == 0:
                    self.state = CLOSED
                    self._due = None
                    self._events.append(("closed",))
                elif body[0] == 2:
                    self._fail("alert %d from the server" % body[1])
        elif ctype == _CT_CCS:
            if epoch == 0 and body == b"\x01" and self._w in (_W_FIN, _W_RESUMED):
                self._rx_epoch1 = True
        elif ctype == _CT_HS:
            self._handshake_in(epoch, body, now)

    def _record(self, ctype, epoch, body):
        """One record of ours (epoch 1 protected by the suite), built in
        one bytearray."""
        seq = self._seq[epoch]
        self._seq[epoch] = seq + 1
        m = self._prot.sealed_len(len(body)) if epoch else len(body)
        rec = bytearray(13 + m)
        rec[0] = ctype
        rec[1] = 0xFE
        rec[2] = 0xFD
        rec[3] = epoch >> 8
        rec[4] = epoch & 255
        for i in range(6):
            rec[5 + i] = (seq >> (40 - 8 * i)) & 255
        rec[11] = m >> 8
        rec[12] = m & 255
        if epoch:
            self._prot.seal_into(ctype, memoryview(rec), body)
        else:
            rec[13:] = body
        return rec

    # == the handshake =====================================================
    def _hello(self, now):
        sid = self._resume[0] if self._resume else b""
        suites = b"".join(_u16(s) for s in self.suites) + b"\x00\xff"   # + renegotiation SCSV (RFC 5746 3.3)
        body = (_VER + self._cr + bytes((len(sid),)) + sid + bytes((len(self._cookie),)) + self._cookie +
                _u16(len(suites)) + suites + b"\x01\x00" + _EXTENSIONS)
        msg = self._hs(_HS_CH, body)
        self._transcript = bytearray(msg)   # the hash starts at the ClientHello with the cookie (4.2.6)
        self._flight = [(_CT_HS, 0, msg)]
        self._sent = 0
        self._rto = self.timeout
        self._send_flight(now)

    def _hs(self, mt, body):
        seq = self._hs_seq
        self._hs_seq = seq + 1
        return bytes((mt,)) + _u24(len(body)) + _u16(seq) + _u24(0) + _u24(len(body)) + body

    def _send_flight(self, now):
        self._out.append(b"".join(self._record(ct, ep, body) for ct, ep, body in self._flight))
        self._sent += 1
        self._due = now + self._rto

    def _handshake_in(self, epoch, body, now):
        j = 0
        n = len(body)
        while j + 12 <= n:
            mt = body[j]
            length = _int(body[j + 1:j + 4])
            mseq = _int(body[j + 4:j + 6])
            off = _int(body[j + 6:j + 9])
            flen = _int(body[j + 9:j + 12])
            frag = body[j + 12:j + 12 + flen]
            j += 12 + flen
            if len(frag) != flen or length > _MAX_MSG or off + flen > length:
                raise ValueError("handshake fragment out of bounds")
            if mseq < self._rx_seq:
                self._old_flight(now)
                continue
            if self._w == _W_HELLO and mt in (_HS_HVR, _HS_SH) and mseq > self._rx_seq:
                self._rx_seq = mseq         # the server's numbering after a cookie exchange
                self._frags = {}
            if mseq >= self._rx_seq + _AHEAD:
                continue
            f = self._frags.get(mseq)
            if f is None:
                f = self._frags[mseq] = [mt, length, bytearray(length), bytearray(length), epoch]
            elif f[0] != mt or f[1] != length:
                raise ValueError("handshake fragments disagree")
            f[2][off:off + flen] = frag
            f[3][off:off + flen] = b"\x01" * flen
        while self.state == HANDSHAKE:
            f = self._frags.get(self._rx_seq)
            if f is None or b"\x00" in f[3]:
                break
            del self._frags[self._rx_seq]
            self._rx_seq += 1
            self._message(f[0], bytes(f[2]), f[4], now)

    def _old_flight(self, now):
        """A message of the server's earlier flight came again: it lacks
        our last flight (RFC 6347 4.2.4); sent once per retransmission timeout."""
        if self._flight is None or self._w == _W_HELLO:
            return
        if self._resent_at is not None and now < self._resent_at + self._rto:
            return
        self._resent_at = now
        self._out.append(b"".join(self._record(ct, ep, body) for ct, ep, body in self._flight))

    def _message(self, mt, body, epoch, now):
        whole = bytes((mt,)) + _u24(len(body)) + _u16(self._rx_seq - 1) + _u24(0) + _u24(len(body)) + body
        w = self._w
        if w == _W_HELLO and mt == _HS_HVR:
            self._hvr += 1
            if self._hvr > 3 or len(body) < 3 or 3 + body[2] > len(body):
                raise ValueError("HelloVerifyRequest")
            self._cookie = body[3:3 + body[2]]
            self._hello(now)
        elif w == _W_HELLO and mt == _HS_SH:
            self._server_hello(body)
            self._transcript += whole
            self._w = _W_RESUMED if self.resumed else _W_DONE
        elif w == _W_DONE and mt == _HS_SKE:
            self._transcript += whole       # the PSK identity hint: not used (RFC 4279 5.2)
        elif w == _W_DONE and mt == _HS_SHD:
            self._transcript += whole
            self._finish(now)
        elif w in (_W_FIN, _W_RESUMED) and mt == _HS_FIN and epoch == 1:
            want = K.prf(self._ms, b"server finished", sha256(self._transcript).digest(), 12)
            if body != want:
                self._fail("the server's Finished does not verify (a wrong key?)")
                return
            if w == _W_RESUMED:             # abbreviated: our CCS and Finished close it (RFC 5246 7.3)
                self._transcript += whole
                fin = self._hs(_HS_FIN, K.prf(self._ms, b"client finished", sha256(self._transcript).digest(),
                                              12))
                self._flight = [(_CT_CCS, 0, b"\x01"), (_CT_HS, 1, fin)]
                self._send_flight(now)
            self._transcript = None
            self._w = _W_NONE
            self._due = None
            self.state = CONNECTED
            self._events.append(("connected", SUITE_NAMES.get(self.suite, self.suite)))
            q, self._queue = self._queue, []
            for d in q:
                self._out.append(self._record(_CT_APP, 1, d))
        elif mt == _HS_HELLO_REQ:
            pass                            # no renegotiation
        else:
            raise ValueError("unexpected handshake message %d" % mt)

    def _server_hello(self, b):
        if len(b) < 38 or b[:2] != _VER:
            raise ValueError("ServerHello: not DTLS 1.2")
        self._sr = b[2:34]
        k = 35 + b[34]
        suite = _int(b[k:k + 2])
        if suite not in self.suites or len(b) < k + 3 or b[k + 2] != 0:
            self._fail("the server chose %04x, not offered" % suite)
            raise ValueError("suite")
        self.suite = suite
        self._sid = b[35:35 + b[34]]
        k += 3
        if len(b) >= k + 2:                  # extensions (RFC 5246 7.4.1.4)
            end = k + 2 + _int(b[k:k + 2])
            k += 2
            while k + 4 <= end:
                if _int(b[k:k + 2]) == _EMS:
                    self.ems = True
                k += 4 + _int(b[k + 2:k + 4])
        r = self._resume
        if r and self._sid == r[0]:          # the server resumes (RFC 5246 7.4.1.3)
            if suite != r[2] or self.ems != r[3]:
                self._fail("resumed with another suite or master secret kind (RFC 7627 5.3)")
                raise ValueError("resumption")
            self.resumed = True
            self._ms = r[1]
            self._prot = Protection(suite, self._ms, self._cr, self._sr, True, self.rng)

    def resumable(self):
        """(session id, master secret, suite, ems) to resume this session
        later (Session(..., resume=)), or None."""
        if self.state != CONNECTED or not self._sid:
            return None
        return self._sid, self._ms, self.suite, self.ems

    def _finish(self, now):
        """ClientKeyExchange, ChangeCipherSpec, Finished (RFC 4279 2, RFC 5246 7.4.9)."""
        cke = self._hs(_HS_CKE, _u16(len(self.identity)) + self.identity)
        self._transcript += cke
        # RFC 7627 4: the extended one hashes the messages up to the ClientKeyExchange
        self._ms = master_secret(self._psk, self._cr, self._sr,
                                 sha256(self._transcript).digest() if self.ems else None)
        self._prot = Protection(self.suite, self._ms, self._cr, self._sr, True, self.rng)
        verify = K.prf(self._ms, b"client finished", sha256(self._transcript).digest(), 12)
        fin = self._hs(_HS_FIN, verify)
        self._transcript += fin
        self._flight = [(_CT_HS, 0, cke), (_CT_CCS, 0, b"\x01"), (_CT_HS, 1, fin)]
        self._w = _W_FIN
        self._sent = 0
        self._rto = self.timeout
        self._send_flight(now)

    def _fail(self, why):
        if self.state in (FAILED, CLOSED):
            return
        self.state = FAILED
        self.error = why
        self._due = None
        self._queue = []
        self._events.append(("failed", why))


def _urandom(n):
    import os
    return os.urandom(n)
