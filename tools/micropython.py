"""CPython stand-in for MicroPython's built-in `micropython` module.

Only what lib/wmmp uses: const().  On a device the built-in module is used and
this file is never copied there.
"""


def const(value):
    return value


def native(f):
    return f


viper = native
