"""The platform process: UDP and TCP servers, the SMS-centre link, and the message
pipeline every terminal message goes through (decode, digest and decryption
checks, sub-packets, dispatch), plus the machinery for the platform's own requests
(routing, retransmission, answers).

    pf = Platform(Config(...), Store(path))
    await pf.start()        # binds; pf.udp_port / pf.tcp_port are the real ports
    answer = await pf.request(serial, codec.Message(...))
    await pf.close()

Rules kept here (the flows themselves are in flows.py):
  * 4.2   a request and its response use the same bearer and the same UDP address /
          TCP connection; the last packet route of each terminal is remembered for
          platform-initiated requests, SMS is used when asked or when the terminal is
          not reachable by packet.
  * 4.3.2 the platform takes nothing but REGISTER / LOGIN (and LOGOUT, and alarms by
          SMS, 4.3.5) from a terminal that is not logged in.
  * 4.4.5 / PROTOCOL.md 3  a request with a wrong digest is dropped silently and bit 0x08
          (0x04 when missing) is set in the next message to that terminal; with
          E041 = 0x01 the offending header is echoed at once instead; a response that
          fails is treated as lost.
  * PROTOCOL.md 5  decryption failures: SECURITY_CONFIG_ACK 0x01, otherwise bit 0x02.
  * PROTOCOL.md 6 / appendix F  sub-packets both ways.
  * PROTOCOL.md 9  TCP streams split by total_length; a bad length closes the connection.
"""

import asyncio
import logging
import random
import struct
import time

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import digest as D
from wmmp.wire import header as H
from wmmp.wire import subpacket as S
from wmmp.errors import (WmmpError, DecryptError, DigestMismatch, TooLongForBearer,
                         SubpacketError)

from wmmp_tools.platform import flows
from wmmp_tools.platform.model import (Config, Outstanding, PlatformError, Route, Runtime,
                                       TcpConn, serial_bytes, serial_key)

log = logging.getLogger("wmmp.platform")
# Events of one bearer are logged as platform.udp / platform.tcp / platform.sms.
bearer_log = {kind: logging.getLogger("wmmp.platform." + kind) for kind in ("udp", "tcp", "sms")}


def _peer(addr):
    """host:port of a socket address (not a Python tuple)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        return "%s:%s" % (addr[0], addr[1])
    return str(addr)

READ_CHUNK = 65536
REASSEMBLY_TTL = 120.0       # s an incomplete sub-packet set is kept
SPLITTER_TTL = 300.0         # s a fragmented response is kept for repeated requests
SETTLED_TTL = 600.0          # s a request given up on still takes a late answer
SETTLED_MAX = 64             # per terminal


class Ctx:
    """One incoming request being handled: terminal row (or None), runtime, the
    decoded message, its route, and which key generation verified it."""

    def __init__(self, pf, term, rt, msg, route, generation="current", prev_route=None):
        self.pf = pf
        self.prev_route = prev_route
        self.term = term
        self.rt = rt
        self.msg = msg
        self.route = route
        self.generation = generation
        self.log_id = None          # row of the request in the message log
        self.log_as = None          # file the answer under this serial (REGISTER)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, pf):
        self.pf = pf

    def datagram_received(self, data, addr):
        self.pf.on_packet(data, Route("udp", addr))

    def error_received(self, exc):
        bearer_log["udp"].debug("UDP error: %s", exc)


class Platform:
    """The WMMP-T platform simulator (see the module docstring)."""

    def __init__(self, config=None, store=None, clock=time.time):
        from wmmp_tools.platform.db import Store
        self.config = config or Config()
        self.profile = self.config.profile
        self.db = store or Store(":memory:", clock)
        self.clock = clock
        self.runtimes = {}
        self.udp = None
        self.tcp = None
        self.tcp_conns = set()
        self.sms = None
        self.udp_port = None
        self.tcp_port = None
        self._tasks = set()
        self._closing = False
        # Listeners of what happens to terminals, cb(kind, serial, **details): the
        # application interface (appif.py) when `serve --apps` enables it.  Kinds:
        # register, login, logout, trap, data, fault, upgrade (see app_event's callers).
        self.app_events = []
        # async (serial, tags) -> {tag: value}: values for a terminal's CONFIG_REQ
        # from the applications (section 5.1.11.2), or None: the stored ones only.
        self.config_source = None

    # == lifecycle ==========================================================

    async def start(self, udp_sock=None, tcp_sock=None):
        """Bind (or take the bound sockets given: the CLI binds them first, so that
        a busy port is reported before anything else is touched) and run."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        for t in self.db.terminals():
            if t["state"] == "online":
                # Sessions (CURTIME, session keys) live in memory only: after a
                # restart every terminal has to log in again.
                self.db.update_terminal(t["serial"], state="offline")
                self.note(t["serial"], None, "platform restarted: session ended")
        if udp_sock is not None:
            self.udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp_sock)
            self.udp_port = self.udp.get_extra_info("sockname")[1]
        elif cfg.udp_port is not None:
            self.udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(cfg.host, cfg.udp_port))
            self.udp_port = self.udp.get_extra_info("sockname")[1]
        if tcp_sock is not None:
            self.tcp = await asyncio.start_server(self._tcp_client, sock=tcp_sock)
            self.tcp_port = self.tcp.sockets[0].getsockname()[1]
        elif cfg.tcp_port is not None:
            self.tcp = await asyncio.start_server(self._tcp_client, cfg.tcp_host or cfg.host, cfg.tcp_port)
            self.tcp_port = self.tcp.sockets[0].getsockname()[1]
        if cfg.smsc is not None:
            from wmmp_tools.platform.smslink import SmsLink
            self.sms = SmsLink(cfg.smsc[0], cfg.smsc[1], cfg.msisdn, self._on_sms)
            await self.sms.start()
        self.spawn(self._housekeeping())
        log.info("platform up: udp %s tcp %s sms %s", self.udp_port, self.tcp_port,
                 "%s via %s:%d" % (cfg.msisdn, cfg.smsc[0], cfg.smsc[1]) if cfg.smsc else "off")
        return self

    async def close(self):
        self._closing = True
        for t in list(self._tasks):
            t.cancel()
        for rt in self.runtimes.values():
            for out in list(rt.outstanding.values()):
                self._finish(out, exc=PlatformError("platform shutting down"))
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
            for c in list(self.tcp_conns):
                c.writer.close()
            await self.tcp.wait_closed()
        if self.sms is not None:
            await self.sms.close()

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("platform task failed", exc_info=task.exception())

    def app_event(self, kind, serial, **details):
        """Tell the listeners of app_events what happened to terminal `serial`;
        a listener that fails is logged, never the platform's problem."""
        for cb in list(self.app_events):
            try:
                cb(kind, serial, **details)
            except Exception as e:
                log.error("application interface: %s event of %s failed: %s: %s", kind, serial,
                          type(e).__name__, e)

    # == bearers ============================================================

    async def _tcp_client(self, reader, writer):
        peer = writer.get_extra_info("peername")
        if len(self.tcp_conns) >= self.config.tcp_max_connections:
            bearer_log["tcp"].warning("TCP connection from %s refused: %d open", _peer(peer), len(self.tcp_conns))
            writer.close()
            return
        conn = TcpConn(writer, peer)
        route = Route("tcp", peer, conn)
        self.tcp_conns.add(conn)
        buf = bytearray()
        limit = self.profile.packet_message_max
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    if buf:
                        self.note(None, route, "TCP closed mid-message (%d bytes dropped)" % len(buf))
                    break
                buf += chunk
                start = 0
                while len(buf) - start >= 2:
                    n = struct.unpack_from(">H", buf, start)[0]
                    if n < H.HEADER_SIZE or n > limit:
                        # PROTOCOL.md 9: the stream is split by total_length; a bad one
                        # means the framing is lost, so this connection ends.
                        self.note(None, route, "TCP total_length %d is impossible: closing" % n)
                        return
                    if len(buf) - start < n:
                        break
                    frame = bytes(buf[start:start + n])
                    start += n
                    self.on_packet(frame, route)
                if start:
                    del buf[:start]
        except (ConnectionError, OSError) as e:
            bearer_log["tcp"].debug("TCP %s: %s", _peer(peer), e)
        finally:
            conn.closed = True
            self.tcp_conns.discard(conn)
            writer.close()

    def _on_sms(self, sender, data):
        if len(data) < H.HEADER_SIZE:
            self.note(None, Route("sms", sender), "SMS of %d bytes is not a WMMP message" % len(data))
            return
        self.on_packet(data, Route("sms", sender))

    def transmit(self, route, data):
        """Put one whole message on its route; False if it could not be sent."""
        if route.kind == "udp":
            if self.udp is None:
                return False
            self.udp.sendto(data, route.addr)
            return True
        if route.kind == "tcp":
            if route.conn.closed or route.conn.writer.is_closing():
                return False
            route.conn.writer.write(data)
            return True
        if self.sms is None:
            bearer_log["sms"].warning("no SMS centre configured: SMS to %s dropped", route.addr)
            return False
        return self.sms.send(route.addr, data)

    # == helpers ============================================================

    def runtime(self, serial):
        rt = self.runtimes.get(serial)
        if rt is None:
            rt = self.runtimes[serial] = Runtime(serial)
        return rt

    def record(self, serial, direction, bearer, command, seq, data, note=""):
        """A row of the message log; with --verbose also a log line (platform.udp,
        platform.tcp or platform.sms)."""
        logger = bearer_log.get(bearer, log)
        if logger.isEnabledFor(logging.INFO):
            logger.info("%s %s %s%s%s", serial or "-", direction, command or "(unreadable)",
                        " #%d" % seq if seq is not None else "", ": " + note if note else "")
        return self.db.log_message(serial, direction, bearer, command, seq, data, note)

    def note(self, serial, route, text, level=logging.INFO):
        """A line in the message log that is not a message (events, drops)."""
        logger = bearer_log.get(route.kind, log) if route else log
        if route is not None:
            logger.log(level, "%s %s: %s", serial or "-", route.text(), text)
        else:
            logger.log(level, "%s: %s", serial or "-", text)
        self.db.log_message(serial, "note", route.kind if route else None, None, None, None, text)

    def security_on(self, term):
        return bool(self.config.security and term is not None and term["security"])

    def uplink_key(self, term, rt, generation="current"):
        """DigestKey for terminal-to-platform messages (PROTOCOL.md 3): stored (= old,
        for REGISTER 0x02) IMEI/IMSI, the uplink password, the session CURTIME."""
        pw = term["up_pw"]
        if generation == "pending":
            pk = self.db.pending_keys(term["serial"]) or {}
            pw = pk.get("up_pw")
        if not pw or not term["imei"] or not term["imsi"]:
            return None
        try:
            return D.DigestKey(term["imei"], term["imsi"], pw, (rt.curtime or 0) if rt is not None else 0)
        except WmmpError:
            return None

    def downlink_key(self, term, rt):
        if not self.security_on(term) or not term["down_pw"]:
            return None
        try:
            return D.DigestKey(term["imei"], term["imsi"], term["down_pw"], (rt.curtime or 0) if rt is not None else 0)
        except WmmpError:
            return None

    def sign_wanted(self, term, command, route):
        """Does a platform message carry E021?  Not on HEART_BEAT_ACK, not on SMS
        unless configured (4.4.2.1), never with security off (PROTOCOL.md 3)."""
        if not self.security_on(term) or not term["down_pw"]:
            return False
        if command in (C.HEART_BEAT_ACK, C.REGISTER_ACK):
            return False
        return route.kind != "sms" or self.config.sms_digest

    def digest_required(self, term, msg, route):
        """Must this uplink message carry E021 (E022 default: all, PROTOCOL.md 3)?"""
        if not self.security_on(term) or not term["up_pw"]:
            return False
        cmd = msg.command
        if cmd == C.HEART_BEAT or cmd == C.HEART_BEAT_ACK:
            return False
        if cmd == C.REGISTER:
            return msg.fields.get("operation") == 0x02
        return route.kind != "sms" or self.config.sms_digest

    def log_in(self, serial, route, msg, data, note=""):
        return self.record(serial, "in", route.kind, msg.name if msg else None,
                                   msg.seq if msg else None, data, note)

    def log_out(self, serial, route, msg, data, note=""):
        self.record(serial, "out", route.kind, msg.name, msg.seq, data, note)

    def encode_out(self, term, rt, msg, route, sign, key=None, cipher=None):
        """Bytes of a platform message; applies and clears the feedback bits."""
        if rt is not None:
            msg.security |= rt.feedback
        if sign and key is None:
            key = self.downlink_key(term, rt)
        data = codec.encode(msg, self.profile, route.bearer, key, cipher)
        if rt is not None:
            rt.feedback = 0
        return data

    # == incoming pipeline ===================================================

    def on_packet(self, data, route):
        try:
            self._on_packet(data, route)
        except Exception:   # one bad message must never stop the platform
            log.exception("error handling a message from %s", route.text())
            self.record(None, "in", route.kind, None, None, data, "internal error (see log)")

    def _on_packet(self, data, route):
        try:
            hdr = H.unpack(data)
        except WmmpError as e:
            self.record(None, "in", route.kind, None, None, data, "unreadable header: %s" % e)
            return
        serial = serial_key(hdr.serial)
        term = self.db.terminal(serial)
        rt = self.runtime(serial) if term is not None else None
        if len(data) == H.HEADER_SIZE and hdr.total_length != H.HEADER_SIZE and hdr.security & H.SEC_FEEDBACK:
            # Table A-2: the terminal echoes our header with its verdict on it.
            self.record(serial, "in", route.kind, C.name(hdr.command), hdr.seq,
                                data, "notice from the terminal: %s" % ", ".join(
                                    H.flags_set(hdr.security & H.SEC_FEEDBACK)))
            return
        if term is not None and hdr.security & H.SEC_FEEDBACK:
            self.note(serial, route, "terminal flags our previous message: %s"
                      % ", ".join(H.flags_set(hdr.security & H.SEC_FEEDBACK)), logging.WARNING)
        generation = "current"
        key = self.uplink_key(term, rt) if term is not None else None
        cipher = rt.session.cipher() if rt is not None and rt.session is not None else None
        try:
            msg = codec.decode(data, self.profile, route.bearer, key, cipher)
            if msg.digest_ok is False and term is not None:
                alt = self.uplink_key(term, rt, "pending")
                if alt is not None:
                    again = codec.decode(data, self.profile, route.bearer, alt, cipher)
                    if again.digest_ok:
                        msg, generation = again, "pending"
        except DigestMismatch:
            self.record(serial, "in", route.kind, C.name(hdr.command), hdr.seq,
                                data, "digest wrong and content does not decrypt")
            self._security_failure(term, rt, hdr, data, route, H.SEC_PREV_DIGEST_FAILED)
            return
        except DecryptError as e:
            self.record(serial, "in", route.kind, C.name(hdr.command), hdr.seq,
                                data, "decryption failed: %s" % e)
            self._decrypt_failed(term, rt, hdr, route)
            return
        except TooLongForBearer as e:
            self.record(serial, "in", route.kind, C.name(hdr.command), hdr.seq,
                                data, "too long: %s; header echoed with bit 0x01" % e)
            self.transmit(route, codec.encode_notice(data[:H.HEADER_SIZE], H.SEC_PREV_OVERFLOW))
            return
        except WmmpError as e:
            self.record(serial, "in", route.kind, C.name(hdr.command), hdr.seq,
                                data, "malformed, dropped: %s" % e)
            if term is not None:
                self.app_event("fault", serial, errcode=3)      # appendix H f 03: unparseable
            return
        who = serial
        if term is not None and route.kind == "sms" and term["msisdn"] and route.addr != term["msisdn"] \
                and msg.command not in (C.REGISTER, C.LOGIN):
            # The network vouches for the SMS sender: it must be the terminal's MSISDN.
            self.log_in(who, route, msg, data, "dropped: SMS from %s, the terminal's MSISDN is %s"
                        % (route.addr, term["msisdn"]))
            return
        if term is not None and not C.is_response(msg.command) and not self._may_talk(rt, msg, route):
            self.log_in(who, route, msg, data, "dropped: terminal not logged in (4.3.2)")
            return
        # -- digest (4.4.5, PROTOCOL.md 3) ------------------------------------------
        if term is not None and self.security_on(term):
            if msg.digest is not None and msg.digest_ok is False:
                self.log_in(who, route, msg, data, "digest wrong: dropped (4.4.5)")
                self._security_failure(term, rt, hdr, data, route, H.SEC_PREV_DIGEST_FAILED)
                return
            if msg.digest is None and self.digest_required(term, msg, route):
                self.log_in(who, route, msg, data, "digest missing: dropped (4.4.5)")
                self._security_failure(term, rt, hdr, data, route, H.SEC_PREV_DIGEST_MISSING)
                return
        notes = []
        if msg.digest_ok:
            notes.append("digest ok" + (" (new secrets)" if generation == "pending" else ""))
        if msg.encryption == codec.ENC_FULL:
            notes.append("fully encrypted (E042)")
        elif msg.encryption == codec.ENC_PARTIAL:
            notes.append("partly encrypted (E043)")
        if msg.subpacket is not None:
            sp = msg.subpacket
            notes.append("sub-packet %d/%d op %d trans %d" % (sp.index, sp.total, sp.op, sp.trans_id))
        log_id = self.log_in(who, route, msg, data, "; ".join(notes))
        if generation == "pending":
            flows.promote_pending(self, term["serial"], "the terminal signs with the new secrets")
            term = self.db.terminal(serial)
        prev_route = rt.route if rt is not None else None
        if term is not None:
            self._seen(term, rt, route)
        if C.is_response(msg.command):
            if term is None:
                self.note(None, route, "%s from unknown serial %s ignored" % (msg.name, serial))
                return
            self._on_response(term, rt, msg, route)
            return
        if msg.subpacket is not None:
            self._on_subpacket_request(term, rt, msg, route)
            return
        ctx = Ctx(self, term, rt, msg, route, generation, prev_route)
        ctx.log_id = log_id
        self.dispatch(ctx)

    def _seen(self, term, rt, route):
        fields = {"last_seen": self.clock(), "last_bearer": route.kind, "last_address": route.text()}
        self.db.update_terminal(term["serial"], **fields)
        if route.kind != "sms":
            rt.route = route

    def _security_failure(self, term, rt, hdr, data, route, bit):
        """4.4.5 / PROTOCOL.md 3: drop; E041 = 0x01 echoes the header at once, else the
        bit goes into the next message to the terminal."""
        if term is None or rt is None:
            return
        if C.is_response(hdr.command):
            self.note(term["serial"], route, "%s seq %d failed the security check: treated as lost"
                      % (C.name(hdr.command), hdr.seq), logging.WARNING)
            return
        if term["fail_reply"] == 1:
            notice = codec.encode_notice(data[:H.HEADER_SIZE], bit)
            self.transmit(route, notice)
            self.record(term["serial"], "out", route.kind, C.name(hdr.command), hdr.seq, notice,
                                "security notice: header echoed with bit 0x%02X (E041 = 0x01)" % bit)
        else:
            rt.feedback |= bit

    def _decrypt_failed(self, term, rt, hdr, route):
        """PROTOCOL.md 5: SECURITY_CONFIG_ACK 0x01, otherwise bit 0x02 next time."""
        if term is None or rt is None:
            return
        if hdr.command == C.SECURITY_CONFIG:
            resp = codec.Message(C.SECURITY_CONFIG_ACK, {"result": 0x01}, serial=hdr.serial, seq=hdr.seq)
            data = self.encode_out(term, rt, resp, route, self.sign_wanted(term, resp.command, route))
            self.transmit(route, data)
            self.log_out(term["serial"], route, resp, data, "decryption failed (PROTOCOL.md 5)")
        elif not C.is_response(hdr.command):
            rt.feedback |= H.SEC_PREV_DECRYPT_FAILED

    # -- requests -------------------------------------------------------------

    _WITHOUT_LOGIN = (C.REGISTER, C.LOGIN, C.LOGOUT)

    def _may_talk(self, rt, msg, route):
        """4.3.2: nothing but REGISTER / LOGIN (and LOGOUT) from a terminal that is
        not logged in; 4.3.5: alarms may come by SMS without login."""
        cmd = msg.command
        if cmd in self._WITHOUT_LOGIN or rt.logged_in:
            return True
        return cmd == C.CONFIG_TRAP and route.kind == "sms"

    def dispatch(self, ctx):
        msg = ctx.msg
        cmd = msg.command
        serial = serial_key(msg.serial)
        if ctx.term is None and cmd not in (C.REGISTER, C.LOGIN):
            self.note(None, ctx.route, "%s from unknown serial %s dropped (not registered)" % (msg.name, serial))
            return
        if ctx.term is not None and not self._may_talk(ctx.rt, msg, ctx.route):
            self.note(serial, ctx.route, "%s dropped: terminal not logged in (4.3.2)" % msg.name)
            return
        handler = flows.HANDLERS.get(cmd)
        if handler is None:
            self.note(serial, ctx.route, "%s is not a terminal-to-platform request: dropped" % msg.name)
            return
        handler(ctx)

    def respond(self, ctx, resp, sign=None, key=None, serial=None, note="", cipher=None):
        """Send the answer to ctx.msg on the same route (4.2), with its seq.  A fully
        encrypted request gets a fully encrypted answer; an answer too long for the
        bearer goes as sub-packets, index 1 now (PROTOCOL.md 6)."""
        term, rt, route = ctx.term, ctx.rt, ctx.route
        resp.seq = ctx.msg.seq
        resp.serial = H.pad_serial(serial if serial is not None else ctx.msg.serial)
        if cipher is None and rt is not None and rt.session is not None:
            cipher = rt.session.cipher()
        if ctx.msg.encryption == codec.ENC_FULL and cipher is not None and resp.encryption == codec.ENC_NONE:
            resp.encryption = codec.ENC_FULL
        if sign is None:
            sign = key is not None or self.sign_wanted(term, resp.command, route)
        if sign and key is None:
            key = self.downlink_key(term, rt)
            sign = key is not None
        if not S.fits(resp, self.profile, route.bearer, digest=sign, cipher=cipher):
            self._respond_fragmented(ctx, resp, key, cipher, note)
            return
        try:
            data = self.encode_out(term, rt, resp, route, sign, key, cipher)
        except WmmpError as e:
            self.note(serial_key(resp.serial), route, "cannot encode %s: %s" % (resp.name, e), logging.ERROR)
            return
        if not self.transmit(route, data):
            note = (note + "; " if note else "") + "could not be sent"
        self.log_out(ctx.log_as or serial_key(resp.serial), route, resp, data, note)

    def _respond_fragmented(self, ctx, resp, key, cipher, note):
        rt, route = ctx.rt, ctx.route
        trans = random.randrange(1, 0x10000)
        sp = S.Splitter(resp, trans, self.profile, route.bearer, digest=key is not None, cipher=cipher)
        if rt is not None:
            rt.splitters[trans] = [sp, self.clock()]
        first = sp.message(1, resp.seq)
        data = self.encode_out(ctx.term, rt, first, route, key is not None, key)
        self.transmit(route, data)
        self.log_out(serial_key(resp.serial), route, first, data,
                     "%s as %d sub-packets, trans %d (PROTOCOL.md 6)%s" % (resp.name, sp.total, trans,
                                                                       "; " + note if note else ""))

    def _on_subpacket_request(self, term, rt, msg, route):
        """Appendix F, PROTOCOL.md 6: a fragmented request (op 0x00) is collected and each
        part acknowledged with the next index wanted; a repeated request (op 0x01)
        asks for the next part of a fragmented response."""
        sp = msg.subpacket
        ctx = Ctx(self, term, rt, msg, route)
        ack_cmd = C.response_to(msg.command)
        if term is None:
            self.note(None, route, "sub-packet from an unknown serial dropped")
            return
        if sp.op in (S.OP_REQUEST, S.OP_RECEIVER_ABORT):
            held = rt.splitters.get(sp.trans_id)
            if held is None:
                self.note(term["serial"], route, "request for sub-packet %d of unknown transaction %d"
                          % (sp.index, sp.trans_id), logging.WARNING)
                return
            try:
                part = held[0].answer(sp)
            except SubpacketError as e:
                rt.splitters.pop(sp.trans_id, None)
                self.note(term["serial"], route, "sub-packet transfer ended: %s" % e)
                return
            ack = codec.Message(ack_cmd)
            ack.subpacket = part
            self.respond(ctx, ack, note="sub-packet %d/%d" % (part.index, part.total))
            if part.index == part.total:
                rt.splitters.pop(sp.trans_id, None)
            return
        key = (msg.command, sp.trans_id)
        held = rt.reassemblers.get(key)
        try:
            if held is None:
                r = S.Reassembler(msg.command, sp)
                rt.reassemblers[key] = [r, self.clock()]
            else:
                r = held[0]
                r.add(sp)
        except SubpacketError as e:
            # Appendix F e: abort the whole set in the answer to this sub-packet.
            rt.reassemblers.pop(key, None)
            ack = codec.Message(ack_cmd)
            ack.subpacket = codec.Subpacket(sp.trans_id, sp.total, sp.index, S.OP_RECEIVER_ABORT,
                                            b"", sp.encrypted)
            self.respond(ctx, ack, note="sub-packets rejected: %s" % e)
            return
        if not r.complete:
            ack = codec.Message(ack_cmd)
            ack.subpacket = r.request()
            self.respond(ctx, ack, note="asks for sub-packet %d/%d" % (ack.subpacket.index, r.total))
            return
        rt.reassemblers.pop(key, None)
        cipher = rt.session.cipher() if rt.session is not None else None
        try:
            whole = r.message(self.profile, cipher)
        except DecryptError:
            self.note(term["serial"], route, "reassembled content does not decrypt")
            self._decrypt_failed(term, rt, H.Header(msg.command, msg.serial, msg.seq), route)
            return
        except WmmpError as e:
            self.note(term["serial"], route, "reassembled %s is malformed: %s" % (msg.name, e))
            return
        whole.serial = msg.serial
        whole.seq = msg.seq
        whole.security = msg.security
        whole.digest = msg.digest
        whole.digest_ok = msg.digest_ok
        self.note(term["serial"], route, "%s reassembled from %d sub-packets (appendix F f)"
                  % (whole.name, r.total))
        self.dispatch(Ctx(self, term, rt, whole, route))

    # -- responses to platform requests -----------------------------------

    def _on_response(self, term, rt, msg, route):
        out = rt.outstanding.get(msg.seq)
        if out is None or C.response_to(out.command) != msg.command:
            late = rt.settled.get(msg.seq)
            if late is not None and C.response_to(late.command) == msg.command and msg.subpacket is None:
                del rt.settled[msg.seq]
                self.note(term["serial"], route, "%s seq %d: late answer to a request no longer waited "
                          "for (%s)" % (msg.name, msg.seq, late.given_up[1]))
                if late.pid is not None:
                    self.db.update_pending(late.pid, "answered-late", {
                        "late": True, "command": msg.name, "result": msg.fields.get("result"),
                        "time": self.clock()})
                self._answered(late, msg, True)
                return
            self.note(term["serial"], route, "%s seq %d answers no outstanding request (late or repeated)"
                      % (msg.name, msg.seq))
            return
        sp = msg.subpacket
        if sp is not None and out.splitter is not None and sp.op in (S.OP_REQUEST, S.OP_RECEIVER_ABORT):
            # Our request went as sub-packets: the terminal asks for the next one.
            try:
                part = out.splitter.answer(sp)
            except SubpacketError as e:
                self._finish(out, exc=PlatformError("terminal aborted the sub-packets: %s" % e))
                return
            m = out.splitter.message(part.index, 0)
            self._resend_as(out, m)
            return
        if sp is not None and sp.op == S.OP_DATA:
            # The answer comes as sub-packets: collect, ask for the next (PROTOCOL.md 6).
            try:
                if out.reassembler is None:
                    out.reassembler = S.Reassembler(msg.command, sp)
                else:
                    out.reassembler.add(sp)
            except SubpacketError as e:
                self._finish(out, exc=PlatformError("bad sub-packets in the answer: %s" % e))
                return
            r = out.reassembler
            if not r.complete:
                m = codec.Message(out.command)
                m.subpacket = codec.Subpacket(r.trans_id, r.total, r.next_wanted(), S.OP_REQUEST,
                                              b"", r.encrypted)
                self._resend_as(out, m)
                return
            try:
                whole = r.message(self.profile, out.cipher or (rt.session.cipher() if rt.session else None))
            except WmmpError as e:
                self._finish(out, exc=PlatformError("reassembled answer is malformed: %s" % e))
                return
            whole.serial, whole.seq, whole.security = msg.serial, msg.seq, msg.security
            msg = whole
        elif sp is not None:
            self._finish(out, exc=PlatformError("terminal ended the sub-packet exchange (op %d)" % sp.op))
            return
        self._finish(out, result=msg)

    def _resend_as(self, out, m):
        """Next step of a sub-packet exchange: a new message with a new seq."""
        rt = self.runtime(out.serial)
        rt.outstanding.pop(out.seq, None)
        m.serial = H.pad_serial(out.msg.serial)
        m.seq = rt.next_seq()
        out.seq = m.seq
        rt.outstanding[m.seq] = out
        self._send_outstanding(out, m)

    # == platform requests ===================================================

    def route_for(self, term, rt, via=None):
        """4.2: the terminal's last packet route while it is online, SMS when asked
        or when no packet route is usable."""
        if via not in (None, "sms", "packet"):
            raise PlatformError("via must be sms or packet")
        packet = rt.route if rt.route is not None and rt.route.alive else None
        if via == "packet" or (via is None and packet is not None and term["state"] == "online"):
            if packet is None:
                raise PlatformError("terminal %s has no usable packet address" % term["serial"])
            return packet
        if self.sms is None:
            raise PlatformError("terminal %s is not reachable by packet and no SMS centre is configured"
                                % term["serial"])
        if not term["msisdn"]:
            raise PlatformError("terminal %s has no MSISDN" % term["serial"])
        return Route("sms", term["msisdn"])

    async def request(self, serial, msg, via=None, sign=None, encrypt=None, encrypt_tags=None,
                      timeout=None, retries=None, pid=None, note="", on_answer=None):
        """Send a platform request to terminal `serial` and return its decoded answer
        (a Message), retransmitting with the same seq (4.4.6); PlatformError on
        timeout or when the terminal cannot be reached.  on_answer(answer, late) is
        called as the answer comes, also when it comes after the request was given
        up (timed out, or cancelled because something else settled it)."""
        term = self.db.terminal(serial)
        if term is None:
            raise PlatformError("unknown terminal %s" % serial)
        rt = self.runtime(serial)
        route = self.route_for(term, rt, via)
        msg.serial = serial_bytes(serial)
        msg.seq = rt.next_seq()
        cipher = None
        if encrypt:
            if rt.session is None:
                raise PlatformError("terminal %s has no session key: log in with E03A first" % serial)
            cipher = rt.session.cipher()
            if encrypt == "full":
                msg.encryption = codec.ENC_FULL
            else:
                msg.encryption = codec.ENC_PARTIAL
                msg.encrypt_tags = tuple(encrypt_tags or [t for t, _ in msg.tlvs])
        if sign is None:
            sign = self.sign_wanted(term, msg.command, route)
        per_try = self.config.sms_timeout if route.kind == "sms" else self.config.packet_timeout
        if retries is None:
            retries = self.config.retries
        fut = asyncio.get_running_loop().create_future()
        out = Outstanding(serial, msg, route, fut, sign, cipher, retries, per_try)
        out.pid = pid
        out.on_answer = on_answer
        rt.outstanding[msg.seq] = out
        first = msg
        if not S.fits(msg, self.profile, route.bearer, digest=sign, cipher=cipher):
            out.splitter = S.Splitter(msg, random.randrange(1, 0x10000), self.profile, route.bearer,
                                      digest=sign, cipher=cipher)
            first = out.splitter.message(1, msg.seq)
            note = (note + "; " if note else "") + "as %d sub-packets (PROTOCOL.md 6)" % out.splitter.total
        if pid is not None:
            self.db.update_pending(pid, "sent", seq=msg.seq)
        self._send_outstanding(out, first, note)
        if timeout is None:
            timeout = per_try * (retries + 1) + 1.0
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            self._finish(out, exc=PlatformError("no answer from %s within %.0f s" % (serial, timeout)))
            raise PlatformError("no answer from %s within %.1f s" % (serial, timeout))
        finally:
            if not fut.done():
                self._finish(out, exc=PlatformError("cancelled"))

    def _send_outstanding(self, out, m, note=""):
        rt = self.runtime(out.serial)
        term = self.db.terminal(out.serial)
        if term is None:
            self._finish(out, exc=PlatformError("terminal %s was removed" % out.serial))
            return
        try:
            data = self.encode_out(term, rt, m, out.route, out.sign,
                                   cipher=out.cipher if m.subpacket is None else None)
        except WmmpError as e:
            self._finish(out, exc=PlatformError("cannot encode %s: %s" % (m.name, e)))
            return
        out.wire = data
        if not self.transmit(out.route, data):
            note = (note + "; " if note else "") + "could not be sent"
        self.log_out(out.serial, out.route, m, data, note)
        self._arm(out)

    def _arm(self, out):
        if out.timer is not None:
            out.timer.cancel()
        out.timer = asyncio.get_running_loop().call_later(out.timeout, self._expired, out)

    def _expired(self, out):
        out.timer = None
        if out.future.done():
            return
        if out.retries == 0:
            self._finish(out, exc=PlatformError("%s to %s: no answer after retransmissions"
                                                % (C.name(out.command), out.serial)))
            return
        if out.retries > 0:
            out.retries -= 1
        if out.route.kind == "tcp" and not out.route.alive:
            self._finish(out, exc=PlatformError("TCP connection of %s closed" % out.serial))
            return
        self.transmit(out.route, out.wire)      # same seq (PROTOCOL.md 1, 4.4.6)
        self.record(out.serial, "out", out.route.kind, C.name(out.command), out.seq, out.wire,
                            "retransmission")
        self._arm(out)

    def _finish(self, out, result=None, exc=None):
        if out.timer is not None:
            out.timer.cancel()
            out.timer = None
        rt = self.runtimes.get(out.serial)
        if rt is not None and rt.outstanding.get(out.seq) is out:
            del rt.outstanding[out.seq]
        if out.future.done():
            return
        if exc is not None:
            if rt is not None and not self._closing:
                # Nobody waits any more, but the terminal may still answer: keep
                # the request a while so that a late answer is recognised.
                out.given_up = (self.clock(), str(exc))
                rt.settled[out.seq] = out
                while len(rt.settled) > SETTLED_MAX:
                    del rt.settled[next(iter(rt.settled))]
            out.future.set_exception(exc)
            out.future.exception()      # retrieved: no "never retrieved" warning
        else:
            self._answered(out, result, False)
            out.future.set_result(result)

    def _answered(self, out, answer, late):
        if out.on_answer is None:
            return
        try:
            out.on_answer(answer, late)
        except Exception as e:
            log.error("handling the answer to %s for %s failed: %s: %s",
                      C.name(out.command), out.serial, type(e).__name__, e)

    # == housekeeping ========================================================

    async def _housekeeping(self):
        while True:
            await asyncio.sleep(self.config.tick)
            try:
                self.sweep()
            except Exception:
                log.exception("housekeeping failed")

    def sweep(self):
        """4.3.4: a terminal silent for offline_factor heartbeat periods (its 0x0011,
        or the default 30 s) is marked offline.  Stale sub-packet sets are dropped."""
        now = self.clock()
        for serial, rt in list(self.runtimes.items()):
            for seq, out in list(rt.settled.items()):
                if now - out.given_up[0] > SETTLED_TTL:
                    del rt.settled[seq]
            for k, held in list(rt.reassemblers.items()):
                if now - held[1] > REASSEMBLY_TTL:
                    del rt.reassemblers[k]
                    self.note(serial, None, "incomplete sub-packet set %d dropped" % k[1])
            for k, held in list(rt.splitters.items()):
                if now - held[1] > SPLITTER_TTL:
                    del rt.splitters[k]
            if rt.awaiting_trap and rt.login_at is not None and now - rt.login_at > self.config.trap_timeout:
                rt.awaiting_trap = False
                self.note(serial, rt.route, "no security-verification CONFIG_TRAP after login (G b)",
                          logging.WARNING)
            if not rt.logged_in:
                continue
            term = self.db.terminal(serial)
            if term is None:
                continue
            hb = self.db.param(serial, 0x0011)
            period = struct.unpack(">I", hb)[0] if hb is not None and len(hb) == 4 else 0
            if period <= 0:
                period = self.config.heartbeat_default
            silent = now - (term["last_seen"] or 0)
            if silent > self.config.offline_factor * period:
                flows.end_session(self, serial, "offline", reason=0x04)    # heartbeat timeout
                self.app_event("fault", serial, errcode=2)      # appendix H f 02: silent for long
                self.note(serial, rt.route, "offline: silent for %.1f s (%d heartbeat periods of %d s, 4.3.4)"
                          % (silent, self.config.offline_factor, period), logging.WARNING)
