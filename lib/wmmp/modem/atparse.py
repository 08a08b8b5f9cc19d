"""Sans-I/O parser of a cellular module's AT output (SIM7600, BC95; facts in
the modules' AT command manuals).  Portable: no I/O, no clock, no asyncio.

Feed it whatever the UART delivered (partial lines, echo, garbage, CR, LF or
CRLF endings) and pop events:

    ("done", lines)                      the command in flight completed (OK, or
                                         its own final line, see begin())
    ("fail", kind, code, line, lines)    it failed: kind "error" (ERROR or an
                                         error-final line, code int/str/None),
                                         "cme" / "cms" (code int, or the text of
                                         verbose errors), "reboot" (a boot URC
                                         arrived), "overflow" (reply lost data)
    ("prompt",)                          the ">" data prompt of the command
    ("urc", prefix, line, extra)         an unsolicited result; extra is the raw
                                         payload of a counted URC (+IPD: exactly
                                         <len> bytes, CR/LF included; None when
                                         refused as too large), the second line of
                                         a two-line URC (+CMT), else None
    ("reboot", prefix, line)             a boot marker (RDY, Neul): the module restarted
    ("stray", line)                      a line nobody asked for (no command in flight)

`lines` is a list of the command's information lines (bytes, stripped) in
order; a counted payload that belongs to the command (+CIPRXGET: 2,...) follows
its header line as a bytearray.  Lines whose prefix is in the URC registry are
URCs at any moment, even inside another command's reply, unless the command
in flight claims that prefix (expect= or final=): +CPIN: during AT+CPIN? is
the reply, otherwise a URC.

Everything is bounded: a line longer than max_line is discarded (counted), a
payload longer than max_payload is skipped byte-exactly (counted, framing kept),
a reply holds at most max_lines lines / max_reply bytes, the event queue holds
max_events (when full the oldest URC is dropped, counted).  The BC95 returns
AT+NSORF data as hex inside one line: its driver needs max_line of at least
2 * the largest datagram + 64.
"""

from micropython import const

# Registry kinds (public: drivers pass them to add_urc).
URC = const(0)         # a one-line URC
URC_DATA = const(1)    # line + counted raw bytes; length taken from the line
URC_2LINE = const(2)   # line + the following line (e.g. +CMT: header, PDU)
BOOT = const(3)        # boot marker: "reboot" event

_CR = const(13)
_LF = const(10)
_SP = const(32)
_GT = const(62)
_TAB = const(9)


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def _prefixes(x):
    if not x:
        return ()
    if isinstance(x, (str, bytes)):
        return (_b(x),)
    return tuple(_b(p) for p in x)


def _code(rest):
    """Code of '+CME ERROR: 10' / '+CME ERROR:10' (int) or of a verbose one (text)."""
    rest = rest.strip()
    try:
        return int(rest)
    except ValueError:
        return rest.decode() if rest else None


def length_last(line, prefix):
    """Length of a counted URC = the last comma field after the prefix
    ('+IPD13' -> 13, '+RECEIVE,0,13' -> 13)."""
    rest = line[len(prefix):]
    if rest[:1] == b":":
        rest = rest[1:]
    return int(rest.split(b",")[-1])


def length_ciprxget(line, prefix):
    """'+CIPRXGET: 2,<link>,<read>,<left>' is followed by <read> raw bytes;
    other modes ('+CIPRXGET: 1,<link>' URC, 4 = query) carry none."""
    f = line[len(prefix):].split(b",")
    if len(f) >= 3 and int(f[0]) == 2:
        return int(f[2])
    return None


def implied_prefix(cmd):
    """'+CPIN:' for 'AT+CPIN?', '+CEREG:' for 'AT+CEREG=2', None for 'ATE0'."""
    if cmd[:3].upper() != b"AT+":
        return None
    end = 3
    while end < len(cmd) and cmd[end] not in b"=?;":
        end += 1
    return b"+" + cmd[3:end].upper() + b":" if end > 3 else None


# The default registry: (prefix, kind, arg).  arg: for URC_DATA a length
# function (None = length_last); for BOOT True when the banner ends with an OK
# of its own that must not complete the next command (BC95 "Neul" then "OK").
DEFAULT_URCS = (
    # SIM7600 (the AT manuals: boot, PIN, SMS receive, push-mode receive, close)
    (b"RDY", BOOT, False),
    (b"+CPIN:", URC, None),
    (b"SMS DONE", URC, None),
    (b"PB DONE", URC, None),
    (b"+CMTI:", URC, None),
    (b"+CMT:", URC_2LINE, None),      # direct delivery: header line + PDU line (unconfirmed)
    (b"RECV FROM:", URC, None),
    (b"+IPD", URC_DATA, None),
    (b"+IPCLOSE:", URC, None),
    (b"+CIPEVENT:", URC, None),
    (b"+CIPRXGET:", URC_DATA, length_ciprxget),
    (b"+CREG:", URC, None),
    (b"+CGREG:", URC, None),
    (b"+CEREG:", URC, None),
    # BC95 (the AT manuals: reboot, UDP/TCP, PIN, RRC, PSM, CoAP)
    (b"Neul", BOOT, True),
    (b"REBOOTING", URC, None),
    (b"REBOOT_CAUSE", URC, None),
    (b"+NSONMI:", URC, None),
    (b"+NSOSTR:", URC, None),
    (b"+NSOCLI:", URC, None),
    (b"+NPIN:", URC, None),
    (b"ERROR PIN", URC, None),        # NPIN result variant without the +NPIN: prefix (unconfirmed)
    (b"+CSCON:", URC, None),
    (b"+NPSMR:", URC, None),
    (b"+NNMI:", URC, None),
)

# Error finals besides ERROR / +CME ERROR / +CMS ERROR, for every command.
DEFAULT_ERRORS = (b"+CIPERROR:",)


class _Cmd:
    def __init__(self, cmd, expect, final, error, ok, prompt, reboot, echo2):
        self.echo = cmd
        self.echo2 = echo2
        self.expect = expect
        self.final = final
        self.error = error
        self.need_ok = ok
        self.prompt = prompt
        self.reboot = reboot
        self.ok = False
        self.final_seen = False
        self.prompted = False
        self.lost = False
        self.lines = []
        self.size = 0


class AtParser:
    """Line / frame parser with the state of the command in flight (if any)."""

    def __init__(self, urcs=DEFAULT_URCS, errors=DEFAULT_ERRORS, max_line=512, max_payload=1500,
                 max_events=32, max_lines=48, max_reply=4096):
        self.max_line = max_line
        self.max_payload = max_payload
        self.max_events = max_events
        self.max_lines = max_lines
        self.max_reply = max_reply
        self.errors = tuple(errors)
        self._reg = list(urcs)
        self._buf = bytearray(max_line)
        self._len = 0
        self._discard = False
        self._skip = 0           # byte to drop if it comes next (LF after CR, space after '>')
        self._need = 0           # counted mode: bytes still to read
        self._got = 0
        self._pay = None         # bytearray being filled, None when refused
        self._ptarget = None     # (to_command, prefix, line)
        self._more = None        # (prefix, first line) of a two-line URC
        self._after_boot = False
        self._cmd = None
        self._q = []
        # counters
        self.long_lines = 0      # lines over max_line, discarded
        self.garbage = 0         # lines with noise bytes (leading noise stripped, else discarded)
        self.refused = 0         # payloads over max_payload, skipped
        self.truncated = 0       # payloads cut short by abort_payload()
        self.bad_length = 0      # counted URCs whose length did not parse
        self.lost_lines = 0      # reply lines over max_lines / max_reply
        self.dropped_urcs = 0    # URC events dropped from the full queue
        self.dropped_events = 0  # other events dropped (queue full of non-URCs)
        self.stray = 0           # lines / finals / prompts with no command to take them
        self.boot_oks = 0        # banner OKs swallowed after a boot marker

    # -- registry -----------------------------------------------------------

    def add_urc(self, prefix, kind=URC, arg=None):
        """Register (or re-register) a URC prefix."""
        prefix = _b(prefix)
        self.remove_urc(prefix)
        self._reg.append((prefix, kind, arg))

    def remove_urc(self, prefix):
        prefix = _b(prefix)
        self._reg = [e for e in self._reg if e[0] != prefix]

    def is_urc(self, prefix):
        prefix = _b(prefix)
        for e in self._reg:
            if e[0] == prefix:
                return True
        return False

    def _entry(self, line):
        """The registry entry with the longest prefix of line, or None."""
        best = None
        for e in self._reg:
            if line.startswith(e[0]) and (best is None or len(e[0]) > len(best[0])):
                best = e
        return best

    # -- command state ------------------------------------------------------

    def begin(self, cmd, expect=(), final=(), error=(), ok=True, prompt=False, reboot=False, echo=None):
        """A command was (is about to be) written.

        cmd      its text without CR (its echo is recognised and dropped)
        expect   prefixes of its reply lines: claimed even if they are URC prefixes
        final    prefixes of lines that complete it (+CIPOPEN:, +CMGS:, SEND OK);
                 it completes once such a line AND the OK were seen, in either
                 order (ok=False: the line alone completes it)
        error    prefixes of extra error finals for this command (SEND FAIL)
        prompt   a '>' prompt is expected
        reboot   boot URCs are expected (AT+NRB, AT+CRESET): no "reboot" failure;
                 the OK after the banner completes it
        echo     another line to drop as echo (the payload of a prompt command)
        The command's own '+NAME:' (from 'AT+NAME...') is always expected, so
        AT+CPIN? / AT+CEREG? claim their replies without being told.
        """
        cmd = _b(cmd).strip()
        expect = _prefixes(expect)
        own = implied_prefix(cmd)
        if own is not None and own not in expect:
            expect = expect + (own,)
        self._cmd = _Cmd(cmd, expect, _prefixes(final), _prefixes(error),
                         ok, prompt, reboot, _b(echo).strip(b" \r\n\x1a") if echo else None)

    def cancel(self):
        """Forget the command in flight (timed out); later lines are URCs or stray."""
        self._cmd = None

    @property
    def busy(self):
        return self._cmd is not None

    @property
    def in_payload(self):
        return self._need > 0

    def abort_payload(self):
        """Leave counted mode (the rest never came: a reboot or a garbled length)."""
        if self._need:
            self._need = 0
            self.truncated += 1
            t = self._ptarget
            if t is not None and t[0] and self._cmd is not None:
                self._cmd.lost = True
            self._pay = None
            self._ptarget = None

    # -- events -------------------------------------------------------------

    def pop(self):
        """Next event, or None."""
        if self._q:
            return self._q.pop(0)
        return None

    def _emit(self, ev):
        q = self._q
        if len(q) >= self.max_events:
            for i in range(len(q)):
                if q[i][0] == "urc":
                    q.pop(i)
                    self.dropped_urcs += 1
                    break
            else:
                q.pop(0)
                self.dropped_events += 1
        q.append(ev)

    def _done(self):
        c = self._cmd
        self._cmd = None
        if c.lost:
            self._emit(("fail", "overflow", None, None, c.lines))
        else:
            self._emit(("done", c.lines))

    def _fail(self, kind, code, line):
        c = self._cmd
        self._cmd = None
        self._emit(("fail", kind, code, line, c.lines))

    def _add(self, c, item):
        if len(c.lines) >= self.max_lines or c.size + len(item) > self.max_reply:
            c.lost = True
            self.lost_lines += 1
        else:
            c.lines.append(item)
            c.size += len(item)

    # -- input --------------------------------------------------------------

    def feed(self, data):
        """Consume bytes (bytes, bytearray or memoryview); events queue up for pop()."""
        if not isinstance(data, bytes):
            data = bytes(data)
        mv = memoryview(data)
        n = len(data)
        i = 0
        cr = lf = -2             # cached positions of the next CR / LF (-1: none left)
        while i < n:
            if self._skip:
                if data[i] == self._skip:
                    i += 1
                self._skip = 0
                continue
            if self._need:
                k = self._need if self._need < n - i else n - i
                if self._pay is not None:
                    self._pay[self._got:self._got + k] = mv[i:i + k]
                self._got += k
                self._need -= k
                i += k
                if not self._need:
                    self._payload_done()
                continue
            if self._len == 0 and not self._discard and data[i] == _GT:
                i += 1
                self._skip = _SP
                self._prompt()
                continue
            if cr != -1 and cr < i:
                cr = data.find(b"\r", i)
            if lf != -1 and lf < i:
                lf = data.find(b"\n", i)
            if cr < 0:
                j = lf
            elif lf < 0 or cr < lf:
                j = cr
            else:
                j = lf
            end = n if j < 0 else j
            k = end - i
            if k and not self._discard:
                if self._len + k > self.max_line:
                    self._discard = True
                    self._len = 0
                    self.long_lines += 1
                    if self._cmd is not None:
                        self._cmd.lost = True
                else:
                    self._buf[self._len:self._len + k] = mv[i:end]
                    self._len += k
            if j < 0:
                break
            i = j + 1
            if data[j] == _CR:
                self._skip = _LF
            if self._discard:
                self._discard = False
            elif self._len:
                self._line()

    def _prompt(self):
        c = self._cmd
        if c is not None and c.prompt and not c.prompted:
            c.prompted = True
            self._emit(("prompt",))
        else:
            self.stray += 1

    def _line(self):
        b = self._buf
        n = self._len
        self._len = 0
        s = 0
        junk = False
        while s < n and not (_SP < b[s] < 127):     # leading garbage / blanks
            if b[s] != _SP and b[s] != _TAB:
                junk = True
            s += 1
        e = n
        while e > s and b[e - 1] <= _SP:             # trailing blanks (and a Ctrl-Z)
            e -= 1
        for x in range(s, e):
            v = b[x]
            if v > 126 or (v < _SP and v != _TAB):  # noise inside: drop the line
                self.garbage += 1
                return
        if junk:
            self.garbage += 1
        if s < e:
            self._classify(bytes(memoryview(b)[s:e]))

    def _classify(self, line):
        c = self._cmd
        if self._more is not None:                   # second line of a two-line URC
            p, first = self._more
            self._more = None
            self._emit(("urc", p, first, line))
            return
        boot_ok = self._after_boot
        self._after_boot = False
        if c is not None and (line == c.echo or line == c.echo2):
            return
        if line == b"OK":
            if boot_ok and (c is None or not c.reboot):
                self.boot_oks += 1
            elif c is None:
                self.stray += 1
                self._emit(("stray", line))
            else:
                c.ok = True
                if not c.final or c.final_seen:
                    self._done()
            return
        kind = None
        code = None
        if line == b"ERROR":
            kind = "error"
        elif line.startswith(b"+CME ERROR:"):
            kind = "cme"
            code = _code(line[11:])
        elif line.startswith(b"+CMS ERROR:"):
            kind = "cms"
            code = _code(line[11:])
        else:
            for p in (c.error + self.errors) if c is not None else self.errors:
                if line.startswith(p):
                    kind = "error"
                    code = _code(line[len(p):])
                    break
        if kind is not None:
            if c is None:
                self.stray += 1
                self._emit(("stray", line))
            else:
                self._fail(kind, code, line)
            return
        ent = self._entry(line)
        if c is not None:
            fin = False
            for p in c.final:
                if line.startswith(p):
                    fin = True
                    break
            claimed = fin
            if not fin:
                for p in c.expect:
                    if line.startswith(p):
                        claimed = True
                        break
            if claimed:
                self._add(c, line)
                if ent is not None and ent[1] == URC_DATA:
                    self._start_payload(ent, line, True)
                if fin:
                    c.final_seen = True
                    if c.ok or not c.need_ok:
                        self._done()
                return
        if ent is not None:
            kind = ent[1]
            if kind == BOOT:
                self._boot(ent, line)
            elif kind == URC_DATA:
                self._start_payload(ent, line, False)
            elif kind == URC_2LINE:
                self._more = (ent[0], line)
            else:
                self._emit(("urc", ent[0], line, None))
            return
        if c is not None:
            self._add(c, line)
        else:
            self.stray += 1
            self._emit(("stray", line))

    def _boot(self, ent, line):
        c = self._cmd
        if c is not None and not c.reboot:
            self._fail("reboot", None, line)
        self._after_boot = bool(ent[2])
        self._emit(("reboot", ent[0], line))

    def _start_payload(self, ent, line, to_cmd):
        fn = ent[2] or length_last
        try:
            n = fn(line, ent[0])
        except (ValueError, IndexError):
            n = -1
        if n is None:                                # this line carries no payload
            if not to_cmd:
                self._emit(("urc", ent[0], line, None))
            return
        if n < 0:
            self.bad_length += 1
            if not to_cmd:
                self._emit(("urc", ent[0], line, None))
            return
        self._ptarget = (to_cmd, ent[0], line)
        self._got = 0
        if n > self.max_payload:
            self.refused += 1
            self._pay = None
        else:
            self._pay = bytearray(n)
        self._need = n
        if not n:
            self._payload_done()

    def _payload_done(self):
        to_cmd, prefix, line = self._ptarget
        data = self._pay
        self._ptarget = None
        self._pay = None
        if to_cmd:
            c = self._cmd
            if c is not None:
                if data is None:
                    c.lost = True
                else:
                    self._add(c, data)
        else:
            self._emit(("urc", prefix, line, data))
