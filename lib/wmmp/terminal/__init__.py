"""The terminal layer: the sans-I/O protocol engine of section 4 (see engine).

    engine      Terminal: the engine a runner drives
    params      the terminal's parameters over a storage object
    simcard     the SIM card interface and the simulated card
    simguard    SIM PIN1 boot guard and binding (4.4.1)

Imports only wmmp.wire, wmmp.crypto and wmmp.errors; knows nothing of modems
or boards.
"""
