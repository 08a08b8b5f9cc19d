"""The platform's link to the SMS centre (docs/SMSC.md): attached as the platform
number (TLV 0x0007, default 10658000), it hands every binary SMS it receives to
the platform and submits the platform's SMS, reconnecting when the SMSC goes away.
Built on wmmp_tools.smsc.SmsClient."""

import asyncio
import logging

from wmmp_tools import logfmt
from wmmp_tools.smsc import SmsClient

log = logging.getLogger("wmmp.platform.sms")

OUTBOX_MAX = 256            # SMS submitted but not yet confirmed by the SMSC


class SmsLink:
    """on_sms(sender_msisdn, data) is called for each SMS (synchronously)."""

    def __init__(self, host, port, msisdn, on_sms, retry=1.0):
        self.host = host
        self.port = port
        self.msisdn = msisdn
        self.on_sms = on_sms
        self.retry = retry
        self.client = None
        self._task = None
        self._sends = set()
        self._up = asyncio.Event()

    @property
    def connected(self):
        return self.client is not None and self.client.is_connected

    async def start(self, wait=2.0):
        """Start the link; waits up to `wait` s for the first attach (not an error if
        the SMSC is not there yet: the link keeps trying)."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        try:
            with logfmt.waiting("the SMS centre at %s:%d" % (self.host, self.port), wait, prog="wmmp-platform"):
                await asyncio.wait_for(self._up.wait(), wait)
        except asyncio.TimeoutError:
            log.warning("SMS centre %s:%d not reachable yet; retrying in the background",
                        self.host, self.port)

    async def _run(self):
        while True:
            client = SmsClient(self.host, self.port, self.msisdn)
            try:
                await client.connect()
            except (OSError, ValueError, asyncio.TimeoutError) as e:
                log.debug("SMSC connect failed: %s", e)
                await client.close()
                await asyncio.sleep(self.retry)
                continue
            self.client = client
            self._up.set()
            log.info("attached to the SMSC %s:%d as %s", self.host, self.port, self.msisdn)
            try:
                while True:
                    sender, data = await client.recv()
                    self.on_sms(sender, data)
            except ConnectionError:
                log.warning("SMSC connection lost; reconnecting")
            finally:
                self.client = None
                await client.close()
            await asyncio.sleep(self.retry)

    def send(self, to, data):
        """Submit one SMS (fire and forget; the outcome is logged).  False when the
        SMSC is not connected or too many SMS are in flight."""
        client = self.client
        if client is None or not client.is_connected:
            log.warning("SMSC not connected: SMS to %s dropped", to)
            return False
        if len(self._sends) >= OUTBOX_MAX:
            log.warning("%d SMS in flight: SMS to %s dropped", OUTBOX_MAX, to)
            return False
        task = asyncio.get_running_loop().create_task(self._submit(client, to, bytes(data)))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return True

    async def _submit(self, client, to, data):
        try:
            reply = await client.submit(to, data)
        except (ConnectionError, OSError, ValueError, asyncio.TimeoutError) as e:
            log.warning("SMS to %s not submitted: %s", to, e)
            return
        if reply.get("status") == "rejected":
            log.warning("SMSC rejected the SMS to %s: %s", to, reply.get("reason"))

    async def close(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        for t in list(self._sends):
            t.cancel()
        if self.client is not None:
            await self.client.close()
            self.client = None
