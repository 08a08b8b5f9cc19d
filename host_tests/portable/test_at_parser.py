"""AT output parser (wmmp.modem.atparse) against recorded-style transcripts of both
modules, spaced as in shared/spec/MODEMS.md (SIM7600: space after the colon;
BC95: none).  Portable: runs under CPython and MicroPython.

Sections named below: "MODEMS SIM7600 <area>" / "MODEMS BC95 <area>" are rows of
the fact sheet; "issue 5 AT engine" is the engine section of issue 5."""
from wmmp.modem import atparse as A


def _events(p, chunks=()):
    for c in chunks:
        p.feed(c)
    out = []
    while True:
        e = p.pop()
        if e is None:
            return out
        out.append(e)


def _split_feed(p, data, k):
    p.feed(data[:k])
    p.feed(data[k:])
    return _events(p)


# -- replies -------------------------------------------------------------------

def test_sim7600_csq_with_echo_split_reads():
    """MODEMS SIM7600 signal (+CSQ: 23,0) and health (echo on until ATE0);
    issue 5: partial lines across reads."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    ev = _events(p, [b"AT+C", b"SQ\r", b"\r\n+CSQ: 2", b"3,0\r\n\r", b"\nOK", b"\r\n"])
    assert ev == [("done", [b"+CSQ: 23,0"])]
    assert not p.busy


def test_bc95_csq_no_space_after_colon():
    """MODEMS BC95 signal: +CSQ:21,99 (no space after the colon)."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    assert _events(p, [b"\r\n+CSQ:21,99\r\n\r\nOK\r\n"]) == [("done", [b"+CSQ:21,99"])]


def test_bare_identity_lines_and_multiline_replies():
    """MODEMS SIM7600 identity (AT+CGSN bare digits, +ICCID:) and MODEMS BC95
    signal/cell (AT+NUESTATS several lines)."""
    p = A.AtParser()
    p.begin("AT+CGSN")
    assert _events(p, [b"\r\n861234567890123\r\n\r\nOK\r\n"]) == [("done", [b"861234567890123"])]
    p.begin("AT+CICCID", expect="+ICCID:")
    assert _events(p, [b"\r\n+ICCID: 89860012345678901234\r\n\r\nOK\r\n"]) == [
        ("done", [b"+ICCID: 89860012345678901234"])]
    p.begin("AT+NUESTATS")
    ev = _events(p, [b"\r\nSignal power:-612\r\nTotal power:-547\r\nCell ID:21118001\r\n"
                     b"ECL:0\r\nSNR:166\r\nEARFCN:3686\r\nPCI:242\r\nRSRQ:-108\r\n\r\nOK\r\n"])
    assert ev[0][0] == "done"
    assert ev[0][1][2] == b"Cell ID:21118001" and len(ev[0][1]) == 8


def test_bc95_bare_socket_replies_with_nsonmi_interleaved():
    """MODEMS BC95 UDP: NSOCR -> <socket>, OK; NSORF -> <s>,<ip>,<port>,<len>,<HEX>,<rem>;
    URC +NSONMI:<s>,<len> arriving inside the reply (issue 5 AT engine)."""
    p = A.AtParser()
    p.begin("AT+NSOCR=DGRAM,17,5683,1")
    assert _events(p, [b"\r\n1\r\n\r\nOK\r\n"]) == [("done", [b"1"])]
    p.begin("AT+NSORF=1,512")
    ev = _events(p, [b"\r\n1,10.0.0.2,9000,4,01020304,0\r\n\r\n+NSONMI:1,6\r\n\r\nOK\r\n"])
    assert ev == [("urc", b"+NSONMI:", b"+NSONMI:1,6", None),
                  ("done", [b"1,10.0.0.2,9000,4,01020304,0"])]


def test_urc_inside_reply_is_not_an_info_line():
    """MODEMS SIM7600 SMS receive (+CMTI: "SM",<idx>) in the middle of an AT+CSQ
    reply: reported as a URC at once, the reply keeps only its own line."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    ev = _events(p, [b"\r\n+CSQ: 23,0\r\n\r\n+CMTI: \"SM\",3\r\n\r\n+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY"
                     b"\r\n\r\nOK\r\n"])
    assert ev == [("urc", b"+CMTI:", b'+CMTI: "SM",3', None),
                  ("urc", b"+CIPEVENT:", b"+CIPEVENT: NETWORK CLOSED UNEXPECTEDLY", None),
                  ("done", [b"+CSQ: 23,0"])]


def test_ambiguous_prefixes_claimed_only_when_expected():
    """MODEMS SIM7600 PIN state (+CPIN: is the AT+CPIN? reply and a boot URC) and
    MODEMS BC95 registration (+CEREG:0,1 reply vs URC +CEREG:<stat>)."""
    p = A.AtParser()
    p.begin("AT+CPIN?", expect="+CPIN:")
    assert _events(p, [b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"]) == [("done", [b"+CPIN: SIM PIN"])]
    p.begin("AT+CSQ", expect="+CSQ")
    assert _events(p, [b"\r\n+CPIN: READY\r\n\r\n+CSQ: 5,0\r\n\r\nOK\r\n"]) == [
        ("urc", b"+CPIN:", b"+CPIN: READY", None), ("done", [b"+CSQ: 5,0"])]
    p.begin("AT+CEREG?", expect="+CEREG:")
    assert _events(p, [b"\r\n+CEREG:0,1\r\n\r\nOK\r\n"]) == [("done", [b"+CEREG:0,1"])]
    assert _events(p, [b"\r\n+CEREG:1\r\n"]) == [("urc", b"+CEREG:", b"+CEREG:1", None)]


def test_command_name_is_an_implied_expect():
    """MODEMS SIM7600 registration (AT+CREG? -> +CREG: 2,1,"1A2B","0C3D4E5F") and
    PIN state: a command claims its own +NAME: reply even without expect=."""
    assert A.implied_prefix(b"AT+CREG?") == b"+CREG:"
    assert A.implied_prefix(b'at+cpin="1234"') == b"+CPIN:"
    assert A.implied_prefix(b"AT+CSQ") == b"+CSQ:"
    assert A.implied_prefix(b"ATE0") is None and A.implied_prefix(b"AT+") is None
    p = A.AtParser()
    p.begin("AT+CREG?")
    ev = _events(p, [b'\r\n+CREG: 2,1,"1A2B","0C3D4E5F"\r\n\r\n+CGREG: 1\r\n\r\nOK\r\n'])
    assert ev == [("urc", b"+CGREG:", b"+CGREG: 1", None), ("done", [b'+CREG: 2,1,"1A2B","0C3D4E5F"'])]
    p.begin("AT+CPIN?")
    assert _events(p, [b"\r\n+CPIN: READY\r\n\r\nOK\r\n"]) == [("done", [b"+CPIN: READY"])]


# -- command-specific finals and the prompt ------------------------------------

def test_cipopen_final_after_ok_with_urc_between():
    """MODEMS SIM7600 TCP: AT+CIPOPEN -> OK then +CIPOPEN: <link>,<err>; a URC
    between them does not end the command, the OK alone does not either."""
    p = A.AtParser()
    p.begin('AT+CIPOPEN=0,"TCP","10.0.0.2",9000', final="+CIPOPEN:")
    assert _events(p, [b"\r\nOK\r\n"]) == []
    assert p.busy
    ev = _events(p, [b"\r\n+CMTI: \"SM\",1\r\n\r\n+CIPOPEN: 0,0\r\n"])
    assert ev == [("urc", b"+CMTI:", b'+CMTI: "SM",1', None), ("done", [b"+CIPOPEN: 0,0"])]


def test_netopen_final():
    """MODEMS SIM7600 data service: AT+NETOPEN -> OK then +NETOPEN: 0."""
    p = A.AtParser()
    p.begin("AT+NETOPEN", final="+NETOPEN:")
    assert _events(p, [b"\r\nOK\r\n\r\n+NETOPEN: 0\r\n"]) == [("done", [b"+NETOPEN: 0"])]


def test_cmgs_prompt_then_final_before_ok():
    """MODEMS SIM7600 SMS send: AT+CMGS=<n> -> '> ' prompt (no CRLF after it),
    PDU + Ctrl-Z, then +CMGS: <mr> and OK: done only at the OK, so the OK can
    not complete the next command."""
    p = A.AtParser()
    p.begin("AT+CMGS=18", final="+CMGS:", prompt=True, echo=b"0011000B91\x1a")
    assert _events(p, [b"AT+CMGS=18\r\r\n> "]) == [("prompt",)]
    assert _events(p, [b"0011000B91\r\n\r\n+CMGS: 12\r\n"]) == []    # payload echo dropped
    assert _events(p, [b"\r\nOK\r\n"]) == [("done", [b"+CMGS: 12"])]


def test_cipsend_prompt_without_space_and_split():
    """MODEMS SIM7600 send: AT+CIPSEND -> '>' (with or without a space, split
    across reads), raw bytes, OK, +CIPSEND: <link>,<req>,<sent>."""
    for chunks in ([b"\r\n>"], [b"\r\n> "], [b"\r\n>", b" "], [b"\r", b"\n", b">"]):
        p = A.AtParser()
        p.begin("AT+CIPSEND=0,5", final="+CIPSEND:", prompt=True)
        assert _events(p, chunks) == [("prompt",)]
        ev = _events(p, [b"\r\nOK\r\n\r\n+CIPSEND: 0,5,5\r\n"])
        assert ev == [("done", [b"+CIPSEND: 0,5,5"])], (chunks, ev)


def test_final_line_alone_when_ok_false():
    """issue 5 AT engine: command-specific finals such as SEND OK that come without OK."""
    p = A.AtParser()
    p.begin("AT+CIPSEND=0,2", final="SEND OK", error="SEND FAIL", ok=False, prompt=True)
    assert _events(p, [b"\r\n> ", b"\r\nSEND OK\r\n"]) == [("prompt",), ("done", [b"SEND OK"])]
    p.begin("AT+CIPSEND=0,2", final="SEND OK", error="SEND FAIL", ok=False, prompt=True)
    ev = _events(p, [b"\r\n> ", b"\r\nSEND FAIL\r\n"])
    assert ev[1][:4] == ("fail", "error", None, b"SEND FAIL")


def test_error_instead_of_prompt():
    """issue 5 AT engine: an error final instead of the '>' prompt ends the command."""
    p = A.AtParser()
    p.begin("AT+CIPSEND=3,5", prompt=True)
    ev = _events(p, [b"\r\n+CIPERROR: 4\r\n"])
    assert ev == [("fail", "error", 4, b"+CIPERROR: 4", [])]


# -- errors --------------------------------------------------------------------

def test_error_formats_of_both_modules():
    """MODEMS SIM7600 PIN enter (+CME ERROR: <n>), MODEMS BC95 (+CME ERROR:<n>, no
    space), +CMS ERROR: <n> (27.005), verbose text codes and plain ERROR."""
    cases = [
        (b"\r\n+CME ERROR: 16\r\n", "cme", 16),
        (b"\r\n+CME ERROR:4\r\n", "cme", 4),
        (b"\r\n+CMS ERROR: 500\r\n", "cms", 500),
        (b"\r\n+CMS ERROR:304\r\n", "cms", 304),
        (b"\r\n+CME ERROR: SIM not inserted\r\n", "cme", "SIM not inserted"),
        (b"\r\nERROR\r\n", "error", None),
    ]
    p = A.AtParser()
    for data, kind, code in cases:
        p.begin('AT+CPIN="1234"')
        ev = _events(p, [data])
        assert len(ev) == 1 and ev[0][0] == "fail", ev
        assert ev[0][1] == kind and ev[0][2] == code, ev
        assert not p.busy


def test_error_keeps_lines_seen_before_it():
    """MODEMS SIM7600 data service: '+IP ERROR: ...' then ERROR; the lines travel with the failure."""
    p = A.AtParser()
    p.begin("AT+NETOPEN", final="+NETOPEN:")
    ev = _events(p, [b"\r\n+IP ERROR: Network is already opened\r\n\r\nERROR\r\n"])
    assert ev == [("fail", "error", None, b"ERROR", [b"+IP ERROR: Network is already opened"])]


# -- counted binary payloads ---------------------------------------------------

# A +IPD whose payload holds CR/LF and an "OK" line: read by length, it must not
# end the AT+CSQ in flight (MODEMS SIM7600 receive (push mode)).
_IPD_PAYLOAD = b"\r\nOK\r\n\x00\x1a"
_IPD_T = (b"AT+CSQ\r\r\n+CSQ: 23,0\r\n\r\nRECV FROM:10.0.0.2:9000\r\n+IPD8\r\n" + _IPD_PAYLOAD +
          b"\r\nOK\r\n")
_IPD_EV = [("urc", b"RECV FROM:", b"RECV FROM:10.0.0.2:9000", None),
           ("urc", b"+IPD", b"+IPD8", _IPD_PAYLOAD),
           ("done", [b"+CSQ: 23,0"])]


def test_ipd_payload_split_at_every_byte_boundary():
    """MODEMS SIM7600 receive (push mode): RECV FROM, +IPD<len>, exactly <len> raw
    bytes that may contain CR/LF, with echo on; every split point of the reads."""
    p = A.AtParser()
    for k in range(len(_IPD_T) + 1):
        p.begin("AT+CSQ", expect="+CSQ")
        ev = _split_feed(p, _IPD_T, k)
        assert ev == _IPD_EV, (k, ev)
        assert not p.in_payload and not p.busy


def test_ipd_payload_one_byte_per_read():
    """MODEMS SIM7600 receive (push mode), a UART delivering one byte per read."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    for k in range(len(_IPD_T)):
        p.feed(_IPD_T[k:k + 1])
    assert _events(p) == _IPD_EV


def test_ipd_two_split_points_around_the_payload():
    """MODEMS SIM7600 receive (push mode): three reads, both cuts inside the
    '+IPD8' line end and the payload."""
    start = _IPD_T.index(b"+IPD8") + 4                  # from the '8' of '+IPD8'
    stop = start + 3 + len(_IPD_PAYLOAD)
    p = A.AtParser()
    for a in range(start, stop):
        for b in range(a + 1, stop + 1):
            p.begin("AT+CSQ", expect="+CSQ")
            p.feed(_IPD_T[:a])
            p.feed(_IPD_T[a:b])
            p.feed(_IPD_T[b:])
            assert _events(p) == _IPD_EV, (a, b)


def test_ipd_after_lf_only_line_end_and_empty_payload():
    """MODEMS SIM7600 receive: a '+IPD' line ended by LF alone (payload starts
    with LF) and a zero-length +IPD."""
    p = A.AtParser()
    ev = _events(p, [b"+IPD3\n\n\r\n", b"+IPD0\r\n\r\n"])
    assert ev == [("urc", b"+IPD", b"+IPD3", b"\n\r\n"), ("urc", b"+IPD", b"+IPD0", b"")]


def test_oversized_payload_refused_but_framing_kept():
    """issue 5 AT engine (bounded): a payload over max_payload is skipped byte
    for byte, reported with extra None, and the next line is parsed normally."""
    p = A.AtParser(max_payload=8)
    ev = _events(p, [b"\r\n+IPD20\r\n", b"0123456789\r\nOK\r\n4567", b"\r\n+IPCLOSE: 0,1\r\n"])
    assert ev == [("urc", b"+IPD", b"+IPD20", None),
                  ("urc", b"+IPCLOSE:", b"+IPCLOSE: 0,1", None)]
    assert p.refused == 1


def test_bad_length_is_a_plain_urc():
    """issue 5 AT engine (garbage): '+IPD' with no usable length reads no bytes."""
    p = A.AtParser()
    assert _events(p, [b"\r\n+IPDx\r\n\r\nRDY\r\n"]) == [
        ("urc", b"+IPD", b"+IPDx", None), ("reboot", b"RDY", b"RDY")]
    assert p.bad_length == 1


def test_ciprxget_mode2_payload_belongs_to_the_reply():
    """MODEMS SIM7600 receive (buffer mode): +CIPRXGET: 1,<link> is a URC; the
    reply +CIPRXGET: 2,<link>,<read>,<left> is followed by <read> raw bytes."""
    p = A.AtParser()
    assert _events(p, [b"\r\n+CIPRXGET: 1,0\r\n"]) == [
        ("urc", b"+CIPRXGET:", b"+CIPRXGET: 1,0", None)]
    p.begin("AT+CIPRXGET=2,0,5", expect="+CIPRXGET:")
    ev = _events(p, [b"\r\n+CIPRXGET: 2,0,5,0\r\nO\r\nK\n\r\nOK\r\n"])
    assert ev == [("done", [b"+CIPRXGET: 2,0,5,0", b"O\r\nK\n"])]


def test_abort_payload_returns_to_line_mode():
    """issue 5 AT engine (reboot / garbled length): a payload that never
    completes is abandoned and lines are parsed again."""
    p = A.AtParser()
    p.feed(b"\r\n+IPD100\r\nabc")
    assert p.in_payload
    p.abort_payload()
    assert not p.in_payload and p.truncated == 1
    assert _events(p, [b"\r\nRDY\r\n"]) == [("reboot", b"RDY", b"RDY")]


def test_cmt_two_line_urc():
    """MODEMS SIM7600 SMS receive: +CMT direct delivery (unconfirmed) carries
    the PDU on the following line."""
    p = A.AtParser()
    ev = _events(p, [b"\r\n+CMT: ,24\r\n0791448720003023240DD0E474D81C0EBB010000111011315214000BE474D81C0EBB5DE3771B\r\n"])
    assert ev == [("urc", b"+CMT:", b"+CMT: ,24",
                   b"0791448720003023240DD0E474D81C0EBB010000111011315214000BE474D81C0EBB5DE3771B")]


# -- reboots -------------------------------------------------------------------

def test_sim7600_reboot_mid_command():
    """MODEMS SIM7600 boot: RDY, +CPIN: READY, SMS DONE, PB DONE arriving while
    a command waits: the command fails with 'reboot', the rest are URCs, and the
    next command works."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    ev = _events(p, [b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"])
    assert ev == [("fail", "reboot", None, b"RDY", []), ("reboot", b"RDY", b"RDY"),
                  ("urc", b"+CPIN:", b"+CPIN: READY", None),
                  ("urc", b"SMS DONE", b"SMS DONE", None), ("urc", b"PB DONE", b"PB DONE", None)]
    p.begin("AT")
    assert _events(p, [b"AT\r\r\nOK\r\n"]) == [("done", [])]   # echo is back on after boot


_BC95_BANNER = (b"\r\nBoot: Unsigned\r\nSecurity B.. Verified\r\nProtocol A.. Verified\r\n"
                b"Apps A...... Verified\r\n\r\nREBOOT_CAUSE_APPLICATION_WATCHDOG\r\nNeul \r\nOK\r\n")


def test_bc95_reboot_mid_command_banner_ok_not_taken():
    """MODEMS BC95: the boot banner ends with 'Neul' then OK.  Mid-command the
    command fails with 'reboot'; the banner's OK must not complete the next command."""
    p = A.AtParser()
    p.begin("AT+CGATT?", expect="+CGATT")
    cut = _BC95_BANNER.rindex(b"OK")
    ev = _events(p, [_BC95_BANNER[:cut]])
    p.begin("AT")                                   # issued after the failure, before the banner OK
    ev += _events(p, [_BC95_BANNER[cut:]])
    assert ("fail", "reboot", None, b"Neul", [b"Boot: Unsigned", b"Security B.. Verified",
                                              b"Protocol A.. Verified", b"Apps A...... Verified"]) in ev
    assert ("reboot", b"Neul", b"Neul") in ev
    assert not [e for e in ev if e[0] == "done"]
    assert p.busy and p.boot_oks == 1
    assert _events(p, [b"\r\nOK\r\n"]) == [("done", [])]


def test_bc95_nrb_expects_the_reboot():
    """MODEMS BC95 reboot: AT+NRB -> REBOOTING, banner, Neul, OK; with reboot=True
    the OK after Neul completes the command."""
    p = A.AtParser()
    p.begin("AT+NRB", reboot=True)
    ev = _events(p, [b"\r\nREBOOTING\r\n", _BC95_BANNER])
    assert ev[0] == ("urc", b"REBOOTING", b"REBOOTING", None)
    assert ("reboot", b"Neul", b"Neul") in ev
    assert ev[-1][0] == "done" and b"Boot: Unsigned" in ev[-1][1]
    assert not p.busy


def test_bc95_banner_without_command():
    """MODEMS BC95: banner while idle: banner lines are stray, Neul a reboot, its OK swallowed."""
    p = A.AtParser()
    ev = _events(p, [_BC95_BANNER])
    assert ev[-1] == ("reboot", b"Neul", b"Neul")
    assert [e[0] for e in ev[:-1]] == ["stray", "stray", "stray", "stray", "urc"]
    assert p.boot_oks == 1 and not p.busy


# -- garbage, line endings, bounds ---------------------------------------------

def test_garbage_bytes_are_dropped():
    """issue 5 AT engine (garbage): noise before a line is stripped, a line with
    noise inside is discarded; every line that had noise is counted."""
    p = A.AtParser()
    p.begin("AT+CSQ", expect="+CSQ")
    ev = _events(p, [b"\xff\xfe\x00AT+CSQ\r\r\n\x00", b"\x80\x81\xc3\r\n+CSQ: 9,99\r\n\xf0\x9f\r\n",
                     b"\r\n\x00OK\r\n"])
    assert ev == [("done", [b"+CSQ: 9,99"])]
    assert p.garbage == 4


def test_line_ending_variants():
    """issue 5 AT engine (CR/LF variants): CRLF, LF, CR alone, CR CR LF."""
    for t in (b"\r\n+CSQ: 1,0\r\n\r\nOK\r\n", b"\n+CSQ: 1,0\n\nOK\n", b"\r+CSQ: 1,0\r\rOK\r",
              b"\r\r\n+CSQ: 1,0\r\r\nOK\r\r\n", b"+CSQ: 1,0\n\rOK\n\r"):
        p = A.AtParser()
        p.begin("AT+CSQ")
        assert _events(p, [t]) == [("done", [b"+CSQ: 1,0"])], t


def test_over_long_line_discarded_and_counted():
    """issue 5 AT engine (bounded): a line over max_line is discarded; idle it is
    only counted, inside a reply the command fails with 'overflow'."""
    p = A.AtParser(max_line=64)
    long_line = b"A" * 100
    assert _events(p, [b"\r\n", long_line[:50], long_line[50:], b"\r\n+CMTI: \"SM\",2\r\n"]) == [
        ("urc", b"+CMTI:", b'+CMTI: "SM",2', None)]
    assert p.long_lines == 1
    p.begin("AT+CMGR=2")
    ev = _events(p, [b"\r\n+CMGR: 0,,24\r\n", long_line, b"\r\n\r\nOK\r\n"])
    assert ev == [("fail", "overflow", None, None, [b"+CMGR: 0,,24"])]
    assert p.long_lines == 2
    p.begin("AT")
    assert _events(p, [b"\r\nOK\r\n"]) == [("done", [])]


def test_reply_lines_bounded():
    """issue 5 AT engine (bounded): a reply over max_lines fails with 'overflow'."""
    p = A.AtParser(max_lines=3)
    p.begin("AT+CGMR")
    ev = _events(p, [b"\r\nL1\r\nL2\r\nL3\r\nL4\r\nL5\r\n\r\nOK\r\n"])
    assert ev == [("fail", "overflow", None, None, [b"L1", b"L2", b"L3"])]
    assert p.lost_lines == 2


def test_event_queue_bounded_oldest_urc_dropped():
    """issue 5 AT engine (bounded queues): when nobody pops, the oldest URC is
    dropped (counted) and a command's completion is kept."""
    p = A.AtParser(max_events=3)
    p.begin("AT")
    p.feed(b"\r\n+CMTI: \"SM\",0\r\n\r\nOK\r\n")
    for i in range(1, 5):
        p.feed(('\r\n+CMTI: "SM",%d\r\n' % i).encode())
    ev = _events(p)
    assert ev == [("done", []), ("urc", b"+CMTI:", b'+CMTI: "SM",3', None),
                  ("urc", b"+CMTI:", b'+CMTI: "SM",4', None)]
    assert p.dropped_urcs == 3


def test_stray_finals_and_cancelled_command():
    """issue 5 AT engine: finals with no command are stray (counted); a
    cancelled (timed-out) command takes no later line."""
    p = A.AtParser()
    assert _events(p, [b"\r\nOK\r\n\r\nERROR\r\n\r\n> "]) == [("stray", b"OK"), ("stray", b"ERROR")]
    assert p.stray == 3
    p.begin("AT+CSQ")
    p.cancel()
    assert _events(p, [b"\r\n+CSQ: 1,0\r\n"]) == [("stray", b"+CSQ: 1,0")]


def test_custom_urc_registration():
    """MODEMS BC95 UDP send (+NSOSTR:<s>,<seq>,<status>) and a driver-registered
    counted URC ('+RECEIVE,<link>,<len>' style, length in the last field)."""
    p = A.AtParser()
    assert _events(p, [b"\r\n+NSOSTR:1,5,1\r\n"]) == [("urc", b"+NSOSTR:", b"+NSOSTR:1,5,1", None)]
    p.add_urc("+RECEIVE,", A.URC_DATA)
    assert p.is_urc(b"+RECEIVE,")
    assert _events(p, [b"\r\n+RECEIVE,1,3\r\n\r\nx"]) == [("urc", b"+RECEIVE,", b"+RECEIVE,1,3", b"\r\nx")]
    p.add_urc("+CIPRXGET: 1,")                     # longest prefix wins over "+CIPRXGET:"
    assert _events(p, [b"\r\n+CIPRXGET: 1,2\r\n"]) == [("urc", b"+CIPRXGET: 1,", b"+CIPRXGET: 1,2", None)]
    p.remove_urc("+NSOSTR:")
    assert _events(p, [b"\r\n+NSOSTR:1,6,1\r\n"]) == [("stray", b"+NSOSTR:1,6,1")]


def test_npin_result_urcs():
    """MODEMS BC95 PIN (unconfirmed): AT+NPIN -> OK then +NPIN:OK / +NPIN:ERROR
    wrong PIN (<left>); with final="+NPIN:" the command waits for that line."""
    p = A.AtParser()
    p.begin('AT+NPIN=0,"1234"', final=("+NPIN:", "ERROR PIN"))
    assert _events(p, [b"\r\nOK\r\n", b"\r\n+NPIN:ERROR wrong PIN (2)\r\n"]) == [
        ("done", [b"+NPIN:ERROR wrong PIN (2)"])]
    assert _events(p, [b"\r\nERROR PIN blocked\r\n"]) == [
        ("urc", b"ERROR PIN", b"ERROR PIN blocked", None)]
