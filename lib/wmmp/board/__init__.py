"""The board layer: the terminal's life on a device, and its I/O.

    device      boot to forever: flash store, modem, engine, console, watchdog
    runner      the asyncio runner of the sans-I/O engine over real bearers
    cellular    modem power-on, identity and bearers with back-off
    settings    factory settings of a board (board.py) into parameters
    supervise   restart a failed task after a back-off
    store       the power-cut-safe flash store of parameters and secrets
    fsio        the filesystem calls the store needs
    uartstream  UART and USB console streams for asyncio
    console     the service console (sans-I/O): input, replies, STATUS, IDENT
    consoleauth the service credential: CHALLENGE/AUTH, PROVISION/REKEY
    consolereset the local security resets: RESET SIM, RESET KEYS
    consoleinfo the console's read-only commands: STATUS, IDENT, ALARMS, AUDIT
    consoleconfig local configuration (4.3.9.2): GET, SET, REQUEST CONFIG/SECURITY
    consoletask the asyncio task that serves the console
    alarms      alarms from real sources (4.3.5) and the status LED

Imports downward only: wmmp.modem, wmmp.terminal, wmmp.wire, wmmp.crypto.
"""
