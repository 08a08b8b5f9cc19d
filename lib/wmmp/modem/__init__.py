"""Cellular module drivers: the errors, the bounded inbox and the WMMP
framing check their bearers share, plus the AT reply parsing, timing helpers
(now, since), TLV 0x3006/0x3007 values, SIM +CME error mapping, the synchronous
SimSnapshot and the driver bases both drivers use: DriverBase (AT probe, power
pin, init once per boot, radio TLVs, sim_lock) and ModemBase (the SIM reads,
identity, +CSQ, wait_sim, +CMTI).  Portable (MicroPython and CPython).

Drivers: wmmp.modem.sim7600 (SIMCom SIM7600), wmmp.modem.bc95 (Quectel BC95).  Their bearers
(on the bases of wmmp.modem.bearers) implement the interface wmmp.board.runner
uses (kind, async open(), async send(data), async recv()).

Errors (all WmmpError subclasses, so one except clause keeps a caller alive):
    ModemError       the module did not do what was asked
    NotResponding    no answer to AT after power-on or a reboot
    LinkError        base of the two below; on CPython also a ConnectionError,
                     as the host bearers' interface promises (MicroPython has no
                     ConnectionError and cannot mix a WmmpError with OSError)
    NetworkError     attach / data service / socket open failed; `code` is the
                     module's <err> number (the AT manuals: 1 network failure, 2 not
                     opened, ... 10 timeout, 11 DNS) or None
    LinkLost         the link is gone (network closed, peer closed, module
                     rebooted, framing lost) or was never opened: open() again
"""

import asyncio
import struct
from micropython import const

from wmmp.terminal import simcard as S
from wmmp.modem.at import AtException, CmeError
from wmmp.errors import WmmpError, BadValue
from wmmp.wire.header import HEADER_SIZE, SEC_FEEDBACK

try:                                      # now() -> a time stamp; since(t0) -> s since it
    from time import ticks_ms as now, ticks_diff

    def since(t0):
        return ticks_diff(now(), t0) / 1000
except ImportError:                       # CPython
    from time import monotonic as now

    def since(t0):
        return now() - t0


class ModemError(WmmpError):
    """The module did not do what was asked (unexpected reply)."""


class NotResponding(ModemError):
    """The module did not answer AT in time (off, booting, wrong baud rate)."""


try:
    class LinkError(ModemError, ConnectionError):     # CPython
        """A bearer's link failed or is not open."""
except (NameError, TypeError):                          # MicroPython
    class LinkError(ModemError):
        """A bearer's link failed or is not open."""


class NetworkError(LinkError):
    """Attach, data service or socket open failed; `code` is the module's <err>."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


class LinkLost(LinkError):
    """The link is gone or was never opened: the bearer must be opened again."""


def log_print(*args):
    print(*args)


def frame_problem(data):
    """Why `data` is not one whole WMMP message (PROTOCOL.md 1: total_length, the
    first u16, equals its size), or None.  A 28-byte header echo with a
    feedback bit set (table A-2) keeps the original total_length: accepted."""
    n = len(data)
    if n < HEADER_SIZE:
        return "%d bytes, shorter than the header" % n
    if n == HEADER_SIZE and data[26] & SEC_FEEDBACK:
        return None
    t = (data[0] << 8) | data[1]
    if t != n:
        return "total_length %d but %d bytes" % (t, n)
    return None


class Inbox:
    """Bounded queue of received messages with a failure state.

    put() drops the oldest item when `limit` are waiting (counted in
    `dropped`); fail(why) makes get() raise LinkLost(why) once the queued
    items are taken; reset() clears the failure (the bearer is open again)."""

    def __init__(self, limit=8, why="not open"):
        self.limit = limit
        self.items = []
        self.dropped = 0
        self.why = why
        self.ev = asyncio.Event()

    def put(self, item):
        if len(self.items) >= self.limit:
            self.items.pop(0)
            self.dropped += 1
        self.items.append(item)
        self.ev.set()

    def fail(self, why):
        self.why = why
        self.ev.set()

    def reset(self):
        self.why = None

    async def get(self):
        while True:
            if self.items:
                return self.items.pop(0)
            if self.why is not None:
                raise LinkLost(self.why)     # a fresh instance each time
            self.ev.clear()
            await self.ev.wait()


# == shared by the drivers: AT reply parsing, TLV values, SIM errors ==========

# +CME ERROR codes of SIM commands (3GPP 27.007), the same on both modules.
CME_NO_SIM = const(10)
CME_SIM_PIN = const(11)
CME_SIM_PUK = const(12)
CME_SIM_FAILURE = const(13)
CME_SIM_BUSY = const(14)
CME_BAD_PASSWORD = const(16)
CME_SIM_BLOCKED = const(262)      # "SIM blocked" on some firmware (unconfirmed)
# the same in verbose mode (AT+CMEE=2), should a module be left in it
CME_TEXT = {"sim not inserted": CME_NO_SIM, "sim pin required": CME_SIM_PIN,
            "sim puk required": CME_SIM_PUK, "sim failure": CME_SIM_FAILURE,
            "sim busy": CME_SIM_BUSY, "incorrect password": CME_BAD_PASSWORD,
            "sim blocked": CME_SIM_BLOCKED}


def after(line, prefix):
    """Text after `prefix` (bytes) in `line`, stripped, as str."""
    return bytes(line[len(prefix):]).strip().decode()


def find(lines, prefix):
    """Text after the first line starting with `prefix`, or None."""
    for ln in lines:
        if isinstance(ln, (bytes, bytearray)) and ln.startswith(prefix):
            return after(ln, prefix)
    return None


def ints(text):
    """'23,99' -> [23, 99]; empty / non-numeric fields -> None."""
    out = []
    for f in text.split(","):
        f = f.strip().strip('"')
        try:
            out.append(int(f))
        except ValueError:
            out.append(None)
    return out


def digits_line(lines, prefix=None):
    """The first reply line that is all digits (after an optional prefix such as
    '+ICCID:' or '+NCCID:'), e.g. the IMSI of AT+CIMI; None when there is none."""
    for ln in lines:
        if not isinstance(ln, (bytes, bytearray)):
            continue
        t = bytes(ln)
        if prefix is not None and t.startswith(prefix):
            t = t[len(prefix):]
        t = t.strip().strip(b'"')
        if t and t.isdigit():
            return t.decode()
    return None


def hex_int(s):
    s = s.strip().strip('"').strip()
    if s[:2] in ("0x", "0X"):
        s = s[2:]
    if not s:
        raise ValueError("empty")
    return int(s, 16)


def ignore(line, extra=None):
    pass


def signal_tlv(percent):
    """TLV 0x3007 value: one byte 0..100."""
    return bytes((max(0, min(100, percent)),))


def cell_tlv(lac, ci):
    """TLV 0x3006 value (appendix E e): LAC (the TAC on LTE/NB-IoT) in the high 16 bits, CI in the low 16
    bits.  An E-UTRAN cell identity has 28 bits: its low 16 bits are kept."""
    return struct.pack(">HH", lac & 0xFFFF, ci & 0xFFFF)


def sim_error(code):
    """The wmmp.terminal.simcard error for a +CME ERROR code met by a SIM command."""
    if code == CME_NO_SIM:
        return S.NoSim("no SIM card")
    if code == CME_SIM_PIN:
        return S.PinRequired("SIM PIN1 required")
    if code == CME_SIM_PUK:
        return S.PukRequired("PIN1 blocked: PUK1 required")
    if code == CME_SIM_FAILURE or code == CME_SIM_BLOCKED:
        return S.SimBlocked("SIM failure or blocked (+CME ERROR %s)" % code)
    if code == CME_SIM_BUSY:
        return S.SimError("SIM busy")
    return S.SimError("module refused the SIM command (+CME ERROR %s)" % (code,))


class SimSnapshot:
    """Synchronous read-only SIM view, made by a driver's `await sim_snapshot()`,
    for code that cannot await (the engine and SimGuard await the driver itself).

    pin_state, attempts, pin_enabled, imsi, iccid, imei answer from the
    snapshot (NoSim / PinRequired as the card would); enter_pin, enter_puk,
    set_pin_enabled and change_pin raise SimError WITHOUT reaching the card, so
    no attempt is used (SimGuard then finds the counter unchanged and keeps
    its own count straight): PIN operations go through the driver's async
    methods, then take a new snapshot."""

    def __init__(self, state, imei, driver="driver"):
        self._driver = driver
        self._state = state
        self._imei = imei
        self._attempts = None
        self._iccid = None
        self._imsi = None
        self._enabled = None

    def __repr__(self):
        return "<SimSnapshot %s>" % self._state

    def pin_state(self):
        return self._state

    def _have(self, v):
        if self._state == S.NO_SIM:
            raise S.NoSim("no SIM card")
        if v is None:
            raise S.SimError("not in the snapshot")
        return v

    def attempts(self):
        return self._have(self._attempts)

    def pin_enabled(self):
        return self._have(self._enabled)

    def iccid(self):
        return self._have(self._iccid)

    def imsi(self):
        if self._state != S.READY:
            raise S.error_for(self._state)
        return self._have(self._imsi)

    def imei(self):
        return self._imei

    def _refuse(self, *args):
        raise S.SimError("PIN commands need the modem: use the %s async methods" % self._driver)

    enter_pin = _refuse
    enter_puk = _refuse
    set_pin_enabled = _refuse
    change_pin = _refuse


def packet_profile(bearer, base=None):
    """The interop profile for a terminal whose packet bearer is `bearer`: `base`
    (wmmp.wire.profile.DEFAULT) with packet_message_max lowered to what one send()
    of the bearer takes (its send_max: a SIM7600 UDP datagram 1500 bytes, a
    BC95 one udp_max, 1358 or 512 on old firmware).  Longer messages then go
    as sub-packets (appendix F) instead of failing at the module.  A bearer
    without a limit (TCP: the drivers split the stream) keeps base's."""
    from wmmp.wire import profile as P
    base = base or P.DEFAULT
    limit = getattr(bearer, "send_max", None)
    if not limit or limit >= base.packet_message_max:
        return base
    p = P.Profile(base.version, base.crc16, base.cipher_mode, base.iv, base.sms_tlv_max,
                  base.packet_tlv_max, base.sms_message_max, limit)
    p.bridge_mode = base.bridge_mode
    p.file_window = getattr(base, "file_window", 1)
    return p


class DriverBase:
    """What both drivers do the same way: probe the module with AT, press a
    power/reset pin and wait for the boot URC, and run the init sequence once per
    boot.  A driver provides at, log, boot_wait, gen (bumped on each boot URC),
    _ready_gen, _lock, _booted (an asyncio.Event set by the boot URC) and _init().
    Its SIM methods are coroutines: sim_async tells the engine and
    wmmp.terminal.simguard to await them."""

    sim_async = True

    @property
    def sim_lock(self):
        """One asyncio.Lock per driver: wmmp.terminal.simguard.run_async holds it for a
        whole job (the engine's and the console's SIM work never interleave)."""
        lock = getattr(self, "_sim_lock", None)
        if lock is None:
            lock = self._sim_lock = asyncio.Lock()
        return lock

    async def update_radio(self, params):
        """Set TLVs 0x3006 and 0x3007 in `params` (wmmp.terminal.params.Params; volatile
        monitoring tags) from the module's signal() and cell(); -> (signal,
        cell).  Unknown values leave the previous ones."""
        sig = await self.signal()
        cell = await self.cell()
        if sig is not None:
            params.set(0x3007, signal_tlv(sig))
        if cell is not None:
            params.set(0x3006, cell_tlv(cell[0], cell[1]))
        return sig, cell

    async def monitor_radio(self, params, period=60):
        """Keep TLVs 0x3006/0x3007 fresh: update_radio() every `period` s, for
        ever (run it as a task); failures are logged, never raised.  (On a
        BC95, AT commands do not wake the radio: this costs no PSM sleep.)"""
        while True:
            try:
                await self.update_radio(params)
            except WmmpError as e:
                self.log("%s: radio update failed: %r" % (type(self).__name__.lower(), e))
            await asyncio.sleep(period)

    async def _answers(self):
        try:
            await self.at.command("AT", timeout=1)
            return True
        except AtException:
            return False

    async def _press(self, pin, level, pulse, marker):
        """Drive `pin` to `level` for `pulse` s unless the module already answers
        AT, then wait up to boot_wait for its boot URC (`marker`, for the log)."""
        if pin is None or await self._answers():
            return
        self._booted.clear()
        pin.value(level)
        await asyncio.sleep(pulse)
        pin.value(1 - level)
        try:
            await asyncio.wait_for(self._booted.wait(), self.boot_wait)
        except asyncio.TimeoutError:
            self.log("%s: no %s within %s s; trying AT anyway" % (type(self).__name__.lower(), marker, self.boot_wait))

    async def ensure_ready(self):
        """Run the init sequence if it has not run since the last boot URC."""
        if self._ready_gen == self.gen:
            return
        async with self._lock:
            if self._ready_gen != self.gen:
                await self._init()


class ModemBase(DriverBase):
    """What both drivers do the same way beyond DriverBase (kept apart from it:
    a DriverBase may stand for a card whose SIM methods it forwards): the SIM
    reads imsi() (AT+CIMI), iccid() and imei() (the module's commands:
    _iccid_cmd, _iccid_prefix, _imei_cmd; the defaults are the SIM7600's, the
    BC95's SimInterface sets its own), the +CME ERROR code of a CmeError
    (_cme: verbose texts mapped through cme_text), SIM commands whose AT
    failures become SimError subclasses (_sim_cmd), identity(), rssi(),
    wait_sim(), the SMS centre (set_smsc) and the +CMTI handler.  A driver provides pin_state(),
    firmware(), _sms and the DriverBase needs."""

    cme_text = CME_TEXT
    smsc = None             # SMS centre number (AT+CSCA), None: the SIM's
    _imei_cmd = "AT+CGSN"
    _iccid_cmd = "AT+CICCID"
    _iccid_prefix = b"+ICCID:"

    def _cme(self, e):
        """Numeric code of a CmeError (verbose text mapped), else None."""
        c = e.code
        if isinstance(c, str):
            c = self.cme_text.get(c.lower())
        return c

    def _on_cmti(self, line, extra):
        if self._sms is not None:
            v = ints(after(line, b"+CMTI:"))
            if v and v[-1] is not None:
                self._sms._stored(v[-1])

    async def _sim_cmd(self, cmd, timeout=5):
        """A SIM command; AT failures become SimError subclasses.  The message
        never repeats the command (it may carry a PIN)."""
        code = None
        fail = None
        try:
            return await self.at.command(cmd, timeout=timeout)
        except CmeError as e:
            code = self._cme(e)
        except AtException as e:
            fail = e.__class__.__name__
        if code is not None:
            raise sim_error(code)
        raise S.SimError("SIM command failed: %s" % fail)

    async def _need_state(self, state):
        st = await self.pin_state()
        if st != state:
            raise S.error_for(st)

    async def set_smsc(self, number):
        """AT+CSCA="<number>",<type> (27.005 3.3.1; type 145 for '+'
        international numbers, else 129): the SMS centre every SMS-SUBMIT goes
        through (its SMSC field is 00: the configured one; parameter 0x0005).
        Kept in `smsc` and set again at each SMS set-up (a new SIM, a reboot);
        None keeps the module's."""
        self.smsc = number or None
        if number:
            await self.at.command('AT+CSCA="%s",%d' % (number, 145 if number[:1] == "+" else 129), timeout=5)

    async def _smsc_again(self):
        """At an SMS set-up: the SMS centre set before (failures logged)."""
        if self.smsc:
            try:
                await self.set_smsc(self.smsc)
            except AtException as e:
                self.log("%s: AT+CSCA refused (%r)" % (type(self).__name__.lower(), e))

    async def wait_sim(self, timeout=10):
        """Wait while the SIM is busy after boot (+CME ERROR: 14, +CPIN: NOT
        READY); -> the pin_state() reached (READY, SIM PIN, SIM PUK, BLOCKED or
        NO SIM; when `timeout` s pass first, the last answer or None)."""
        t0 = now()
        while True:
            try:
                st = await self.pin_state()
            except S.SimError:
                st = None
            if st in (S.READY, S.SIM_PIN, S.SIM_PUK, S.BLOCKED, S.NO_SIM) or since(t0) >= timeout:
                return st
            await asyncio.sleep(0.5)

    async def imsi(self):
        """AT+CIMI -> 15 digits."""
        v = digits_line(await self._sim_cmd("AT+CIMI"))
        if v is None:
            raise S.SimError("no IMSI in the AT+CIMI reply")
        return v

    async def iccid(self):
        """_iccid_cmd -> _iccid_prefix <digits> or bare digits (a trailing F pad
        is dropped); NoSim without a card."""
        cmd = self._iccid_cmd
        lines = await self._sim_cmd(cmd)
        t = find(lines, self._iccid_prefix)
        if t is None:
            t = digits_line(lines)
        if not t:
            raise S.SimError("no ICCID in the %s reply" % cmd)
        return t.strip('"').rstrip("Ff")

    async def imei(self):
        """_imei_cmd -> 15 digits (bare, or after '+CGSN:')."""
        cmd = self._imei_cmd
        v = digits_line(await self.at.command(cmd), b"+CGSN:")
        if v is None:
            raise S.SimError("no IMEI in the %s reply" % cmd)
        return v

    async def identity(self):
        """{'imei', 'imsi', 'iccid', 'firmware'}; imsi/iccid None when the SIM
        does not give them (PIN needed, no card).  Cached in self.ident."""
        d = {"imei": await self.imei(), "firmware": await self.firmware(), "imsi": None,
             "iccid": None}
        try:
            d["iccid"] = await self.iccid()
            d["imsi"] = await self.imsi()
        except S.SimError:
            pass
        self.ident = d
        return d

    async def rssi(self):
        """AT+CSQ -> (rssi, ber) as the module reports them (99: unknown)."""
        v = ints(find(await self.at.command("AT+CSQ"), b"+CSQ:") or "")
        if len(v) < 2 or v[0] is None:
            raise BadValue("bad +CSQ reply")
        return v[0], v[1]
