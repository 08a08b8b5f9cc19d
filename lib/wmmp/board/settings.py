"""The deployment settings a board boots with (wmmp.board.device): the factory values
of the board module (board.SETTINGS), overridden by what the platform set in
the parameters (appendix E b).  Portable.

    s = settings.resolve(board.SETTINGS, params)

Factory keys (all optional):
    transport          "udp" (the default bearer, INTEROP 9) or "tcp"
    host               the platform's address (dotted IPv4; the SIM7600 also
                       takes a name, the BC95 only an address)
    udp_port, tcp_port the platform's ports
    apn                APN (None: the module's default context)
    platform_numbers   SMS numbers WMMP SMS go to and are accepted from
    serial             bytes: the 16-byte serial, or its first 8 to ask for one
    software_version   bytes, up to 8 ASCII characters (LOGIN)
    session_key        ask for a session key at login (default True)
Parameters that win over them: 0x0009 platform IP (u32) -> host; 0x000A ports
(UDP << 16 | TCP; a 0 half keeps the factory port); 0x0002 platform APN ->
apn; 0x0007 platform SMS number -> first of platform_numbers.  The result has
every key above plus "port" (the port of the chosen transport).
"""

DEFAULTS = {"transport": "udp", "host": None, "udp_port": None, "tcp_port": None, "apn": None,
            "platform_numbers": (), "serial": b"", "software_version": b"WMMP0.1",
            "session_key": True}


def _text(v):
    return bytes(v).decode() if isinstance(v, (bytes, bytearray)) else v


def resolve(factory, params=None):
    s = dict(DEFAULTS)
    if factory:
        s.update(factory)
    if params is not None:
        ip = params.get(0x0009)
        if ip is not None and len(ip) == 4 and ip != b"\x00\x00\x00\x00":
            s["host"] = "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])
        ports = params.get_int(0x000A, 0)
        if ports >> 16:
            s["udp_port"] = ports >> 16
        if ports & 0xFFFF:
            s["tcp_port"] = ports & 0xFFFF
        apn = params.get(0x0002)
        if apn:
            s["apn"] = _text(apn)
        number = params.get(0x0007)
        if number:
            number = _text(number)
            s["platform_numbers"] = [number] + [n for n in s["platform_numbers"] if n != number]
    s["platform_numbers"] = list(s["platform_numbers"])
    s["transport"] = "tcp" if s["transport"] == "tcp" else "udp"
    s["port"] = s["tcp_port"] if s["transport"] == "tcp" else s["udp_port"]
    return s


def link(s):
    """What the data connection depends on: a change needs new bearers."""
    return (s["transport"], s["host"], s["port"], s["apn"], tuple(s["platform_numbers"]))
