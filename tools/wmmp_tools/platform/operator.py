"""Operator commands of the platform (what the control socket and the CLI offer):
provisioning, listing, and the platform-initiated requests of 4.3.6-4.3.10 with
their answers (CONFIG_GET, CONFIG_SET + 0x4010 reports, REMOTE_CTRL,
SECURITY_CONFIG, LOGOUT).  Every method returns a JSON-able dict; bad input raises
InputError, a request that fails raises PlatformError.
"""

import asyncio
import json

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import digest as D
from wmmp.errors import WmmpError

from wmmp_tools import jsonform as J
from wmmp_tools.platform import creds, flows
from wmmp_tools.platform import values as V
from wmmp_tools.platform.model import PlatformError, serial_bytes, serial_key
from wmmp_tools.platform.values import InputError
from wmmp_tools.smsc import valid_msisdn

DEFAULT_TIMEOUT = 30.0

# Per-terminal switches the operator may flip (wmmp-platform flag).
FLAGS = {
    "keep-connected": "keep_connected",      # LOGIN_ACK 0x08 (G b)
    "fail-reply": "fail_reply",              # E041 = 0x01: echo the header on failures (4.4.5)
    "session-required": "session_required",  # LOGIN without E03A -> 0x09 (G b)
    "security": "security",                  # 0 = no-security for this terminal
}


def _answer_json(msg):
    """An answer as JSON: command, fixed fields (result with its meaning), TLVs."""
    out = {"command": msg.name, "seq": msg.seq}
    fields = {}
    for k, v in msg.fields.items():
        fields[k] = v.hex() if isinstance(v, (bytes, bytearray)) else v
    out["fields"] = fields
    if "result" in msg.fields:
        out["result"] = msg.fields["result"]
        table = J.field_table(msg.command, "result")
        out["result_text"] = (J.code_meaning(table, msg.fields["result"]) if table else None) or ""
    out["tlvs"] = [V.tlv_json(t, v) for t, v in msg.tlvs]
    if msg.encryption != codec.ENC_NONE:
        out["encryption"] = J.ENCRYPTION_NAMES[msg.encryption]
    return out


def _iso(t):
    if t is None:
        return None
    import datetime
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


class Operator:
    def __init__(self, pf):
        self.pf = pf
        self.db = pf.db

    # -- helpers ----------------------------------------------------------

    def _terminal(self, serial):
        if not isinstance(serial, str) or not serial:
            raise InputError("a terminal serial is needed")
        term = self.db.terminal(serial)
        if term is None:
            raise InputError("unknown terminal %r (see: wmmp-platform list)" % serial)
        return term

    @staticmethod
    def _tlvs(items):
        out = []
        for item in items or []:
            try:
                tag, hx = item
                tag = V.parse_tag(tag)
                out.append((tag, bytes.fromhex(hx)))
            except (TypeError, ValueError) as e:
                raise InputError("bad TLV %r: %s" % (item, e))
        return out

    async def _ask(self, serial, msg, args, note=""):
        """Send a request for the operator, log it in `pending`, wait for the answer."""
        pid = self.db.add_pending(serial, msg.name, None, {
            "tlvs": [[t, v.hex()] for t, v in msg.tlvs], "fields": {k: v for k, v in msg.fields.items()
                                                                   if isinstance(v, int)}})
        try:
            ans = await self.pf.request(serial, msg, via=args.get("via"), encrypt=args.get("encrypt"),
                                        timeout=float(args.get("timeout") or DEFAULT_TIMEOUT), pid=pid,
                                        note=note)
        except PlatformError as e:
            self.db.update_pending(pid, "failed", {"error": str(e)})
            raise
        a = _answer_json(ans)
        self.db.update_pending(pid, "answered", a)
        a["pending_id"] = pid
        return ans, a

    # -- commands ---------------------------------------------------------

    async def provision(self, args):
        imsi = str(args.get("imsi") or "")
        msisdn = str(args.get("msisdn") or "")
        try:
            D.imsi_field(imsi)
        except WmmpError:
            raise InputError("IMSI must be 15 digits")
        if not valid_msisdn(msisdn):
            raise InputError("bad MSISDN %r" % msisdn)
        extra = {}
        serial = args.get("serial")
        if serial:
            try:
                extra["serial"] = serial_key(serial_bytes(serial))
            except ValueError as e:
                raise InputError("bad serial: %s" % e)
        for name in ("preset_uplink", "preset_downlink"):
            v = args.get(name)
            if v:
                try:
                    D.password_field(v)
                except WmmpError:
                    raise InputError("%s must be 8 visible ASCII characters (INTEROP 8)" % name.replace("_", "-"))
                extra[name] = v
        if bool(args.get("preset_uplink")) != bool(args.get("preset_downlink")):
            raise InputError("give both --preset-uplink and --preset-downlink")
        alg = args.get("preset_key_alg")
        try:
            alg = creds.alg_code(alg) if alg is not None else self.pf.config.base_alg
        except ValueError as e:
            raise InputError(str(e))
        if args.get("preset_key"):
            key = args["preset_key"]
            if not key.isalnum() or not key.isascii() or len(key) not in creds.VALID_KEY_LENGTHS[alg]:
                raise InputError("preset key must be %s letters/digits for %s" % (
                    " or ".join(map(str, creds.VALID_KEY_LENGTHS[alg])), creds.alg_name(alg)))
            extra["preset_key"] = key
            extra["preset_key_alg"] = alg
        if args.get("preset_validity") is not None:
            try:
                extra["preset_validity"] = J.parse_int(args["preset_validity"], "preset validity", 0, 0xFFFFFFFF)
            except J.FormError as e:
                raise InputError(str(e))
        extra["force_sms"] = 1 if args.get("force_sms") else 0
        extra["no_security"] = 1 if args.get("no_security") else 0
        row = self.db.provision(imsi, msisdn, **extra)
        return {"subscription": row}

    async def flag(self, args):
        term = self._terminal(args.get("serial"))
        changes = {}
        for name, value in (args.get("flags") or {}).items():
            col = FLAGS.get(name)
            if col is None:
                raise InputError("unknown flag %r (%s)" % (name, ", ".join(sorted(FLAGS))))
            if value not in (0, 1, True, False):
                raise InputError("flag %s takes 0 or 1" % name)
            changes[col] = int(value)
        self.db.update_terminal(term["serial"], **changes)
        return {"terminal": term["serial"], "changed": changes}

    async def list(self, args):
        out = []
        for t in self.db.terminals():
            rt = self.pf.runtimes.get(t["serial"])
            out.append({"serial": t["serial"], "state": t["state"], "imsi": t["imsi"], "msisdn": t["msisdn"],
                        "last_seen": t["last_seen"], "last_seen_text": _iso(t["last_seen"]),
                        "bearer": t["last_bearer"], "address": t["last_address"],
                        "session_key": bool(rt is not None and rt.session is not None),
                        "security": bool(self.pf.security_on(t))})
        subs = [s for s in self.db.subscriptions()
                if not any(t["imsi"] == s["imsi"] for t in self.db.terminals())]
        return {"terminals": out, "unregistered_subscriptions": subs}

    async def show(self, args):
        term = self._terminal(args.get("serial"))
        serial = term["serial"]
        rt = self.pf.runtimes.get(serial)
        info = dict(term)
        info["last_seen_text"] = _iso(term["last_seen"])
        info["base_alg_name"] = creds.alg_name(term["base_alg"]) if term["base_alg"] is not None else None
        info["session_alg_name"] = creds.alg_name(term["session_alg"]) if term["session_alg"] is not None else None
        info["logged_in"] = bool(rt is not None and rt.logged_in)
        info["curtime"] = rt.curtime if rt is not None else None
        info["session_key"] = repr(rt.session) if rt is not None and rt.session is not None else None
        params = [dict(V.tlv_json(tag, value), updated=_iso(updated))
                  for tag, value, updated in self.db.params(serial)]
        limit = int(args.get("limit") or 20)
        return {"terminal": info, "params": params,
                "messages": self.db.messages(serial, limit), "pending": self.db.pendings(serial, 10)}

    async def log(self, args):
        serial = args.get("serial")
        return {"messages": self.db.messages(serial or None, int(args.get("limit") or 50))}

    async def get(self, args):
        """4.3.6, G g: CONFIG_GET with the tags at L=0."""
        term = self._terminal(args.get("serial"))
        tags = [V.parse_tag(t) for t in args.get("tags") or []]
        if not tags:
            raise InputError("name at least one tag")
        msg = codec.Message(C.CONFIG_GET, tlvs=[(t, b"") for t in tags])
        ans, a = await self._ask(term["serial"], msg, args)
        if ans.fields.get("result") == 0x00:
            for t, v in ans.tlvs:
                if v:
                    self.db.set_param(term["serial"], t, v)
        return a

    async def set(self, args):
        """4.3.9.3, G h: CONFIG_SET (0x4009 = 1 with force), then the terminal's
        0x4010 reports of the same seq (applied / deferred / failed)."""
        term = self._terminal(args.get("serial"))
        tlvs = self._tlvs(args.get("tlvs"))
        if not tlvs:
            raise InputError("give at least one TAG=VALUE")
        if args.get("force"):
            tlvs.append((0x4009, b"\x01"))
        msg = codec.Message(C.CONFIG_SET, tlvs=tlvs)
        ans, a = await self._ask(term["serial"], msg, args)
        a["reports"] = []
        if ans.fields.get("result") != 0x00:
            return a
        wait = float(args.get("report_wait", 10.0))
        pid = a["pending_id"]
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        while loop.time() < end:
            row = self.db.pending_row(pid)
            reports = [x for x in row["answer"] if "report" in x]
            if reports and reports[-1]["report"] != 0x01:
                break
            await asyncio.sleep(0.05)
        row = self.db.pending_row(pid)
        a["reports"] = [x for x in row["answer"] if "report" in x]
        return a

    async def ctrl(self, args):
        """4.3.7, G i: REMOTE_CTRL with TLV 0x4001."""
        term = self._terminal(args.get("serial"))
        code = V.parse_code(args.get("code"), V.CTRL_NAMES, "control code")
        tlvs = [(0x4001, bytes([code]))] + self._tlvs(args.get("tlvs"))
        msg = codec.Message(C.REMOTE_CTRL, tlvs=tlvs)
        ans, a = await self._ask(term["serial"], msg, args, note="control 0x%02X" % code)
        return a

    async def security(self, args):
        """4.3.10, 4.4.3.1.3.2, G m: SECURITY_CONFIG operations 0x00-0x07.  For op 0x00
        a value "new" makes the platform generate E025/E028/E036 (and their validity);
        passwords and keys in clear go by SMS (4.3.10) unless encrypted with the
        session key.  Op 0x03 (update notice) is followed, once accepted, by an SMS
        with new values of the tags named."""
        pf = self.pf
        term = self._terminal(args.get("serial"))
        serial = term["serial"]
        op = V.parse_code(args.get("operation"), V.SECURITY_OPS, "security operation", 0xFF)
        items = args.get("tlvs") or []
        tlvs = []
        secrets = {}
        gen = {}
        for item in items:
            try:
                tag, value = item
                tag = V.parse_tag(tag)
            except (TypeError, ValueError) as e:
                raise InputError("bad TLV %r: %s" % (item, e))
            if value == "new":
                which = {0xE025: "up", 0xE028: "down", 0xE036: "key"}.get(tag)
                if which is None:
                    raise InputError("only E025, E028 and E036 can be \"new\"")
                gen.update(flows.new_secrets(pf, {which}, term["base_alg"]))
                continue
            try:
                tlvs.append((tag, bytes.fromhex(value)))
            except (TypeError, ValueError):
                raise InputError("bad hex value for 0x%04X" % tag)
        if op == 0x00:
            given = dict(tlvs)
            for tag, k, vk in ((0xE025, "up_pw", "up_valid"), (0xE028, "down_pw", "down_valid"),
                               (0xE036, "base_key", "base_valid")):
                if tag in given:
                    secrets[k] = given[tag].decode("latin-1")
                    vt = {0xE025: 0xE027, 0xE028: 0xE02A, 0xE036: 0xE038}[tag]
                    if vt in given:
                        secrets[vk] = int.from_bytes(given[vt], "big")
                    else:
                        secrets[vk] = int(pf.clock()) + (pf.config.key_lifetime if tag == 0xE036
                                                         else pf.config.password_lifetime)
                        tlvs.append((vt, secrets[vk].to_bytes(4, "big")))
            if 0xE036 in given:
                secrets["base_alg"] = given[0xE039][0] if 0xE039 in given else term["base_alg"]
            secrets.update(gen)
            gen_tlvs = flows.secret_tlvs({k: v for k, v in gen.items() if k != "session_alg"})
            tlvs = [tv for tv in tlvs if tv[0] not in dict(gen_tlvs)] + gen_tlvs
        if not tlvs and op in (0x00, 0x01, 0x02, 0x03):
            raise InputError("operation 0x%02X needs TLVs" % op)
        clear_secret = any(t in flows.SECRET_TAGS for t, _ in tlvs)
        via = args.get("via")
        notes = []
        if clear_secret and not args.get("encrypt") and via != "sms":
            # 4.3.10: passwords and keys in clear only by SMS.
            via = "sms"
            notes.append("secrets in clear: sent by SMS (4.3.10)")
        encrypt_tags = None
        if args.get("encrypt") == "partial":
            encrypt_tags = [t for t, _ in tlvs if t in flows.SECRET_TAGS] or None
        if secrets:
            pf.db.update_terminal(serial, pending_keys=json.dumps(secrets))
        msg = codec.Message(C.SECURITY_CONFIG, {"operation": op}, tlvs)
        pid = self.db.add_pending(serial, msg.name, None, {"operation": op,
                                                          "tlvs": [[t, v.hex()] for t, v in tlvs]})
        try:
            ans = await pf.request(serial, msg, via=via, encrypt=args.get("encrypt"), encrypt_tags=encrypt_tags,
                                   timeout=float(args.get("timeout") or DEFAULT_TIMEOUT), pid=pid,
                                   note="; ".join(notes))
        except PlatformError as e:
            self.db.update_pending(pid, "failed", {"error": str(e)})
            raise
        a = _answer_json(ans)
        self.db.update_pending(pid, "answered", a)
        a["pending_id"] = pid
        a["notes"] = notes
        result = ans.fields.get("result")
        if result == 0x00 and op == 0x00:
            given = dict(tlvs)
            if 0xE041 in given:
                pf.db.update_terminal(serial, fail_reply=given[0xE041][0])
            for t, v in tlvs:
                if t not in flows.SECRET_TAGS:
                    pf.db.set_param(serial, t, v)
            if secrets:
                a["notes"].append("new secrets pending until the terminal logs out with 0x09 (4.4.3.1.3.3)")
        elif result == 0x00 and op == 0x03:
            which = {flows._REQUESTABLE[t] for t, _ in tlvs if t in flows._REQUESTABLE}
            if which:
                fresh = flows.new_secrets(pf, which, term["base_alg"])
                pf.db.update_terminal(serial, pending_keys=json.dumps(fresh))
                flows.schedule_key_sms(pf, serial, fresh, pf.config.key_delay,
                                       "new secrets after the update notice (4.4.3.1.3.2 a.1.4)")
                a["notes"].append("new %s follow by SMS" % ", ".join(sorted(which)))
        elif result != 0x00 and secrets:
            pf.db.update_terminal(serial, pending_keys=None)
        return a

    async def logout(self, args):
        """4.3.3, G c: platform-initiated LOGOUT; the session ends with the ACK."""
        term = self._terminal(args.get("serial"))
        reason = V.parse_code(args.get("reason"), V.LOGOUT_REASONS, "logout reason")
        msg = codec.Message(C.LOGOUT, {"reason": reason})
        ans, a = await self._ask(term["serial"], msg, args, note="reason 0x%02X" % reason)
        flows.end_session(self.pf, term["serial"], "logged-out")
        if reason == 0x09:
            flows.promote_pending(self.pf, term["serial"], "LOGOUT 0x09")
        return a

    async def app_data(self, args):
        return {"app_data": [dict(r, data=bytes(r["data"]).hex()) for r in self.db.app_data(args.get("ec"))]}

    COMMANDS = ("provision", "flag", "list", "show", "log", "get", "set", "ctrl", "security", "logout",
                "app_data")

    async def run(self, op, args):
        if op not in self.COMMANDS:
            raise InputError("unknown control op %r" % (op,))
        if args.get("via") not in (None, "sms", "packet"):
            raise InputError("via must be \"sms\" or \"packet\"")
        if args.get("encrypt") not in (None, "full", "partial"):
            raise InputError("encrypt must be \"full\" or \"partial\"")
        return await getattr(self, op)(args)
