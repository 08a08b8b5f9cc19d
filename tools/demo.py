"""`make demo`: a terminal, the platform simulator and the emulated SMS centre,
end to end over real sockets on loopback.

registration -> passwords and base key by SMS -> login with a session key ->
heartbeats -> a CONFIG_SET that needs a restart (the platform's ports 0x000A:
LOGOUT 0x07, apply, restart, log in, report 0x4010 + 0x4017) -> REMOTE_CTRL
(report statistics) -> logout.

Prints a transcript of every message both ways (the terminal's view) and exits
0 only if every step succeeded.

`--modem sim7600` (`make demo MODEM=sim7600`): the same run, but the terminal's
bearers are those of the SIM7600 driver (lib/wmmp/modem/sim7600.py) talking AT
over a pseudo-terminal to the SIM7600 emulator (tools/wmmp_tools/emu), whose
sockets reach the platform on loopback and whose SMS go through the same SMS
centre; IMEI and IMSI come from the module, TLVs 0x3006/0x3007 from AT+CREG /
AT+CSQ, and one more step checks that the traffic really crossed the module.

`--modem bc95` (`make demo MODEM=bc95`): the same with the BC95 driver
(lib/wmmp/modem/bc95.py) and the BC95 emulator on a pty: the packet bearer
goes through AT+NSOCR / AT+NSOST / +NSONMI / AT+NSORF (AT+NSOCO / AT+NSOSD with
--tcp: the emulated module is a BC95-G), TLV 0x3006 from +CEREG (TAC/CI).  The
scenario delivers the keys by SMS after registration, so the emulated BC95 is
one whose network offers SMS (most NB-IoT networks do not: the driver detects
that and its SMS bearer then refuses to open); here SMS arrives by +CMT
direct delivery.  `--psm` (DEMO_ARGS=--psm): the network puts the module into
power saving 1 s after its last radio activity, so the platform's CONFIG_SET
and REMOTE_CTRL wait in the network until the terminal's next heartbeat.
"""
import argparse
import asyncio
import collections
import struct
import sys
import tempfile
import time

from wmmp.terminal import engine as E
from wmmp.wire import codes as K, commands as C
from wmmp_tools import term as TERM
from wmmp_tools.smsc import SmsCentre
from wmmp_tools.platform.model import Config as PlatformConfig
from wmmp_tools.platform.server import Platform
from wmmp_tools.platform.operator import Operator

IMEI, IMSI, MSISDN, PLATFORM_NUMBER = "860000000000001", "460001234567890", "13800000001", "10658000"
ICCID = "89860012345678901234"
MODEMS = ("sim7600", "bc95")


class AtTally:
    """Counts the AT commands the emulated module received (its trace hook)."""

    def __init__(self):
        self.seen = collections.Counter()
        self._buf = bytearray()

    def __call__(self, direction, data):
        if direction != "<":
            return
        self._buf += data
        *lines, rest = bytes(self._buf).split(b"\r")
        self._buf = bytearray(rest[-8192:])      # an AT+NSOST line carries its payload in hex
        for ln in lines:
            # a raw payload (after a '>' prompt) runs into the next command line:
            # the command is the printable tail
            k = len(ln)
            while k > 0 and 0x20 <= ln[k - 1] < 0x7F:
                k -= 1
            tail = ln[k:].strip()
            at = tail.upper().find(b"AT")
            if at < 0:
                continue
            name = tail[at:]
            for sep in (b"=", b"?"):
                name = name.split(sep)[0]
            self.seen[name.decode("latin-1")] += 1

    def summary(self):
        return ", ".join("%s x%d" % kv for kv in sorted(self.seen.items()))


async def _close_rig(rig):
    """Stop what a rig started, in reverse order (also after a failed start)."""
    if getattr(rig, "at", None) is not None:
        rig.at.stop()
    if getattr(rig, "stream", None) is not None:
        rig.stream.close()
    if getattr(rig, "pty", None) is not None:
        rig.pty.close()
    if getattr(rig, "emu", None) is not None:
        await rig.emu.close()


class Sim7600Rig:
    """The SIM7600 emulator on a pty, the AT engine on the other end through a
    SerialStream, and the driver.  emu / driver: extra keyword options of the
    emulator (emu.sim7600.Options) and of the driver (modem.sim7600.Sim7600),
    e.g. a short attach_wait for tests that cut the packet network."""

    name = "SIM7600"

    def __init__(self, smsc_port, emu=None, driver=None):
        self.smsc_port = smsc_port
        self.emu_kw = dict(emu or {})
        self.driver_kw = dict(driver or {})
        self.tally = AtTally()

    async def start(self, log):
        from wmmp.modem.at import AtEngine
        from wmmp.modem.sim7600 import Sim7600
        from wmmp.terminal.simcard import SimulatedSim
        from wmmp_tools.emu.ptyio import PtyPort
        from wmmp_tools.emu.sim7600 import Sim7600 as Emulator
        self.emu = Emulator(SimulatedSim(IMSI, ICCID, IMEI, pin_enabled=False), msisdn=MSISDN,
                            smsc=("127.0.0.1", self.smsc_port), trace=self.tally, **self.emu_kw)
        self.pty = PtyPort(self.emu).open()
        await self.emu.start()
        self.stream = TERM.SerialStream(self.pty.path).open()
        self.at = AtEngine(self.stream, log=log)
        self.modem = Sim7600(self.at, **dict({"apn": "cmnet", "log": log}, **self.driver_kw))
        await self.modem.power_on()
        self.ident = await self.modem.identity()
        return self

    def bearers(self, args):
        from wmmp.wire import profile as P
        bearers = TERM.modem_bearers(self.modem, args)
        self.packet, self.sms = bearers[P.BEARER_PACKET], bearers[P.BEARER_SMS]
        return bearers

    def crossed(self):
        seen = self.tally.seen
        return seen["AT+CIPSEND"] > 0 and seen["AT+CMGR"] + seen["AT+CMGL"] > 0

    async def close(self):
        await _close_rig(self)


class Bc95Rig:
    """The BC95 emulator (a BC95-G: TCP too; a network with SMS unless emu says
    sms=False) on a pty, the AT engine on the other end through a SerialStream
    at 9600 baud (MODEMS), and the driver.  psm: the network grants power
    saving after 1 s idle; emu / driver: extra keyword options of the emulator
    (emu.bc95.Options) and of the driver (modem.bc95.Bc95)."""

    name = "BC95"

    def __init__(self, smsc_port, psm=False, emu=None, driver=None):
        self.smsc_port = smsc_port
        self.psm = psm
        self.emu_kw = dict(emu or {})
        self.driver_kw = dict(driver or {})
        self.tally = AtTally()

    async def start(self, log):
        from wmmp.modem.at import AtEngine
        from wmmp.modem import bc95
        psm = {"psm_idle": 1.0, "rrc_idle": 0.5} if self.psm else {}
        from wmmp.terminal.simcard import SimulatedSim
        from wmmp_tools.emu.bc95 import Bc95 as Emulator
        from wmmp_tools.emu.ptyio import PtyPort
        kw = dict({"sms": True, "tcp": True}, **psm)
        kw.update(self.emu_kw)
        self.emu = Emulator(SimulatedSim(IMSI, ICCID, IMEI, pin_enabled=False), msisdn=MSISDN,
                            smsc=("127.0.0.1", self.smsc_port), trace=self.tally, **kw)
        self.pty = PtyPort(self.emu).open()
        await self.emu.start()
        self.stream = TERM.SerialStream(self.pty.path, 9600).open()
        self.at = AtEngine(self.stream, parser=bc95.at_parser(), log=log)
        self.modem = bc95.Bc95(self.at, **dict({"log": log, "on_psm": lambda on: log(
            "bc95: %s power saving (+NPSMR)" % ("entered" if on else "left"))}, **self.driver_kw))
        await self.modem.power_on()
        self.ident = await self.modem.identity()
        return self

    def bearers(self, args):
        from wmmp.modem import bc95
        from wmmp.wire import profile as P
        if args.tcp:
            packet = bc95.TcpBearer(self.modem, args.tcp[0], args.tcp[1])
        else:
            packet = bc95.UdpBearer(self.modem, args.udp[0], args.udp[1])
        self.packet = packet
        self.sms = bc95.SmsBearer(self.modem, list(args.platform_number))
        return {P.BEARER_PACKET: packet, P.BEARER_SMS: self.sms}

    def crossed(self):
        seen = self.tally.seen
        return (seen["AT+NSOST"] + seen["AT+NSOSD"] > 0 and seen["AT+NSORF"] > 0
                and self.sms.received > 0 and seen["AT+CMGS"] > 0)

    async def close(self):
        await _close_rig(self)


class Stack:
    """What `make demo` starts, as one object the demo and the tests share
    (host_tests/test_fallback_emulated.py drives it under injected outages):
    the emulated SMS centre, the platform simulator with the demo unit's
    subscription provisioned, optionally a modem emulator on a pty with its
    driver (Sim7600Rig / Bc95Rig), and the terminal engine with its runner
    (wmmp-term's build()), all on loopback.

        st = Stack(state_dir, out, modem="sim7600", heartbeat=1,
                   platform={...},      # extra platform Config options
                   provision={...},     # extra subscription fields (force_sms)
                   emu={...},           # extra emulator options
                   driver={...},        # extra driver options (attach_wait)
                   serial="M2MMAKER")   # 16 bytes, or the first 8 to have one assigned
        await st.start()     # st.smsc, st.pf, st.op, st.rig, st.term, st.runner, st.tr
        st.run()             # the runner's task (adjust st.term / st.runner before)
        ...
        await st.close()
    """

    def __init__(self, state_dir, out=sys.stdout, transport="udp", modem=None, psm=False, platform=None,
                 provision=None, emu=None, driver=None, heartbeat=3, serial="M2MMAKER", t0=None, on_event=None):
        if modem is not None and modem not in MODEMS:
            raise ValueError("unknown modem %r (have: %s)" % (modem, ", ".join(MODEMS)))
        self.state_dir = state_dir
        self.out = out
        self.transport = transport
        self.modem = modem
        self.psm = psm
        self.platform_kw = dict(platform or {})
        self.provision_kw = dict(provision or {})
        self.emu_kw = emu
        self.driver_kw = driver
        self.heartbeat = heartbeat
        self.serial = serial
        self.t0 = time.monotonic() if t0 is None else t0
        self.on_event = on_event
        self.smsc = self.pf = self.op = self.rig = self.term = self.runner = self.task = None
        self.tr = TERM.Transcript("terminal", out, self.t0)

    async def start(self, say=lambda text: None):
        self.smsc = smsc = SmsCentre("127.0.0.1", 0)
        await smsc.start()
        cfg = {"udp_port": 0, "tcp_port": 0, "smsc": ("127.0.0.1", smsc.port), "msisdn": PLATFORM_NUMBER,
               "key_delay": 0.3}
        cfg.update(self.platform_kw)
        self.pf = pf = Platform(PlatformConfig(**cfg))
        await pf.start()
        self.op = Operator(pf)
        await self.op.provision(dict({"imsi": IMSI, "msisdn": MSISDN}, **self.provision_kw))
        say("SMS centre on 127.0.0.1:%d, platform UDP 127.0.0.1:%d TCP 127.0.0.1:%d (SMS number %s); "
            "terminal uses %s%s" % (smsc.port, pf.udp_port, pf.tcp_port, PLATFORM_NUMBER, self.transport,
                                    " through a %s" % self.modem.upper() if self.modem else ""))
        port = pf.udp_port if self.transport == "udp" else pf.tcp_port
        args = TERM.parser().parse_args([
            "--" + self.transport, "127.0.0.1:%d" % port, "--smsc", "127.0.0.1:%d" % smsc.port,
            "--msisdn", MSISDN, "--platform-number", PLATFORM_NUMBER, "--state", self.state_dir,
            "--imei", IMEI, "--imsi", IMSI, "--serial", self.serial])
        tr = self.tr
        bearers = None
        if self.modem is not None:
            if self.modem == "sim7600":
                rig = Sim7600Rig(smsc.port, self.emu_kw, self.driver_kw)
            else:
                rig = Bc95Rig(smsc.port, self.psm, self.emu_kw, self.driver_kw)
            self.rig = rig
            await rig.start(log=lambda text: tr._w("   modem  " + text))
            i = rig.ident
            say("modem: %s emulator on %s (pty), driver over AT: firmware %s, IMEI %s, "
                "IMSI %s, ICCID %s" % (rig.name, rig.pty.path, i["firmware"], i["imei"], i["imsi"],
                                       i["iccid"]))
            args.imei, args.imsi = i["imei"], i["imsi"]
            bearers = rig.bearers(args)
        # through a module the driver is the SIM: the 4.4.1 PIN1 boot guard runs on the card
        self.term, self.runner = TERM.build(args, tr, on_event=self.on_event, bearers=bearers,
                                            sim=self.rig.modem if self.rig is not None else None)
        # factory setting of the demo unit: a short heartbeat (0x0011)
        self.term.params.set(0x0011, struct.pack(">I", self.heartbeat))
        if self.rig is not None:
            sig, cell = await self.rig.modem.update_radio(self.term.params)
            say("modem: signal %s/100 (AT+CSQ), cell %s 0x%04X CI 0x%X (%s): TLVs 0x3007, "
                "0x3006 go with LOGIN and HEART_BEAT"
                % (sig, "LAC" if self.modem == "sim7600" else "TAC", cell[0], cell[1],
                   "AT+CREG=2" if self.modem == "sim7600" else "AT+CEREG=2"))
        return self

    def run(self):
        """Start the runner (opens the bearers, boots the terminal)."""
        self.task = asyncio.create_task(self.runner.run())
        return self.task

    async def close(self):
        if self.task is not None:
            self.runner.stop()
            await asyncio.sleep(0.1)
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):
                pass
        if self.rig is not None:
            await self.rig.close()
        if self.pf is not None:
            await self.pf.close()
        if self.smsc is not None:
            await self.smsc.close()


class Demo:
    def __init__(self, out=sys.stdout, transport="udp", modem=None, psm=False):
        if modem is not None and modem not in MODEMS:
            raise ValueError("unknown modem %r (have: %s)" % (modem, ", ".join(MODEMS)))
        if psm and modem != "bc95":
            raise ValueError("--psm needs --modem bc95")
        self.psm = psm
        self.out = out
        self.transport = transport
        self.modem = modem
        self.rig = None
        self.events = []
        self.steps = []
        self.t0 = time.monotonic()

    def say(self, text):
        print("%7.2f %-9s %s" % (time.monotonic() - self.t0, "demo", text), file=self.out, flush=True)

    async def wait(self, what, cond, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                self.steps.append((what, True))
                self.say("OK   %s" % what)
                return True
            await asyncio.sleep(0.05)
        self.steps.append((what, False))
        self.say("FAIL %s (no result in %.0f s)" % (what, timeout))
        return False

    def seen(self, name, *args):
        return any(e[0] == name and e[1:1 + len(args)] == args for e in self.events)

    async def run(self, state_dir):
        st = Stack(state_dir, self.out, self.transport, self.modem, self.psm, t0=self.t0,
                   on_event=self.events.append)
        ok = False
        try:
            await st.start(self.say)
            self.rig = st.rig
            st.run()
            ok = await self._scenario(st.pf, st.op, st.term, st.runner, st.tr)
            if ok and self.rig is not None:
                what = ("AT+CIPSEND out, SMS in by +CMTI/AT+CMGR" if self.modem == "sim7600" else
                        "AT+NSOST/NSOSD out, +NSONMI/AT+NSORF in, SMS out by AT+CMGS and in by +CMT")
                ok = await self.wait("the traffic crossed the %s (%s)" % (self.rig.name, what),
                                     self.rig.crossed, 5)
                self.say("modem: commands the module received: %s" % self.rig.tally.summary())
        finally:
            await st.close()
        return ok and all(s for _, s in self.steps)

    async def _scenario(self, pf, op, term, runner, tr):
        ok = True
        ok = await self.wait("registered (REGISTER_ACK 0x00, keys by SMS)",
                             lambda: self.seen("registered"), 20)
        ok = ok and await self.wait("logged in with a session key (LOGIN_ACK + E040)",
                                    lambda: term.state == E.S_ONLINE and term.session is not None, 20)
        serial = term.serial.rstrip(b"\x00").decode()
        hb = lambda: sum(1 for line in tr.lines if "<- packet HEART_BEAT_ACK" in line)
        ok = ok and await self.wait("two heartbeats answered", lambda: hb() >= 2, 15)
        held = []
        if ok and self.psm:
            modem, emu = self.rig.modem, self.rig.emu
            ok = await self.wait("the BC95 is in power saving (+NPSMR:1) before the platform's CONFIG_SET",
                                 lambda: modem.psm is True, 5)
            watch = asyncio.ensure_future(self._watch_held(emu, held))
        if ok:
            # the platform's ports (0x000A, UDP << 16 | TCP): wmmp-term points its packet
            # bearer there (it has no APN to change: 0x0002 would be refused)
            ports = struct.pack(">HH", pf.udp_port, pf.tcp_port)
            self.say("operator: wmmp-platform set %s PLATFORM_PORTS=%s  (needs a restart)" % (serial, ports.hex()))
            ans = await op.set({"serial": serial, "tlvs": [["0x000A", ports.hex()]], "report_wait": 20})
            self.say("operator: CONFIG_SET_ACK result %s, reports %s" % (ans.get("result"), ans.get("reports")))
            if self.psm:
                watch.cancel()
                ok = await self.wait("the CONFIG_SET waited in the network until the terminal's next uplink",
                                     lambda: bool(held), 1)
            ok = await self.wait("CONFIG_SET applied after LOGOUT 0x07 and a restart",
                                 lambda: self.seen("restart", "config") and term.params.get(0x000A) == ports, 20)
            ok = ok and await self.wait("logged in again and reported 0x4010 + 0x4017",
                                        lambda: any("CONFIG_TRAP" in l and "4010" in l and "4017" in l
                                                    for l in tr.lines), 20)
        if ok:
            self.say("operator: wmmp-platform ctrl %s report-stats" % serial)
            ans = await op.ctrl({"serial": serial, "code": "report-stats"})
            ok = await self.wait("REMOTE_CTRL answered 0x00 and statistics reported",
                                 lambda: ans.get("result") == 0 and self.seen("remote_ctrl", K.RC_REPORT_STATISTICS)
                                 and any("CONFIG_TRAP" in l and "200B" in l for l in tr.lines), 10)
        if ok:
            self.say("terminal: logging out (reason 0x00)")
            term.logout(K.LOGOUT_NORMAL, runner.clock())
            runner._wake.set()
            ok = await self.wait("LOGOUT answered, terminal idle",
                                 lambda: term.state == E.S_IDLE, 15)
            ok = ok and await self.wait("platform shows the terminal logged out",
                                        lambda: pf.db.terminal(serial)["state"] != "online", 5)
        return ok


    @staticmethod
    async def _watch_held(emu, held):
        """Note when the network holds downlink for the sleeping module."""
        while True:
            if emu.held():
                held.append(emu.held())
            await asyncio.sleep(0.02)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tcp", action="store_true", help="packet bearer over TCP instead of UDP")
    ap.add_argument("--modem", choices=MODEMS,
                    help="the terminal talks AT to this module's emulator over a pty")
    ap.add_argument("--psm", action="store_true",
                    help="with --modem bc95: the network grants power saving (PSM) after 1 s idle")
    a = ap.parse_args(argv)
    if a.psm and a.modem != "bc95":
        ap.error("--psm needs --modem bc95")
    demo = Demo(transport="tcp" if a.tcp else "udp", modem=a.modem, psm=a.psm)
    with tempfile.TemporaryDirectory() as d:
        ok = asyncio.run(demo.run(d))
    print("\n%d steps, %d succeeded" % (len(demo.steps), sum(1 for _, s in demo.steps if s)))
    for what, s in demo.steps:
        print("  [%s] %s" % ("ok" if s else "FAILED", what))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
