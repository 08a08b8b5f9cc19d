"""Host tools for WMMP-T (CPython only): the `wmmp` command-line decoder/encoder
(`wmmp_tools.cli`) and the message <-> JSON form it uses (`wmmp_tools.jsonform`).
They build on the device package `wmmp` (lib/wmmp) and never change it.
"""

__version__ = "0.1.0"
