"""The server side of DTLS 1.2 with a pre-shared key for the And-link platform
simulator (And-link spec 3.5: coaps on 5684, TLS_PSK_WITH_AES_128_CCM_8
and TLS_PSK_WITH_AES_128_CBC_SHA256, the identity the IMEI), sans-I/O, over
the simulator's own record protection (dtlsrecord.py, not the device's).
The front (dtlsfront.py) does the sockets.

    cookie = Cookies(secret)             stateless HelloVerifyRequest (RFC 6347 4.2.1)
    cookie.check(hello, addr) -> None or the HelloVerifyRequest datagram
    s = ServerSession(keys, rng, cache)  keys(identity bytes) -> key bytes or None
    s.receive(datagram, now) -> [plaintext]
    s.send(plaintext)                    once s.state == CONNECTED
    s.outgoing() -> [datagram]
    s.state, s.identity, s.suite, s.error, s.events() -> [("connected",) | ("failed", why) | ("closed",)]

The server answers a ClientHello that carries a valid cookie with
ServerHello (the extended master secret, RFC 7627, and the empty
renegotiation_info of RFC 5746, when offered; no renegotiation follows),
ServerHelloDone; the client's ClientKeyExchange names the identity, whose
key `keys` gives (none: alert unknown_psk_identity); a Finished that does
not verify gets decrypt_error (a wrong key).  With a `cache` (a dict the
front keeps) a full handshake's session gets an id, and a ClientHello
offering a cached id (same suite, same kind of master secret, RFC 7627 5.3)
is resumed with the abbreviated handshake (RFC 5246 7.3).  The server keeps no timer: a
client retransmitting its flight gets the server's last flight again (RFC
6347 4.2.4).  Records that do not decrypt and replays are dropped.
"""

import os
from hashlib import sha256

from andlink_tools.dtlsrecord import (CCM8, CBC256, SUITE_NAMES, VERSION, Protection, hmac_sha256, master_secret,
                                      prf, u16)

HANDSHAKE, CONNECTED, FAILED, CLOSED = 0, 1, 2, 3
_PREFERENCE = (CCM8, CBC256)
_EMS = b"\x00\x17\x00\x00"
_RENEGOTIATION_INFO = b"\xff\x01\x00\x01\x00"
UNKNOWN_PSK_IDENTITY, DECRYPT_ERROR, HANDSHAKE_FAILURE, DECODE_ERROR = 115, 51, 40, 50


def _int(b):
    return int.from_bytes(bytes(b), "big")


def _u24(n):
    return n.to_bytes(3, "big")


def records(data):
    """[(content type, epoch, 8-byte epoch+sequence, fragment)] of a datagram
    (what does not parse ends the list)."""
    out = []
    i = 0
    while i + 13 <= len(data) and data[i + 1] == 0xFE:
        n = _int(data[i + 11:i + 13])
        if i + 13 + n > len(data):
            break
        out.append((data[i], _int(data[i + 3:i + 5]), bytes(data[i + 3:i + 11]), bytes(data[i + 13:i + 13 + n])))
        i += 13 + n
    return out


def hello_fields(body):
    """(client random, session id, cookie, suites, extensions bytes) of a ClientHello body."""
    if len(body) < 39 or body[:2] not in (VERSION, b"\xfe\xff"):
        raise ValueError("ClientHello: not DTLS")
    k = 34
    sid = body[k + 1:k + 1 + body[k]]
    k += 1 + body[k]
    cookie = body[k + 1:k + 1 + body[k]]
    k += 1 + body[k]
    n = _int(body[k:k + 2])
    suites = [_int(body[j:j + 2]) for j in range(k + 2, k + 2 + n, 2)]
    k += 2 + n
    k += 1 + body[k]
    return body[2:34], sid, cookie, suites, body[k + 2:]


def client_hello(datagram):
    """(handshake message bytes, body, message_seq) of an unfragmented
    epoch-0 ClientHello in the datagram, or None."""
    for ct, epoch, _, frag in records(datagram):
        if ct == 22 and epoch == 0 and len(frag) >= 12 and frag[0] == 1:
            n = _int(frag[1:4])
            if _int(frag[6:9]) == 0 and _int(frag[9:12]) == n and len(frag) >= 12 + n:
                return frag[:12 + n], frag[12:12 + n], _int(frag[4:6])
    return None


class Cookies:
    """Stateless cookies: HMAC(secret, client address, client random)."""

    def __init__(self, secret=None):
        self.secret = secret or os.urandom(32)

    def cookie(self, addr, cr):
        return hmac_sha256(self.secret, repr(addr).encode() + bytes(cr))[:16]

    def check(self, datagram, addr):
        """None when the datagram's ClientHello carries the right cookie;
        else the HelloVerifyRequest to send back (or b"" for no ClientHello)."""
        ch = client_hello(datagram)
        if ch is None:
            return b""
        try:
            cr, _, cookie, _, _ = hello_fields(ch[1])
        except (ValueError, IndexError):
            return b""
        want = self.cookie(addr, cr)
        if cookie == want:
            return None
        body = VERSION + bytes((len(want),)) + want
        msg = bytes((3,)) + _u24(len(body)) + u16(ch[2]) + _u24(0) + _u24(len(body)) + body
        rec = bytes((22,)) + VERSION + bytes(8) + u16(len(msg)) + msg
        return rec


class ServerSession:
    def __init__(self, keys, rng=os.urandom, cache=None):
        self.keys = keys
        self.rng = rng
        self.cache = cache              # session id -> (master secret, suite, ems, identity): resumption
        self.resumed = False
        self._sid = b""
        self.state = HANDSHAKE
        self.identity = None
        self.suite = None
        self.ems = False
        self.error = None
        self._out = []
        self._events = []
        self._seq = [0, 0]
        self._hs_seq = 0
        self._transcript = b""
        self._flight = None
        self._prot = None
        self._rx1 = False
        self._ch_seq = None
        self._done = False

    def outgoing(self):
        out, self._out = self._out, []
        return out

    def events(self):
        ev, self._events = self._events, []
        return ev

    def send(self, data):
        if self.state == CONNECTED:
            self._out.append(self._record(23, 1, bytes(data)))

    def close(self):
        if self.state == CONNECTED:
            self._out.append(self._record(21, 1, b"\x01\x00"))
        self.state = CLOSED

    def receive(self, data, now=0):
        app = []
        for ct, epoch, hdr, frag in records(data):
            if self.state not in (HANDSHAKE, CONNECTED):
                break
            if epoch == 1:
                if not self._rx1 or self._prot is None:
                    continue
                seq = _int(hdr[2:])
                if not self._prot.fresh(seq):
                    continue
                plain = self._prot.open(ct, hdr, frag)
                if plain is None:
                    if not self._done:
                        self._fail(DECRYPT_ERROR, "a record of the Finished does not decrypt (a wrong key?)")
                    continue
                self._prot.seen(seq)
                frag = plain
            elif epoch != 0:
                continue
            try:
                self._record_in(ct, epoch, frag, app)
            except (ValueError, IndexError) as e:
                self._fail(DECODE_ERROR, "bad handshake: %s" % (e,))
        return app

    # == inside ==============================================================
    def _record(self, ct, epoch, body):
        seq = self._seq[epoch]
        self._seq[epoch] = seq + 1
        hdr = u16(epoch) + seq.to_bytes(6, "big")
        if epoch:
            body = self._prot.seal(ct, hdr, body)
        return bytes((ct,)) + VERSION + hdr + u16(len(body)) + body

    def _hs(self, mt, body):
        seq = self._hs_seq
        self._hs_seq += 1
        return bytes((mt,)) + _u24(len(body)) + u16(seq) + _u24(0) + _u24(len(body)) + body

    def _send_flight(self):
        self._out.append(b"".join(self._record(ct, ep, body) for ct, ep, body in self._flight))

    def _fail(self, alert, why):
        if self.state in (FAILED, CLOSED):
            return
        self._out.append(self._record(21, 1 if (self._done and self._prot) else 0, bytes((2, alert))))
        self.state = FAILED
        self.error = why
        self._events.append(("failed", why))

    def _record_in(self, ct, epoch, frag, app):
        if ct == 23:
            if epoch == 1 and self.state == CONNECTED:
                app.append(frag)
        elif ct == 21:
            if len(frag) >= 2 and (frag[1] == 0 or frag[0] == 2):
                self.state = CLOSED if frag[1] == 0 else FAILED
                self.error = "alert %d from the client" % frag[1]
                self._events.append(("closed",) if frag[1] == 0 else ("failed", self.error))
        elif ct == 20:
            if frag == b"\x01" and self._prot is not None:
                self._rx1 = True
        elif ct == 22:
            j = 0
            while j + 12 <= len(frag):
                mt, n, seq = frag[j], _int(frag[j + 1:j + 4]), _int(frag[j + 4:j + 6])
                if _int(frag[j + 6:j + 9]) != 0 or _int(frag[j + 9:j + 12]) != n:
                    raise ValueError("fragmented handshake messages are not taken here")
                whole = frag[j:j + 12 + n]
                j += 12 + n
                self._message(mt, seq, whole, epoch)

    def _message(self, mt, seq, whole, epoch):
        body = whole[12:]
        if mt == 1:                                         # ClientHello (its cookie checked by the front)
            if self._ch_seq is not None:
                if seq == self._ch_seq and self._flight is not None and not self._done:
                    self._send_flight()                     # our flight was lost (4.2.4)
                return
            self._ch_seq = seq
            cr, sid, _, suites, ext = hello_fields(body)
            suite = next((s for s in _PREFERENCE if s in suites), None)
            if suite is None:
                self._fail(HANDSHAKE_FAILURE, "no common suite in %s" % ["%04x" % s for s in suites])
                return
            self.suite, self._cr, self._sr = suite, cr, self.rng(32)
            exts = _extensions(ext)
            self.ems = _EMS in exts
            self._hs_seq = seq                              # answer in the client's numbering
            ext_out = _EMS if self.ems else b""
            if 0x00FF in suites or any(e[:2] == b"\xff\x01" for e in exts):
                ext_out += _RENEGOTIATION_INFO              # RFC 5746 3.6: secure renegotiation, empty
            ext_out = u16(len(ext_out)) + ext_out if ext_out else b""
            old = self.cache.get(bytes(sid)) if (self.cache is not None and sid) else None
            if old is not None and old[1] in suites and old[2] == self.ems:
                self._resume(whole, sid, old, ext_out)      # RFC 5246 7.3; RFC 7627 5.3: the same kind of secret
                return
            self._sid = self.rng(8) if self.cache is not None else b""      # 8 bytes: each ClientHello carries it
            sh = self._hs(2, VERSION + self._sr + bytes((len(self._sid),)) + self._sid + u16(suite) + b"\x00" +
                          ext_out)
            shd = self._hs(14, b"")
            self._transcript = whole + sh + shd
            self._flight = [(22, 0, sh), (22, 0, shd)]
            self._send_flight()
        elif mt == 16 and self._flight is not None and self._prot is None:    # ClientKeyExchange
            n = _int(body[:2])
            self.identity = body[2:2 + n]
            key = self.keys(self.identity)
            if not key:
                self._fail(UNKNOWN_PSK_IDENTITY, "unknown PSK identity %r" % (self.identity,))
                return
            self._transcript += whole
            ms = master_secret(key, self._cr, self._sr, sha256(self._transcript).digest() if self.ems else None)
            self._ms = ms
            self._prot = Protection(self.suite, ms, self._cr, self._sr, False, self.rng)
        elif mt == 20 and epoch == 1 and self._prot is not None and self.resumed:   # abbreviated: the client's
            if self.state == CONNECTED:
                return
            want = prf(self._ms, b"client finished", sha256(self._transcript).digest(), 12)
            if body != want:
                self._fail(DECRYPT_ERROR, "the resumed Finished of %r does not verify" % (self.identity,))
                return
            self._done = True
            self.state = CONNECTED
            self._events.append(("connected", SUITE_NAMES[self.suite] + " (resumed)"))
        elif mt == 20 and epoch == 1 and self._prot is not None:            # Finished
            if self._done:
                self._send_flight()                         # our Finished was lost
                return
            want = prf(self._ms, b"client finished", sha256(self._transcript).digest(), 12)
            if body != want:
                self._fail(DECRYPT_ERROR, "the Finished of %r does not verify (a wrong key?)" % (self.identity,))
                return
            self._transcript += whole
            fin = self._hs(20, prf(self._ms, b"server finished", sha256(self._transcript).digest(), 12))
            self._flight = [(20, 0, b"\x01"), (22, 1, fin)]
            self._done = True
            self._send_flight()
            self.state = CONNECTED
            if self.cache is not None and self._sid:
                self.cache[bytes(self._sid)] = (self._ms, self.suite, self.ems, self.identity)
            self._events.append(("connected", SUITE_NAMES[self.suite]))

    def _resume(self, hello, sid, old, ext_out):
        """ServerHello with the client's session id, CCS, Finished: one flight."""
        self._ms, self.suite, self.ems, self.identity = old
        self.resumed = True
        self._sid = bytes(sid)
        sh = self._hs(2, VERSION + self._sr + bytes((len(sid),)) + bytes(sid) + u16(self.suite) + b"\x00" + ext_out)
        self._prot = Protection(self.suite, self._ms, self._cr, self._sr, False, self.rng)
        self._transcript = hello + sh
        fin = self._hs(20, prf(self._ms, b"server finished", sha256(self._transcript).digest(), 12))
        self._transcript += fin
        self._flight = [(22, 0, sh), (20, 0, b"\x01"), (22, 1, fin)]
        self._send_flight()


def _extensions(ext):
    """The extension entries (type + length + data, each as bytes) of an extensions block."""
    out = []
    k = 0
    while k + 4 <= len(ext):
        n = _int(ext[k + 2:k + 4])
        out.append(bytes(ext[k:k + 4 + n]))
        k += 4 + n
    return out
