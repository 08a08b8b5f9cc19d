"""SIMCom SIM7600 emulated at the AT level (the dialect the SIM7600 driver of
lib/wmmp/modem expects, after SIMCom's AT manual): it consumes what the host writes to the
UART and answers as the module does, with a SimulatedSim (wmmp.terminal.simcard: PIN1/PUK1
counters that really lock) as its SIM, real loopback UDP/TCP sockets behind
AT+CIPOPEN and SMS through the emulated SMS centre (docs/SMSC.md).

    emu = Sim7600(sim, msisdn="13800000001", smsc=("127.0.0.1", 7400))
    await emu.start()                 # powers on: RDY, +CPIN: ..., SMS DONE, PB DONE
    port = HostPort(emu)              # wmmp_tools.emu.stream; or PtyPort (ptyio)
    ...
    await emu.close()

Dialect: responses put a space after the colon (`+CSQ: 23,99`), every line is
framed "\\r\\n<text>\\r\\n", echo is on after boot (ATE1), the data prompt is
"\\r\\n>" for AT+CIPSEND and "\\r\\n> " for AT+CMGS, received data is pushed as
`RECV FROM:<ip>:<port>` + `+IPD<len>` + <len> raw bytes (MODEMS "receive (push
mode)"), failures are `ERROR`, `+CME ERROR: <n>` (27.007 9.2: 3 not allowed,
4 not supported, 10 SIM not inserted, 11 SIM PIN required, 12 SIM PUK required,
13 SIM failure, 16 incorrect password, 30 no network service, 50 incorrect
parameters), `+CMS ERROR: <n>` (27.005 3.2.5) or `+CIPERROR: <n>`.

Variants the AT manuals leaves unconfirmed are options (class Options):
spic_order ("pin1,puk1,pin2,puk2" or "pin1,pin2,puk1,puk2"), reg_quoted /
reg_act (the n=2 forms of +CREG/+CGREG/+CEREG), +CMT direct delivery
(AT+CNMI=2,2) and AT+CSCLK are accepted.

With pace=True (what `wmmp-emu sim7600` and `make bench-bridge` do unless
--no-pace) the UART is paced at `baud` (default 115200, the module's default;
see modem.py "Pacing").  The class default is pace=False: the in-process test
rigs were written for instant bytes (with pacing, the APN-switch tests of
test_device_control lose their timing margins).  AT+IPR=<rate>
answers OK at the old rate, then the module talks at the new one until its
next boot; AT+IPREX=<rate> (the persistent variant, unconfirmed) also keeps it
across boots; a rate outside IPR_RATES is ERROR.  AT+IPR? / AT+IPREX? report
the current / stored rate.  Choices where no source
was at hand are listed in Options (marked "choice").

Fault injection (methods; the `wmmp-emu` command has flags for them):
faults (OutputFaults: dropped / delayed / corrupted output lines), inject()
(raw noise bytes), set_outage() (packet network gone: sockets die,
`+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY`), set_signal(99) (no signal:
`+CSQ: 99,99`, registration lost), reboot() / reboot_after() / reboot_on()
(a module reboot now, later or when a given command arrives), swap_sim() (a
new card: new IMSI/ICCID via SimulatedSim.swap), remove_sim(); the SMS centre's
own set_faults() delays or loses SMS.

The HTTP(S) client (AT+HTTPINIT ... AT+HTTPTERM, real HTTP requests) is
wmmp_tools.emu.httpat.HttpAt; link shaping (Options rtt, loss, bandwidth,
shape_seed; shape()) is modem.py's "Link shaping".
"""

import asyncio
import logging
import socket

from wmmp.terminal import simcard as S
from wmmp.errors import BadValue, WmmpError

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.httpat import HttpAt
from wmmp_tools.emu.modem import (CME_BAD_PARAMS, CME_NO_NETWORK, CME_NO_SIM, CME_NOT_ALLOWED,
                                  CME_NOT_SUPPORTED, CME_SIM_FAILURE, CME_SIM_PUK, Final,
                                  Modem)
from wmmp_tools.emu.netsock import TcpSocket, UdpSocket
from wmmp_tools.emu.pdusms import PduSms

log = logging.getLogger("wmmp.emu.sim7600")

LINKS = 10                 # link numbers 0-9 (MODEMS "TCP")
SEND_MAX = 1500            # one AT+CIPSEND (MODEMS "send": chunk at <= 1500 bytes)
IPD_MAX = 1500             # largest +IPD chunk pushed to the host
RXGET_MAX = 64 * 1024      # bytes a link buffers in AT+CIPRXGET=1 mode

# <err> of +CIPOPEN / +NETOPEN (the AT manuals)
ERR_NETWORK = 1
ERR_NOT_OPENED = 2
ERR_PARAM = 3
ERR_NOT_SUPPORTED = 4
ERR_BIND = 6
ERR_TIMEOUT = 10
ERR_DNS = 11

NETWORK_CLOSED = "+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"

# AT+IPR / AT+IPREX <rate>s: SIMCom's SIM7500/SIM7600 AT manual (MODEMS.md names the
# commands, not the list: unconfirmed there)
IPR_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800,
             921600, 3000000, 3200000, 3686400)


def _dotted(text):
    f = text.split(".")
    return len(f) == 4 and all(x.isdigit() and int(x) < 256 for x in f)


class Options:
    """Timings, identity strings and dialect variants.  Defaults are what the
    sources behind the AT manuals show; items marked (choice) had no source.

    echo            True: ATE1 after boot (the module's default)
    boot_time       s from power-on / reset to RDY (real module: >10 s)
    reset_time      s from AT+CRESET / AT+CFUN=1,1 OK to RDY
    urc_gap         s between the boot URCs RDY, +CPIN:, SMS DONE, PB DONE
    reg_delay       s from SIM ready to registered
    netopen_delay   s from AT+NETOPEN's OK to +NETOPEN: 0
    connect_timeout s a TCP AT+CIPOPEN may take before +CIPOPEN: <l>,10
    spic_order      "pin1,puk1,pin2,puk2" | "pin1,pin2,puk1,puk2" (unconfirmed)
    pin2_left, puk2_left   the PIN2/PUK2 counters +SPIC reports (SimulatedSim has no PIN2)
    reg_quoted      n=2 registration replies with quoted hex LAC/CI (unconfirmed)
    reg_act         ... with a trailing <AcT> (unconfirmed)
    act             access technology (7: E-UTRAN)
    lac, ci         location area / tracking area code and cell id
    roaming         registration stat 5 instead of 1
    rssi, ber       +CSQ values at power-on
    operator        +COPS name
    manufacturer, model, revision   ATI / AT+CGMI / AT+CGMM / AT+CGMR
    ip_addr         the address +IPADDR reports
    apn_required    if set, AT+NETOPEN fails (+NETOPEN: 1) unless CID 1 has this APN
                    (a string) or one of these APNs (a tuple / set)
    auth_required   if set, (user, password): AT+NETOPEN fails (+NETOPEN: 1) unless
                    AT+CGAUTH=1,<1|2|3>,"<password>","<user>" gave them (SIM7500/
                    SIM7600 manual order: password first)
    hosts           {name: address} AT+CDNSGIP resolves (a dotted address
                    resolves to itself); other names: +CDNSGIP: 0,10 and ERROR (choice)
    dns_required    if set, AT+CDNSGIP answers only when AT+CDNSCFG named this
                    server (primary or secondary); otherwise +CDNSGIP: 0,10 (choice)
    bind_host       host address UDP sockets bind to
    honour_local_port  bind the local port AT+CIPOPEN names (default: any free
                    port, as a carrier NAT would show it)
    address_map     {address the firmware uses: real host address} for
                    CIPOPEN/CIPSEND; RECV FROM shows the firmware's address
    udp_ok_first    UDP AT+CIPOPEN answers OK before +CIPOPEN: <l>,0 (default:
                    +CIPOPEN first, as in the SIMCom TCP/IP application note) (choice)
    netopen_stale   after +CIPEVENT: NETWORK CLOSED UNEXPECTEDLY, AT+NETOPEN?
                    still says 1 until AT+NETCLOSE (MODEMS: "after CIPEVENT:
                    NETOPEN? then NETCLOSE and reopen") (choice)
    cmee            +CME ERROR form after boot: 0 plain ERROR, 1 numeric, 2 text
    cnmi            AT+CNMI setting after boot
    sms_first_index first SM storage index (+CMTI: "SM",0 on SIM7600 logs)
    sms_capacity    SM storage slots
    smsc_number     SMSC address in SMS-DELIVER PDUs and +CSCA
    nosim_urc       URC after RDY when no card is inserted (choice), None: none
    baud            UART rate at power-on (one of IPR_RATES; the module's default 115200)
    pace            pace the UART at its rate (modem.py "Pacing"); False (the class
                    default; wmmp-emu paces unless --no-pace): bytes move at once
    ipr_applies     False: AT+IPR answers OK but the rate stays (a module that
                    ignores it, for the driver's fallback)
    rtt, loss, bandwidth, shape_seed   the radio link (netsock.LinkShaper): round
                    trip s, loss fraction 0..1, bytes/s (None: unlimited), loss RNG seed
    http_read_ok_last   AT+HTTPREAD's OK after the data, not before it (httpat)
    http_read_split     AT+HTTPREAD data in DATA pieces of at most N bytes (0: one)
    http_max_body   bytes of an HTTP response the module keeps (more: 707)
    """

    def __init__(self, **kw):
        self.echo = True
        self.boot_time = 0.0
        self.reset_time = 0.0
        self.urc_gap = 0.0
        self.reg_delay = 0.0
        self.netopen_delay = 0.0
        self.connect_timeout = 15.0
        self.spic_order = "pin1,puk1,pin2,puk2"
        self.pin2_left = 3
        self.puk2_left = 10
        self.reg_quoted = True
        self.reg_act = True
        self.act = 7
        self.lac = 0x1816
        self.ci = 0xAC99201
        self.roaming = False
        self.rssi = 23
        self.ber = 99
        self.operator = "CHINA MOBILE"
        self.manufacturer = "SIMCOM INCORPORATED"
        self.model = "SIMCOM_SIM7600CE"
        self.revision = "LE11B08SIM7600CE-A"
        self.ip_addr = "10.71.34.127"
        self.apn_required = None
        self.auth_required = None
        self.hosts = {}
        self.dns_required = None
        self.bind_host = "127.0.0.1"
        self.honour_local_port = False
        self.address_map = {}
        self.udp_ok_first = False
        self.netopen_stale = True
        self.cmee = 1
        self.cnmi = (2, 1, 0, 0, 0)
        self.sms_first_index = 0
        self.sms_capacity = 20
        self.smsc_number = "+8613800100500"
        self.nosim_urc = "+CPIN: SIM REMOVED"
        self.baud = 115200
        self.pace = False
        self.ipr_applies = True
        self.rtt = 0.0
        self.loss = 0.0
        self.bandwidth = None
        self.shape_seed = 1
        self.http_read_ok_last = False
        self.http_read_split = 0
        self.http_max_body = 8 * 1024 * 1024
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError("unknown SIM7600 option %r" % k)
            setattr(self, k, v)
        if self.spic_order not in ("pin1,puk1,pin2,puk2", "pin1,pin2,puk1,puk2"):
            raise ValueError("spic_order must be pin1,puk1,pin2,puk2 or pin1,pin2,puk1,puk2")
        if self.baud not in IPR_RATES:
            raise ValueError("baud must be one of %s" % ", ".join(map(str, IPR_RATES)))


_Final = Final


class _Link:
    """One of the ten socket links."""

    def __init__(self, idx, proto):
        self.idx = idx
        self.proto = proto          # "TCP" / "UDP"
        self.sock = None
        self.remote = None          # TCP peer / UDP default peer, as the firmware named it
        self.opening = True
        self.closed = False
        self.rxbuf = bytearray()    # AT+CIPRXGET=1 mode
        self.task = None


class Sim7600(HttpAt, PduSms, Modem):
    """The emulated module.  attach(sink) sets where its output goes (sink(bytes)),
    feed(bytes) is what the host writes.  See the module docstring."""

    SEP = ": "

    def __init__(self, sim=None, msisdn="13800000001", smsc=None, options=None, rng=None,
                 trace=None, **kw):
        if options is None:
            options = Options(**kw)
        elif kw:
            raise TypeError("give options or keyword options, not both")
        self.o = options
        Modem.__init__(self, sim, rng, trace)
        self._sms_init(msisdn, smsc)
        # radio
        self.rssi = options.rssi
        self.ber = options.ber
        self.outage = False
        self.nv_baud = options.baud         # AT+IPREX: survives a boot
        self._reset_state()

    def _boot_delay(self):
        return self.o.boot_time

    def _reset_delay(self):
        return self.o.reset_time

    def _reset_state(self):
        """Settings a power cycle restores."""
        self.echo = self.o.echo
        self.cmee = self.o.cmee
        self.set_line(self.nv_baud)         # AT+IPR lasts until the next boot
        self._sms_reset()
        self.creg_n = self.cgreg_n = self.cereg_n = 0
        self.cipsrip = 1
        self.rxget = 0
        self.cfun = 1
        self.ps_detached = False
        self.pdp = {}
        self.auth = {}                  # cid -> (type, password, user) of AT+CGAUTH
        self.dns = ()                   # AT+CDNSCFG servers
        self.booted = False
        self.sim_up = False             # the card reported ready (+CPIN: READY) since boot/swap
        self.sms_ready = False
        self.net_open = False
        self.net_opening = False
        self.net_broken = False
        self.links = [None] * LINKS
        self._reg_done = False
        self._reg_timer = None
        self._reported = (None, None)
        self._http_reset()

    def _close_sockets(self):
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)

    async def _boot(self, delay):
        if delay:
            await asyncio.sleep(delay)
        self.boots += 1
        self._reset_state()
        self.booted = True
        self._start_processing()
        self._line("RDY")
        await self._gap()
        st = self.sim.pin_state()
        if st == S.NO_SIM:
            if self.o.nosim_urc:
                self._line(self.o.nosim_urc)
        elif st == S.READY:
            await self._sim_ready_urcs()
        elif st in (S.SIM_PIN, S.SIM_PUK):
            self._line("+CPIN: " + st)
        self._reg_check()

    async def _gap(self):
        if self.o.urc_gap:
            await asyncio.sleep(self.o.urc_gap)

    async def _sim_ready_urcs(self):
        """+CPIN: READY, SMS DONE, PB DONE: the card is usable (at boot, after
        the PIN or PUK, after a swap)."""
        self._line("+CPIN: READY")
        self.sim_up = True
        self._reg_check()
        await self._gap()
        self.sms_ready = True
        self._line("SMS DONE")
        await self._gap()
        self._line("PB DONE")
        self._flush_sms()

    # -- basic commands -----------------------------------------------------

    def _b_i(self, d):
        if d not in ("", "0"):
            raise _Final("ERROR")
        for ln in ("Manufacturer: " + self.o.manufacturer, "Model: " + self.o.model,
                   "Revision: " + self.o.revision, "IMEI: " + self.sim.imei(),
                   "+GCAP: +CGSM"):
            self._line(ln)

    def _b_z(self, d):
        self.echo = self.o.echo
        self.cmee = self.o.cmee

    _b_amp_f = _b_z

    def _b_amp_w(self, d):
        pass

    # -- identity -----------------------------------------------------------

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
            self._line("+CGMR: " + self.o.revision)

    async def _x_cgsn(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line(self.sim.imei())

    _x_gsn = _x_cgsn

    async def _x_cimi(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            try:
                self._line(self.sim.imsi())
            except (S.SimError, WmmpError) as e:
                raise self._sim_error(e)

    async def _x_ciccid(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            try:
                self._line("+ICCID: " + self.sim.iccid())
            except S.SimError as e:
                raise self._sim_error(e)

    async def _x_ipr(self, mode, a, name="IPR"):
        """AT+IPR=<rate>: OK at the old rate, then the new one (until the next
        boot; AT+IPREX: stored too)."""
        if mode == L.READ:
            self._line("+%s: %d" % (name, self.baud if name == "IPR" else self.nv_baud))
        elif mode == L.TEST:
            self._line("+%s: (%s)" % (name, ",".join(map(str, IPR_RATES))))
        elif mode == L.SET and len(a) == 1:
            rate = self._int(a[0])
            if rate not in IPR_RATES:
                raise _Final("ERROR")
            if name == "IPREX":
                self.nv_baud = rate
            if self.o.ipr_applies:
                return lambda: self.set_line(rate)
        else:
            raise _Final("ERROR")
        return None

    async def _x_iprex(self, mode, a):
        return await self._x_ipr(mode, a, "IPREX")

    async def _x_csclk(self, mode, a):
        if mode == L.READ:
            self._line("+CSCLK: 0")
        elif mode == L.SET:
            self._int(a[0], 0, 2)
        elif mode != L.TEST:
            raise _Final("ERROR")

    # -- SIM ----------------------------------------------------------------

    def _sim_changed(self, was_ready):
        """After a PIN operation: URCs when the card became usable, registration."""
        if not was_ready and self.sim.pin_state() == S.READY:
            self._spawn(self._sim_ready_urcs())
        else:
            self._reg_check()

    async def _x_cpin(self, mode, a):
        st = self.sim.pin_state()
        if mode == L.TEST:
            return None
        if mode == L.READ:
            if st == S.NO_SIM:
                raise self._cme(CME_NO_SIM)
            if st == S.BLOCKED:
                raise self._cme(CME_SIM_FAILURE)
            self._line("+CPIN: " + st)
            return None
        if mode != L.SET or not a or a[0] is None or len(a) > 2:
            raise _Final("ERROR")
        was_ready = st == S.READY
        try:
            if st == S.SIM_PUK:
                if len(a) < 2 or a[1] is None:
                    raise self._cme(CME_SIM_PUK)
                self.sim.enter_puk(str(a[0]), str(a[1]))
            elif st == S.READY:
                raise self._cme(CME_NOT_ALLOWED)       # 27.007: no PIN request pending
            else:
                self.sim.enter_pin(str(a[0]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(was_ready)
            raise self._sim_error(e)
        self._sim_changed(was_ready)
        return None

    async def _x_spic(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return None
        try:
            pin1, puk1 = self.sim.attempts()
        except S.SimError as e:
            raise self._sim_error(e)
        if self.o.spic_order == "pin1,puk1,pin2,puk2":
            v = (pin1, puk1, self.o.pin2_left, self.o.puk2_left)
        else:
            v = (pin1, self.o.pin2_left, puk1, self.o.puk2_left)
        self._line("+SPIC: %d,%d,%d,%d" % v)

    async def _x_clck(self, mode, a):
        if mode == L.TEST:
            self._line('+CLCK: ("SC")')
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        if (a[0] or "").upper() != "SC":
            raise self._cme(CME_NOT_SUPPORTED)
        op = self._int(a[1], 0, 2)
        st = self.sim.pin_state()
        try:
            if op == 2:
                self._line("+CLCK: %d" % (1 if self.sim.pin_enabled() else 0))
                return None
            if len(a) < 3 or a[2] is None:
                raise self._cme(CME_BAD_PARAMS)
            self.sim.set_pin_enabled(op == 1, str(a[2]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(st == S.READY)
            raise self._sim_error(e)
        self._sim_changed(st == S.READY)
        return None

    async def _x_cpwd(self, mode, a):
        if mode == L.TEST:
            self._line('+CPWD: ("SC",8)')
            return None
        if mode != L.SET or len(a) < 3 or a[1] is None or a[2] is None:
            raise _Final("ERROR")
        if (a[0] or "").upper() != "SC":
            raise self._cme(CME_NOT_SUPPORTED)
        st = self.sim.pin_state()
        try:
            self.sim.change_pin(str(a[1]), str(a[2]))
        except (S.SimError, BadValue) as e:
            self._sim_changed(st == S.READY)
            raise self._sim_error(e)
        return None

    # -- radio and registration ---------------------------------------------

    def _cs_stat(self):
        if not (self.booted and self.sim_up and self.cfun == 1
                and self.sim.pin_state() == S.READY):
            return 0
        if self.rssi == 99 or not self._reg_done:
            return 2
        return 5 if self.o.roaming else 1

    def _ps_stat(self):
        st = self._cs_stat()
        if st in (1, 5):
            if self.ps_detached:
                return 0
            if self.outage:
                return 2
        return st

    def registered(self):
        return self._cs_stat() in (1, 5)

    def attached(self):
        return self._ps_stat() in (1, 5)

    def _can_register(self):
        return (self.booted and self.sim_up and self.cfun == 1 and self.rssi != 99
                and self.sim.pin_state() == S.READY)

    def _report_reg(self):
        cs, ps = self._cs_stat(), self._ps_stat()
        old_cs, old_ps = self._reported
        self._reported = (cs, ps)
        if cs != old_cs and old_cs is not None and self.creg_n:
            self._line("+CREG: " + self._reg_fields(cs, self.creg_n, False))
        if ps != old_ps and old_ps is not None:
            if self.cgreg_n:
                self._line("+CGREG: " + self._reg_fields(ps, self.cgreg_n, False))
            if self.cereg_n:
                self._line("+CEREG: " + self._reg_fields(ps, self.cereg_n, False))
        if ps not in (1, 5):
            self._network_lost()
        if cs in (1, 5):
            self._flush_sms()

    def _reg_fields(self, stat, n, with_n):
        parts = [str(n)] if with_n else []
        parts.append(str(stat))
        if n == 2 and stat in (1, 5):
            if self.o.reg_quoted:
                parts += ['"%04X"' % self.o.lac, '"%X"' % self.o.ci]
            else:
                parts += ["%04X" % self.o.lac, "%X" % self.o.ci]
            if self.o.reg_act:
                parts.append(str(self.o.act))
        return ",".join(parts)

    def _reg_cmd(self, mode, a, attr, name, stat):
        if mode == L.READ:
            n = getattr(self, attr)
            self._line("%s: %s" % (name, self._reg_fields(stat, n, True)))
        elif mode == L.SET:
            setattr(self, attr, self._int(a[0], 0, 2))
        elif mode == L.TEST:
            self._line("%s: (0-2)" % name)
        else:
            raise _Final("ERROR")

    async def _x_creg(self, mode, a):
        self._reg_cmd(mode, a, "creg_n", "+CREG", self._cs_stat())

    async def _x_cgreg(self, mode, a):
        self._reg_cmd(mode, a, "cgreg_n", "+CGREG", self._ps_stat())

    async def _x_cereg(self, mode, a):
        self._reg_cmd(mode, a, "cereg_n", "+CEREG", self._ps_stat())

    async def _x_csq(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            self._line("+CSQ: %d,%d" % (self.rssi, self.ber))
        else:
            self._line("+CSQ: (0-31,99),(0-7,99)")

    async def _x_cops(self, mode, a):
        if mode == L.READ:
            if self.registered():
                self._line('+COPS: 0,0,"%s",%d' % (self.o.operator, self.o.act))
            else:
                self._line("+COPS: 0")
        elif mode not in (L.SET, L.TEST):
            raise _Final("ERROR")

    async def _x_cpsi(self, mode, a):
        self._only(mode, L.READ, L.TEST)
        if mode == L.TEST:
            return
        if not self.registered():
            self._line("+CPSI: NO SERVICE,Online")
            return
        imsi = self.sim.imsi()
        rssi_dbm = -113 + 2 * self.rssi
        self._line("+CPSI: LTE,Online,%s-%s,0x%04X,%d,266,EUTRAN-BAND3,1650,5,5,-90,%d,%d,13"
                   % (imsi[:3], imsi[3:5], self.o.lac, self.o.ci, (rssi_dbm - 25) * 10,
                      rssi_dbm * 10))

    async def _x_cfun(self, mode, a):
        if mode == L.READ:
            self._line("+CFUN: %d" % self.cfun)
            return None
        if mode == L.TEST:
            self._line("+CFUN: (0,1,4),(0-1)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        fun = self._int(a[0])
        rst = self._int(a[1], 0, 1) if len(a) > 1 and a[1] is not None else 0
        if fun not in (0, 1, 4):
            raise _Final("ERROR")
        if rst:
            if fun != 1:
                raise _Final("ERROR")
            return self.reboot
        self.cfun = fun
        return self._reg_check

    async def _x_creset(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            return self.reboot

    async def _x_cpof(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            return self.power_off

    # -- packet data --------------------------------------------------------

    async def _x_cgatt(self, mode, a):
        if mode == L.READ:
            self._line("+CGATT: %d" % (1 if self.attached() else 0))
            return None
        if mode == L.TEST:
            self._line("+CGATT: (0,1)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        on = self._int(a[0], 0, 1)
        if on and not self.registered():
            raise self._cme(CME_NO_NETWORK)
        self.ps_detached = not on
        return self._reg_check

    async def _x_cgdcont(self, mode, a):
        if mode == L.READ:
            for cid in sorted(self.pdp):
                t, apn = self.pdp[cid]
                self._line('+CGDCONT: %d,"%s","%s","0.0.0.0",0,0' % (cid, t, apn))
        elif mode == L.SET:
            cid = self._int(a[0], 1, 24)
            if len(a) == 1:
                self.pdp.pop(cid, None)
                return
            t = (a[1] or "IP").upper()
            if t not in ("IP", "IPV6", "IPV4V6"):
                raise _Final("ERROR")
            self.pdp[cid] = (t, a[2] if len(a) > 2 and a[2] is not None else "")
        elif mode == L.TEST:
            self._line('+CGDCONT: (1-24),"IP",,,(0-2),(0-4)')
        else:
            raise _Final("ERROR")

    async def _x_cgauth(self, mode, a):
        """AT+CGAUTH=<cid>[,<auth_type>[,<passwd>[,<user>]]] (SIM7500/SIM7600
        manual order; type 0 none, 1 PAP, 2 CHAP, 3 PAP or CHAP)."""
        if mode == L.READ:
            for cid in sorted(self.auth):
                t, pwd, user = self.auth[cid]
                self._line('+CGAUTH: %d,%d,"%s"' % (cid, t, user))
        elif mode == L.SET:
            cid = self._int(a[0], 1, 24)
            t = self._int(a[1], 0, 3) if len(a) > 1 and a[1] is not None else 0
            if len(a) > 4 or (t == 0 and len(a) > 2 and (a[2] or (len(a) > 3 and a[3]))):
                raise self._cme(CME_BAD_PARAMS)
            self.auth[cid] = (t, a[2] if len(a) > 2 and a[2] else "", a[3] if len(a) > 3 and a[3] else "")
        elif mode == L.TEST:
            self._line("+CGAUTH: (1-24),(0-3),,")
        else:
            raise _Final("ERROR")

    async def _x_cgpaddr(self, mode, a):
        if mode in (L.EXEC, L.SET):
            self._line("+CGPADDR: 1,%s" % (self.o.ip_addr if self.attached() else "0.0.0.0"))
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_cipmode(self, mode, a):
        if mode == L.READ:
            self._line("+CIPMODE: 0")
        elif mode == L.SET and self._int(a[0], 0, 1) != 0:
            raise _Final("ERROR")                    # transparent mode is not emulated

    async def _x_cipccfg(self, mode, a):
        pass

    _x_ciptimeout = _x_cipccfg
    _x_cipsendmode = _x_cipccfg

    async def _x_cipsrip(self, mode, a):
        if mode == L.READ:
            self._line("+CIPSRIP: %d" % self.cipsrip)
        elif mode == L.SET:
            self.cipsrip = self._int(a[0], 0, 1)
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_netopen(self, mode, a):
        if mode == L.READ:
            self._line("+NETOPEN: %d" % (1 if self.net_open else 0))
            return None
        if mode == L.TEST:
            return None
        if mode != L.EXEC:
            raise _Final("ERROR")
        if self.net_open or self.net_opening:
            raise _Final("ERROR", ["+IP ERROR: Network is already opened"])
        self.net_opening = True
        return lambda: self._spawn(self._netopen_result())

    async def _netopen_result(self):
        if self.o.netopen_delay:
            await asyncio.sleep(self.o.netopen_delay)
        self.net_opening = False
        req = self.o.apn_required
        apn = self.pdp.get(1, ("", None))[1]
        apn_ok = req is None or apn == req or (not isinstance(req, str) and apn in req)
        if self.o.auth_required is not None:
            t, pwd, user = self.auth.get(1, (0, "", ""))
            apn_ok = apn_ok and t in (1, 2, 3) and (user, pwd) == tuple(self.o.auth_required)
        if self.attached() and apn_ok:
            self.net_open = True
            self.net_broken = False
            self._line("+NETOPEN: 0")
        else:
            self._line("+NETOPEN: %d" % ERR_NETWORK)

    async def _x_netclose(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.TEST:
            return None
        if not self.net_open:
            raise _Final("ERROR", ["+NETCLOSE: %d" % ERR_NOT_OPENED])
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)
        self.net_open = False
        self.net_broken = False
        return lambda: self._line("+NETCLOSE: 0")

    async def _x_cdnscfg(self, mode, a):
        """AT+CDNSCFG="<primary>"[,"<secondary>"] (dotted IPv4); the read form
        lists them as +CDNSCFG: PrimaryDns: <a> / SecondaryDns: <b> (choice)."""
        if mode == L.READ:
            d = list(self.dns) + ["0.0.0.0"] * (2 - len(self.dns))
            self._line("+CDNSCFG: PrimaryDns: %s" % d[0])
            self._line("+CDNSCFG: SecondaryDns: %s" % d[1])
        elif mode == L.SET:
            if not a or len(a) > 2 or not all(x and _dotted(x) for x in a):
                raise _Final("ERROR")
            self.dns = tuple(a)
        elif mode != L.TEST:
            raise _Final("ERROR")

    async def _x_cdnsgip(self, mode, a):
        """AT+CDNSGIP="<name>" -> +CDNSGIP: 1,"<name>","<ip>" and OK; a name it
        cannot resolve: +CDNSGIP: 0,10 and ERROR (Options.hosts, dns_required)."""
        if mode == L.TEST:
            return None
        if mode != L.SET or not a or not a[0]:
            raise _Final("ERROR")
        if not self.net_open or self.net_broken:
            raise _Final("ERROR", ["+CDNSGIP: 0,3"])
        name = a[0]
        ip = name if _dotted(name) else self.o.hosts.get(name)
        if not _dotted(name) and self.o.dns_required is not None and self.o.dns_required not in self.dns:
            ip = None
        if ip is None:
            raise _Final("ERROR", ["+CDNSGIP: 0,10"])
        self._line('+CDNSGIP: 1,"%s","%s"' % (name, ip))

    async def _x_ipaddr(self, mode, a):
        self._only(mode, L.EXEC, L.TEST)
        if mode == L.EXEC:
            if not self.net_open or self.net_broken:
                raise _Final("ERROR", ["+IP ERROR: Network not opened"])
            self._line("+IPADDR: " + self.o.ip_addr)

    def _network_lost(self):
        """The packet network went away under open sockets (outage, no signal,
        detach, SIM gone)."""
        if not self.net_open or self.net_broken:
            return
        for lk in self.links:
            if lk is not None:
                self._drop_link(lk)
        if self.o.netopen_stale:
            self.net_broken = True
        else:
            self.net_open = False
        self._line(NETWORK_CLOSED)

    async def _x_cipopen(self, mode, a):
        if mode == L.READ:
            for i, lk in enumerate(self.links):
                if lk is None or lk.opening:
                    self._line("+CIPOPEN: %d" % i)
                elif lk.remote is None:
                    self._line('+CIPOPEN: %d,"UDP"' % i)
                else:
                    self._line('+CIPOPEN: %d,"%s","%s",%d,-1'
                               % (i, lk.proto, lk.remote[0], lk.remote[1]))
            return None
        if mode == L.TEST:
            self._line('+CIPOPEN: (0-9),("TCP","UDP")')
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        proto = (a[1] or "").upper()
        if proto not in ("TCP", "UDP"):
            raise _Final("ERROR")
        host = a[2] if len(a) > 2 else None
        port = self._int(a[3], 0, 65535) if len(a) > 3 and a[3] is not None else None
        lport = self._int(a[4], 0, 65535) if len(a) > 4 and a[4] is not None else None
        if proto == "TCP" and (not host or port is None):
            raise _Final("ERROR")
        if proto == "UDP" and lport is None:
            raise _Final("ERROR")                    # MODEMS "UDP": local port required
        if not self.net_open:
            raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_NOT_OPENED)])
        if self.links[idx] is not None:
            raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_NOT_SUPPORTED)])
        lk = _Link(idx, proto)
        if host and port is not None:
            lk.remote = (host, port)
        if self.net_broken:
            return lambda: self._line("+CIPOPEN: %d,%d" % (idx, ERR_NETWORK))
        self.links[idx] = lk
        if proto == "UDP":
            try:
                lk.sock = await UdpSocket.open(
                    lambda data, addr, lk=lk: self._on_data(lk, data, addr),
                    self.o.bind_host, lport if self.o.honour_local_port else 0)
            except OSError:
                self.links[idx] = None
                raise _Final("ERROR", ["+CIPOPEN: %d,%d" % (idx, ERR_BIND)])
            lk.opening = False
            if self.o.udp_ok_first:
                return lambda: self._line("+CIPOPEN: %d,0" % idx)
            self._line("+CIPOPEN: %d,0" % idx)
            return None
        return lambda: self._spawn(self._tcp_open(lk))

    async def _tcp_open(self, lk):
        host, port = lk.remote
        try:
            sock = await TcpSocket.connect(
                self._route(host), port,
                lambda data, addr: self._on_data(lk, data, addr),
                lambda: self._on_remote_close(lk),
                timeout=self.o.connect_timeout)
        except asyncio.TimeoutError:
            err = ERR_TIMEOUT
        except socket.gaierror:
            err = ERR_DNS
        except OSError:
            err = ERR_NETWORK
        else:
            if lk.closed or self.links[lk.idx] is not lk:     # closed / network lost meanwhile
                sock.close()
                return
            lk.sock = sock
            lk.opening = False
            self._line("+CIPOPEN: %d,0" % lk.idx)
            return
        if self.links[lk.idx] is lk:
            self.links[lk.idx] = None
            self._line("+CIPOPEN: %d,%d" % (lk.idx, err))

    def _drop_link(self, lk):
        """Close a link without any URC."""
        lk.closed = True
        if self.links[lk.idx] is lk:
            self.links[lk.idx] = None
        if lk.sock is not None:
            lk.sock.close()

    def _on_remote_close(self, lk):
        if lk.closed or self.links[lk.idx] is not lk:
            return
        self._drop_link(lk)
        self._line("+IPCLOSE: %d,1" % lk.idx)

    def _on_data(self, lk, data, addr):
        """Data from the network: pushed (+IPD) or buffered (AT+CIPRXGET=1)."""
        if lk.closed or not self._listening or self.links[lk.idx] is not lk:
            return
        if self.rxget:
            was_empty = not lk.rxbuf
            room = RXGET_MAX - len(lk.rxbuf)
            lk.rxbuf += data[:room]
            if was_empty and lk.rxbuf:
                self._line("+CIPRXGET: 1,%d" % lk.idx)
            return
        mv = memoryview(data)
        for i in range(0, len(data), IPD_MAX):
            chunk = bytes(mv[i:i + IPD_MAX])
            head = b"\r\n"
            if self.cipsrip:
                rf = ("RECV FROM:%s:%d" % (self._shown(addr[0]), addr[1])).encode()
                self._write(b"\r\n" + rf + b"\r\n", rf)
                head = b""
            hdr = b"+IPD%d" % len(chunk)
            self._write(head + hdr + b"\r\n" + chunk, hdr)

    async def _x_cipsend(self, mode, a):
        if mode == L.TEST:
            self._line("+CIPSEND: (0-9),(1-1500)")
            return None
        if mode != L.SET or len(a) < 2:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        n = self._int(a[1], 1, SEND_MAX)
        lk = self.links[idx]
        if lk is None or lk.opening:
            raise _Final("+CIPERROR: 4")
        dest = None
        if lk.proto == "UDP":
            if len(a) >= 4 and a[2] is not None and a[3] is not None:
                dest = (a[2], self._int(a[3], 1, 65535))
            elif lk.remote is not None:
                dest = lk.remote
            else:
                raise _Final("ERROR")
        elif len(a) > 2:
            raise _Final("ERROR")
        self._write(b"\r\n>", b">")
        data = await self._read_exact(n)
        sent = -1
        if not lk.closed and lk.sock is not None:
            try:
                if dest is not None:
                    lk.sock.send(data, (self._route(dest[0]), dest[1]))
                else:
                    lk.sock.send(data)
                sent = n
            except (OSError, ConnectionError) as e:
                log.debug("send on link %d failed: %s", idx, e)
        return lambda: self._line("+CIPSEND: %d,%d,%d" % (idx, n, sent))

    async def _x_cipclose(self, mode, a):
        if mode == L.READ:
            self._line("+CIPCLOSE: " + ",".join(
                "1" if lk is not None and not lk.opening else "0" for lk in self.links))
            return None
        if mode == L.TEST:
            self._line("+CIPCLOSE: (0-9)")
            return None
        if mode != L.SET:
            raise _Final("ERROR")
        idx = self._int(a[0], 0, LINKS - 1)
        lk = self.links[idx]
        if lk is None:
            raise _Final("ERROR", ["+CIPCLOSE: %d,%d" % (idx, ERR_NOT_SUPPORTED)])
        self._drop_link(lk)
        return lambda: self._line("+CIPCLOSE: %d,0" % idx)

    async def _x_ciprxget(self, mode, a):
        if mode == L.READ:
            self._line("+CIPRXGET: %d" % self.rxget)
            return
        if mode == L.TEST:
            self._line("+CIPRXGET: (0-4),(0-9),(1-1500)")
            return
        if mode != L.SET:
            raise _Final("ERROR")
        op = self._int(a[0], 0, 4)
        if op in (0, 1):
            self.rxget = op
            return
        if op == 3:
            raise _Final("ERROR")                    # hex read mode is not emulated
        idx = self._int(a[1] if len(a) > 1 else None, 0, LINKS - 1)
        lk = self.links[idx]
        if not self.rxget or lk is None:
            raise _Final("ERROR")
        if op == 4:
            self._line("+CIPRXGET: 4,%d,%d" % (idx, len(lk.rxbuf)))
            return
        want = self._int(a[2], 1, SEND_MAX) if len(a) > 2 and a[2] is not None else SEND_MAX
        chunk = bytes(lk.rxbuf[:want])
        del lk.rxbuf[:len(chunk)]
        hdr = b"+CIPRXGET: 2,%d,%d,%d" % (idx, len(chunk), len(lk.rxbuf))
        self._write(b"\r\n" + hdr + b"\r\n" + chunk, hdr)

    # ------------------------------------------------------------------ faults

    def set_outage(self, on=True):
        """Packet network outage: open sockets die with +CIPEVENT: NETWORK
        CLOSED UNEXPECTEDLY, NETOPEN/CIPOPEN fail, +CGATT: 0; radio and SMS stay."""
        self.outage = bool(on)
        self._reg_check()

    def set_signal(self, rssi, ber=99):
        """+CSQ values; rssi 99 = no signal: registration lost (+CREG/+CGREG/+CEREG
        stat 2), sockets die, SMS cannot be sent; a signal back re-registers."""
        self.rssi = rssi
        self.ber = 99 if rssi == 99 else ber
        self._reg_check()

    def swap_sim(self, imsi, iccid, pin="1234", puk="12345678", pin_enabled=False, msisdn=None):
        """Another card in the holder at runtime (SimulatedSim.swap): new IMSI and
        ICCID, fresh counters, empty SM storage; the module reports the card
        (+CPIN: READY, SMS DONE, PB DONE or +CPIN: SIM PIN) and registers anew.
        msisdn: the new card's number at the SMS centre."""
        self.sim.swap(imsi, iccid, pin=pin, puk=puk, pin_enabled=pin_enabled)
        self._sms_new_card(msisdn)
        self.sim_up = False
        self._reg_check()
        if self.booted:
            st = self.sim.pin_state()
            if st == S.READY:
                self._spawn(self._sim_ready_urcs())
            else:
                self._line("+CPIN: " + st)

    def remove_sim(self):
        """The card is pulled out."""
        self.sim.remove()
        self._sms_new_card()
        self.sim_up = False
        self._reg_check()
        if self.booted and self.o.nosim_urc:
            self._line(self.o.nosim_urc)

    # ------------------------------------------------------------------ introspection

    def open_links(self):
        return [lk.idx for lk in self.links if lk is not None and not lk.opening]
