"""And-link over DTLS on a board (And-link spec 3.5: coaps, a pre-shared key,
identity the IMEI): the board's service reads the key (the psk_file setting,
a hex file written at the factory, or board.andlink_psk()) and runs
andlink.dtls over the BC95 emulator's UDP sockets (AT+NSOST / AT+NSORF) to
libcoap's coap-server on GnuTLS (Debian's libcoap3-bin; skipped with the
reason where missing), an independent DTLS stack: the handshake completes
through the module and the Register crosses it (coap-server is no LwM2M
server: it answers 4.04).  Without a key the service says why and waits."""

import asyncio
import shutil
import subprocess

import pytest

from test_andlink_board import Rig, run, eventually
from test_dtls_interop import free_port, wait_udp_bound

SERVER = shutil.which("coap-server-gnutls")
KEY_HEX = "73656372657450534b"          # b"secretPSK"


@pytest.fixture
def libcoap(tmp_path):
    if not SERVER:
        pytest.skip("coap-server-gnutls missing: run 'make setup' as root (apt-get install libcoap3-bin)")
    port = free_port()
    p = subprocess.Popen([SERVER, "-A", "127.0.0.1", "-p", str(port), "-k", "secretPSK"], cwd=str(tmp_path),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_udp_bound(port + 1, p)
    yield port + 1
    p.kill()
    p.wait()


def write_key(tmp_path, text=KEY_HEX):
    d = tmp_path / "state"
    d.mkdir(exist_ok=True)
    (d / "andlink.psk").write_text(text + "\n")


@pytest.mark.parametrize("source", ["file", "hook"])
def test_register_over_dtls_through_the_bc95(tmp_path, libcoap, source):
    async def go():
        async with Rig(tmp_path, andlink={"server": "coaps://127.0.0.1:%d" % libcoap}) as rig:
            if source == "file":
                write_key(tmp_path)
            else:
                rig.board.andlink_psk = lambda: b"secretPSK"
            rig.start()
            await eventually(lambda: rig.board.seen("register_failed"), "the Register's answer", 20)
            assert ("dtls", ("127.0.0.1", libcoap), "connected", "TLS_PSK_WITH_AES_128_CCM_8") in rig.board.events
            assert ("register_failed", "4.04") in rig.board.events
            assert not any("secretPSK" in x or KEY_HEX in x for x in rig.board.logs)
    run(go())


@pytest.mark.parametrize("key", [None, "zz-secret-zz"])
def test_without_a_usable_key_the_service_says_why_and_waits(tmp_path, key):
    async def go():
        async with Rig(tmp_path, andlink={"server": "coaps://127.0.0.1:5684"}) as rig:
            if key is not None:
                write_key(tmp_path, key)
            rig.start()
            await eventually(lambda: any("coaps needs the pre-shared key" in x for x in rig.board.logs),
                             "the log line", 10)
            line = [x for x in rig.board.logs if "pre-shared key" in x][0]
            assert ("no key file" in line) if key is None else ("not hex" in line and key not in line)
            await asyncio.sleep(0.3)
            assert rig.client is None                   # parked: nothing sent in clear
    run(go())
