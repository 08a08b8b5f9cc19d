"""And-link (the LwM2M profile for NB-IoT, And-link spec sections 3-4) on a
board: the sans-I/O client of andlink.client driven over the cellular
module's UDP sockets (the BC95's or the SIM7600's).  Portable: MicroPython and CPython asyncio.

    settings   the board's ANDLINK settings (server, bootstrap, lifetime,
               binding, product token, device type, sleep ...) and defaults
    objects    the device's object store: /3 Device, /4 Connectivity
               Monitoring, /7 Connectivity Statistics, /19/1 parameters,
               the board's values (battery, memory, signal, cell id)
    runner     Runner: the client over a datagram link (receive, send, tick
               at the deadline, sleep in queue mode, restart when idle); its
               loop never dies
    bc95link   Bc95Link: CoAP datagrams over the BC95 driver's sockets
               (AT+NSOCR / AT+NSOST / +NSONMI / AT+NSORF), PSM or radio off
               while the client sleeps
    sim7600link Sim7600Link: the same over one SIM7600 UDP link to every
               peer (AT+CIPOPEN / AT+CIPSEND / RECV FROM + +IPD), host names
               resolved by the module (AT+CDNSGIP)
    service    Service: what wmmp.board.device starts when the board's
               PROTOCOLS name "andlink" (the module, the flash record, the
               updater's stager, the restart)

boards/README.md, "And-link", has the decisions; boards/*/README.md say
which board runs which protocol.
"""
