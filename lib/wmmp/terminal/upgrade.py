"""Software upgrade (section 4.3.8, appendix G k, l; PROTOCOL.md 12): the
DOWNLOAD_INFO decision, the download (through FILE_REQ: wmmp.terminal.filereq;
or through the board's HTTP fetch), its resume across link loss and reboot, and
the outcome.  PROTOCOL.md 12 gives every rule; this is the interface.

The file goes to the board's stager (Config attribute stager; none: no updater, every
DOWNLOAD_INFO answered 0x03), synchronous:

    capacity() -> int                   bytes a staged file may have (0x05 above)
    begin(trans_id, size, crc_kind, crc_value, version) -> int
                                        start, or continue the same trans_id: the
                                        bytes already written and durable
    write(offset, data)                 sequential: offset == bytes written so far
    written() -> int
    read(offset, n) -> bytes            optional: read back (the whole-file CRC of
                                        the bytes kept, after a reboot); without it
                                        such a resume starts again from 0
    finish() -> (ok, reason)            all in, CRC checked: the stager checks the
                                        image (reason: a 0x3012 code when not ok)
    abort()                             drop the staged file
    busy_reason() -> None or str        optional: not now (DOWNLOAD_INFO 0x02)

crc_kind is 16 (profile CRC16) or 32 (IEEE CRC32).  The download is t._dl
(filereq.Download), persisted in string keys dl_* and resumed at start and at
each login.  The timer "upgrade" (pump) starts a
download that waited for the terminal to be idle or online.  HTTP: the event
("upgrade_fetch", trans_id, url, offset, size, etag) asks the board for bytes
[offset, size); it hands them over with t.upgrade_data(trans_id, offset, data,
now, etag) or reports t.upgrade_fetch_failed(trans_id, now).  Outcome: the
events ("upgrade_ready", trans_id, version) (the board applies it) and
("upgrade_failed", trans_id, reason), with 0x3012 reported;
t.upgrade_report(trans_id, reason, now) reports the board's own (a rollback:
0x05); t.upgrade_state() gives the progress.

Without a stager this module is all there is: the updater (wmmp.terminal.download
and wmmp.terminal.filereq, wmmp.wire.url) is imported only by a terminal that
has one (engine.Terminal calls download.init, which puts the calls above on the
terminal), so a terminal without an updater does not carry its code.

A flow of wmmp.terminal.engine: functions over the terminal `t`.
"""

from wmmp.wire import codec, codes as K, commands as C


def on_download_info(t, msg, bearer, now):
    """G k: without a stager "protocol not supported" (0x03); else the updater decides."""
    if getattr(t.cfg, "stager", None) is None:
        t.respond(msg, codec.Message(C.DOWNLOAD_INFO_ACK, {"result": K.DL_ACK_PROTOCOL_UNSUPPORTED}), bearer)
        return
    from wmmp.terminal import download
    download.on_download_info(t, msg, bearer, now)
