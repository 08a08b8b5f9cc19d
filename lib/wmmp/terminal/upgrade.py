"""Software upgrade (section 4.3.8, appendix G k, l): DOWNLOAD_INFO and FILE_REQ.

NOT BUILT YET: the over-the-air updater (download that resumes, apply that
cannot brick) is open work; until it exists every DOWNLOAD_INFO is answered
"protocol not supported" (0x03), so the platform is never told an upgrade was
taken.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

from wmmp.wire import codec, codes as K, commands as C


def on_download_info(t, msg, bearer, now):
    """G k: refuse with "protocol not supported"."""
    t.respond(msg, codec.Message(C.DOWNLOAD_INFO_ACK, {"result": K.DL_ACK_PROTOCOL_UNSUPPORTED}), bearer)
