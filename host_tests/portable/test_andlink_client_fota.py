"""The And-link client's firmware update by Pull (lib/andlink/client/fota.py;
And-link spec section 4.4, OMA LwM2M TS 1.0 Appendix E.6) against a scripted
server and a Block2 package server, staging into the WMMP updater's
AppStager (wmmp.board.ota) over a RAM filesystem that outlives a "reboot"
(a new Client and stager over the same record and files).  OMA LwM2M
interoperability test IDs named where a test corresponds to one.
Portable."""

from andlink import coap as C
from andlink.lwm2m.codes import TEXT
from wmmp.board import ota
from fakelwm2m import Link, client, MemPersist, Files, update_file, SRV
from ramfs import RamFS

URI = "coap://192.0.2.30:5683/fw/pkg"
BOARD = "test-board"


class Device:
    """What survives a reboot: the client's record and the flash."""

    def __init__(self, capacity=64 * 1024):
        self.persist = MemPersist()
        self.fs = RamFS()
        self.capacity = capacity

    def boot(self, register=True):
        st = ota.AppStager(self.fs, "/ota", BOARD, capacity=self.capacity)
        L = Link(client(persist=self.persist, stager=st))
        if register:
            L.register()
        else:
            L.c.start(0)
        return L, st


def _fw(L):
    return L.c.fota_state()


def _write_uri(L, uri=URI):
    return L.ask(C.PUT, "/5/0/1", payload=uri.encode(), cf=TEXT)


def test_pull_download_execute_and_success_after_the_restart():
    _pull_download_execute_and_success(False)


def test_a_sota_reports_its_version_in_the_mcu_s_software_version():
    # And-link 4.4.4: after Execute /5/0/26550 the upgrade is the MCU's, and its new version
    # is reported in /3/0/19 (a FOTA's in /3/0/3); the switch survives the restart
    _pull_download_execute_and_success(True)


def _pull_download_execute_and_success(sota):
    # LightweightM2M-1.0-int-501..503 (Firmware Update: Package URI, Update, State/Result);
    # And-link 4.4.1's steps: observe /5/0/3, write /5/0/1, notify, execute /5/0/2
    dev = Device()
    L, st = dev.boot()
    if sota:
        assert L.ask(C.POST, "/5/0/26550").code == C.CHANGED
    assert _fw(L) == (0, 0)
    assert L.ask(C.GET, "/5/0/9").payload == b"0"          # delivery method: Pull only
    L.ask(C.GET, "/5/0/3", observe=0, token=b"st")
    L.ask(C.GET, "/5/0/5", observe=0, token=b"rs")
    files = Files(update_file(b"A" * 5000, "2.0.0", BOARD))
    assert _write_uri(L).code == C.CHANGED
    assert _fw(L) == (1, 0)
    other = files.pump(L)
    states = [bytes(m.payload) for m, p in other if m.token == b"st"]
    assert states == [b"1", b"2"] and _fw(L) == (2, 0)
    assert all(m.mtype == C.CON for m, p in other if m.token in (b"st", b"rs"))
    assert files.served == list(range(len(files.body) // 512 + 1))     # every block once
    assert L.ask(C.GET, "/5/0/7").payload == b"2.0.0" and L.ask(C.GET, "/5/0/6").payload == BOARD.encode()
    assert L.ask(C.POST, "/5/0/2").code == C.CHANGED
    assert _fw(L) == (3, 0) and L.events("restart") == [("restart", "fota", "2.0.0")]
    assert dev.persist.d["fs"] == 3
    # the board restarts: the new software runs on trial until it registered
    L2, st2 = dev.boot(register=False)
    assert _fw(L2) == (3, 0)
    L2.answer(L2.one(SRV), C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "2")])
    assert _fw(L2) == (0, 1) and st2.pending() is None and st2.version() == "2.0.0"
    where, other = ("/3/0/19", "/3/0/3") if sota else ("/3/0/3", "/3/0/19")
    assert L2.ask(C.GET, where).payload == b"2.0.0" and L2.ask(C.GET, other).payload != b"2.0.0"
    assert ("fota", "updated", "2.0.0") in L2.events() and "mcu" not in dev.persist.d
    L3, _ = dev.boot()                                      # the result stays across reboots
    assert _fw(L3) == (0, 1) and L3.ask(C.GET, "/5/0/5").payload == b"1"


def test_unconfirmed_update_is_rolled_back_and_reported_8():
    dev = Device()
    L, st = dev.boot()
    files = Files(update_file(b"B" * 700, "2.1.0", BOARD))
    _write_uri(L)
    files.pump(L)
    L.ask(C.POST, "/5/0/2")
    dev.boot(register=False)                # trial: crashed before registering
    L3, st3 = dev.boot()                    # the next boot rolls it back
    assert _fw(L3) == (0, 8) and st3.version() is None


def test_reboot_mid_download_resumes_from_the_last_staged_block():
    dev = Device()
    L, st = dev.boot()
    body = update_file(bytes(range(256)) * 20, "2.0.1", BOARD)      # 5192 bytes: 11 blocks
    files = Files(body)
    _write_uri(L)
    files.pump(L, drop=lambda k: k > 4)     # 4 blocks arrive, then the power goes
    assert files.served == [0, 1, 2, 3]
    L2, st2 = dev.boot(register=False)
    assert _fw(L2) == (1, 0)
    L2.answer(L2.one(SRV), C.CREATED, opts=[(C.LOCATION_PATH, "rd"), (C.LOCATION_PATH, "3")])
    files.pump(L2)
    again = len(files.served) - len(set(files.served))
    assert files.served[4] == 4 and again <= 1 and _fw(L2) == (2, 0)
    assert L2.ask(C.POST, "/5/0/2").code == C.CHANGED


def test_lost_datagrams_are_retransmitted_not_refetched():
    dev = Device()
    L, st = dev.boot()
    files = Files(update_file(b"C" * 3000, "2.0.2", BOARD))
    _write_uri(L)
    files.pump(L, drop=lambda k: k == 3)   # the 3rd request is lost on the way
    L.advance(5)                            # ACK_TIMEOUT: the same request again
    files.pump(L)
    assert _fw(L) == (2, 0) and len(files.served) == len(set(files.served))


def test_link_lost_gives_4_and_the_same_uri_resumes():
    dev = Device()
    L, st = dev.boot()
    files = Files(update_file(b"D" * 4000, "2.0.3", BOARD))
    _write_uri(L)
    files.pump(L, drop=lambda k: k > 3)
    for _ in range(5):
        L.advance(94)                       # no answer for BLOCKWISE_STATUS_LIFETIME (300 s)
        files.pump(L, drop=lambda k: True)
    assert _fw(L) == (0, 4)
    n = len(files.served)
    _write_uri(L)
    files.pump(L)
    assert _fw(L) == (2, 0) and files.served[n] == n - 1 + 1 and len(set(files.served)) == len(files.served)


def test_result_codes_of_a_failed_download():
    # LwM2M object 5 Update Result 2, 5, 6, 7, 9 (And-link 4.4.2)
    cases = [
        ("http://192.0.2.30/fw/pkg", None, 9), ("coaps://192.0.2.30/fw/pkg", None, 9),
        ("no uri", None, 7), ("coap://192.0.2.30:5683/fw/other", update_file(), 7),
        (URI, update_file(board="other-board"), 6), (URI, update_file(kind="esp32-app"), 6),
        (URI, update_file()[:-1] + b"!", 5), (URI, update_file(b"E" * 3000), 2),
    ]
    for uri, body, want in cases:
        dev = Device(capacity=2048 if want == 2 else 64 * 1024)
        L, st = dev.boot()
        assert _write_uri(L, uri).code == C.CHANGED
        if body is not None:
            Files(body).pump(L)
        assert _fw(L) == (0, want), (uri, want, _fw(L), L.events("fota"))
        assert dev.persist.d["fr"] == want


def test_states_refuse_out_of_order_operations_and_empty_uri_cancels():
    dev = Device()
    L, st = dev.boot()
    assert L.ask(C.POST, "/5/0/2").code == C.METHOD_NOT_ALLOWED         # nothing downloaded
    assert L.ask(C.PUT, "/5/0/0", payload=b"xx", cf=C.OCTET_STREAM).code == C.METHOD_NOT_ALLOWED
    files = Files(update_file(b"F" * 3000, "2.0.4", BOARD))
    _write_uri(L)
    files.pump(L, drop=lambda k: k > 2)
    assert _write_uri(L).code == C.METHOD_NOT_ALLOWED                   # downloading
    assert L.ask(C.PUT, "/5/0/1", payload=b"", cf=TEXT).code == C.CHANGED
    assert _fw(L) == (0, 0) and L.c.idle()
    _write_uri(L)
    files.pump(L)
    assert _fw(L) == (2, 0)
    assert L.ask(C.PUT, "/5/0/1", payload=b"", cf=TEXT).code == C.CHANGED     # downloaded -> idle
    assert _fw(L) == (0, 0)


def test_changed_etag_starts_again_once():
    dev = Device()
    L, st = dev.boot()
    files = Files(update_file(b"G" * 3000, "2.0.5", BOARD))
    _write_uri(L)
    files.pump(L, drop=lambda k: k > 2)
    files.etag = b"e2"                      # the package changed on the server
    L.advance(5)
    files.pump(L)
    assert _fw(L) == (2, 0) and files.served[:3] == [0, 1, 2] and files.served[3] == 0
    assert ("fota", "restarted", "ETag changed: the resource changed under the transfer") in L.events()


def test_apply_failure_goes_back_to_downloaded_with_8():
    dev = Device()
    L, st = dev.boot()
    files = Files(update_file(b"H" * 600, "2.0.6", BOARD))
    _write_uri(L)
    files.pump(L)

    def broken():
        raise OSError(28)
    st.apply = broken
    assert L.ask(C.POST, "/5/0/2").code == C.CHANGED
    assert _fw(L) == (2, 8) and not L.events("restart")


def test_mcu_switch_and_memory_free():
    # And-link 4.4.4: /5/0/26550 Switch to MCU Update, /3/0/26261 MCU Memory Free (kB)
    dev = Device(capacity=128 * 1024)
    L, st = dev.boot()
    assert L.ask(C.POST, "/5/0/26550").code == C.CHANGED
    assert L.ask(C.GET, "/3/0/26261").payload == b"128"
