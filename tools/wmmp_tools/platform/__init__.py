"""WMMP-T platform simulator (China Mobile M2M protocol, platform side): a host
tool OEMs develop their terminals against.

    db.py        SQLite state (subscriptions, terminals, params, message log, ...)
    model.py     configuration, routes, per-terminal connection state
    server.py    UDP/TCP/SMS bearers, message pipeline, platform requests
    flows.py     the platform side of the flows of 4.3 and 4.4 (appendix G)
    operator.py  operator commands (provision, get, set, ctrl, security, logout, ...)
    control.py   the line-JSON control socket
    cli.py       the `wmmp-platform` command
    options.py   its option checks, secrets from files / the environment, binding
    upgrade.py   software upgrades: published files, transactions, FILE_REQ, outcome
    httpfiles.py the HTTP file server (Range, ETag, If-Range) for upgrades over HTTP
    smslink.py   the link to the emulated SMS centre
    creds.py, values.py   secrets, tag names and operator values
"""

from wmmp_tools.platform.model import Config, PlatformError
from wmmp_tools.platform.server import Platform
from wmmp_tools.platform.db import Store

__all__ = ["Config", "Platform", "PlatformError", "Store"]
