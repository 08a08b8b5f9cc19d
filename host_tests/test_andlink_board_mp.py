"""The And-link board runner (lib/andlink/board: runner, objects, settings)
with the real client on MicroPython's asyncio (the WebAssembly port, lib/ as
.mpy through mp_harness), against a scripted LwM2M server inside the
script's link: registration (2.01 with a location), the server's Read of
/3/0/1 answered, a receive failure injected into the link (the runner logs
it, opens the link again and Registers again, the same client), a Reboot
/3/0/4 that restarts the client in place once its 2.04 went out."""

import mp_harness as H

MP_HEAP = 192 * 1024

_MP_SCRIPT = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
from andlink import coap as C
from andlink.board import objects, settings as AS
from andlink.board.runner import Runner
from andlink.client.core import Client

SERVER = ("10.0.0.9", 5683)
S = AS.resolve({"server": "coap://10.0.0.9:5683", "binding": "U", "product_token": "pt-1", "device_type": "590001",
                "coap": {"ack_timeout": 0.2, "max_retransmit": 2, "max_transmit_wait": 2, "ack_delay": 0.05}})


class Link:
    """The datagram link with a scripted LwM2M server behind it."""

    def __init__(self):
        self.q = []
        self.ev = asyncio.Event()
        self.opens = 0
        self.fail = 0
        self.regs = 0
        self.reg_tokens = []
        self.answers = {}
        self.mid = 100

    async def open(self):
        self.opens += 1

    async def close(self):
        pass

    async def send(self, data, peer):
        m = C.decode(data)
        if m.mtype == C.CON and m.code == C.POST and m.strs(C.URI_PATH) == ["rd"]:
            tok = bytes(m.token)
            if tok not in self.reg_tokens:          # (a retransmission is answered the same)
                self.reg_tokens.append(tok)
            self.regs = len(self.reg_tokens)
            r = C.Message(C.ACK, C.CREATED, m.mid, m.token).add(C.LOCATION_PATH, "rd").add(
                C.LOCATION_PATH, "r%d" % (self.reg_tokens.index(tok) + 1))
            self.put(C.encode(r))
        elif m.mtype == C.ACK and m.code >= 0x40:
            self.answers[bytes(m.token)] = (m.code, bytes(m.payload))

    def put(self, raw):
        self.q.append((raw, SERVER))
        self.ev.set()

    def ask(self, code, path, token):
        self.mid += 1
        m = C.Message(C.CON, code, self.mid, token)
        for seg in path.split("/")[1:]:
            m.add(C.URI_PATH, seg)
        self.put(C.encode(m))

    async def recv(self):
        while not self.q:
            self.ev.clear()
            await self.ev.wait()
        if self.fail:
            self.fail -= 1
            raise OSError("injected")
        return self.q.pop(0)


async def until(cond, what, limit=5.0):
    n = 0
    while not cond():
        n += 1
        if n > limit * 50:
            raise AssertionError("no " + what)
        await asyncio.sleep(0.02)


async def main():
    try:
        link = Link()
        logs = []
        box = []
        hooks = objects.Hooks(lambda: box[0].later_restart("reboot"))

        def build():
            return Client(objects.build(S, "V100", "mcu-1", hooks), "869976032983322", server=S["server_peer"],
                          binding="U", params=S["params"])
        r = Runner(build, link, log=logs.append, backoff=(0.05, 0.1), counters=hooks, restart_grace=2)
        box.append(r)
        task = asyncio.create_task(r.run())
        await until(lambda: r.client is not None and r.client.registered, "registration")
        print("REGISTERED", r.client.location, link.regs)
        link.ask(C.GET, "/3/0/1", b"t1")
        await until(lambda: b"t1" in link.answers, "the read")
        print("READ", C.code_str(link.answers[b"t1"][0]), link.answers[b"t1"][1])
        c = r.client
        link.fail = 1
        link.ask(C.GET, "/3/0/17", b"t2")
        await until(lambda: r.failures == 1 and link.regs == 2 and r.client.registered, "the reopen")
        print("REOPENED", link.opens, r.moves, r.client is c)
        link.ask(C.POST, "/3/0/4", b"t3")
        await until(lambda: r.restarts == 1 and r.client.registered, "the restart")
        print("REBOOT", C.code_str(link.answers[b"t3"][0]), link.regs, r.client is not c)
        r.stop()
        await task
        print("TX", hooks.tx > 0, hooks.rx > 0)
        print("END")
    except Exception as e:
        print("FAIL", repr(e))
        sys.print_exception(e)

asyncio.create_task(main())
'''


def test_runner_runs_on_micropython_asyncio():
    p = H.run_async_script("andlink_board_mp", _MP_SCRIPT, MP_HEAP)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out == ["REGISTERED /rd/r1 1", "READ 2.05 b'pt-1'", "REOPENED 2 1 True", "REBOOT 2.04 3 True",
                   "TX True True", "END"], p.stdout + p.stderr


_MP_LINK = r'''
import sys
sys.path.insert(0, "/lib")
import asyncio
from wmmp.modem.at import AtEngine
from wmmp.modem import LinkLost
from wmmp.modem.bc95 import Bc95, at_parser
from andlink.board.bc95link import Bc95Link

FIXED = {b"AT+CMEE=1": b"", b"ATE0": b"", b"AT+CEREG=2": b"", b"AT+CSCON=1": b"", b"AT+NPSMR=1": b"",
         b"AT+CFUN?": b"+CFUN:1", b"AT+CGATT?": b"+CGATT:1", b"AT+CEREG?": b'+CEREG:2,1,"5B0C","0B8A9A12",7',
         b"AT+NSOCR=DGRAM,17,5683,1": b"1", b"AT+CSQ": b"+CSQ:17,99", b"AT+CGPADDR": b"+CGPADDR:0,10.1.2.3",
         b"AT+NUESTATS": b"Signal power:-905\r\n\r\nCell ID:193633810\r\n\r\nECL:1",
         b"AT+CIMI": b"460111176313522", b"AT+CGSN=1": b"+CGSN:863703030000001",
         b"AT+NCCID": b"+NCCID:89860317492038271544"}


class Module:
    """A scripted BC95: canned replies, NSOST echoed back from the destination."""

    def __init__(self):
        self.rx = bytearray()
        self.ev = asyncio.Event()
        self.inb = bytearray()
        self.queue = []

    def push(self, d):
        self.rx += d
        self.ev.set()

    def line(self, t):
        self.push(b"\r\n" + t + b"\r\n")

    def write(self, d):
        self.inb += d
        while True:
            k = self.inb.find(b"\r")
            if k < 0:
                return
            c = bytes(self.inb[:k])
            self.inb = self.inb[k + 1:]
            self.answer(c)

    def answer(self, c):
        if c == b"AT":
            self.line(b"OK")
        elif c in FIXED:
            if FIXED[c]:
                self.line(FIXED[c])
            self.line(b"OK")
        elif c.startswith(b"AT+NSOST=1,"):
            f = c.split(b",")
            self.line(b"1," + f[3])
            self.line(b"OK")
            self.queue.append((f[1].split(b"=")[-1] if b"=" in f[1] else f[1], f[2], f[4]))
            self.line(b"+NSONMI:1," + f[3])
        elif c.startswith(b"AT+NSORF=1,"):
            if self.queue:
                ip, port, h = self.queue.pop(0)
                self.line(b"1," + ip + b"," + port + b"," + str(len(h) // 2).encode() + b"," + h + b",0")
            self.line(b"OK")
        else:
            self.line(b"ERROR")

    async def read(self, n):
        while not self.rx:
            self.ev.clear()
            await self.ev.wait()
        out = bytes(self.rx[:n])
        self.rx = self.rx[n:]
        return out


async def main():
    try:
        mod = Module()
        mod.push(b"\r\nREBOOT_CAUSE_SECURITY_PMU_POWER_ON_RESET\r\nNeul \r\nOK\r\n")
        at = AtEngine(mod, parser=at_parser(), log=lambda *a: None)
        m = Bc95(at, attach_poll=0.05)
        await m.power_on()
        link = Bc95Link(m)
        await link.open()
        print("OPEN", link.sid, link.is_open)
        await link.send(b"\x40\x01\x00\x07", ("10.0.0.2", 5683))
        data, peer = await link.recv()
        print("RECV", data, peer)
        try:
            await link.send(b"x", ("lwm.example.com", 5683))
        except ValueError:
            print("NAME REFUSED")
        print("RADIO", await link.radio())
        print("SLEEP", await link.sleep())
        task = asyncio.create_task(link.recv())
        await asyncio.sleep(0.05)
        mod.line(b"+CEREG:2")
        try:
            await asyncio.wait_for(task, 2)
        except LinkLost:
            print("LOST", link.is_open)
        at.stop()
        print("END")
    except Exception as e:
        print("FAIL", repr(e))
        sys.print_exception(e)

asyncio.create_task(main())
'''


def test_bc95_link_runs_on_micropython_asyncio():
    """Bc95Link over the BC95 driver on MicroPython, against a scripted module:
    AT+NSOCR on the CoAP port, a datagram out with AT+NSOST and back through
    +NSONMI / AT+NSORF with its source address, a host name refused (no DNS),
    the radio readings (AT+NUESTATS RSRP in 0.1 dBm, the cell of +CEREG,
    AT+CGPADDR), sleep "psm" leaving the link up, +CEREG:2 losing it."""
    p = H.run_async_script("andlink_bc95link_mp", _MP_LINK, 96 * 1024)
    out = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert out[:3] + out[4:] == ["OPEN 1 True", "RECV b'@\\x01\\x00\\x07' ('10.0.0.2', 5683)", "NAME REFUSED",
                                "SLEEP False", "LOST False", "END"], p.stdout + p.stderr
    assert out[3].startswith("RADIO ") and "'rssi_dbm': -91" in out[3] and "'cell': 193633810" in out[3] and "'ip': '10.1.2.3'" in out[3], out[3]
