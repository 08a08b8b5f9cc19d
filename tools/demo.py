"""`make demo`: a terminal, the platform simulator and the emulated SMS centre,
end to end over real sockets on loopback (issue 3).

registration -> passwords and base key by SMS -> login with a session key ->
heartbeats -> a CONFIG_SET that needs a restart (LOGOUT 0x07, apply, restart, log
in, report 0x4010 + 0x4017) -> REMOTE_CTRL (report statistics) -> logout.

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

from wmmp import engine as E, codes as K, commands as C
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


class Sim7600Rig:
    """The SIM7600 emulator on a pty, the AT engine on the other end through a
    SerialStream, and the driver."""

    name = "SIM7600"

    def __init__(self, demo, smsc_port):
        self.demo = demo
        self.smsc_port = smsc_port
        self.tally = AtTally()

    async def start(self, log):
        from wmmp.at import AtEngine
        from wmmp.modem.sim7600 import Sim7600
        from wmmp.sim import SimulatedSim
        from wmmp_tools.emu.ptyio import PtyPort
        from wmmp_tools.emu.sim7600 import Sim7600 as Emulator
        self.emu = Emulator(SimulatedSim(IMSI, ICCID, IMEI, pin_enabled=False), msisdn=MSISDN,
                            smsc=("127.0.0.1", self.smsc_port), trace=self.tally)
        self.pty = PtyPort(self.emu).open()
        await self.emu.start()
        self.stream = TERM.SerialStream(self.pty.path).open()
        self.at = AtEngine(self.stream, log=log)
        self.modem = Sim7600(self.at, apn="cmnet", log=log)
        await self.modem.power_on()
        self.ident = await self.modem.identity()
        return self

    def bearers(self, args):
        return TERM.modem_bearers(self.modem, args)

    def crossed(self):
        seen = self.tally.seen
        return seen["AT+CIPSEND"] > 0 and seen["AT+CMGR"] + seen["AT+CMGL"] > 0

    async def close(self):
        self.at.stop()
        self.stream.close()
        self.pty.close()
        await self.emu.close()


class Bc95Rig:
    """The BC95 emulator (a BC95-G: TCP too; a network with SMS) on a pty, the AT
    engine on the other end through a SerialStream at 9600 baud (MODEMS), and
    the driver."""

    name = "BC95"

    def __init__(self, demo, smsc_port):
        self.demo = demo
        self.smsc_port = smsc_port
        self.tally = AtTally()

    async def start(self, log):
        from wmmp.at import AtEngine
        from wmmp.modem import bc95
        psm = {"psm_idle": 1.0, "rrc_idle": 0.5} if self.demo.psm else {}
        from wmmp.sim import SimulatedSim
        from wmmp_tools.emu.bc95 import Bc95 as Emulator
        from wmmp_tools.emu.ptyio import PtyPort
        self.emu = Emulator(SimulatedSim(IMSI, ICCID, IMEI, pin_enabled=False), msisdn=MSISDN,
                            smsc=("127.0.0.1", self.smsc_port), trace=self.tally, sms=True, tcp=True, **psm)
        self.pty = PtyPort(self.emu).open()
        await self.emu.start()
        self.stream = TERM.SerialStream(self.pty.path, 9600).open()
        self.at = AtEngine(self.stream, parser=bc95.at_parser(), log=log)
        self.modem = bc95.Bc95(self.at, log=log, on_psm=lambda on: log(
            "bc95: %s power saving (+NPSMR)" % ("entered" if on else "left")))
        await self.modem.power_on()
        self.ident = await self.modem.identity()
        return self

    def bearers(self, args):
        from wmmp.modem import bc95
        from wmmp import profile as P
        if args.tcp:
            packet = bc95.TcpBearer(self.modem, args.tcp[0], args.tcp[1])
        else:
            packet = bc95.UdpBearer(self.modem, args.udp[0], args.udp[1])
        self.sms = bc95.SmsBearer(self.modem, list(args.platform_number))
        return {P.BEARER_PACKET: packet, P.BEARER_SMS: self.sms}

    def crossed(self):
        seen = self.tally.seen
        return (seen["AT+NSOST"] + seen["AT+NSOSD"] > 0 and seen["AT+NSORF"] > 0
                and self.sms.received > 0 and seen["AT+CMGS"] > 0)

    async def close(self):
        self.at.stop()
        self.stream.close()
        self.pty.close()
        await self.emu.close()


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
        smsc = SmsCentre("127.0.0.1", 0)
        await smsc.start()
        pf = Platform(PlatformConfig(udp_port=0, tcp_port=0, smsc=("127.0.0.1", smsc.port),
                                     msisdn=PLATFORM_NUMBER, key_delay=0.3))
        await pf.start()
        op = Operator(pf)
        await op.provision({"imsi": IMSI, "msisdn": MSISDN})
        self.say("SMS centre on 127.0.0.1:%d, platform UDP 127.0.0.1:%d TCP 127.0.0.1:%d (SMS number %s); "
                 "terminal uses %s%s" % (smsc.port, pf.udp_port, pf.tcp_port, PLATFORM_NUMBER, self.transport,
                                         " through a %s" % self.modem.upper() if self.modem else ""))
        port = pf.udp_port if self.transport == "udp" else pf.tcp_port
        args = TERM.parser().parse_args([
            "--" + self.transport, "127.0.0.1:%d" % port, "--smsc", "127.0.0.1:%d" % smsc.port,
            "--msisdn", MSISDN, "--platform-number", PLATFORM_NUMBER, "--state", state_dir,
            "--imei", IMEI, "--imsi", IMSI, "--serial", "M2MMAKER"])
        tr = TERM.Transcript("terminal", self.out, self.t0)
        bearers = None
        task = None
        ok = False
        try:
            if self.modem is not None:
                self.rig = rig = (Sim7600Rig if self.modem == "sim7600" else Bc95Rig)(self, smsc.port)
                await rig.start(log=lambda text: tr._w("   modem  " + text))
                i = rig.ident
                self.say("modem: %s emulator on %s (pty), driver over AT: firmware %s, IMEI %s, "
                         "IMSI %s, ICCID %s" % (rig.name, rig.pty.path, i["firmware"], i["imei"], i["imsi"],
                                                i["iccid"]))
                args.imei, args.imsi = i["imei"], i["imsi"]
                bearers = rig.bearers(args)
            term, runner = TERM.build(args, tr, on_event=self.events.append, bearers=bearers)
            term.params.set(0x0011, struct.pack(">I", 3))    # factory setting of the demo unit: 3 s heartbeat
            if self.rig is not None:
                sig, cell = await self.rig.modem.update_radio(term.params)
                self.say("modem: signal %s/100 (AT+CSQ), cell %s 0x%04X CI 0x%X (%s): TLVs 0x3007, "
                         "0x3006 go with LOGIN and HEART_BEAT"
                         % (sig, "LAC" if self.modem == "sim7600" else "TAC", cell[0], cell[1],
                            "AT+CREG=2" if self.modem == "sim7600" else "AT+CEREG=2"))
            task = asyncio.create_task(runner.run())
            ok = await self._scenario(pf, op, term, runner, tr)
            if ok and self.rig is not None:
                what = ("AT+CIPSEND out, SMS in by +CMTI/AT+CMGR" if self.modem == "sim7600" else
                        "AT+NSOST/NSOSD out, +NSONMI/AT+NSORF in, SMS out by AT+CMGS and in by +CMT")
                ok = await self.wait("the traffic crossed the %s (%s)" % (self.rig.name, what),
                                     self.rig.crossed, 5)
                self.say("modem: commands the module received: %s" % self.rig.tally.summary())
        finally:
            if task is not None:
                runner.stop()
                await asyncio.sleep(0.1)
                task.cancel()
            if self.rig is not None:
                await self.rig.close()
            await pf.close()
            await smsc.close()
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
            self.say("operator: wmmp-platform set %s APN=cmiot  (needs a restart)" % serial)
            ans = await op.set({"serial": serial, "tlvs": [["0x0002", b"cmiot".hex()]], "report_wait": 20})
            self.say("operator: CONFIG_SET_ACK result %s, reports %s" % (ans.get("result"), ans.get("reports")))
            if self.psm:
                watch.cancel()
                ok = await self.wait("the CONFIG_SET waited in the network until the terminal's next uplink",
                                     lambda: bool(held), 1)
            ok = await self.wait("CONFIG_SET applied after LOGOUT 0x07 and a restart",
                                 lambda: self.seen("restart", "config") and term.params.get(0x0002) == b"cmiot", 20)
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
