"""Quectel BC95 / BC95-G (NB-IoT) emulated at the AT level (the
dialect the BC95 driver of lib/wmmp/modem expects, after Quectel's AT manual): it consumes what
the host writes to the UART and answers as the module does, with a
SimulatedSim (wmmp.terminal.simcard: PIN1/PUK1 counters that really lock) as its SIM, real
loopback UDP sockets behind AT+NSOCR/NSOST/NSORF (TCP behind
AT+NSOCR=STREAM/NSOCO/NSOSD when Options.tcp, as on the BC95-G), optional PDU
SMS through the emulated SMS centre (pdusms, docs/SMSC.md) and a model of
power saving (PSM).

    emu = Bc95(sim, psm_idle=30)      # Options as keywords, or options=Options(...)
    await emu.start()                 # power-on banner ... "Neul", "OK"
    port = HostPort(emu)              # wmmp_tools.emu.stream; or PtyPort (ptyio)
    ...
    await emu.close()

Dialect (MODEMS BC95): no space after the colon (`+CSQ:21,99`,
`+CEREG:0,1`, `+CGSN:<imei>`); lines framed "\\r\\n<text>\\r\\n"; the boot
banner (`Boot: Unsigned` ... `REBOOT_CAUSE_...`) ends with `Neul` then `OK`;
`AT+NRB` answers `REBOOTING` and then the banner (its `OK` is the banner's);
echo off and plain `ERROR` until AT+CMEE=1 (`+CME ERROR:<n>`, 27.007 9.2
codes); `AT+NSOCR` answers the bare socket number; `AT+NSOST` / `AT+NSOSD`
answer `<s>,<len>` and, given a sequence number, `+NSOSTR:<s>,<seq>,<status>`
after the OK; received data is announced by `+NSONMI:<s>,<len>` and read as
hex by `AT+NSORF=<s>,<max>` -> `<s>,<ip>,<port>,<len>,<HEX>,<remaining>`;
`+CSCON:<mode>` / `+NPSMR:<mode>` report RRC and PSM state.

PSM (MODEMS "power saving": a terminal in PSM receives nothing until it
sends): with Options.psm_idle set, the module goes to PSM that many seconds
after its last radio activity (an uplink, the attach, a delivered downlink);
from then on datagrams for it (and SMS) are held by the "network" and
delivered only right after the device's next uplink (AT+NSOST / AT+NSOSD /
AT+CMGS).  RRC is released (`+CSCON:0`) after Options.rrc_idle seconds.

Variants the AT manuals leaves unconfirmed are options (class Options): npin
(AT+NPIN at all), npin_prefixed (whether `ERROR PIN blocked` / `ERROR PIN
disabled` carry the `+NPIN:` prefix), reg_quoted (n=2 +CEREG tac/ci quoting),
sms (SMS offered at all) and sms_off_reply, cnmi (receive by +CMT direct
delivery or by +CMTI storage), tcp (BC95-G), udp_max (512 on old firmware,
1358), nsorf_remaining / nsonmi_each (what <remaining> counts, one +NSONMI per
datagram or per empty->non-empty), boot_errors (`ERROR` to the first
commands after boot).

With pace=True (what `wmmp-emu bc95` does unless --no-pace) the UART is paced
at `baud` (default 9600 8N1, MODEMS BC95; modem.py "Pacing").  The class
default is pace=False: the in-process test rigs were written for instant bytes,
and at 9600 one AT+NSORF reply of a full datagram alone is 2.9 s of line.  AT+NATSPEED=<baud>,<timeout>,<store>,
<sync_mode>[,<stopbits>[,<parity>[,<xonxoff>]]] (MODEMS BC95 "baud") answers
OK at the old rate, then the module talks at the new rate and character format
(start + 8 data + parity + stop bits); with <store> 1 the setting survives a
reboot (else the stored one comes back); with <timeout> > 0, when no command
line arrives at the new rate within <timeout> s the old setting comes back
(choice: 0 keeps the new rate unconditionally).  AT+NATSPEED? reports the
current setting.

Fault injection (methods; `wmmp-emu bc95` has flags for them): faults
(OutputFaults: dropped / delayed / corrupted output lines), inject() (raw
noise), set_outage() (packet network gone: +CEREG stat 2, +CGATT:0, sends
fail, downlink lost; data_only=True: the PDN alone, registration and SMS
stay), set_signal(99) (no signal), reboot() / reboot_after() /
reboot_on() (a crash: the banner with a watchdog cause, no reply to the
command in flight), lose_uplink() (datagrams the network loses:
+NSOSTR status 0), swap_sim() / remove_sim(); the SMS centre's set_faults()
delays or loses SMS.
"""

import asyncio
import binascii
import collections
import ipaddress
import logging
import socket

from wmmp.terminal import simcard as S
from wmmp.errors import BadValue

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.modem import (CME_BAD_PARAMS, CME_NO_NETWORK, CME_NO_SIM, CME_NOT_ALLOWED,
                                  CME_NOT_SUPPORTED, CME_SIM_PIN, Final, Modem)
from wmmp_tools.emu.netsock import TcpSocket, UdpSocket
from wmmp_tools.emu.pdusms import PduSms

log = logging.getLogger("wmmp.emu.bc95")

SOCKETS = 7                # socket ids 0-6
UDP_MAX = 1358             # MODEMS "UDP send": max 512 (old) to 1358 bytes
RXQ_MAX = 16 * 1024        # bytes a socket buffers unread; later datagrams are lost (choice)
HELD_MAX = 64              # downlink units the network holds for a device in PSM (choice)
TX_MS = 60                 # NUESTATS "TX time" added per uplink (choice)

NATSPEED_RATES = (4800, 9600, 57600, 115200, 230400, 460800)
# AT+NATSPEED fields after <baud>: (name, lo, hi) as AT+NATSPEED=? lists them
NATSPEED_FIELDS = (("timeout", 0, 30), ("store", 0, 1), ("sync_mode", 0, 3), ("stopbits", 1, 2),
                   ("parity", 0, 2), ("xonxoff", 0, 1))

BANNER = ("Boot: Unsigned", "Security B.. Verified", "Protocol A.. Verified",
          "Apps A...... Verified")
CAUSE_POWER_ON = "REBOOT_CAUSE_SECURITY_PMU_POWER_ON_RESET"
CAUSE_AT = "REBOOT_CAUSE_APPLICATION_AT"
CAUSE_CRASH = "REBOOT_CAUSE_APPLICATION_WATCHDOG"

NO_VALUE = -32768          # NUESTATS value of something not measured

# T3324 / T3412 timer units (27.007 +CPSMS, 24.008 10.5.7.4 / 10.5.7.4a), seconds
_T3324_UNIT = {0: 2, 1: 60, 2: 360}


class Options:
    """Timings, identity strings and dialect variants.  Defaults follow the
    sources behind the AT manuals; items marked (choice) had no source.

    echo            False: no echo after boot (Neul firmware; ATE0/ATE1 accepted) (choice)
    cmee            +CME ERROR mode after boot: 0 plain ERROR (tutorials: "without
                    AT+CMEE=1 every failure is ERROR"), 1 numeric, 2 text
    boot_time       s from power-on to the banner
    reboot_time     s from REBOOTING (AT+NRB) or a crash to the banner (real: several s)
    boot_errors     the first N commands after every boot answer ERROR (MODEMS: "ERROR
                    may answer the first commands after boot: retry")
    boot_noise      bytes on the UART right after REBOOTING (logs show a stray byte or
                    two; default none)
    neul_space      "Neul " with the trailing blank captured logs show (True) or "Neul"
    autoconnect     NV AUTOCONNECT at first power-on: True -> radio on and attach at
                    every boot; False -> AT+CFUN=1 and AT+CGATT=1 needed.  AT+NCONFIG=
                    AUTOCONNECT,<TRUE|FALSE> changes it from the next boot on.
    reg_delay       s from radio on + SIM ready (or AT+CGATT=1) to registered
    rssi, ber       +CSQ values at power-on
    rsrp            NUESTATS "Signal power" in centi-dBm (None: from rssi)
    snr, rsrq, ecl, earfcn, pci, band   NUESTATS values (ecl None: from the signal)
    tac, ci, act    tracking area code, cell id, <AcT> of n=2 +CEREG
    reg_quoted      n=2 +CEREG with "tac","ci" quoted (unconfirmed; False: bare hex)
    roaming         registration stat 5 instead of 1
    plmn            +COPS numeric operator
    manufacturer, model, cgmr, revision   AT+CGMI / AT+CGMM / AT+CGMR lines / ATI
    ip_addr         the address +CGPADDR reports
    bind_host       host address the module's sockets bind to
    honour_local_port  bind the listen port AT+NSOCR names (default: any free port,
                    as a carrier NAT would show it)
    address_map     {address the firmware uses: real host address} for NSOST/NSOCO;
                    NSORF shows the firmware's address
    tcp             AT+NSOCR=STREAM,6 / NSOCO / NSOSD available (BC95-G)
    udp_max         largest NSOST / NSOSD / NSORF payload (512 on old firmware)
    nsorf_remaining "socket": <remaining> counts every unread byte of the socket (the
                    host loops while > 0); "datagram": only the rest of the datagram read
    nsonmi_each     True: one +NSONMI per datagram; False: only when the socket had
                    nothing unread (then the host must drain it) (choice)
    nsostr_delay    s from the OK of a send with <seq> to +NSOSTR
    connect_timeout s AT+NSOCO waits for the TCP handshake
    rrc_idle        s without radio activity before RRC release (+CSCON:0) (choice)
    psm_idle        s without radio activity before PSM (None: the network grants no
                    PSM); downlink is then held until the next uplink
    t3412, t3324    +CPSMS timer strings reported before AT+CPSMS sets them
    npin            AT+NPIN available (unconfirmed on BC95; False: ERROR)
    npin_prefixed   False: `ERROR PIN blocked` / `ERROR PIN disabled` bare, as MODEMS
                    lists them; True: with the `+NPIN:` prefix (unconfirmed)
    sms             SMS offered by module and network (MODEMS: most NB-IoT operators
                    offer none): False -> SMS commands fail
    sms_off_reply   "error": plain ERROR (no such command); "cme": +CME ERROR:4 in the
                    current AT+CMEE mode (operation not supported)
    cnmi            AT+CNMI after boot: (2,2,..) +CMT direct delivery (27.005 AT+CNMA
                    is in the BC95 list), (2,1,..) storage with +CMTI (unconfirmed)
    sms_first_index, sms_capacity, smsc_number   SM storage and the SMSC address
    baud            UART rate at power-on (NATSPEED_RATES; MODEMS: 9600)
    pace            pace the UART at its rate (modem.py "Pacing"); False (the class
                    default; wmmp-emu paces unless --no-pace): bytes move at once
    """

    def __init__(self, **kw):
        self.echo = False
        self.cmee = 0
        self.boot_time = 0.0
        self.reboot_time = 0.0
        self.boot_errors = 0
        self.boot_noise = b""
        self.neul_space = True
        self.autoconnect = True
        self.reg_delay = 0.0
        self.rssi = 21
        self.ber = 99
        self.rsrp = None
        self.snr = 120
        self.rsrq = -108
        self.ecl = None
        self.earfcn = 2506
        self.pci = 21
        self.band = 5
        self.tac = 0x5B0C
        self.ci = 0x0B8A9A12
        self.act = 7
        self.reg_quoted = True
        self.roaming = False
        self.plmn = "46011"
        self.manufacturer = "Quectel"
        self.model = "BC95HB-02-STD_850"
        self.cgmr = ("SECURITY,V100R100C10B657SP3", "PROTOCOL,V100R100C10B657SP3",
                     "APPLICATION,V100R100C10B657SP3", "SEPC,V100R100C10B200SP1",
                     "DEBUG,V100R100C10B657SP3", "CHIP,V100R100C10B657SP3")
        self.revision = "BC95HBR02A01"
        self.ip_addr = "10.169.241.248"
        self.bind_host = "127.0.0.1"
        self.honour_local_port = False
        self.address_map = {}
        self.tcp = False
        self.udp_max = UDP_MAX
        self.nsorf_remaining = "socket"
        self.nsonmi_each = True
        self.nsostr_delay = 0.0
        self.connect_timeout = 15.0
        self.rrc_idle = 20.0
        self.psm_idle = None
        self.t3412 = "01000011"
        self.t3324 = "00100010"
        self.npin = True
        self.npin_prefixed = False
        self.sms = False
        self.sms_off_reply = "error"
        self.cnmi = (2, 2, 0, 0, 0)
        self.sms_first_index = 0
        self.sms_capacity = 20
        self.smsc_number = "+8613800100500"
        self.baud = 9600
        self.pace = False
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown BC95 option %r" % k)
            setattr(self, k, v)
        if self.nsorf_remaining not in ("socket", "datagram"):
            raise ValueError("nsorf_remaining must be 'socket' or 'datagram'")
        if self.sms_off_reply not in ("error", "cme"):
            raise ValueError("sms_off_reply must be 'error' or 'cme'")
        if not 1 <= self.udp_max <= UDP_MAX:
            raise ValueError("udp_max must be within 1..%d" % UDP_MAX)
        if self.psm_idle is not None and self.psm_idle < 0:
            raise ValueError("psm_idle must be >= 0")
        if self.boot_errors < 0 or self.rrc_idle < 0:
            raise ValueError("boot_errors and rrc_idle must be >= 0")
        if self.baud not in NATSPEED_RATES:
            raise ValueError("baud must be one of %s" % ", ".join(map(str, NATSPEED_RATES)))


class _Sock:
    """One of the seven sockets."""

    def __init__(self, idx, proto, lport, recv):
        self.idx = idx
        self.proto = proto          # "UDP" / "TCP"
        self.lport = lport          # listen port as the host named it
        self.recv = recv            # receive control: 0 incoming data dropped
        self.sock = None            # netsock UdpSocket / TcpSocket
        self.peer = None            # TCP: (ip as the firmware named it, port)
        self.rx = collections.deque()   # [ip, port, bytearray] unread datagrams / chunks
        self.rx_bytes = 0
        self.closed = False         # freed by AT+NSOCL (or power)
        self.remote_closed = False  # TCP: +NSOCLI seen


class Bc95(PduSms, Modem):
    """The emulated module.  attach(sink) sets where its output goes (sink(bytes)),
    feed(bytes) is what the host writes.  See the module docstring."""

    SEP = ":"
    LINE_MAX = 2 * UDP_MAX + 256    # an AT+NSOST line with the largest payload in hex

    def __init__(self, sim=None, msisdn="13800000001", smsc=None, options=None, rng=None,
                 trace=None, **kw):
        if options is None:
            options = Options(**kw)
        elif kw:
            raise TypeError("give options or keyword options, not both")
        self.o = options
        Modem.__init__(self, sim, rng, trace)
        self._sms_init(msisdn, smsc)
        # NV settings (survive a reboot)
        self.nv_autoconnect = options.autoconnect
        self.nv_bands = [options.band]
        self.nv_natspeed = "%d,3,1,2,1,0,0" % options.baud    # the stored AT+NATSPEED
        self.natspeed = self.nv_natspeed
        self.cpsms = 1 if options.psm_idle is not None else 0
        self.t3412 = options.t3412
        self.t3324 = options.t3324
        # radio and network
        self.rssi = options.rssi
        self.ber = options.ber
        self.outage = False
        self.data_outage = False    # PDN gone, registration (and SMS) kept
        self._lose_uplink = 0
        self._next_cause = CAUSE_POWER_ON
        # counters
        self.uplinks = 0            # datagrams / TCP sends that left the module
        self.lost_downlink = 0      # datagrams dropped (no attach, full buffer, closed socket)
        self._held = collections.deque()    # downlink the network holds while in PSM
        self._reset_state()

    # ------------------------------------------------------------------ power

    def _boot_delay(self):
        return self.o.boot_time

    def _reset_delay(self):
        return self.o.reboot_time

    def reboot(self, boot_time=None, cause=CAUSE_CRASH):
        """The module restarts now (a crash by default; AT+NRB passes its own
        cause): no reply to the command in flight, sockets closed, the banner."""
        self._next_cause = cause
        Modem.reboot(self, boot_time)

    def _reset_state(self):
        """Settings a power cycle restores (NV settings stay)."""
        self._natspeed_line(self.nv_natspeed)
        self.echo = self.o.echo
        self.cmee = self.o.cmee
        self._sms_reset()
        self.booted = False
        self.sms_ready = False
        self.cfun = 1 if self.nv_autoconnect else 0
        self.ps_detached = not self.nv_autoconnect
        self.cereg_n = 0
        self.cscon_n = 0
        self.npsmr_n = 0
        self.nsonmi_mode = 1
        self.pdp = {}
        self.socks = [None] * SOCKETS
        self._boot_errors_left = 0
        self._reg_done = False
        self._reg_timer = None
        self._reported = None
        self.rrc = 0
        self.in_psm = False
        self._idle_task = None
        self._held.clear()
        self.tx_ms = 0
        self._attach_time = None

    def _close_sockets(self):
        for sk in self.socks:
            if sk is not None:
                self._free(sk)

    async def _boot(self, delay):
        if delay:
            await asyncio.sleep(delay)
        cause = self._next_cause
        self._next_cause = CAUSE_POWER_ON
        self.boots += 1
        self._reset_state()
        if self.o.boot_noise:
            self._write(bytes(self.o.boot_noise), b"")
        first = True
        for text in BANNER:
            b = text.encode()
            self._write((b"\r\n" if first else b"") + b + b"\r\n", b)
            first = False
        self._write(b"\r\n" + cause.encode() + b"\r\n", cause.encode())
        self._write(b"Neul " + b"\r\n" if self.o.neul_space else b"Neul\r\n", b"Neul")
        self._write(b"OK\r\n", b"OK")
        self.booted = True
        self.sms_ready = self.sim.pin_state() == S.READY
        self._boot_errors_left = self.o.boot_errors
        self._start_processing()
        self._reg_check()

    def _refuse(self, s):
        """MODEMS BC95: ERROR may answer the first commands after boot."""
        if self._boot_errors_left > 0:
            self._boot_errors_left -= 1
            return True
        return False

    # ------------------------------------------------------------------ registration

    def _stat(self):
        """+CEREG <stat>: 0 not registered (radio off, no usable SIM, detached),
        2 searching (no signal, outage, attach in progress), 1 home, 5 roaming."""
        if not (self.booted and self.cfun == 1 and self.sim.pin_state() == S.READY):
            return 0
        if self.ps_detached:
            return 0
        if self.rssi == 99 or self.outage or not self._reg_done:
            return 2
        return 5 if self.o.roaming else 1

    def registered(self):
        return self._stat() in (1, 5)

    def attached(self):
        """Packet data usable.  NB-IoT: registration is the EPS attach, unless a
        data-only outage (set_outage(data_only=True)) took the PDN away."""
        return self.registered() and not self.data_outage

    def _camped(self):
        return self.booted and self.cfun == 1 and self.rssi != 99

    def _can_register(self):
        return (self.booted and self.cfun == 1 and not self.ps_detached and self.rssi != 99
                and not self.outage and self.sim.pin_state() == S.READY)

    def _report_reg(self):
        st = self._stat()
        old = self._reported
        self._reported = st
        if st == old:
            return
        if old is not None and self.cereg_n:
            self._line("+CEREG:" + self._cereg_fields(st, self.cereg_n, False))
        if st in (1, 5):
            self._attach_time = self._loop.time() if self._loop else 0.0
            self._activity()
            self._flush_sms()
        else:
            self._attach_time = None
            self._stop_idle()
            self._set_rrc(0)
            self.in_psm = False

    def _cereg_fields(self, stat, n, with_n):
        parts = [str(n)] if with_n else []
        parts.append(str(stat))
        if n == 2 and stat in (1, 5):
            tac, ci = "%04X" % self.o.tac, "%08X" % self.o.ci
            if self.o.reg_quoted:
                tac, ci = '"%s"' % tac, '"%s"' % ci
            parts += [tac, ci, str(self.o.act)]
        return ",".join(parts)

    # ------------------------------------------------------------------ RRC and PSM

    def _set_rrc(self, mode):
        if mode != self.rrc:
            self.rrc = mode
            if self.cscon_n:
                self._line("+CSCON:%d" % mode)

    def _stop_idle(self):
        if self._idle_task is not None:
            self._idle_task.cancel()
            self._idle_task = None

    def _activity(self):
        """Radio activity (uplink, attach, delivered downlink): RRC connected,
        the idle timeline restarts."""
        if not self.attached():
            return
        self._set_rrc(1)
        self._stop_idle()
        self._idle_task = self._spawn(self._idle_timeline())

    def psm_active(self):
        """The network grants PSM and the host has not switched it off."""
        return self.o.psm_idle is not None and self.cpsms == 1

    async def _idle_timeline(self):
        rrc = self.o.rrc_idle
        psm = self.o.psm_idle if self.psm_active() else None
        first = rrc if psm is None else min(rrc, psm)
        await asyncio.sleep(first)
        self._set_rrc(0)
        if psm is None:
            self._idle_task = None
            return
        if psm > first:
            await asyncio.sleep(psm - first)
        self._idle_task = None
        self.in_psm = True
        if self.npsmr_n:
            self._line("+NPSMR:1")

    def _wake(self):
        """The device sends: out of PSM."""
        if self.in_psm:
            self.in_psm = False
            if self.npsmr_n:
                self._line("+NPSMR:0")

    def _uplink_done(self):
        """After a send's OK: the network hands over what it held."""
        while self._held and not self.in_psm:
            kind, sk, data, addr = self._held.popleft()
            if kind == "data":
                self._deliver_data(sk, data, addr)
            else:
                self._deliver_close(sk)
        self._flush_sms()

    def _can_take_sms(self):
        return self.o.sms and not self.in_psm and PduSms._can_take_sms(self)

    def _sms_sent_hook(self):
        self._wake()
        self._activity()
        self._loop.call_soon(self._uplink_done)

    def _int(self, v, lo=None, hi=None):
        """An integer argument; out of range or not a number: +CME ERROR:50
        (plain ERROR while AT+CMEE=0)."""
        try:
            return Modem._int(v, lo, hi)
        except Final:
            raise self._cme(CME_BAD_PARAMS)

    # ------------------------------------------------------------------ basic commands

    def _b_i(self, d):
        if d not in ("", "0"):
            raise Final("ERROR")
        for ln in (self.o.manufacturer, self.o.model, "Revision:" + self.o.revision):
            self._line(ln)

    # ------------------------------------------------------------------ identity

    async def _x_cgmi(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.o.manufacturer)

    async def _x_cgmm(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.o.model)

    async def _x_cgmr(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            for ln in self.o.cgmr:
                self._line(ln)

    async def _x_cgsn(self, mode, a):
        """MODEMS BC95 identity: AT+CGSN=1 -> +CGSN:<imei>; =2 IMEISV, =3 SVN;
        AT+CGSN / =0 the bare serial number (the IMEI here, choice)."""
        imei = self.sim.imei()
        if mode == L.TEST:
            self._line("+CGSN:(0,1,2,3)")
        elif mode == L.EXEC:
            self._line(imei)
        elif mode == L.SET:
            snt = self._int(a[0], 0, 3)
            if snt == 0:
                self._line(imei)
            elif snt == 1:
                self._line("+CGSN:" + imei)
            elif snt == 2:
                self._line("+CGSN:" + imei[:14] + "01")
            else:
                self._line("+CGSN:01")
        else:
            raise Final("ERROR")

    async def _x_cimi(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            try:
                self._line(self.sim.imsi())
            except S.SimError as e:
                raise self._sim_error(e)

    async def _x_nccid(self, mode, a):
        """MODEMS BC95: AT+NCCID -> +NCCID:<iccid> (SIM presence); AT+NCCID? too."""
        self._only(mode, L.EXEC, L.READ, L.TEST)
        if mode != L.TEST:
            try:
                self._line("+NCCID:" + self.sim.iccid())
            except S.SimError as e:
                raise self._sim_error(e)

    async def _x_natspeed(self, mode, a):
        if mode == L.READ:
            self._line("+NATSPEED:" + self.natspeed)
        elif mode == L.TEST:
            self._line("+NATSPEED:(%s),(0-30),(0,1),(0-3),(1,2),(0-2),(0,1)"
                       % ",".join(map(str, NATSPEED_RATES)))
        elif mode == L.SET:
            if not 1 <= len(a) <= 1 + len(NATSPEED_FIELDS):
                raise self._cme(CME_BAD_PARAMS)
            try:
                baud = int(a[0])
                old = [int(x) for x in self.natspeed.split(",")]
                vals = [baud] + [int(a[i]) if i < len(a) and a[i] not in (None, "") else old[i]
                                 for i in range(1, 1 + len(NATSPEED_FIELDS))]
            except (TypeError, ValueError):
                raise self._cme(CME_BAD_PARAMS)
            if baud not in NATSPEED_RATES or any(
                    not lo <= v <= hi for v, (_, lo, hi) in zip(vals[1:], NATSPEED_FIELDS)):
                raise self._cme(CME_BAD_PARAMS)
            text = ",".join(map(str, vals))
            if vals[2] == 1:
                self.nv_natspeed = text
            return lambda: self._natspeed_switch(text, vals[1])
        else:
            raise Final("ERROR")
        return None

    def _natspeed_line(self, text):
        """The UART as the AT+NATSPEED setting `text` says."""
        v = [int(x) for x in text.split(",")]
        self.natspeed = text
        self.set_line(v[0], 1 + 8 + (1 if v[5] else 0) + v[4])

    def _natspeed_switch(self, text, timeout):
        """After the OK: the new setting; back to the old one when no command
        line came within `timeout` s (0: no way back)."""
        before = self.natspeed
        self._natspeed_line(text)
        if timeout:
            seen = self.commands
            boots = self.boots

            def back():
                if self.commands == seen and self.boots == boots and self.natspeed == text:
                    log.info("AT+NATSPEED: no command at the new rate in %d s: back to %s",
                             timeout, before)
                    self._natspeed_line(before)
            self._spawn(self._later(timeout, back))

    # ------------------------------------------------------------------ radio

    async def _x_cfun(self, mode, a):
        if mode == L.READ:
            self._line("+CFUN:%d" % self.cfun)
            return None
        if mode == L.TEST:
            self._line("+CFUN:(0,1),(0)")
            return None
        if mode != L.SET:
            raise Final("ERROR")
        fun = self._int(a[0], 0, 1)
        if len(a) > 1 and a[1] not in (None, "0"):
            raise self._cme(CME_NOT_SUPPORTED)
        self.cfun = fun
        if fun == 1 and self.nv_autoconnect:
            self.ps_detached = False
        return self._reg_check

    async def _x_nconfig(self, mode, a):
        if mode == L.READ:
            self._line("+NCONFIG:AUTOCONNECT,%s" % ("TRUE" if self.nv_autoconnect else "FALSE"))
            for key in ("CR_0354_0338_SCRAMBLING", "CR_0859_SI_AVOID"):
                self._line("+NCONFIG:%s,TRUE" % key)
            for key in ("COMBINE_ATTACH", "CELL_RESELECTION", "ENABLE_BIP"):
                self._line("+NCONFIG:%s,FALSE" % key)
            return
        if mode == L.TEST:
            self._line("+NCONFIG:(AUTOCONNECT,(FALSE,TRUE)),(CR_0354_0338_SCRAMBLING,(FALSE,TRUE)),"
                       "(CR_0859_SI_AVOID,(FALSE,TRUE)),(COMBINE_ATTACH,(FALSE,TRUE)),"
                       "(CELL_RESELECTION,(FALSE,TRUE)),(ENABLE_BIP,(FALSE,TRUE))")
            return
        if mode != L.SET or len(a) != 2 or a[0] is None or a[1] is None:
            raise Final("ERROR")
        key, val = a[0].upper(), a[1].upper()
        if val not in ("TRUE", "FALSE"):
            raise self._cme(CME_BAD_PARAMS)
        if key == "AUTOCONNECT":
            self.nv_autoconnect = val == "TRUE"      # from the next boot on
        elif key not in ("CR_0354_0338_SCRAMBLING", "CR_0859_SI_AVOID", "COMBINE_ATTACH",
                         "CELL_RESELECTION", "ENABLE_BIP"):
            raise self._cme(CME_BAD_PARAMS)

    async def _x_nband(self, mode, a):
        if mode == L.READ:
            self._line("+NBAND:" + ",".join(str(b) for b in self.nv_bands))
        elif mode == L.TEST:
            self._line("+NBAND:(1,3,5,8,20,28)")
        elif mode == L.SET:
            bands = [self._int(v) for v in a]
            if not bands or any(b not in (1, 3, 5, 8, 20, 28) for b in bands):
                raise self._cme(CME_BAD_PARAMS)
            self.nv_bands = bands
        else:
            raise Final("ERROR")

    async def _x_nrb(self, mode, a):
        """MODEMS BC95 reboot: REBOOTING, the banner, Neul, OK (no OK of its own)."""
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return None
        self._line("REBOOTING")
        self._loop.call_soon(lambda: self.reboot(cause=CAUSE_AT))
        await asyncio.sleep(3600)       # cancelled by the reboot

    # ------------------------------------------------------------------ signal and cell

    def _rsrp(self):
        if self.o.rsrp is not None:
            return self.o.rsrp
        return (-113 + 2 * self.rssi - 11) * 10

    def _ecl(self):
        if self.o.ecl is not None:
            return self.o.ecl
        r = self._rsrp()
        return 0 if r >= -1050 else 1 if r >= -1150 else 2

    async def _x_csq(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            self._line("+CSQ:(0-31,99),(99)")
        elif self._camped():
            self._line("+CSQ:%d,%d" % (self.rssi, self.ber))
        else:
            self._line("+CSQ:99,99")

    def _radio_values(self):
        """(name, value) of the NUESTATS radio block."""
        up = self._camped()
        now = self._loop.time() if self._loop else 0.0
        rx_ms = int((now - self._attach_time) * 1000) if self._attach_time is not None else 0
        return (("Signal power", self._rsrp() if up else NO_VALUE),
                ("Total power", (-113 + 2 * self.rssi) * 10 if up else NO_VALUE),
                ("TX power", 230 if self.tx_ms else NO_VALUE),
                ("TX time", self.tx_ms),
                ("RX time", rx_ms),
                ("Cell ID", self.o.ci if up else 0),
                ("ECL", self._ecl() if up else 255),
                ("SNR", self.o.snr if up else NO_VALUE),
                ("EARFCN", self.o.earfcn if up else 0),
                ("PCI", self.o.pci if up else 0),
                ("RSRQ", self.o.rsrq if up else NO_VALUE),
                ("OPERATOR MODE", 4))

    async def _x_nuestats(self, mode, a):
        """MODEMS BC95 signal / cell: AT+NUESTATS -> `Signal power:-820`, `Cell ID:...`,
        `ECL:`, `SNR:`, `EARFCN:`, `PCI:`, `RSRQ:` lines (powers in 0.1 dBm);
        AT+NUESTATS=RADIO|CELL|ALL -> `NUESTATS:RADIO,<name>,<value>` /
        `NUESTATS:CELL,<earfcn>,<pci>,<primary>,<rsrp>,<rsrq>,<rssi>,<snr>`."""
        if mode == L.TEST:
            self._line("+NUESTATS:(RADIO,CELL,BLER,THP,APPSMEM,ALL)")
            return
        if mode == L.EXEC:
            for name, v in self._radio_values():
                self._line("%s:%d" % (name, v))
            return
        if mode != L.SET or not a or a[0] is None:
            raise Final("ERROR")
        what = a[0].upper()
        if what not in ("RADIO", "CELL", "ALL"):
            raise self._cme(CME_NOT_SUPPORTED)
        if what in ("RADIO", "ALL"):
            for name, v in self._radio_values():
                self._line("NUESTATS:RADIO,%s,%d" % (name, v))
        if what in ("CELL", "ALL") and self._camped():
            self._line("NUESTATS:CELL,%d,%d,1,%d,%d,%d,%d"
                       % (self.o.earfcn, self.o.pci, self._rsrp(), self.o.rsrq,
                          (-113 + 2 * self.rssi) * 10, self.o.snr))

    async def _x_cereg(self, mode, a):
        """MODEMS BC95 registration: +CEREG:<n>,<stat>; n=2 adds tac, ci, AcT."""
        if mode == L.READ:
            self._line("+CEREG:" + self._cereg_fields(self._stat(), self.cereg_n, True))
        elif mode == L.SET:
            self.cereg_n = self._int(a[0], 0, 2)
        elif mode == L.TEST:
            self._line("+CEREG:(0-2)")
        else:
            raise Final("ERROR")

    async def _x_cscon(self, mode, a):
        """+CSCON:<n>,<mode> (read); URC +CSCON:<mode> when n=1 (27.007 10.1.29)."""
        if mode == L.READ:
            self._line("+CSCON:%d,%d" % (self.cscon_n, self.rrc))
        elif mode == L.SET:
            self.cscon_n = self._int(a[0], 0, 1)
        elif mode == L.TEST:
            self._line("+CSCON:(0,1)")
        else:
            raise Final("ERROR")

    async def _x_cops(self, mode, a):
        if mode == L.READ:
            if self.registered():
                self._line('+COPS:0,2,"%s"' % self.o.plmn)
            else:
                self._line("+COPS:0")
        elif mode == L.SET:
            m = self._int(a[0], 0, 2)
            if m == 2 or self.cfun == 1:
                self.ps_detached = m == 2          # 2: deregister; 0/1: register again
            return self._reg_check
        elif mode == L.TEST:
            self._line('+COPS:(2,,,"%s"),,(0-2),(2)' % self.o.plmn)
        else:
            raise Final("ERROR")
        return None

    # ------------------------------------------------------------------ attach

    async def _x_cgatt(self, mode, a):
        """MODEMS BC95 attach: AT+CGATT=1 (OK, then registered after reg_delay),
        AT+CGATT? -> +CGATT:<0|1>."""
        if mode == L.READ:
            self._line("+CGATT:%d" % (1 if self.attached() else 0))
            return None
        if mode == L.TEST:
            self._line("+CGATT:(0,1)")
            return None
        if mode != L.SET:
            raise Final("ERROR")
        on = self._int(a[0], 0, 1)
        if on and self.cfun != 1:
            raise self._cme(CME_NOT_ALLOWED)
        if on and self.sim.pin_state() != S.READY:
            raise self._sim_error(S.error_for(self.sim.pin_state()))
        self.ps_detached = not on
        return self._reg_check

    async def _x_cgpaddr(self, mode, a):
        """MODEMS BC95: AT+CGPADDR -> +CGPADDR:0,<ip> (just +CGPADDR:0 unattached)."""
        if mode == L.TEST:
            self._line("+CGPADDR:(0)")
            return
        if mode == L.SET and self._int(a[0], 0, 10) != 0:
            return
        if mode not in (L.EXEC, L.SET):
            raise Final("ERROR")
        if self.attached():
            self._line("+CGPADDR:0,%s" % self.o.ip_addr)
        else:
            self._line("+CGPADDR:0")

    async def _x_cgdcont(self, mode, a):
        if mode == L.READ:
            for cid in sorted(self.pdp):
                t, apn = self.pdp[cid]
                self._line('+CGDCONT:%d,"%s","%s",,0,0' % (cid, t, apn))
        elif mode == L.SET:
            cid = self._int(a[0], 0, 10)
            if len(a) == 1:
                self.pdp.pop(cid, None)
                return
            t = (a[1] or "IP").upper()
            if t not in ("IP", "IPV6", "IPV4V6", "NONIP"):
                raise self._cme(CME_BAD_PARAMS)
            self.pdp[cid] = (t, a[2] if len(a) > 2 and a[2] is not None else "")
        elif mode == L.TEST:
            self._line('+CGDCONT:(0-10),("IP","NONIP","IPV6","IPV4V6"),,,(0),(0)')
        else:
            raise Final("ERROR")

    # ------------------------------------------------------------------ power saving

    async def _x_cpsms(self, mode, a):
        """27.007 +CPSMS (MODEMS BC95 power saving): mode 0/1 (2: off, defaults);
        the timer strings are stored and reported.  Whether the network grants
        PSM, and after how long, is Options.psm_idle."""
        if mode == L.READ:
            self._line("+CPSMS:%d,,,%s,%s" % (self.cpsms, self.t3412, self.t3324))
            return None
        if mode == L.TEST:
            self._line("+CPSMS:(0,1,2),,,(00000000-11111111),(00000000-11111111)")
            return None
        if mode != L.SET:
            raise Final("ERROR")
        m = self._int(a[0], 0, 2) if a and a[0] is not None else 0
        for i in (3, 4):
            if len(a) > i and a[i] is not None:
                v = str(a[i])
                if len(v) != 8 or any(c not in "01" for c in v):
                    raise self._cme(CME_BAD_PARAMS)
        if m == 2:
            self.cpsms = 0
            self.t3412, self.t3324 = self.o.t3412, self.o.t3324
        else:
            self.cpsms = m
            if len(a) > 3 and a[3] is not None:
                self.t3412 = str(a[3])
            if len(a) > 4 and a[4] is not None:
                self.t3324 = str(a[4])
        return self._activity if self.attached() else None

    async def _x_npsmr(self, mode, a):
        if mode == L.READ:
            if self.npsmr_n:
                self._line("+NPSMR:%d,%d" % (self.npsmr_n, 1 if self.in_psm else 0))
            else:
                self._line("+NPSMR:0")
        elif mode == L.SET:
            self.npsmr_n = self._int(a[0], 0, 1)
        elif mode == L.TEST:
            self._line("+NPSMR:(0,1)")
        else:
            raise Final("ERROR")

    async def _x_cedrxs(self, mode, a):
        if mode == L.TEST:
            self._line('+CEDRXS:(0,1,2,3),(5),("0000"-"1111")')
        elif mode == L.SET:
            if a and a[0] is not None:
                self._int(a[0], 0, 3)
        elif mode != L.READ:
            raise Final("ERROR")

    async def _x_qregswt(self, mode, a):
        """Huawei IoT platform registration switch (drivers turn it off): accepted."""
        if mode == L.READ:
            self._line("+QREGSWT:2")
        elif mode == L.SET:
            self._int(a[0], 0, 2)

    # ------------------------------------------------------------------ sockets

    def _sock(self, v, proto=None):
        idx = self._int(v, 0, SOCKETS - 1)
        sk = self.socks[idx]
        if sk is None or (proto is not None and sk.proto != proto):
            raise self._cme(CME_NOT_ALLOWED)
        return sk

    def _free(self, sk):
        sk.closed = True
        if self.socks[sk.idx] is sk:
            self.socks[sk.idx] = None
        if sk.sock is not None:
            sk.sock.close()
        self._held = collections.deque(h for h in self._held if h[1] is not sk)

    def _ipv4(self, text):
        if text is None:
            raise self._cme(CME_BAD_PARAMS)
        text = str(text)
        if text in self.o.address_map:
            return text
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise self._cme(CME_BAD_PARAMS)
        return text

    def _hex(self, n, text):
        if n > self.o.udp_max or text is None or len(text) != 2 * n:
            raise self._cme(CME_BAD_PARAMS)
        try:
            return binascii.unhexlify(text)
        except (binascii.Error, ValueError):
            raise self._cme(CME_BAD_PARAMS)

    async def _x_nsocr(self, mode, a):
        """MODEMS BC95 UDP: AT+NSOCR=DGRAM,17,<lport>[,<recv>] -> <socket>, OK;
        TCP (BC95-G, Options.tcp): AT+NSOCR=STREAM,6,<lport>[,<recv>]."""
        if mode == L.TEST:
            self._line("+NSOCR:(DGRAM,STREAM),(17,6),(0-65535),(0,1)")
            return None
        if mode != L.SET or len(a) < 3 or a[0] is None:
            raise Final("ERROR")
        kind = a[0].upper()
        proto = self._int(a[1])
        if kind == "DGRAM" and proto == 17:
            p = "UDP"
        elif kind == "STREAM" and proto == 6 and self.o.tcp:
            p = "TCP"
        else:
            raise self._cme(CME_NOT_SUPPORTED if kind == "STREAM" else CME_BAD_PARAMS)
        lport = self._int(a[2], 0, 65535)
        recv = self._int(a[3], 0, 1) if len(a) > 3 and a[3] is not None else 1
        if self.data_outage:
            raise self._cme(CME_NO_NETWORK)     # no PDN, no address to bind (choice)
        if len(a) > 4 and a[4] is not None and a[4].upper() != "AF_INET":
            raise self._cme(CME_NOT_SUPPORTED)
        if lport and any(s is not None and s.lport == lport for s in self.socks):
            raise self._cme(CME_NOT_ALLOWED)
        free = [i for i in range(SOCKETS) if self.socks[i] is None]
        if not free:
            raise self._cme(CME_NOT_ALLOWED)
        sk = _Sock(free[0], p, lport, recv)
        if p == "UDP":
            try:
                sk.sock = await UdpSocket.open(
                    lambda data, addr, sk=sk: self._on_data(sk, data, addr),
                    self.o.bind_host, lport if self.o.honour_local_port else 0)
            except OSError:
                raise self._cme(CME_NOT_ALLOWED)
        self.socks[sk.idx] = sk
        self._line("%d" % sk.idx)
        return None

    def _send_checks(self):
        if not self.attached():
            raise self._cme(CME_NO_NETWORK if self.cfun == 1 else CME_NOT_ALLOWED)

    def _sent(self, sk, n, seq, ok):
        """After the OK of a send: +NSOSTR (given a seq), then held downlink."""
        def after():
            if seq is not None:
                urc = "+NSOSTR:%d,%d,%d" % (sk.idx, seq, 1 if ok else 0)
                if self.o.nsostr_delay:
                    self._spawn(self._later(self.o.nsostr_delay, lambda: self._line(urc)))
                else:
                    self._line(urc)
            self._uplink_done()
        return after

    def _uplink(self, sk, data, dest):
        """Hand a datagram / TCP data to the network; True when it left."""
        self._wake()
        self._activity()
        self.tx_ms += TX_MS
        if self._lose_uplink > 0:
            self._lose_uplink -= 1
            return False
        try:
            if dest is None:
                sk.sock.send(data)
            else:
                sk.sock.send(data, (self._route(dest[0]), dest[1]))
        except (OSError, ConnectionError) as e:
            log.debug("send on socket %d failed: %s", sk.idx, e)
            return False
        self.uplinks += 1
        return True

    async def _x_nsost(self, mode, a):
        """MODEMS BC95 UDP send: AT+NSOST=<s>,<ip>,<port>,<len>,<HEX>[,<seq>]
        -> <s>,<len>, OK [, +NSOSTR:<s>,<seq>,<status>]."""
        if mode == L.TEST:
            self._line("+NSOST:(0-6),,(0-65535),(0-%d),,(0-255)" % self.o.udp_max)
            return None
        if mode != L.SET or len(a) < 5:
            raise Final("ERROR")
        sk = self._sock(a[0], "UDP")
        ip = self._ipv4(a[1])
        port = self._int(a[2], 0, 65535)
        n = self._int(a[3], 0, self.o.udp_max)
        data = self._hex(n, a[4])
        seq = self._int(a[5], 1, 255) if len(a) > 5 and a[5] is not None else None
        self._send_checks()
        ok = self._uplink(sk, data, (ip, port))
        self._line("%d,%d" % (sk.idx, n))
        return self._sent(sk, n, seq, ok)

    async def _x_nsoco(self, mode, a):
        """BC95-G TCP connect: AT+NSOCO=<s>,<ip>,<port> -> OK once connected (choice)."""
        if mode == L.TEST:
            self._line("+NSOCO:(0-6),,(0-65535)")
            return None
        if mode != L.SET or len(a) < 3:
            raise Final("ERROR")
        sk = self._sock(a[0], "TCP")
        ip = self._ipv4(a[1])
        port = self._int(a[2], 1, 65535)
        if sk.sock is not None or sk.remote_closed:
            raise self._cme(CME_NOT_ALLOWED)
        self._send_checks()
        try:
            tcp = await TcpSocket.connect(
                self._route(ip), port,
                lambda data, addr: self._on_data(sk, data, addr),
                lambda: self._on_remote_close(sk),
                timeout=self.o.connect_timeout)
        except (asyncio.TimeoutError, socket.gaierror, OSError):
            raise self._cme(CME_NO_NETWORK)
        if sk.closed:
            tcp.close()
            raise self._cme(CME_NOT_ALLOWED)
        sk.sock = tcp
        sk.peer = (ip, port)
        self._wake()
        self._activity()
        return None

    async def _x_nsosd(self, mode, a):
        """BC95-G TCP send: AT+NSOSD=<s>,<len>,<HEX>[,<flag>[,<seq>]] -> <s>,<len>, OK."""
        if mode == L.TEST:
            self._line("+NSOSD:(0-6),(0-%d),,(0x000,0x200,0x400),(0-255)" % self.o.udp_max)
            return None
        if mode != L.SET or len(a) < 3:
            raise Final("ERROR")
        sk = self._sock(a[0], "TCP")
        n = self._int(a[1], 0, self.o.udp_max)
        data = self._hex(n, a[2])
        seq = self._int(a[4], 1, 255) if len(a) > 4 and a[4] is not None else None
        if sk.sock is None or sk.remote_closed:
            raise self._cme(CME_NOT_ALLOWED)
        self._send_checks()
        ok = self._uplink(sk, data, None)
        self._line("%d,%d" % (sk.idx, n))
        return self._sent(sk, n, seq, ok)

    async def _x_nsonmi(self, mode, a):
        """+NSONMI URC form (BC95-G): 0 none, 1 <s>,<len> (default),
        2 <s>,<ip>,<port>,<len>,<HEX>, 3 <s>,<len>,<HEX> (data not buffered)."""
        if mode == L.READ:
            self._line("+NSONMI:%d" % self.nsonmi_mode)
        elif mode == L.SET:
            self.nsonmi_mode = self._int(a[0], 0, 3)
        elif mode == L.TEST:
            self._line("+NSONMI:(0-3)")
        else:
            raise Final("ERROR")

    async def _x_nsorf(self, mode, a):
        """MODEMS BC95 UDP receive: AT+NSORF=<s>,<max> ->
        <s>,<ip>,<port>,<len>,<HEX>,<remaining>, OK (just OK when nothing waits)."""
        if mode == L.TEST:
            self._line("+NSORF:(0-6),(0-%d)" % self.o.udp_max)
            return
        if mode != L.SET or len(a) < 2:
            raise Final("ERROR")
        sk = self._sock(a[0])
        want = self._int(a[1], 0, self.o.udp_max)
        if not sk.rx or want == 0:
            return
        head = sk.rx[0]
        ip, port, buf = head
        n = min(want, len(buf))
        chunk = bytes(buf[:n])
        del buf[:n]
        sk.rx_bytes -= n
        if not buf:
            sk.rx.popleft()
        if self.o.nsorf_remaining == "socket":
            left = sk.rx_bytes
        else:
            left = len(buf)
        self._line("%d,%s,%d,%d,%s,%d" % (sk.idx, self._shown(ip), port, n,
                                          binascii.hexlify(chunk).decode().upper(), left))

    async def _x_nsocl(self, mode, a):
        """MODEMS BC95 close: AT+NSOCL=<s> -> OK."""
        if mode == L.TEST:
            self._line("+NSOCL:(0-6)")
            return
        if mode != L.SET or not a:
            raise Final("ERROR")
        self._free(self._sock(a[0]))

    def _on_data(self, sk, data, addr):
        """A datagram / TCP chunk from the network for socket sk."""
        if sk.closed or not self._listening or self.socks[sk.idx] is not sk:
            return
        if not self.attached() or not sk.recv:
            self.lost_downlink += 1
            return
        if self.in_psm:
            if len(self._held) >= HELD_MAX:
                self.lost_downlink += 1
                return
            self._held.append(("data", sk, bytes(data), addr))
            return
        self._deliver_data(sk, data, addr)

    def _deliver_data(self, sk, data, addr):
        if sk.closed or self.socks[sk.idx] is not sk:
            self.lost_downlink += 1
            return
        self._activity()
        ip = addr[0] if sk.peer is None else sk.peer[0]
        port = addr[1]
        hexdata = binascii.hexlify(data).decode().upper()
        m = self.nsonmi_mode
        if m == 2:
            self._line("+NSONMI:%d,%s,%d,%d,%s" % (sk.idx, self._shown(ip), port, len(data), hexdata))
            return
        if m == 3:
            self._line("+NSONMI:%d,%d,%s" % (sk.idx, len(data), hexdata))
            return
        if sk.rx_bytes + len(data) > RXQ_MAX:
            self.lost_downlink += 1
            return
        was_empty = not sk.rx
        sk.rx.append([ip, port, bytearray(data)])
        sk.rx_bytes += len(data)
        if m == 1 and (self.o.nsonmi_each or was_empty):
            self._line("+NSONMI:%d,%d" % (sk.idx, len(data)))

    def _on_remote_close(self, sk):
        if sk.closed or self.socks[sk.idx] is not sk:
            return
        sk.sock = None
        sk.remote_closed = True
        if self.in_psm:
            self._held.append(("close", sk, None, None))
            return
        self._deliver_close(sk)

    def _deliver_close(self, sk):
        if not sk.closed and self.socks[sk.idx] is sk:
            self._line("+NSOCLI:%d" % sk.idx)

    # ------------------------------------------------------------------ PIN (AT+NPIN)

    def _npin_urc(self, text):
        if text.startswith("ERROR PIN") and not self.o.npin_prefixed:
            return text
        return "+NPIN:" + text

    async def _x_npin(self, mode, a):
        """MODEMS BC95 PIN (unconfirmed, Options.npin): AT+NPIN=<op>,<p1>[,<p2>]
        op 0 verify, 1 change, 2 enable, 3 disable, 4 unblock -> OK, then the URC
        +NPIN:OK / +NPIN:ERROR wrong PIN (<left>) / ERROR PIN blocked /
        ERROR PIN disabled.  Choices: a wrong PUK gives +NPIN:ERROR wrong PUK
        (<left>), unblocking a card whose PUK is exhausted +NPIN:ERROR PUK
        blocked; malformed PIN/PUK and operations the card state forbids
        otherwise end in ERROR / +CME ERROR (no URC)."""
        if not self.o.npin:
            raise Final("ERROR")
        if mode == L.TEST:
            self._line("+NPIN:(0-4)")
            return None
        if mode != L.SET or len(a) < 2 or a[1] is None:
            raise Final("ERROR")
        op = self._int(a[0], 0, 4)
        p1 = str(a[1])
        p2 = str(a[2]) if len(a) > 2 and a[2] is not None else None
        if op in (1, 4) and p2 is None:
            raise self._cme(CME_BAD_PARAMS)
        try:
            if op == 4:
                S.check_puk(p1)
                S.check_pin(p2)
            else:
                S.check_pin(p1)
                if op == 1:
                    S.check_pin(p2)
        except BadValue:
            raise self._cme(CME_BAD_PARAMS)
        sim = self.sim
        st = sim.pin_state()
        if st == S.NO_SIM:
            raise self._cme(CME_NO_SIM)
        if st == S.BLOCKED:
            res = "ERROR PUK blocked" if op == 4 else "ERROR PIN blocked"
        elif st == S.SIM_PUK and op != 4:
            res = "ERROR PIN blocked"
        elif op == 4 and st != S.SIM_PUK:
            raise self._cme(CME_NOT_ALLOWED)
        elif op == 0 and st == S.READY:
            if sim.pin_enabled():
                raise self._cme(CME_NOT_ALLOWED)     # already verified
            res = "ERROR PIN disabled"
        elif op in (1, 2, 3) and st == S.SIM_PIN:
            raise self._cme(CME_SIM_PIN)
        elif op == 1 and not sim.pin_enabled():
            res = "ERROR PIN disabled"
        elif op == 3 and not sim.pin_enabled():
            res = "ERROR PIN disabled"
        elif op == 2 and sim.pin_enabled():
            raise self._cme(CME_NOT_ALLOWED)
        else:
            try:
                if op == 0:
                    sim.enter_pin(p1)
                elif op == 1:
                    sim.change_pin(p1, p2)
                elif op in (2, 3):
                    sim.set_pin_enabled(op == 2, p1)
                else:
                    sim.enter_puk(p1, p2)
                res = "OK"
            except S.WrongPin as e:
                res = "ERROR wrong PIN (%d)" % e.left
            except S.WrongPuk as e:
                res = "ERROR wrong PUK (%d)" % e.left
            except S.SimError as e:
                raise self._sim_error(e)
        urc = self._npin_urc(res)

        def after():
            self._line(urc)
            self._sim_changed()
        return after

    def _sim_changed(self):
        if self.sim.pin_state() == S.READY and not self.sms_ready:
            self.sms_ready = True
        self._reg_check()

    async def _x_cpin(self, mode, a):
        raise Final("ERROR")            # MODEMS BC95: no AT+CPIN in the BC95 manual

    # ------------------------------------------------------------------ SMS

    def _sms_gate(self):
        if not self.o.sms:
            if self.o.sms_off_reply == "cme":
                raise self._cme(CME_NOT_SUPPORTED)
            raise Final("ERROR")

    async def _x_csms(self, mode, a):
        self._sms_gate()
        if mode == L.READ:
            self._line("+CSMS:0,1,1,1")
        elif mode == L.SET:
            self._int(a[0], 0, 1)
            self._line("+CSMS:1,1,1")
        elif mode == L.TEST:
            self._line("+CSMS:(0,1)")
        else:
            raise Final("ERROR")

    async def _x_cnma(self, mode, a):
        self._sms_gate()
        if mode not in (L.EXEC, L.SET, L.TEST):
            raise Final("ERROR")

    # ------------------------------------------------------------------ faults

    def set_outage(self, on=True, data_only=False):
        """Packet network outage: +CEREG stat 2 (searching), +CGATT:0, sends
        ERROR, downlink lost; a network back re-attaches after reg_delay.

        data_only=True: only the packet data service goes (the network released
        the PDN connection; the module stays registered, so SMS over NAS still
        works where the network offers SMS): +CEREG unchanged and no URC,
        +CGATT:0, no address in +CGPADDR, AT+NSOCR / AT+NSOST / AT+NSOSD
        answer +CME ERROR:30 (no network service), downlink lost (choices: no
        source describes a BC95 losing its PDN).  set_outage(False) ends
        either kind."""
        if on and data_only:
            self.data_outage = True
        elif on:
            self.outage = True
        else:
            self.outage = self.data_outage = False
        self._reg_check()

    def set_signal(self, rssi, ber=99):
        """+CSQ values; rssi 99 = no signal: +CSQ:99,99, NUESTATS -32768,
        registration lost (stat 2); a signal back re-registers."""
        self.rssi = rssi
        self.ber = 99 if rssi == 99 else ber
        self._reg_check()

    def lose_uplink(self, count=1):
        """The network loses the next `count` datagrams the module sends (the
        send still answers <s>,<len> OK; +NSOSTR reports status 0)."""
        self._lose_uplink += count

    def swap_sim(self, imsi, iccid, pin="1234", puk="12345678", pin_enabled=False, msisdn=None):
        """Another card at runtime (SimulatedSim.swap): new IMSI / ICCID, fresh
        counters; the module registers anew (+CEREG URCs when enabled).
        msisdn: the new card's number at the SMS centre."""
        self.sim.swap(imsi, iccid, pin=pin, puk=puk, pin_enabled=pin_enabled)
        self._sms_new_card(msisdn)
        self.sms_ready = self.booted and self.sim.pin_state() == S.READY
        self._reg_done = False
        if self._reg_timer is not None:
            self._reg_timer.cancel()
            self._reg_timer = None
        self._report_reg()             # registration lost (stat 2, or 0 without a usable card)
        self._reg_check()

    def remove_sim(self):
        """The card is pulled out: AT+NCCID fails, registration is lost."""
        self.sim.remove()
        self._sms_new_card()
        self._reg_check()

    # ------------------------------------------------------------------ introspection

    def open_sockets(self):
        return [sk.idx for sk in self.socks if sk is not None]

    def held(self):
        """Downlink units the network holds while the module is in PSM."""
        return len(self._held)

    def local_port(self, idx):
        """The real loopback port behind socket idx (where a platform reaches it)."""
        sk = self.socks[idx]
        return sk.sock.local_port if sk is not None and sk.proto == "UDP" else None
