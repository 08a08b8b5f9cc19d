"""The terminal layer: the sans-I/O protocol engine of section 4.

    engine        Terminal: the core and the flows put together (three tables)
    core          the shared context: state, transactions, timers, security
                  byte, bearer choice, duplicate cache, dispatch
    transfer      the core's sub-packet transfers (appendix F)
    registration  4.3.1        session  4.3.2-4.3.4     reporting  4.3.5
    configuration 4.3.6, 4.3.9 control  4.3.7           upgrade    4.3.8
    security      4.3.10, 4.4.2-4.4.3  sim  4.4.1       transparent 4.3.11
    params        the terminal's parameters over a storage object
    simcard       the SIM card interface and the simulated card
    simguard      SIM PIN1 boot guard, binding and PIN1 operations (4.4.1)
    simrecord     the SIM guard's persistent record and its never-lock rule

Imports only wmmp.wire, wmmp.crypto and wmmp.errors; knows nothing of modems
or boards.
"""
