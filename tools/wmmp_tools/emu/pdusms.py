"""PDU-mode SMS of the emulated modules (3GPP 27.005 commands, 23.040 PDUs via
wmmp.modem.pdu), shared by the SIM7600 and the BC95 emulators: the SMS goes through
the emulated SMS centre (wmmp_tools.smsc, docs/SMSC.md) under the module's
MSISDN.

    class Module(PduSms, Modem): ...
    self._sms_init(msisdn, smsc)     # in __init__ (after Modem.__init__)
    self._sms_reset()                # in _reset_state (AT+CMGF / AT+CNMI defaults)

Commands: AT+CMGF (PDU mode only), AT+CNMI, AT+CPMS ("SM"), AT+CSCA, AT+CSCS,
AT+CMGS (prompt "> ", PDU hex, Ctrl-Z; ESC cancels), AT+CMGR, AT+CMGL,
AT+CMGD.  Received SMS are stored with +CMTI: "SM",<idx> (AT+CNMI=2,1) or
pushed as +CMT: ,<len> + PDU line (AT+CNMI=2,2).  Replies use the module's
SEP after the colon ("+CMGS: 5" / "+CMGS:5").  The module provides
registered(), booted, sms_ready, o.cnmi, o.sms_first_index, o.sms_capacity,
o.smsc_number, and may override _sms_gate() (raise Final when the module or
the network offers no SMS).
"""

import asyncio
import collections
import logging
import time

from wmmp.modem import pdu as PDU
from wmmp.terminal import simcard as S
from wmmp.errors import WmmpError

from wmmp_tools.emu import atline as L
from wmmp_tools.emu.modem import Final
from wmmp_tools.smsc import SmsClient, valid_msisdn

log = logging.getLogger("wmmp.emu.sms")

TPDU_MAX = 164             # largest SMS-SUBMIT TPDU (23.040)
INCOMING_MAX = 64          # SMS the network holds for us while we cannot take them

# 27.005 3.2.5 +CMS ERROR codes
CMS_NOT_ALLOWED = 302
CMS_NOT_SUPPORTED = 303
CMS_BAD_PDU = 304
CMS_NO_SIM = 310
CMS_SIM_PIN = 311
CMS_SIM_FAILURE = 313
CMS_SIM_BUSY = 314
CMS_SIM_PUK = 316
CMS_BAD_INDEX = 321
CMS_NO_SERVICE = 331
CMS_NET_TIMEOUT = 332
CMS_UNKNOWN = 500


class PduSms:
    """Mixin: the SMS commands and the SMS centre side of a module."""

    def _sms_init(self, msisdn, smsc):
        if msisdn is not None and not valid_msisdn(msisdn):
            raise ValueError("bad msisdn %r" % (msisdn,))
        self.msisdn = msisdn
        self.smsc_addr = smsc
        self._store = {}                    # index -> [stat, pdu bytes, tpdu length]
        self._incoming = collections.deque(maxlen=INCOMING_MAX)   # (sender, data, scts) not stored yet
        self._mr = 0
        self._smsc_client = None
        self._smsc_task = None
        self.sms_sent = []                  # (to, data) submitted to the SMS centre

    def _sms_reset(self):
        self.cmgf = 0
        self.cnmi = tuple(self.o.cnmi)

    def _sms_gate(self):
        """Hook: raise Final when SMS commands are not available at all."""

    # -- wiring ---------------------------------------------------------------

    def _start_network(self):
        if self.smsc_addr is not None and self._smsc_task is None:
            self._smsc_task = self._loop.create_task(self._smsc_loop())

    async def _close_network(self):
        if self._smsc_task is not None:
            self._smsc_task.cancel()
            try:
                await self._smsc_task
            except (asyncio.CancelledError, Exception):
                pass
            self._smsc_task = None
        if self._smsc_client is not None:
            await self._smsc_client.close()
            self._smsc_client = None

    def _sms_new_card(self, msisdn=None):
        """Another card: empty SM storage; msisdn: its number at the SMS centre."""
        self._store.clear()
        self.sms_ready = False
        if msisdn is not None:
            self.msisdn = msisdn
            self._incoming.clear()
            if self._smsc_client is not None:
                self._control(self._smsc_client.close())

    # -- state checks -----------------------------------------------------------

    def _cms(self, code):
        return Final("+CMS ERROR%s%d" % (self.SEP, code))

    def _sms_state(self):
        """+CMS ERROR for SMS commands the SIM state forbids."""
        st = self.sim.pin_state()
        if st == S.NO_SIM:
            raise self._cms(CMS_NO_SIM)
        if st == S.SIM_PIN:
            raise self._cms(CMS_SIM_PIN)
        if st == S.SIM_PUK:
            raise self._cms(CMS_SIM_PUK)
        if st == S.BLOCKED:
            raise self._cms(CMS_SIM_FAILURE)
        if not self.sms_ready:
            raise self._cms(CMS_SIM_BUSY)

    def _need_pdu_mode(self):
        if self.cmgf != 0:
            raise self._cms(CMS_NOT_SUPPORTED)       # text mode is not emulated

    def _fmt(self, name, rest):
        return name + self.SEP + rest

    # -- commands -----------------------------------------------------------------

    async def _x_cmgf(self, mode, a):
        self._sms_gate()
        if mode == L.READ:
            self._line(self._fmt("+CMGF", "%d" % self.cmgf))
        elif mode == L.SET:
            self.cmgf = self._int(a[0], 0, 1)
        elif mode == L.TEST:
            self._line(self._fmt("+CMGF", "(0-1)"))
        else:
            raise Final("ERROR")

    async def _x_cnmi(self, mode, a):
        self._sms_gate()
        if mode == L.READ:
            self._line(self._fmt("+CNMI", "%d,%d,%d,%d,%d" % self.cnmi))
        elif mode == L.SET:
            vals = list(self.cnmi)
            for i, v in enumerate(a[:5]):
                if v is not None:
                    vals[i] = self._int(v, 0, 3)
            self.cnmi = tuple(vals)
        elif mode == L.TEST:
            self._line(self._fmt("+CNMI", "(0-2),(0-3),(0,2),(0-2),(0,1)"))
        else:
            raise Final("ERROR")

    async def _x_cpms(self, mode, a):
        self._sms_gate()
        used, cap = len(self._store), self.o.sms_capacity
        if mode == L.READ:
            self._sms_state()
            self._line(self._fmt("+CPMS", '"SM",%d,%d,"SM",%d,%d,"SM",%d,%d' % ((used, cap) * 3)))
        elif mode == L.SET:
            self._sms_state()
            for v in a:
                if v is not None and v.upper() != "SM":
                    raise self._cms(CMS_NOT_SUPPORTED)
            self._line(self._fmt("+CPMS", "%d,%d,%d,%d,%d,%d" % ((used, cap) * 3)))
        elif mode == L.TEST:
            self._line(self._fmt("+CPMS", '("SM"),("SM"),("SM")'))
        else:
            raise Final("ERROR")

    async def _x_csca(self, mode, a):
        self._sms_gate()
        if mode == L.READ:
            num = self.o.smsc_number
            self._line(self._fmt("+CSCA", '"%s",%d' % (num, 145 if num.startswith("+") else 129)))
        elif mode == L.SET:
            if not a or a[0] is None:
                raise Final("ERROR")
            self.o.smsc_number = str(a[0])
        elif mode != L.TEST:
            raise Final("ERROR")

    async def _x_cscs(self, mode, a):
        self._sms_gate()
        if mode == L.READ:
            self._line(self._fmt("+CSCS", '"IRA"'))
        elif mode == L.TEST:
            self._line(self._fmt("+CSCS", '("IRA","GSM","UCS2")'))

    async def _x_cmgs(self, mode, a):
        self._sms_gate()
        if mode == L.TEST:
            return None
        if mode != L.SET or not a:
            raise Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        n = self._int(a[0])
        if not 7 <= n <= TPDU_MAX:
            raise self._cms(CMS_BAD_PDU)
        self._write(b"\r\n> ", b">")
        text = await self._read_until_ctrl_z()
        if text is None:                             # ESC: sending cancelled (27.005 3.5.1)
            return None
        try:
            sms = PDU.decode(text, has_smsc=True, tpdu_len=n)
        except WmmpError:
            raise self._cms(CMS_BAD_PDU)
        if sms.type != PDU.SUBMIT:
            raise self._cms(CMS_BAD_PDU)
        if not self.registered():
            raise self._cms(CMS_NO_SERVICE)
        data = sms.data if isinstance(sms.data, bytes) else sms.data.encode("utf-8")
        client = self._smsc_client
        if client is None or not client.is_connected:
            raise self._cms(CMS_NET_TIMEOUT)
        try:
            reply = await client.submit(sms.destination, data)
        except (ConnectionError, OSError, asyncio.TimeoutError, ValueError):
            raise self._cms(CMS_NET_TIMEOUT)
        if reply.get("status") == "rejected":
            raise self._cms(CMS_UNKNOWN)
        self.sms_sent.append((sms.destination, data))
        mr = self._mr
        self._mr = (self._mr + 1) & 0xFF
        self._line(self._fmt("+CMGS", "%d" % mr))
        self._sms_sent_hook()
        return None

    def _sms_sent_hook(self):
        """Hook: an SMS left the module (radio activity)."""

    def _index_range(self):
        first = self.o.sms_first_index
        return range(first, first + self.o.sms_capacity)

    async def _x_cmgr(self, mode, a):
        self._sms_gate()
        if mode == L.TEST:
            return
        if mode != L.SET or not a:
            raise Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        idx = self._int(a[0])
        if idx not in self._index_range():
            raise self._cms(CMS_BAD_INDEX)
        ent = self._store.get(idx)
        if ent is None:
            return                                   # empty slot: just OK (choice)
        self._line(self._fmt("+CMGR", "%d,,%d" % (ent[0], ent[2])))
        self._line(PDU.to_hex(ent[1]))
        if ent[0] == 0:
            ent[0] = 1                               # REC UNREAD -> REC READ

    async def _x_cmgl(self, mode, a):
        self._sms_gate()
        if mode == L.TEST:
            self._line(self._fmt("+CMGL", "(0-4)"))
            return
        if mode not in (L.SET, L.EXEC):
            raise Final("ERROR")
        self._need_pdu_mode()
        self._sms_state()
        want = self._int(a[0], 0, 4) if a and a[0] is not None else 0
        for idx in sorted(self._store):
            ent = self._store[idx]
            if want == 4 or ent[0] == want:
                self._line(self._fmt("+CMGL", "%d,%d,,%d" % (idx, ent[0], ent[2])))
                self._line(PDU.to_hex(ent[1]))
                if ent[0] == 0:
                    ent[0] = 1

    async def _x_cmgd(self, mode, a):
        self._sms_gate()
        if mode == L.TEST:
            r = self._index_range()
            self._line(self._fmt("+CMGD", "(%d-%d),(0-4)" % (r[0], r[-1])))
            return
        if mode != L.SET or not a:
            raise Final("ERROR")
        self._sms_state()
        idx = self._int(a[0])
        flag = self._int(a[1], 0, 4) if len(a) > 1 and a[1] is not None else 0
        if flag == 0:
            if idx not in self._index_range():
                raise self._cms(CMS_BAD_INDEX)
            self._store.pop(idx, None)
        else:
            # 1 read, 2 read+sent, 3 read+sent+unsent, 4 all (received ones here)
            for i in list(self._store):
                if flag == 4 or self._store[i][0] == 1:
                    del self._store[i]
        self._flush_sms()

    # -- SMS centre side ----------------------------------------------------------

    async def _smsc_loop(self):
        """Stay attached to the SMS centre as our MSISDN; queue what arrives."""
        host, port = self.smsc_addr
        while not self._closed:
            msisdn = self.msisdn
            try:
                client = await SmsClient(host, port, msisdn).connect()
            except (OSError, ConnectionError, ValueError, asyncio.TimeoutError) as e:
                log.debug("SMS centre %s:%s unreachable: %s", host, port, e)
                await asyncio.sleep(0.5)
                continue
            self._smsc_client = client
            try:
                while msisdn == self.msisdn:
                    sender, data = await client.recv()
                    self._incoming.append((sender, data, scts_now()))
                    self._flush_sms()
            except ConnectionError:
                await asyncio.sleep(0.2)
            finally:
                if self._smsc_client is client:
                    self._smsc_client = None
                await client.close()

    def _can_take_sms(self):
        return self.booted and self.sms_ready and self.registered()

    def _flush_sms(self):
        """Store (or push) the SMS the network holds for us, while we can take them."""
        if not self._can_take_sms():
            return
        while self._incoming:
            sender, data, scts = self._incoming[0]
            try:
                pdu, tlen = PDU.encode_deliver(sender, data, scts, smsc=self.o.smsc_number)
            except WmmpError as e:
                log.warning("SMS from %s cannot be encoded: %s", sender, e)
                self._incoming.popleft()
                continue
            mt = self.cnmi[1]
            if mt == 2:                              # direct delivery (+CMT)
                self._incoming.popleft()
                head = self._fmt("+CMT", ",%d" % tlen).encode()
                self._write(b"\r\n" + head + b"\r\n" + PDU.to_hex(pdu).encode() + b"\r\n",
                            b"+CMT:")
                continue
            free = [i for i in self._index_range() if i not in self._store]
            if not free:
                return                               # storage full: the network keeps it
            self._incoming.popleft()
            idx = free[0]
            self._store[idx] = [0, pdu, tlen]
            if mt in (1, 3):
                self._line(self._fmt("+CMTI", '"SM",%d' % idx))

    # -- introspection --------------------------------------------------------------

    def stored_sms(self):
        """{index: (stat, pdu bytes)} of the SM storage."""
        return {i: (e[0], e[1]) for i, e in self._store.items()}


def scts_now():
    """The service-centre time stamp of an SMS arriving now (23.040 9.2.3.11)."""
    t = time.localtime()
    tz = int(t.tm_gmtoff // 900) if t.tm_gmtoff is not None else 0
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, tz)
