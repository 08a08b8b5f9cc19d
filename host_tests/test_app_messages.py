"""The catalogue of appendix H (26 calls, a) to z)), the body checks, the XML
form of appendix C 2.1 (PDU, plain body document, SOAP envelope), the safe XML
reader, and the WSDL made from the catalogue.  docs/APP.md decisions 1-7, 12.

CPython only."""
import xml.etree.ElementTree as ET

import pytest

from wmmp_app import messages as M
from wmmp_app import wsdl as W
from wmmp_app import xmlform as X

from test_app_support import T1, T2

# One valid body per PDU that has one: every call of appendix H, both ways.
SAMPLES = {
    "TAppLoginReq": {"USERNAME": "meterapp", "PASSWORD": "pw"},
    "TAppLoginRsp": {"RESULTCODE": 0, "CONVKEY": "A" * 16, "EXPIRATION": 30},
    "TAppLogoutReq": {"USERNAME": "meterapp", "PASSWORD": "pw"},
    "TAppLogoutRsp": {"RESULTCODE": 0},
    "TTermInfoGetReq": {"TERMLIST": [T1, T2], "MONITOR": ["3001"], "ALARM": ["300d"], "CONFIG": ["0106"],
                        "STATISTIC": ["2001"]},
    "TTermInfoGetRsp": {"RESULTCODE": 0},
    "TTermInfoGetResultReq": {"TERMID": T1, "MONITOR": [("3001", "12")], "ALARM": ["0001"], "RECOVERY": ["0002"],
                              "CONFIG": [("0106", "60")], "STATISTIC": [("2001", "5")],
                              "INVALIDATE": {"MONITOR": ["3FFF"], "CONFIG": ["01FF"]}},
    "TTermInfoGetResultRsp": {"RESULTCODE": 0},
    "PTermInfoQueryReq": {"TERMID": T1, "MONITOR": ["3001"], "ALARM": ["300D"]},
    "PTermInfoQueryRsp": {"RESULTCODE": 0, "TERMID": T1, "MONITOR": [("3001", "12")], "ALARM": ["0001"]},
    "PTermFaultNotifyReq": {"TERMID": T1, "ERRCODE": [1, 2]},
    "PStatisticQueryReq": {"TERMCOUNT": {"AREA": "010", "DATE": "20261206"}, "TERMSTATUS": {"TS": T1}},
    "PStatisticQueryRsp": {"TERMCOUNT_RESULT": {"WORKING": "2", "TOTAL": "3"}, "TERMSTATUS_RESULT": {"NORMAL": "2"}},
    "PTermStatisticQueryReq": {"TERMINID": T1, "DATERANGE": ("20260101", "20261231"), "ALARMCOUNT": True,
                               "LASTLOGIN": True},
    "PTermStatisticQueryRsp": {"TERMID": T1, "ALARMCOUNT": 4, "LASTLOGIN": 1796556667},
    "TTermCtrlReq": {"FILTER": {"AREA": "010", "TERMIDRANGE": (T1, T2)}, "REMOTECTRL": ["4001", "4002"]},
    "TTermCtrlRsp": {"RESULTCODE": 1, "REMOTECTRL": ["4002"]},
    "TTermCtrlResultReq": {"TERMID": T1, "RESULTCODE": 2, "REMOTECTRL": ["4002"]},
    "TDownloadNotifyReq": {"TERMLIST": [T1], "DOWNLOADURL": "http://example.invalid/fw.bin"},
    "TDownloadNotifyRsp": {"RESULTCODE": 0},
    "TDownloadNotifyResultReq": {"TERMID": T1, "RESULTCODE": 1},
    "TSecurityConfigReq": {"TERMID": T1, "OPERATION": 2, "SECURITY": [("E025", ""), ("E028", "")]},
    "TSecurityConfigRsp": {"RESULTCODE": 0},
    "TSecurityConfigResultReq": {"TERMID": T1, "RESULTCODE": 2, "SECURITY": [("E0FF", "")]},
    "TRegistReq": {"TERMID": T1, "IMEI": "860000000000001", "IMSI": "460001234567890"},
    "TRegistRsp": {"RESULTCODE": 2},
    "TLoginReq": {"TERMID": T1, "IMEI": "860000000000001", "IMSI": "460001234567890", "TERMVER": "1.0.3",
                  "CONFIGCRC": "89ABCDEF", "PARAM": [("0106", "60"), ("3007", "80")]},
    "TLoginRsp": {"RESULTCODE": 1},
    "TLogoutReq": {"TERMID": T1, "LOGOUTREASON": 4},
    "TTransparentDataUpReq": {"TERMID": T1, "DATA": bytes(range(256))},
    "TTransparentDataUpRsp": {"RESULTCODE": 0},
    "TTransparentDataDownReq": {"TERMLIST": [T1], "DATA": b"\x00<&>\xff"},
    "TTransparentDataDownRsp": {"RESULTCODE": 0},
    "TTransparentDataDownResultReq": {"TERMID": T1, "RESULTCODE": 1},
    "TConfigSetReq": {"TERMLIST": [T1], "CONFIG": [("0106", "120"), ("0001", "cmnet<&>")]},
    "TConfigSetRsp": {"RESULTCODE": 0},
    "TConfigSetResultReq": {"TERMID": T1, "RESULTCODE": 1, "CONFIG": ["01FF"]},
    "TConfigReqReq": {"CONFIG": ["0106", "0107"]},
    "TConfigReqRsp": {"RESULTCODE": 0, "CONFIG": [("0106", "60"), ("0107", "")]},
    "TTermInfoReportReq": {"TERMID": T1, "ALARM": ["0001", "0002"], "STATISTIC": [("2001", "5")]},
    "TTermInfoReportRsp": {"RESULTCODE": 0},
    "PKeyExpirationReq": {"DATE": "20261231"},
}


def test_the_catalogue_has_the_26_calls_of_appendix_h_a_to_z():
    assert len(M.CATALOGUE) == 26
    assert [c.letter for c in M.calls()] == [chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert [c.name for c in M.calls(M.A2P)] == [
        "TAppLogin", "TAppLogout", "TTermInfoGet", "PTermInfoQuery", "PStatisticQuery", "PTermStatisticQuery",
        "TTermCtrl", "TDownloadNotify", "TSecurityConfig", "TTransparentDataDown", "TConfigSet"]
    assert len(M.calls(M.P2A)) == 15
    for c in M.calls():
        assert c.request.name == c.name + "Req" and c.response.name == c.name + "Rsp"
        assert c.request.is_request and not c.response.is_request
        assert c.request.head[:3] == ("SID", "TIMESTAMP", "SERVICEID")


def test_bodyless_messages_are_those_appendix_h_says_have_no_body():
    none = sorted(s.name for c in M.calls() for s in (c.request, c.response) if s.body is None)
    assert none == sorted(["PTermFaultNotifyRsp", "TTermCtrlResultRsp", "TDownloadNotifyResultRsp",
                           "TSecurityConfigResultRsp", "TLogoutRsp", "PLinkCheckReq", "PLinkCheckRsp",
                           "TTransparentDataDownResultRsp", "TConfigSetResultRsp", "PKeyExpirationRsp"])
    assert set(SAMPLES) == {s.name for c in M.calls() for s in (c.request, c.response) if s.body is not None}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_body_goes_to_xml_and_back(name):
    msg = M.build(name, SAMPLES[name], sid="0000000000000001", service_id="SVC0001",
                  **({"TERMINID": T1} if name == "TConfigReqReq" else {}))
    doc = M.body_xml(msg)
    assert doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<BODY')
    assert M.read_body(msg.spec, X.parse(doc)) == msg.body


def test_values_are_normalised_when_built():
    m = M.build("TTermInfoGetReq", SAMPLES["TTermInfoGetReq"], sid="1", service_id="S")
    assert m.body["ALARM"] == ["300D"]
    m = M.build("TSecurityConfigReq", {"TERMID": T1, "OPERATION": "0x01"}, sid="1", service_id="S")
    assert m.body["OPERATION"] == 1


@pytest.mark.parametrize("name,body,words", [
    ("TTermInfoGetReq", {"TERMLIST": [T1], "FILTER": {"AREA": "010"}}, "exclude each other"),      # c)
    ("TTermInfoGetReq", {}, "neither"),
    ("TTermInfoGetReq", {"TERMLIST": [T1], "ALARM": ["3001"]}, "may only hold tag 300D"),
    ("TTermCtrlReq", {"TERMLIST": [T1], "REMOTECTRL": ["4001"], "LOGOUT": 0}, "REMOTECTRL / LOGOUT"),   # i)
    ("TTermCtrlReq", {"TERMLIST": [T1], "REMOTECTRL": ["40001"]}, "not a tag"),
    ("TDownloadNotifyReq", {"TERMLIST": [T1]}, "DOWNLOADURL is required"),                           # k)
    ("TDownloadNotifyReq", {"TERMLIST": [T1], "DOWNLOADURL": "x" * 1025}, "1 to 1024"),
    ("TSecurityConfigReq", {"TERMID": T1, "OPERATION": 8}, "out of range 0..7"),                     # m)
    ("TTransparentDataDownReq", {"TERMLIST": [T1], "DATA": "text"}, "must be bytes"),                 # t)
    ("TConfigSetReq", {"TERMLIST": [T1], "CONFIG": [("0106",)]}, "(tag, value) pairs"),              # v)
    ("TConfigSetReq", {"TERMLIST": ["M2M MAKER"], "CONFIG": [("0106", "1")]}, "visible ASCII"),
    ("PStatisticQueryReq", {}, "at least one of"),                                                     # g)
    ("PStatisticQueryReq", {"TERMCOUNT": {"COLOUR": "red"}}, "no element 'COLOUR'"),
    ("TAppLoginRsp", {"RESULTCODE": 0}, "needs CONVKEY and EXPIRATION"),                              # a)
    ("TAppLogoutReq", {"USERNAME": "u" * 13, "PASSWORD": "p"}, "1 to 12"),                            # b)
    ("TRegistReq", {"TERMID": T1, "IMEI": "123", "IMSI": "460001234567890"}, "15 to 16"),            # o)
    ("PTermFaultNotifyReq", {"TERMID": T1, "ERRCODE": []}, "1 to"),                                   # f)
    ("PLinkCheckReq", {"X": 1}, "has no body"),                                                       # r)
    ("TTransparentDataDownReq", {"TERMLIST": [T1], "DATA": b"", "COLOUR": 1}, "has no body element COLOUR"),
])
def test_bodies_appendix_h_refuses_are_refused_with_a_clear_reason(name, body, words):
    with pytest.raises(M.MessageError) as e:
        M.build(name, body, sid="1", service_id="SVC0001")
    assert words in str(e.value) and name in str(e.value)


def test_head_is_checked():
    with pytest.raises(M.MessageError, match="SID must be 1 to 16"):
        M.build("PLinkCheckReq", sid="1" * 17, service_id="S")
    with pytest.raises(M.MessageError, match="18 digits"):
        M.build("PLinkCheckReq", sid="1", service_id="S", ts="2026")
    with pytest.raises(M.MessageError, match="TERMINID"):        # x): the one head with a fourth field
        M.build("TConfigReqReq", {"CONFIG": ["0106"]}, sid="1", service_id="S")
    with pytest.raises(M.MessageError, match="read as TTermCtrlRsp but never written"):
        M.build("TRemoteCtrlRsp", {"RESULTCODE": 0}, sid="1", service_id="S")


def test_timestamp_is_beijing_time_with_four_digits_of_fraction():
    assert M.timestamp(1796556667.1234) == "202612061931071234"


# -- the appendix's own spellings are read (decisions 3-6) ---------------------------------

def test_misspelled_roots_of_appendix_h_are_read_as_the_messages_they_answer():
    assert M.spec("TAppLoginRsp").name == "TAppLoginRsp"               # a) keeps its own
    assert M.response_names("TAppLogoutReq") == ("TAppLogoutRsp", "TAppLoginRsp")     # b) writes TAppLoginRsp
    assert M.spec("TRemoteCtrlRsp").name == "TTermCtrlRsp"               # i)
    assert M.spec("TRemoteCtrlResultRsp").name == "TTermCtrlResultRsp"   # j)
    assert M.spec("DownloadNotifyResultRsp").name == "TDownloadNotifyResultRsp"    # l)


def test_other_spellings_in_bodies_are_read():
    s = M.spec("PTermInfoQueryRsp")      # e): the format writes TERMINID, the table TERMID
    root = X.parse(b"<BODY><TERMINID>%s</TERMINID><MONITOR><TAG id='3001'><VALUE>9</VALUE></TAG></MONITOR>"
                   b"</BODY>" % T1.encode())
    assert M.read_body(s, root) == {"TERMID": T1, "MONITOR": [("3001", "9")]}
    s = M.spec("TTermInfoGetReq")        # FILTER's PRODUTOR (i) table), a TERMLIST per TERMID
    root = X.parse(b"<BODY><FILTER><PRODUTOR>MAKER</PRODUTOR></FILTER><CONFIG><TAG id='0106'/></CONFIG>"
                   b"<CONFIG><TAG id='0107'/></CONFIG></BODY>")
    assert M.read_body(s, root) == {"FILTER": {"PRODUCTOR": "MAKER"}, "CONFIG": ["0106", "0107"]}
    s = M.spec("TTermCtrlRsp")           # i) writes <REMOTECTRL>tag</REMOTECTRL>
    assert M.read_body(s, X.parse(b"<BODY><RESULTCODE>1</RESULTCODE><REMOTECTRL>4002</REMOTECTRL></BODY>")) == \
        {"RESULTCODE": 1, "REMOTECTRL": ["4002"]}
    s = M.spec("TSecurityConfigResultReq")   # n) writes codes as 0x00
    assert M.read_body(s, X.parse(b"<BODY><TERMID>A</TERMID><RESULTCODE>0x02</RESULTCODE></BODY>"))["RESULTCODE"] == 2


def test_unknown_body_elements_and_duplicates_are_refused():
    s = M.spec("TTransparentDataUpReq")
    with pytest.raises(M.MessageError, match="no body element COLOUR"):
        M.read_body(s, X.parse(b"<BODY><TERMID>A</TERMID><DATA>AA==</DATA><COLOUR/></BODY>"))
    with pytest.raises(M.MessageError, match="at most once"):
        M.read_body(s, X.parse(b"<BODY><TERMID>A</TERMID><TERMID>B</TERMID><DATA>AA==</DATA></BODY>"))
    with pytest.raises(M.MessageError, match="not base64"):
        M.read_body(s, X.parse(b"<BODY><TERMID>A</TERMID><DATA>**</DATA></BODY>"))


# -- the PDU and the safe reader (appendix C 2.1) --------------------------------------------

def test_pdu_round_trip_and_other_forms_read():
    data = X.encode_pdu("PLinkCheckReq", {"SID": "1", "TIMESTAMP": "2" * 18, "SERVICEID": "S<&>"}, None, "h")
    raw = X.decode_pdu(data)
    assert (raw.name, raw.head, raw.body, raw.hash, raw.soap) == (
        "PLinkCheckReq", {"SID": "1", "TIMESTAMP": "2" * 18, "SERVICEID": "S<&>"}, None, "h", False)
    # appendix C writes <Head>; g) puts HASH before BODY
    raw = X.decode_pdu(b"<PStatisticQueryReq><Head><SID>1</SID></Head><HASH>h</HASH><BODY>QQ==</BODY>"
                       b"</PStatisticQueryReq>")
    assert raw.head == {"SID": "1"} and raw.body == "QQ==" and raw.hash == "h"


def test_soap_envelope_wraps_and_unwraps():
    data = X.encode_pdu("PLinkCheckReq", {"SID": "1"}, None, "h")
    env = X.soap_wrap(data)
    root = ET.fromstring(env)
    assert root.tag == "{%s}Envelope" % X.SOAP_NS
    assert root[0][0].tag == "{urn:wmmp:app}PLinkCheckReq"
    raw = X.decode_pdu(env)
    assert raw.soap and raw.name == "PLinkCheckReq" and raw.head == {"SID": "1"}
    with pytest.raises(M.MessageError, match="SOAP fault: nope"):
        X.decode_pdu(X.soap_fault("nope"))


@pytest.mark.parametrize("doc,words", [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>', "DTD or entities"),
    (b'<!doctype x SYSTEM "http://example.invalid/x.dtd"><x/>', "DTD or entities"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><x>\xe9</x>', "only UTF-8"),
    ('<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16"), "UTF-8"),
    (b"<x>\xff\xfe</x>", "not UTF-8"),
    (b"<x><y></x>", "not well-formed"),
    (b"", "empty"),
    (b"<a>" * 20 + b"</a>" * 20, "too large a tree"),
    (b"<x>" + b"a" * (X.MAX_PDU + 1) + b"</x>", "over the limit"),
])
def test_the_xml_reader_refuses_what_could_harm(doc, words):
    with pytest.raises(M.MessageError) as e:
        X.parse(doc)
    assert words in str(e.value)


def test_a_pdu_must_have_head_and_base64_body():
    with pytest.raises(M.MessageError, match="no HEAD"):
        X.decode_pdu(b"<PLinkCheckReq><HASH/></PLinkCheckReq>")
    with pytest.raises(M.MessageError, match="BODY holds XML"):
        X.decode_pdu(b"<TRegistReq><HEAD/><BODY><TERMID>1</TERMID></BODY></TRegistReq>")
    with pytest.raises(M.MessageError, match="unexpected element"):
        X.decode_pdu(b"<TRegistReq><HEAD/><EXTRA/></TRegistReq>")


# -- WSDL (appendix C 1) item 1) ------------------------------------------------------------

WSDL = "{http://schemas.xmlsoap.org/wsdl/}"


def _ops(doc):
    root = ET.fromstring(doc)
    return [o.get("name") for o in root.find(WSDL + "portType").findall(WSDL + "operation")], root


def test_platform_wsdl_describes_exactly_the_calls_an_application_makes():
    ops, root = _ops(W.platform_wsdl("http://127.0.0.1:9100/wmmp/app"))
    assert ops == [c.name for c in M.calls(M.A2P)]
    addr = root.find(WSDL + "service").find(WSDL + "port").find("{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert addr.get("location") == "http://127.0.0.1:9100/wmmp/app"
    schema = root.find(WSDL + "types")[0]
    names = [e.get("name") for e in schema]
    assert "TAppLoginReq" in names and "TConfigSetRsp" in names and len(names) == 22


def test_application_wsdl_leaves_out_only_the_long_connection_link_check():
    ops, _ = _ops(W.application_wsdl("http://127.0.0.1:9200/wmmp/app"))
    assert ops == [c.name for c in M.calls(M.P2A) if c.name != "PLinkCheck"] and len(ops) == 14
