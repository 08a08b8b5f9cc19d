"""AT-level emulators of the cellular modules (the `wmmp-emu` command), CPython
only.  Each emulator consumes the bytes the host writes to the UART and
produces the module's output; its network side is real (loopback UDP/TCP
sockets, SMS through the emulated SMS centre, docs/SMSC.md).

    sim7600.Sim7600   SIMCom SIM7600 (SIMCom's AT manual)
    bc95.Bc95         Quectel BC95 / BC95-G NB-IoT (the AT manuals, BC95 part; PSM model)
    modem.Modem       what every emulated module shares (UART, power, dispatcher)
    pdusms.PduSms     PDU-mode SMS commands through the SMS centre (both modules)
    stream.HostPort   in-process serial line (the AT engine's stream in tests)
    ptyio.PtyPort     pseudo-terminal (pyserial programs, the firmware UART code)
    faults            dropped / delayed / corrupted output lines
    netsock           the real sockets behind AT socket commands
    atline            V.250 command-line syntax
    cli               the `wmmp-emu` command
"""
