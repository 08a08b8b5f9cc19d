"""CoAP datagrams over the Quectel BC95's UDP sockets, through the BC95 driver
(wmmp.modem.bc95: open_socket, send_socket, read_socket, close_socket; its
URC handlers feed this link as they feed its own bearers).  The datagram
link of andlink.board.runner.  Portable.

    link = Bc95Link(drv, local_port=5683, sleep="psm", psm_timers=None)
    await link.open()                   attach, AT+NSOCR=DGRAM,17,5683,1
    await link.send(data, (ip, port))   AT+NSOST=<s>,<ip>,<port>,<len>,<HEX>
    data, (ip, port) = await link.recv()   +NSONMI -> AT+NSORF (source kept)
    await link.sleep() -> True when the link went down (sleep "off")
    await link.radio() -> {"rssi_dbm", "cell", "ip"}   what the module reports

One socket talks to every peer (the LwM2M server, the Bootstrap-Server, a
package's file server): AT+NSOST names the destination of each datagram and
AT+NSORF the source of each one read, which the client needs (it answers
only its server).  Addresses only: the driver has no DNS (AT+QDNS exists on
later BC95-G firmware; neither the driver nor the emulator has it), so a
peer that is not a dotted IPv4 address is refused with ValueError.

Receive: after +NSONMI, AT+NSORF until the socket is empty (<remaining> 0
where the driver learnt that it counts the whole socket, else one more read
that finds nothing), pausing every `max_reads` reads; at most `max_queue`
datagrams wait here (the oldest is dropped: CoAP retransmits).  A module
reboot or a lost registration (+CEREG) makes recv() raise LinkLost: the
runner opens the link again.

Sleep (queue mode, the client's ("sleep",) event):
  "psm"   nothing to do: the module enters PSM once its active timer (T3324)
          runs out after the last radio activity, and the network holds the
          downlink until the next uplink (+NPSMR reports it).  psm_timers
          (T3412, T3324) are asked for with AT+CPSMS=1 once per module boot.
          Release assistance (AT+NSOSTF with flag 0x200: "release the RRC
          connection after this datagram", or 0x400 "after the reply") would
          get there sooner; the driver and the emulator have no AT+NSOSTF,
          so it is not used.
  "off"   AT+CFUN=0: the radio is off until the next uplink, when open()
          attaches again (AT+CFUN=1, AT+CGATT): for networks that grant no
          PSM; downlink in between is lost (queue mode's server holds its
          requests until the device speaks).
  "none"  nothing.
eDRX (AT+CEDRXS) is not asked for: in queue mode the device is unreachable
between uplinks anyway, and PSM saves more.
"""

import asyncio

from wmmp.modem import LinkLost
from wmmp.modem.at import AtError, AtReboot, CmeError
from wmmp.errors import BadValue, TooLongForBearer, WmmpError
from andlink.board.settings import is_ipv4

CME_NOT_ALLOWED = 3             # 27.007 +CME ERROR:3, the socket is unknown to the module


class Bc95Link:
    proto = "UDP"               # the driver's open_socket / send_socket read these
    host = None                 # the destination of the send under way
    port = None

    def __init__(self, drv, local_port=5683, sleep="psm", psm_timers=None, max_queue=8, max_reads=16):
        self.d = drv
        self.local_port = local_port
        self.sleep_mode = sleep
        self.psm_timers = psm_timers
        self.max_queue = max_queue
        self.max_reads = max_reads
        self.sid = None
        self._gen = -1
        self._psm_gen = -1
        self._open = False
        self._why = None
        self._more = False
        self._q = []                    # (data, (ip, port)) read, not taken yet
        self._ev = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.bad_frames = 0
        self.dropped = 0
        self.reads = 0
        self.opens = 0
        self.sent = 0
        self.received = 0

    def __repr__(self):
        return "<Bc95Link socket %s %s>" % (self.sid, "open" if self.is_open else "closed")

    @property
    def is_open(self):
        return self._open and self._gen == self.d.gen

    # == the runner's side ==================================================
    async def open(self):
        if self.is_open:
            return
        d = self.d
        old = self.sid
        self._open = False
        self.sid = None
        if old is not None and self._gen == d.gen:
            await d.close_socket(old)       # ours, still known to the module
        self._more = False
        self._why = None
        sid, gen = await d.open_socket(self)
        self.sid = sid
        self._gen = gen
        self._open = True
        self.opens += 1
        if self.sleep_mode == "psm" and self.psm_timers and self._psm_gen != gen:
            try:
                await d.set_psm(True, self.psm_timers[0], self.psm_timers[1])
                self._psm_gen = gen
            except (WmmpError, AtError, CmeError) as e:
                d.log("andlink: AT+CPSMS refused (%r): the module's PSM settings stay" % (e,))
                self._psm_gen = gen
        self._ev.set()

    async def send(self, data, peer):
        host, port = peer
        if not is_ipv4(host):
            raise ValueError("%s is not an IPv4 address (the BC95 resolves no names)" % (host,))
        if len(data) > self.d.udp_max:
            raise TooLongForBearer("datagram of %d bytes exceeds %d" % (len(data), self.d.udp_max))
        async with self._send_lock:
            if not self.is_open:
                raise LinkLost(self._why or "socket not open")
            self.host, self.port = host, port
            await self.d.send_socket(self, data)
        self.sent += len(data)

    async def recv(self):
        while True:
            if self._q:
                return self._q.pop(0)
            if not self.is_open:
                raise LinkLost(self._why or "socket not open")
            if self._more:
                await self._read()
                continue
            self._ev.clear()
            await self._ev.wait()

    async def close(self):
        held = self.sid is not None and self._gen == self.d.gen
        sid = self.sid
        self._open = False
        self.sid = None
        self._why = "closed"
        self._ev.set()
        if held:
            await self.d.close_socket(sid)

    async def sleep(self):
        """The client sleeps (queue mode): see the module docstring.  True
        when the link is down until the next open()."""
        if self.sleep_mode != "off":
            return False
        await self.close()
        try:
            await self.d.at.command("AT+CFUN=0", timeout=15)
        except (AtError, CmeError, AtReboot) as e:
            self.d.log("andlink: AT+CFUN=0 refused (%r)" % (e,))
        self.d._att_gen = -1                # attach again at the next open()
        return True

    async def radio(self):
        """{"rssi_dbm": RSRP (AT+NUESTATS "Signal power", else +CSQ in dBm),
        "cell": cell id (+CEREG / AT+NUESTATS), "ip": AT+CGPADDR}; a value
        the module does not give is None."""
        d = self.d
        out = {"rssi_dbm": None, "cell": d.ci, "ip": None}
        try:
            st = await d.nuestats()
            p = st.get("Signal power")
            if p is not None and p != -32768:
                out["rssi_dbm"] = p // 10
            if out["cell"] is None:
                out["cell"] = st.get("Cell ID")
        except (WmmpError, AtError, CmeError):
            pass
        if out["rssi_dbm"] is None:
            try:
                rssi = (await d.rssi())[0]
                if 0 <= rssi <= 31:
                    out["rssi_dbm"] = -113 + 2 * rssi       # 27.007 8.5
            except (WmmpError, AtError, CmeError):
                pass
        try:
            out["ip"] = await d.ip_address()
        except (WmmpError, AtError, CmeError):
            pass
        return out

    # == reading (AT+NSORF) =================================================
    async def _read(self):
        d = self.d
        try:
            rec = await d.read_socket(self)
        except AtReboot:
            self._lost("module rebooted during AT+NSORF")
            return
        except (AtError, CmeError) as e:
            self._more = False
            if isinstance(e, CmeError) and d._cme(e) == CME_NOT_ALLOWED:
                self._lost("socket %s unknown to the module" % self.sid)
            return
        except BadValue as e:
            self.bad_frames += 1
            d.log("andlink: %s" % e)
            return
        self.reads += 1
        if rec is None:
            self._more = False
            return
        ip, port, data, left = rec
        if left > 0 and len(data) < d.rx_max:
            d.rem_socket = True             # <remaining> counts the whole socket
        self._put(data, (ip, port))
        if self.reads % self.max_reads == 0:
            await asyncio.sleep(0.01)       # a flood: let the others in
        self._more = left > 0 or not d.rem_socket

    def _put(self, data, peer):
        if len(self._q) >= self.max_queue:
            self._q.pop(0)
            self.dropped += 1
        self._q.append((data, peer))
        self.received += len(data)
        self._ev.set()

    # == from the driver's URC handlers =====================================
    def _announce(self):
        self._more = True
        self._ev.set()

    def _data(self, payload):
        """+NSONMI with the data inline (AT+NSONMI=2/3, not asked for here):
        the source is not passed on by the driver."""
        self._put(bytes(payload), None)

    def _lost(self, why):
        if self._open:
            self.d.log("andlink: socket %s lost: %s" % (self.sid, why))
        self._open = False
        self._more = False
        self._why = why
        self._ev.set()

