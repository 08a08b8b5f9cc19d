"""Operator commands of the platform (what the control socket and the CLI offer):
provisioning, listing, and the platform-initiated requests of 4.3.6-4.3.10 with
their answers (CONFIG_GET, CONFIG_SET + 0x4010 reports, REMOTE_CTRL,
SECURITY_CONFIG, LOGOUT).  Every method returns a JSON-able dict; bad input raises
InputError, a request that fails raises PlatformError.

Secrets (passwords, keys, PINs) are hidden in every answer unless the request
says "show_secrets": true; what is stored keeps them.  `provision` never deletes
or overwrites another subscription unless the request says "replace": true.
"""

import asyncio
import hashlib
import json
import math
import os

from wmmp.wire import codec
from wmmp.wire import commands as C
from wmmp.wire import crc
from wmmp.wire import digest as D
from wmmp.errors import WmmpError

from wmmp_tools import jsonform as J
from wmmp_tools import logfmt
from wmmp_tools.platform import creds, flows, upgrade
from wmmp_tools.platform import values as V
from wmmp_tools.platform.db import ProvisionConflict
from wmmp_tools.platform.model import PlatformError, parse_serial
from wmmp_tools.platform.values import InputError
from wmmp_tools.smsc import valid_msisdn

DEFAULT_TIMEOUT = 30.0
MAX_SECONDS = 86400.0
MAX_LIMIT = 100000
DATA_MAX = 1024              # user data of one TRANSPARENT_DATA on a packet bearer (G j)
UPLOADS_MAX = 4              # unfinished uploads kept (upgrade_upload)

# Per-terminal switches the operator may flip (wmmp-platform flag).
FLAGS = {
    "keep-connected": "keep_connected",      # LOGIN_ACK 0x08 (G b)
    "fail-reply": "fail_reply",              # E041 = 0x01: echo the header on failures (4.4.5)
    "session-required": "session_required",  # LOGIN without E03A -> 0x09 (G b)
    "security": "security",                  # 0 = no-security for this terminal
}


def seconds_arg(args, key, default, lo=0.0, hi=MAX_SECONDS):
    """A number of seconds from a request field (absent: default)."""
    v = args.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise InputError("%s must be a number of seconds" % key)
    try:
        x = float(v)
    except ValueError:
        raise InputError("%s must be a number of seconds, not %r" % (key, v))
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InputError("%s must be %g..%g seconds, not %s" % (key, lo, hi, v))
    return x


def int_arg(args, key, default, lo, hi):
    v = args.get(key)
    if v is None:
        return default
    try:
        return J.parse_int(v, key, lo, hi)
    except J.FormError as e:
        raise InputError(str(e))


def _answer_json(msg, show_secrets=False):
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
    out["tlvs"] = [V.tlv_json(t, v, show_secrets) for t, v in msg.tlvs]
    if msg.encryption != codec.ENC_NONE:
        out["encryption"] = J.ENCRYPTION_NAMES[msg.encryption]
    return out


def _iso(t):
    """A Unix time as text: UTC+8 with its offset (wmmp_tools.logfmt)."""
    if t is None:
        return None
    return logfmt.stamp(int(t))


_CIPHER_NAMES = {1: "des", 2: "3des", 3: "aes"}      # wmmp.crypto.cipher ALG_*


def session_text(session):
    """A session key as a person reads it, its key never shown."""
    return "%s, %d-byte key (hidden), valid until %s" % (
        _CIPHER_NAMES.get(session.alg, "algorithm %s" % session.alg), len(session.key),
        logfmt.when(session.valid_until))


class Operator:
    def __init__(self, pf):
        self.pf = pf
        self.db = pf.db

    # -- helpers ----------------------------------------------------------

    def _terminal(self, serial):
        if not isinstance(serial, str) or not serial:
            raise InputError("a terminal serial is needed")
        try:
            serial = parse_serial(serial)
        except ValueError as e:
            raise InputError("bad serial: %s" % e)
        term = self.db.terminal(serial)
        if term is None:
            raise InputError("unknown terminal %s (see: wmmp-platform list)" % serial)
        return term

    @staticmethod
    def _tlvs(items):
        out = []
        if items is not None and not isinstance(items, list):
            raise InputError("tlvs must be a list of [tag, hex]")
        for item in items or []:
            try:
                tag, hx = item
                tag = V.parse_tag(tag)
                out.append((tag, bytes.fromhex(hx)))
            except (TypeError, ValueError) as e:
                raise InputError("bad TLV %r: %s" % (item, e))
        return out

    async def _ask(self, serial, msg, args, note="", on_answer=None):
        """Send a request for the operator, log it in `pending`, wait for the answer
        (on_answer: as Platform.request's)."""
        timeout = seconds_arg(args, "timeout", DEFAULT_TIMEOUT, 0.001)
        pid = self.db.add_pending(serial, msg.name, None, {
            "tlvs": [[t, v.hex()] for t, v in msg.tlvs], "fields": {k: v for k, v in msg.fields.items()
                                                                   if isinstance(v, int)}})
        try:
            ans = await self.pf.request(serial, msg, via=args.get("via"), encrypt=args.get("encrypt"),
                                        timeout=timeout, pid=pid, note=note, on_answer=on_answer)
        except PlatformError as e:
            self.db.update_pending(pid, "failed", {"error": str(e)})
            raise
        self.db.update_pending(pid, "answered", _answer_json(ans, True))
        a = _answer_json(ans, bool(args.get("show_secrets")))
        a["pending_id"] = pid
        return ans, a

    # -- commands ---------------------------------------------------------

    async def provision(self, args):
        imsi = args.get("imsi")
        msisdn = args.get("msisdn")
        if not isinstance(imsi, str) or not imsi.isascii() or len(imsi) != 15 or not imsi.isdigit():
            raise InputError("IMSI must be 15 digits, got %r" % (imsi if not isinstance(imsi, str) else imsi[:40]))
        if not valid_msisdn(msisdn):
            raise InputError("bad MSISDN %r (1 to 20 digits, + allowed first)"
                             % (msisdn[:40] if isinstance(msisdn, str) else msisdn))
        extra = {}
        serial = args.get("serial")
        if serial is not None:
            try:
                extra["serial"] = parse_serial(serial, assigned=True)
            except ValueError as e:
                raise InputError("bad serial: %s" % e)
        for name in ("preset_uplink", "preset_downlink"):
            v = args.get(name)
            if v is not None:
                try:
                    if not isinstance(v, str):
                        raise TypeError
                    D.password_field(v)
                except (WmmpError, TypeError):
                    raise InputError("%s must be 8 visible ASCII characters (PROTOCOL.md 8)" % name.replace("_", "-"))
                extra[name] = v
        if (args.get("preset_uplink") is None) != (args.get("preset_downlink") is None):
            raise InputError("give both --preset-uplink and --preset-downlink")
        alg = args.get("preset_key_alg")
        try:
            alg = creds.alg_code(alg) if alg is not None else self.pf.config.base_alg
        except ValueError as e:
            raise InputError(str(e))
        if args.get("preset_key") is not None:
            key = args["preset_key"]
            if not isinstance(key, str) or not key.isalnum() or not key.isascii() \
                    or len(key) not in creds.VALID_KEY_LENGTHS[alg]:
                raise InputError("preset key must be %s letters/digits for %s" % (
                    " or ".join(map(str, creds.VALID_KEY_LENGTHS[alg])), creds.alg_name(alg)))
            extra["preset_key"] = key
            extra["preset_key_alg"] = alg
        elif args.get("preset_key_alg") is not None:
            raise InputError("--preset-key-alg goes with --preset-key")
        if args.get("preset_validity") is not None:
            if not any(k in extra for k in ("preset_uplink", "preset_key")):
                raise InputError("--preset-validity goes with preset secrets")
            try:
                extra["preset_validity"] = J.parse_int(args["preset_validity"], "preset validity", 1, 0xFFFFFFFF)
            except J.FormError as e:
                raise InputError(str(e))
        extra["force_sms"] = 1 if args.get("force_sms") else 0
        extra["no_security"] = 1 if args.get("no_security") else 0
        try:
            row, replaced, changed = self.db.provision(imsi, msisdn, replace=bool(args.get("replace")), **extra)
        except ProvisionConflict as e:
            raise PlatformError(str(e))
        show = bool(args.get("show_secrets"))
        hide = (lambda r: r) if show else (lambda r: V.hide_fields(r, V.SUBSCRIPTION_SECRETS))
        return {"subscription": hide(row), "changed": changed, "replaced": [hide(r) for r in replaced]}

    async def flag(self, args):
        term = self._terminal(args.get("serial"))
        changes = {}
        if not isinstance(args.get("flags") or {}, dict):
            raise InputError("flags must be an object {name: 0 or 1}")
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
        if not args.get("show_secrets"):
            subs = [V.hide_fields(s, V.SUBSCRIPTION_SECRETS) for s in subs]
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
        info["session_key"] = session_text(rt.session) if rt is not None and rt.session is not None else None
        show = bool(args.get("show_secrets"))
        params = [dict(V.tlv_json(tag, value, show), updated=_iso(updated))
                  for tag, value, updated in self.db.params(serial)]
        limit = int_arg(args, "limit", 20, 1, MAX_LIMIT)
        pending = self.db.pendings(serial, 10)
        if not show:
            info = V.hide_terminal(info)
            for p in pending:
                p["request"] = V.hide_answer(p["request"])
                p["answer"] = [V.hide_answer(x) for x in p["answer"]]
        return {"terminal": info, "params": params,
                "messages": self._messages(serial, limit, show), "pending": pending}

    def _messages(self, serial, limit, show):
        rows = self.db.messages(serial, limit)
        if not show:
            for m in rows:
                m["hex"] = V.redact_wire(m["hex"])
        return rows

    async def log(self, args):
        serial = args.get("serial")
        limit = int_arg(args, "limit", 50, 1, MAX_LIMIT)
        if serial is not None and serial != "":
            if not isinstance(serial, str):
                raise InputError("serial must be text")
            try:
                serial = parse_serial(serial)
            except ValueError as e:
                raise InputError("bad serial: %s" % e)
            rows = self._messages(serial, limit, bool(args.get("show_secrets")))
            if not rows and self.db.terminal(serial) is None:
                raise InputError("no terminal or messages for serial %s (see: wmmp-platform list)" % serial)
            return {"messages": rows}
        return {"messages": self._messages(None, limit, bool(args.get("show_secrets")))}

    async def get(self, args):
        """4.3.6, G g: CONFIG_GET with the tags at L=0."""
        term = self._terminal(args.get("serial"))
        if not isinstance(args.get("tags") or [], list):
            raise InputError("tags must be a list")
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
        wait = seconds_arg(args, "report_wait", 10.0)
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
        timeout = seconds_arg(args, "timeout", DEFAULT_TIMEOUT, 0.001)
        op = V.parse_code(args.get("operation"), V.SECURITY_OPS, "security operation", 0xFF)
        items = args.get("tlvs") or []
        if not isinstance(items, list):
            raise InputError("tlvs must be a list")
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
            if op == 0x00 and tag in flows.SECRET_TAGS + (0xE03B,) and tlvs[-1][1]:
                V.parse_value(tag, tlvs[-1][1].decode("latin-1"))      # the rules of that secret
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
        clear_secret = any(t in flows.SECRET_TAGS and v for t, v in tlvs)   # L=0 reads carry none
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
                                   timeout=timeout, pid=pid, note="; ".join(notes))
        except PlatformError as e:
            self.db.update_pending(pid, "failed", {"error": str(e)})
            raise
        self.db.update_pending(pid, "answered", _answer_json(ans, True))
        a = _answer_json(ans, bool(args.get("show_secrets")))
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

        def ended(ans, late):
            # As the ACK is handled, not after this task resumes: a terminal that logs
            # in again at once (reasons 0x02, 0x06, 0x08) keeps its new session.
            if not late:
                flows.end_session(self.pf, term["serial"], "logged-out", reason)
                if reason == 0x09:
                    flows.promote_pending(self.pf, term["serial"], "LOGOUT 0x09")
        ans, a = await self._ask(term["serial"], msg, args, note="reason 0x%02X" % reason, on_answer=ended)
        return a

    async def app_data(self, args):
        if args.get("ec") is not None and not isinstance(args.get("ec"), str):
            raise InputError("ec must be text")
        return {"app_data": [dict(r, data=bytes(r["data"]).hex()) for r in self.db.app_data(args.get("ec"))]}

    # -- the serial data bridge (4.3.11, G j) -------------------------------

    async def data_send(self, args):
        """Downlink TRANSPARENT_DATA: user data (hex) to a terminal's data port,
        source EC code 0x4015 (default: the terminal's 0x0028 as last reported);
        the answer is the terminal's ACK (0x05 received, 0x06 CRC failed)."""
        term = self._terminal(args.get("serial"))
        try:
            data = J.parse_hex(args.get("data"), "data")
        except J.FormError as e:
            raise InputError(str(e))
        if not 1 <= len(data) <= DATA_MAX:
            raise InputError("data must be 1..%d bytes (appendix G j), got %d" % (DATA_MAX, len(data)))
        ec = args.get("ec")
        if ec is None:
            kept = self.db.param(term["serial"], 0x0028)
            ec = bytes(kept).decode("latin-1") if kept else None
        elif not isinstance(ec, str) or not 1 <= len(ec) <= 32 or not all("!" <= c <= "~" for c in ec):
            raise InputError("ec must be 1 to 32 visible ASCII characters")
        tlvs = ([(0x4015, ec.encode("latin-1"))] if ec else []) + [(0x4007, data)]
        msg = codec.Message(C.TRANSPARENT_DATA, {"crc16": crc.crc16(data, self.pf.profile.crc16)}, tlvs)
        ans, a = await self._ask(term["serial"], msg, args, note="%d bytes%s" % (
            len(data), " from EC %s" % ec if ec else ""))
        a["bytes"] = len(data)
        a["ec"] = ec
        return a

    async def data_follow(self, args):
        """Uplink data (TRANSPARENT_DATA to an EC code) stored after row `after`,
        waiting up to `wait` s for the first; without `after`, none and the id to
        follow from ("all": from the first row kept)."""
        ec = args.get("ec")
        if ec is not None and not isinstance(ec, str):
            raise InputError("ec must be text")
        serial = args.get("serial")
        if serial is not None:
            if not isinstance(serial, str):
                raise InputError("serial must be text")
            try:
                serial = parse_serial(serial)
            except ValueError as e:
                raise InputError("bad serial: %s" % e)
        limit = int_arg(args, "limit", 1000, 1, MAX_LIMIT)
        wait = seconds_arg(args, "wait", 0.0, 0.0, 60.0)
        after = args.get("after")
        if after is None:
            if not args.get("all"):
                return {"rows": [], "last": self.db.app_data_last()}
            after = 0
        after = int_arg({"after": after}, "after", 0, 0, 2 ** 62)
        loop = asyncio.get_running_loop()
        end = loop.time() + wait
        while True:
            rows = self.db.app_data_since(after, ec, serial, limit)
            if rows or loop.time() >= end:
                break
            await asyncio.sleep(0.05)
        out = [dict(r, data=bytes(r["data"]).hex()) for r in rows]
        return {"rows": out, "last": out[-1]["id"] if out else after}

    async def data_result(self, args):
        """The result (0x01-0x04) the platform answers the terminal's next
        `count` uplink TRANSPARENT_DATA with (0: every one until cleared); result
        0x00 clears it."""
        term = self._terminal(args.get("serial"))
        result = int_arg(args, "result", None, 0, 4)
        if result is None:
            raise InputError("result 0..4 is needed (0 clears)")
        count = int_arg(args, "count", 1, 0, 10 ** 9)
        flows.set_data_result(self.pf, term["serial"], result, count)
        return {"terminal": term["serial"], "result": result, "count": count if result else 0}

    # -- software upgrade (4.3.8, appendix G k, l; upgrade.py) ----------------

    async def upgrade_upload(self, args):
        """A part of a file to publish (the control line is at most 64 KiB): data
        (hex) at `offset` of the upload `upload` (none: a new one)."""
        st = upgrade.state(self.pf)
        try:
            data = J.parse_hex(args.get("data"), "data")
        except J.FormError as e:
            raise InputError(str(e))
        token = args.get("upload")
        if token is None:
            token = os.urandom(8).hex()
            while len(st.uploads) >= UPLOADS_MAX:
                del st.uploads[next(iter(st.uploads))]
            st.uploads[token] = bytearray()
        buf = st.uploads.get(token) if isinstance(token, str) else None
        if buf is None:
            raise InputError("no upload %r (it is kept until published, in memory)" % (token,))
        offset = int_arg(args, "offset", len(buf), 0, upgrade.FILE_MAX)
        if offset != len(buf):
            raise InputError("upload %s has %d bytes: the next part starts there, not at %d"
                             % (token, len(buf), offset))
        if len(buf) + len(data) > upgrade.FILE_MAX:
            del st.uploads[token]
            raise InputError("the file is longer than %d bytes" % upgrade.FILE_MAX)
        buf += data
        return {"upload": token, "size": len(buf)}

    async def upgrade_publish(self, args):
        """Store a file as software `version`: `data` (hex) or a finished `upload`;
        `sha256` (hex), when given, must match."""
        st = upgrade.state(self.pf)
        if args.get("upload") is not None:
            data = st.uploads.get(args["upload"]) if isinstance(args["upload"], str) else None
            if data is None:
                raise InputError("no upload %r" % (args["upload"],))
        else:
            try:
                data = J.parse_hex(args.get("data"), "data")
            except J.FormError as e:
                raise InputError(str(e))
        data = bytes(data)
        want = args.get("sha256")
        if want is not None and (not isinstance(want, str) or hashlib.sha256(data).hexdigest() != want.lower()):
            raise PlatformError("the file arrived damaged (SHA-256 differs): publish it again")
        name = args.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise InputError("name must be text of at most 200 characters")
        try:
            row = upgrade.publish(self.pf, data, args.get("version"), name)
        except ValueError as e:
            raise InputError(str(e))
        if args.get("upload") is not None:
            st.uploads.pop(args["upload"], None)
        return {"file": row}

    async def upgrade_files(self, args):
        return {"files": self.db.upgrade_files()}

    async def upgrade_push(self, args):
        """DOWNLOAD_INFO (G k) for the file of `version` (default: the newest
        published): scheme "http" or "wmmp", `force` (0x100B), `crc` "crc16" or
        "crc32"; test switches `corrupt_at` (read points) and `window`.  The
        answer's result is the DOWNLOAD_INFO_ACK result."""
        term = self._terminal(args.get("serial"))
        serial = term["serial"]
        version = args.get("version")
        if version is not None:
            frow = self.db.upgrade_file_by_version(version) if isinstance(version, str) else None
            if frow is None:
                raise InputError("no published file of version %r (see: wmmp-platform upgrade files)"
                                 % (version if not isinstance(version, str) else version[:20],))
        else:
            files = self.db.upgrade_files()
            if not files:
                raise InputError("no file published yet (wmmp-platform upgrade publish FILE --version V)")
            frow = files[-1]
        scheme = args.get("scheme", "wmmp")
        if scheme not in ("wmmp", "http"):
            raise InputError("scheme must be \"wmmp\" or \"http\"")
        kind = args.get("crc", "crc32")
        if kind not in ("crc16", "crc32"):
            raise InputError("crc must be \"crc16\" or \"crc32\"")
        corrupt = args.get("corrupt_at") or []
        if not isinstance(corrupt, list):
            raise InputError("corrupt_at must be a list of read points")
        corrupt = [int_arg({"p": p}, "p", 0, 0, 0xFFFFFFFF) for p in corrupt]
        window = int_arg(args, "window", 0, 0, 1024)
        tr, msg = upgrade.begin(self.pf, serial, frow, scheme, kind, bool(args.get("force")), corrupt, window)
        tid = tr["trans_id"]
        try:
            ans, a = await self._ask(serial, msg, args, note="upgrade %08X to %s" % (tid, frow["version"]))
        except PlatformError as e:
            upgrade.no_answer(self.pf, tid, str(e))
            raise
        result = ans.fields.get("result")
        a["upgrade"] = upgrade.summary(self.pf, upgrade.answered(self.pf, tid, result))
        a["result_text"] = upgrade.ACK_TEXT.get(result, a.get("result_text") or "")
        return a

    async def upgrade_status(self, args):
        """Transactions, newest first: of one terminal (all), or the newest of each
        terminal (`all`: every one)."""
        serial = args.get("serial")
        if serial is not None:
            serial = self._terminal(serial)["serial"]
            rows = self.db.upgrades(serial)
        else:
            rows = self.db.upgrades()
            if not args.get("all"):
                seen, keep = set(), []
                for r in rows:
                    if r["terminal"] not in seen:
                        seen.add(r["terminal"])
                        keep.append(r)
                rows = keep
        return {"upgrades": [upgrade.summary(self.pf, r) for r in rows]}

    COMMANDS = ("provision", "flag", "list", "show", "log", "get", "set", "ctrl", "security", "logout",
                "app_data", "data_send", "data_follow", "data_result", "upgrade_upload", "upgrade_publish",
                "upgrade_files", "upgrade_push", "upgrade_status")

    async def run(self, op, args):
        if op not in self.COMMANDS:
            raise InputError("unknown control op %r" % (op,))
        if args.get("via") not in (None, "sms", "packet"):
            raise InputError("via must be \"sms\" or \"packet\"")
        if args.get("encrypt") not in (None, "full", "partial"):
            raise InputError("encrypt must be \"full\" or \"partial\"")
        return await getattr(self, op)(args)
