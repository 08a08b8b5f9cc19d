"""The bearer parameters the drivers apply (appendix E b: 0x0003/0x0004 PDP
authentication, 0x0005 SMS centre, 0x0008 platform URL through the module's
DNS, 0x0010/0x0014 DNS servers) and what the emulators answer to them: the
SIM7600 driver against the SIM7600 emulator, the BC95 driver's AT+CSCA and
its refused APN against the BC95 emulator (in-process through HostPort, the
rigs of host_tests/test_sim7600_driver.py and test_bc95_driver.py).  Rows:
"MODEMS ..." are shared/spec/MODEMS.md; "27.005"/"27.007" the 3GPP specs; the
SIM7500/SIM7600 AT manual puts the AT+CGAUTH password before the user name."""

import asyncio

import pytest

from wmmp.modem import NetworkError
from wmmp.modem.at import AtEngine, AtError
from wmmp.modem import bc95

from wmmp_tools.emu.bc95 import Bc95 as Bc95Emu
from wmmp_tools.emu.stream import HostPort

import test_sim7600_driver as T7


def run(coro, timeout=20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# -- SIM7600 ------------------------------------------------------------------------------

def test_pdp_authentication_before_netopen_password_first():
    """27.007 +CGAUTH with the SIMCom argument order: AT+CGAUTH=1,1,"<pwd>","<user>"
    before AT+NETOPEN; the network that wants those credentials opens; a wrong
    pair fails the data service (NetworkError) and nothing logs the password."""
    async def main():
        r = await T7.rig(auth_required=("m2m", "pw1"),
                         driver_opts={"apn": "cmnet", "auth": ("m2m", "pw1")})
        try:
            await r.m.power_on()
            await r.m.net_open()
            assert b'AT+CGAUTH=1,1,"pw1","m2m"' in r.written() and r.emu.auth[1] == (1, "pw1", "m2m")
        finally:
            await r.close()
        r = await T7.rig(auth_required=("m2m", "pw1"), driver_opts={"auth": ("m2m", "nope")})
        try:
            await r.m.power_on()
            with pytest.raises(NetworkError):
                await r.m.net_open()
            assert not any("nope" in l for l in r.logs)
        finally:
            await r.close()
        r = await T7.rig(driver_opts={"auth": ("", "")})          # none: AT+CGAUTH=1,0
        try:
            await r.m.power_on()
            await r.m.net_open()
            assert b"AT+CGAUTH=1,0\r" in r.written() and r.emu.auth[1] == (0, "", "")
        finally:
            await r.close()
    run(main())


def test_dns_servers_and_name_resolution():
    """AT+CDNSCFG after AT+NETOPEN (and at once when it is open), AT+CDNSGIP:
    a name the configured server knows resolves; another gives NetworkError 11
    (+CDNSGIP: 0,10); an address resolves to itself."""
    async def main():
        r = await T7.rig(hosts={"m2m.example.cn": "192.0.2.9"}, dns_required="10.0.0.53",
                         driver_opts={"dns": ("10.0.0.53",)})
        try:
            await r.m.power_on()
            assert await r.m.resolve("m2m.example.cn") == "192.0.2.9"
            assert b'AT+CDNSCFG="10.0.0.53"' in r.written() and r.emu.dns == ("10.0.0.53",)
            with pytest.raises(NetworkError) as e:
                await r.m.resolve("nowhere.example.cn")
            assert e.value.code == 11
            await r.m.set_dns(("8.8.8.8", "1.1.1.1"))            # open: applied now
            assert r.emu.dns == ("8.8.8.8", "1.1.1.1")
            with pytest.raises(NetworkError):                    # this server does not know it
                await r.m.resolve("m2m.example.cn")
            assert await r.m.resolve("192.0.2.1") == "192.0.2.1"
        finally:
            await r.close()
    run(main())


def test_emulator_cdnscfg_and_cgauth_syntax():
    """The emulator refuses what the module would: a DNS server that is not an
    address, credentials with auth type 0, a bad type."""
    async def main():
        r = await T7.rig()
        try:
            await r.m.power_on()
            for cmd in ('AT+CDNSCFG="dns.example"', 'AT+CGAUTH=1,0,"pw","u"', 'AT+CGAUTH=1,7'):
                with pytest.raises(Exception):
                    await r.at.command(cmd)
            lines = await r.at.command("AT+CDNSCFG?")
            assert b"+CDNSCFG: PrimaryDns: 0.0.0.0" in lines
        finally:
            await r.close()
    run(main())


def test_sms_centre_set_now_and_again_at_each_sms_setup():
    """27.005 3.3.1 +CSCA: set_smsc() sends AT+CSCA="<number>",145 (129 for a
    national number) and keeps it; the SMS set-up after a module reboot sets
    it again."""
    async def main():
        r = await T7.rig()
        try:
            await r.m.power_on()
            await r.m.sms_setup()
            await r.m.set_smsc("+8613800200500")
            assert r.emu.o.smsc_number == "+8613800200500"
            await r.m.set_smsc("13800200501")
            assert b'AT+CSCA="13800200501",129' in r.written()
            r.emu.o.smsc_number = "+8613800100500"      # as the reboot forgot it
            await r.m.reset()
            await r.m.sms_setup()
            assert r.emu.o.smsc_number == "13800200501"
        finally:
            await r.close()
    run(main())


# -- BC95 -----------------------------------------------------------------------------------

async def bc95_rig(**emu):
    emu_ = Bc95Emu(T7.card(), msisdn=T7.MSISDN, **emu)
    port = HostPort(emu_)
    at = AtEngine(port, parser=bc95.at_parser())
    at.start()
    await emu_.start()
    m = bc95.Bc95(at, apn="cmnet", at_wait=5, attach_poll=0.05)
    await m.power_on()
    return emu_, port, at, m


def test_bc95_sms_centre_when_the_network_offers_sms():
    """MODEMS BC95 SMS (27.005 AT+CSCA): set at the SMS set-up; without SMS the
    command is refused (the board then does not declare 0x0005)."""
    async def main():
        emu, port, at, m = await bc95_rig(sms=True)
        try:
            assert await m.probe_sms()
            m.smsc = "+8613800200500"
            await m.sms_setup()
            assert emu.o.smsc_number == "+8613800200500"
        finally:
            at.stop()
            await emu.close()
        emu, port, at, m = await bc95_rig(sms=False)
        try:
            assert not await m.probe_sms()
            with pytest.raises(AtError):
                await m.set_smsc("+8613800200500")
        finally:
            at.stop()
            await emu.close()
    run(main())


def test_bc95_firmware_that_refuses_the_apn_fails_a_switch():
    """MODEMS BC95 attach: a firmware that refuses AT+CGDCONT attaches with the
    network's APN; the driver says so (apn_refused) and an APN switch through it
    (wmmp.board.cellular.connect, 4.3.7 0x4001 0x09/0x0C) fails rather than
    reporting an APN that is not in use."""
    from wmmp.board import cellular
    from wmmp.errors import WmmpError
    from wmmp_tools.emu.modem import Final

    async def main():
        emu, port, at, m = await bc95_rig()
        try:
            await cellular.connect("bc95", m)                 # cmnet taken
            assert not m.apn_refused

            async def refuse(mode, a):
                raise Final("ERROR")
            emu._x_cgdcont = refuse
            await m.reboot()
            m.apn = "appnet"
            with pytest.raises(WmmpError):
                await cellular.connect("bc95", m)
            assert m.apn_refused and m.attached()
        finally:
            at.stop()
            await emu.close()
    run(main())
