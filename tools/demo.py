"""`make demo`: a terminal, the platform simulator and the emulated SMS centre,
end to end over real sockets on loopback (issue 3).

registration -> passwords and base key by SMS -> login with a session key ->
heartbeats -> a CONFIG_SET that needs a restart (LOGOUT 0x07, apply, restart, log
in, report 0x4010 + 0x4017) -> REMOTE_CTRL (report statistics) -> logout.

Prints a transcript of every message both ways (the terminal's view) and exits
0 only if every step succeeded.
"""
import argparse
import asyncio
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


class Demo:
    def __init__(self, out=sys.stdout, transport="udp"):
        self.out = out
        self.transport = transport
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
                 "terminal uses %s" % (smsc.port, pf.udp_port, pf.tcp_port, PLATFORM_NUMBER, self.transport))
        port = pf.udp_port if self.transport == "udp" else pf.tcp_port
        args = TERM.parser().parse_args([
            "--" + self.transport, "127.0.0.1:%d" % port, "--smsc", "127.0.0.1:%d" % smsc.port,
            "--msisdn", MSISDN, "--platform-number", PLATFORM_NUMBER, "--state", state_dir,
            "--imei", IMEI, "--imsi", IMSI, "--serial", "M2MMAKER"])
        tr = TERM.Transcript("terminal", self.out, self.t0)
        term, runner = TERM.build(args, tr, on_event=self.events.append)
        term.params.set(0x0011, struct.pack(">I", 3))    # factory setting of the demo unit: 3 s heartbeat
        task = asyncio.create_task(runner.run())
        ok = True
        try:
            ok = await self.wait("registered (REGISTER_ACK 0x00, keys by SMS)",
                                 lambda: self.seen("registered"), 20)
            ok = ok and await self.wait("logged in with a session key (LOGIN_ACK + E040)",
                                        lambda: term.state == E.S_ONLINE and term.session is not None, 20)
            serial = term.serial.rstrip(b"\x00").decode()
            hb = lambda: sum(1 for line in tr.lines if "<- packet HEART_BEAT_ACK" in line)
            ok = ok and await self.wait("two heartbeats answered", lambda: hb() >= 2, 15)
            if ok:
                self.say("operator: wmmp-platform set %s APN=cmiot  (needs a restart)" % serial)
                ans = await op.set({"serial": serial, "tlvs": [["0x0002", b"cmiot".hex()]], "report_wait": 20})
                self.say("operator: CONFIG_SET_ACK result %s, reports %s" % (ans.get("result"), ans.get("reports")))
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
        finally:
            runner.stop()
            await asyncio.sleep(0.1)
            task.cancel()
            await pf.close()
            await smsc.close()
        return ok and all(s for _, s in self.steps)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tcp", action="store_true", help="packet bearer over TCP instead of UDP")
    a = ap.parse_args(argv)
    demo = Demo(transport="tcp" if a.tcp else "udp")
    with tempfile.TemporaryDirectory() as d:
        ok = asyncio.run(demo.run(d))
    print("\n%d steps, %d succeeded" % (len(demo.steps), sum(1 for _, s in demo.steps if s)))
    for what, s in demo.steps:
        print("  [%s] %s" % ("ok" if s else "FAILED", what))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
