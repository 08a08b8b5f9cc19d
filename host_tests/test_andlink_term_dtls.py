"""andlink-term over coaps (And-link spec 3.5: DTLS 1.2, pre-shared key,
identity the IMEI): the key's command-line handling (never on the command
line itself, a private file or the environment, hex) and a run against
libcoap's coap-server on GnuTLS (Debian's libcoap3-bin; skipped with the
reason where missing), an independent DTLS and CoAP stack: the handshake
completes and the Register crosses it (coap-server is no LwM2M server: it
answers 4.04, which the client reports)."""

import os
import shutil
import subprocess
import sys

import pytest

from andlink_tools import term as T

IMEI = "869976032983322"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = shutil.which("coap-server-gnutls")


def state(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return str(d)


def keyfile(tmp_path, text="73656372657450534b", mode=0o600):
    p = tmp_path / "psk.hex"
    p.write_text(text)
    os.chmod(str(p), mode)
    return str(p)


def usage(argv, env=None):
    old = os.environ.pop("ANDLINK_PSK_KEY", None)
    if env is not None:
        os.environ["ANDLINK_PSK_KEY"] = env
    try:
        T.check_args(argv)
    except T.UsageError as e:
        return str(e)
    finally:
        os.environ.pop("ANDLINK_PSK_KEY", None)
        if old is not None:
            os.environ["ANDLINK_PSK_KEY"] = old
    return None


def test_coaps_needs_a_key(tmp_path):
    msg = usage(["--server", "coaps://127.0.0.1:5684", "--imei", IMEI, "--state", state(tmp_path)])
    assert "needs the pre-shared key" in msg


def test_key_file_open_to_others_is_refused(tmp_path):
    msg = usage(["--server", "coaps://127.0.0.1:5684", "--imei", IMEI, "--state", state(tmp_path),
                 "--psk-key-file", keyfile(tmp_path, mode=0o644)])
    assert "open to other users" in msg and "73656372" not in msg


def test_key_not_hex_is_refused_without_showing_it(tmp_path):
    msg = usage(["--server", "coaps://127.0.0.1:5684", "--imei", IMEI, "--state", state(tmp_path),
                 "--psk-key-file", keyfile(tmp_path, text="secretPSK")])
    assert "not hex" in msg and "secretPSK" not in msg


def test_psk_options_without_coaps_are_refused(tmp_path):
    msg = usage(["--server", "coap://127.0.0.1:5683", "--imei", IMEI, "--state", state(tmp_path),
                 "--psk-identity", "x"])
    assert "coaps:// servers only" in msg


def test_key_from_file_or_environment_identity_the_imei(tmp_path):
    st = state(tmp_path)
    a = T.check_args(["--server", "coaps://127.0.0.1:5684", "--imei", IMEI, "--state", st,
                      "--psk-key-file", keyfile(tmp_path)])
    assert a.server_psk == (IMEI.encode(), b"secretPSK") and a.bootstrap_psk is None
    assert usage(["--server", "coaps://127.0.0.1", "--imei", IMEI, "--state", st], env="00ff") is None
    os.environ["ANDLINK_PSK_KEY"] = "00ff"
    try:
        a = T.check_args(["--server", "coap://127.0.0.1", "--bootstrap", "coaps://127.0.0.1", "--imei", IMEI,
                          "--state", st, "--psk-identity", "dev-1"])
    finally:
        del os.environ["ANDLINK_PSK_KEY"]
    assert a.server_psk is None and a.bootstrap_psk == (b"dev-1", b"\x00\xff")
    assert a.server_peer == ("127.0.0.1", 5683) and a.bs_peer == ("127.0.0.1", 5684)


def test_bad_key_exits_2_with_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "andlink_tools.term", "--server", "coaps://127.0.0.1:5684",
                        "--imei", IMEI, "--state", state(tmp_path), "--psk-key-file", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=30, cwd=os.path.join(ROOT, "tools"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


@pytest.mark.skipif(not SERVER, reason="coap-server-gnutls missing: run 'make setup' as root "
                                       "(apt-get install libcoap3-bin)")
def test_register_crosses_dtls_to_libcoap(tmp_path):
    from test_dtls_interop import free_port, wait_udp_bound
    port = free_port()
    srv = subprocess.Popen([SERVER, "-A", "127.0.0.1", "-p", str(port), "-k", "secretPSK"], cwd=str(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_udp_bound(port + 1, srv)
        p = subprocess.Popen([sys.executable, "-m", "andlink_tools.term", "--server",
                              "coaps://127.0.0.1:%d" % (port + 1), "--imei", IMEI, "--state", state(tmp_path),
                              "--psk-key-file", keyfile(tmp_path), "--ack-timeout", "1"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             cwd=os.path.join(ROOT, "tools"))
        lines = []
        for line in p.stdout:
            lines.append(line)
            if "register_failed" in line:
                break
        p.terminate()
        p.communicate(timeout=20)
    finally:
        srv.kill()
        srv.wait()
    out = "".join(lines)
    assert "connected TLS_PSK_WITH_AES_128_CCM_8" in out, out
    assert "register_failed 4.04" in out, out           # the Register reached libcoap, inside DTLS
    assert "73656372657450534b" not in out and "secretPSK" not in out
    assert "-> 127.0.0.1:%d DTLS data epoch 1" % (port + 1) in out
    assert "coaps: CON POST mid=" in out and "/rd?ep=%s" % IMEI in out        # the CoAP inside, on the transcript
    assert "<- 127.0.0.1:%d   coaps: ACK 4.04" % (port + 1) in out
