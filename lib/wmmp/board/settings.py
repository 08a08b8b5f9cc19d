"""The deployment settings a board boots with (wmmp.board.device): the factory values
of the board module (board.SETTINGS), overridden by what the platform set in
the parameters (appendix E b).  Portable.

    s = settings.resolve(board.SETTINGS, params)

Factory keys (all optional):
    transport          "udp" (the default bearer, PROTOCOL.md 9) or "tcp"
    host               the platform's address (dotted IPv4; the SIM7600 also
                       takes a name, resolved by the module's DNS; the BC95 only
                       an address)
    udp_port, tcp_port the platform's ports
    apn                the platform's APN (None: the module's default context)
    app_apn            the application's APN (0x4001 0x0C switches to it)
    apn_user, apn_password  PDP authentication of the APN (SIM7600: AT+CGAUTH)
    dns                (primary, secondary) DNS servers, dotted IPv4 (SIM7600)
    smsc               the SMS centre number (None: the SIM's)
    platform_numbers   SMS numbers WMMP SMS go to and are accepted from
    serial             bytes: the 16-byte serial, or its first 8 to ask for one
    software_version   bytes, up to 8 ASCII characters (LOGIN)
    session_key        ask for a session key at login (default True)
    long_connection    True (default): keep the session with heartbeats; False:
                       short connection, log out when the work is done (4.2.1)
Parameters that win over them: 0x0009 platform IP (u32) or 0x0008 platform
URL (its host part) -> host; 0x000A ports (UDP << 16 | TCP; a 0 half keeps
the factory port); 0x0002 platform APN -> apn; 0x0013 application APN ->
app_apn; 0x0003 / 0x0004 -> apn_user / apn_password; 0x0005 -> smsc;
0x0010 / 0x0014 DNS (u32, 0: none) -> dns; 0x0007 platform SMS number ->
first of platform_numbers.  Of 0x0008 and 0x0009 the one the platform set
last wins (note_address(); an IP of 0.0.0.0 is none).  The internal key
"apn_use" = b"app" (0x4001 0x0C, kept across restarts) makes the
application's APN the one in use.  The result has every key above plus
"port" (the port of the chosen transport), "platform_apn" (the platform's
APN; "apn" is the one in use) and "auth" ((user, password) or None).
"""

DEFAULTS = {"transport": "udp", "host": None, "udp_port": None, "tcp_port": None, "apn": None,
            "app_apn": None, "apn_user": None, "apn_password": None, "dns": (), "smsc": None,
            "platform_numbers": (), "serial": b"", "software_version": b"WMMP0.1",
            "session_key": True, "long_connection": True}

ADDRESS = (0x0008, 0x0009)      # platform URL, platform IP: the last set wins


def _text(v):
    return bytes(v).decode() if isinstance(v, (bytes, bytearray)) else v


def _ip(v):
    """A u32 address parameter as dotted text, None when absent or 0.0.0.0."""
    if v is None or len(v) != 4 or v == b"\x00\x00\x00\x00":
        return None
    return "%d.%d.%d.%d" % (v[0], v[1], v[2], v[3])


def url_host(url):
    """The host part of a platform URL (0x0008): 'udp://m2m.example.cn:7301/x'
    -> 'm2m.example.cn'; the ports stay those of 0x000A."""
    u = url
    k = u.find("://")
    if k >= 0:
        u = u[k + 3:]
    for sep in "/?":
        k = u.find(sep)
        if k >= 0:
            u = u[:k]
    k = u.rfind(":")
    if k >= 0:
        u = u[:k]
    return u or None


def note_address(params, seen):
    """Which of 0x0008 / 0x0009 the platform set last: `seen` is their values at
    the previous look ((url, ip) or None); when exactly one of them changed
    since, it is remembered (internal key "host_by", b"url" / b"ip", saved).
    -> the values now, for the next look."""
    now = (params.get(0x0008), params.get(0x0009))
    if seen is not None and now != seen:
        url_new, ip_new = now[0] != seen[0], now[1] != seen[1]
        if url_new != ip_new:
            params.set("host_by", b"url" if url_new else b"ip")
            params.commit()
    return now


def resolve(factory, params=None):
    s = dict(DEFAULTS)
    if factory:
        s.update(factory)
    if params is not None:
        ip = _ip(params.get(0x0009))
        url = params.get(0x0008)
        url = url_host(_text(url)) if url else None
        if url and (ip is None or params.get("host_by") == b"url"):
            s["host"] = url
        elif ip is not None:
            s["host"] = ip
        ports = params.get_int(0x000A, 0)
        if ports >> 16:
            s["udp_port"] = ports >> 16
        if ports & 0xFFFF:
            s["tcp_port"] = ports & 0xFFFF
        for tag, key in ((0x0002, "apn"), (0x0013, "app_apn"), (0x0003, "apn_user"),
                         (0x0004, "apn_password"), (0x0005, "smsc")):
            v = params.get(tag)
            if v:
                s[key] = _text(v)
        if params.get(0x0010) is not None or params.get(0x0014) is not None:
            s["dns"] = tuple(a for a in (_ip(params.get(0x0010)), _ip(params.get(0x0014))) if a)
        number = params.get(0x0007)
        if number:
            number = _text(number)
            s["platform_numbers"] = [number] + [n for n in s["platform_numbers"] if n != number]
    s["platform_numbers"] = list(s["platform_numbers"])
    s["dns"] = tuple(s["dns"] or ())
    s["transport"] = "tcp" if s["transport"] == "tcp" else "udp"
    s["port"] = s["tcp_port"] if s["transport"] == "tcp" else s["udp_port"]
    s["platform_apn"] = s["apn"]
    if s["app_apn"] and params is not None and params.get("apn_use") == b"app":
        s["apn"] = s["app_apn"]
    s["auth"] = (s["apn_user"] or "", s["apn_password"] or "") if s["apn_user"] or s["apn_password"] else None
    s["long_connection"] = bool(s["long_connection"])
    return s


def link(s):
    """What the data connection depends on: a change needs new bearers."""
    return (s["transport"], s["host"], s["port"], s["apn"], s["auth"], tuple(s["platform_numbers"]))
