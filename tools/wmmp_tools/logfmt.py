"""One log format for every host tool (wmmp, wmmp-platform, wmmp-smsc, wmmp-tech,
wmmp-term, wmmp-emu), times as people of this network read them, and the
countdown shown while a tool waits.

Log lines
    Every line a tool logs (Python `logging`, to stderr) reads

        2026-12-06 19:31:07.123 +08:00 platform.sms WARNING SMSC not connected: SMS to 13800000001 dropped
        <date>     <time, ms>   <zone> <component>  <level> <message>

    * The time is always UTC+8 (Beijing time), whatever the machine's time zone:
      the standard speaks of Beijing time and the operators of this network read
      their clocks in it (docs/PROTOCOL.md 8: stored and sent as Unix time, shown
      in UTC+8).  The offset is written on every line, so a line never needs the
      reader's zone to be understood.
    * The component is the logger's name without "wmmp.": platform,
      platform.sms, platform.udp, platform.control, smsc, smsc.client, term,
      emu.sim7600, tech, ...  The host bearers (loggers wmmp.bearer.udp / .tcp /
      .sms) are named by their bearer: udp, tcp, sms.  Records of the root logger
      (and of other libraries' loggers, e.g. asyncio) carry the tool's component
      or their own logger name.
    * Levels: DEBUG, INFO, NOTICE (a tool's own start-up line, always shown),
      WARNING, ERROR, CRITICAL.  Without --verbose a tool shows NOTICE and above.
    * The message is one line: control characters (from what a terminal or a
      peer sent) are shown escaped (\\n, \\x1b), never sent to the screen.  An
      exception is its type and text; its traceback follows only with --verbose.
    * A WARNING or worse that repeats with identical text is shown the first
      time; while it keeps coming, one line
      "<message> (repeated N times in the last M s)" follows at most once a
      minute (and when the tool ends), instead of every copy.

    What a command says about its own run when it ends -- one line
    "wmmp-platform: error: ..." / "wmmp-tech: ..." and exit status 2 or 1 -- is
    the command's answer, not a log line, and keeps the `program: text` form.

Values
    when(t) shows a Unix time as "2026-12-06 19:31:07 +08:00 (unix 1796556667)";
    stamp(t) the same without the Unix seconds.

Adopting it: a tool's entry point calls, once, after parsing its options

    logfmt.setup("term", args.verbose)                   # instead of logging.basicConfig(...)

setup returns an object whose restore() (or a `with` block) puts the previous
logging back: a main() that tests call in-process should use it; a program that
runs until it exits needs not.  Handlers writing to the console in another
format (basicConfig's) give way; others (a file, pytest's capture) stay.

Waits
    with logfmt.waiting("the terminal's answer to STATUS", 5.0, prog="wmmp-tech"):
        ...                                              # blocking work

    shows, on stderr and only when stderr is a terminal, once the wait has lasted
    a second: "wmmp-tech: waiting for the terminal's answer to STATUS: 4 s left |"
    redrawn in place (a spinner when there is no deadline), and erases it when the
    wait ends.  When stderr is not a terminal (a script, a test, a log file)
    nothing at all is written.
"""

import datetime
import logging
import os
import sys
import threading
import time

TZ = datetime.timezone(datetime.timedelta(hours=8), "UTC+8")
TZ_TEXT = "+08:00"

NOTICE = 25
logging.addLevelName(NOTICE, "NOTICE")

REPEAT_WINDOW = 60.0            # s: at most one "repeated N times" line per message per window
REPEAT_LEVEL = logging.WARNING  # identical lines at this level or above are rate-limited
REPEAT_KEYS_MAX = 1024          # distinct messages remembered at once

WAIT_DELAY = 1.0                # s a wait lasts before it is shown
WAIT_INTERVAL = 0.25            # s between redraws
_SPINNER = "|/-\\"


# -- times ---------------------------------------------------------------------

def stamp(t=None, ms=False):
    """Unix time `t` (default now) as "2026-12-06 19:31:07 +08:00" (UTC+8),
    with milliseconds when `ms`; "-" for None, "<t> (not a valid date)" when
    it cannot be one."""
    if t is None:
        t = time.time()
    try:
        d = datetime.datetime.fromtimestamp(t, TZ)
    except (OverflowError, OSError, ValueError, TypeError):
        return "%s (not a valid date)" % (t,)
    text = d.strftime("%Y-%m-%d %H:%M:%S")
    if ms:
        text += ".%03d" % (d.microsecond // 1000)
    return text + " " + TZ_TEXT


def when(t):
    """A Unix time for a person: "2026-12-06 19:31:07 +08:00 (unix 1796556667)";
    "-" when there is none (None or 0)."""
    if t is None or t == 0 or isinstance(t, bool):
        return "-"
    try:
        seconds = int(t)
        d = datetime.datetime.fromtimestamp(seconds, TZ)
    except (OverflowError, OSError, ValueError, TypeError):
        return "%s (not a valid date)" % (t,)
    return "%s %s (unix %d)" % (d.strftime("%Y-%m-%d %H:%M:%S"), TZ_TEXT, seconds)


# -- components and one-line text ---------------------------------------------------

_BEARERS = ("udp", "tcp", "sms")


def component_of(name, tool=None):
    """The component shown for logger `name` (see the module docstring)."""
    if name in (None, "", "root", "wmmp"):
        return tool or "wmmp"
    if name.startswith("wmmp."):
        name = name[5:]
    if name.startswith("bearer.") and name[7:] in _BEARERS:
        name = name[7:]
    return name


def one_line(text):
    """`text` as one line: control characters escaped (\\n, \\t, \\x1b, ...)."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable():
            out.append(c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(repr(c)[1:-1] if ord(c) > 0xFF else "\\x%02x" % ord(c))
    return "".join(out)


class LineFormatter(logging.Formatter):
    """`time component level message`, one line per record; an exception is
    its type and text (its traceback on the following lines only when
    `verbose`)."""

    def __init__(self, verbose=False, tool=None):
        super().__init__()
        self.verbose = verbose
        self.tool = tool

    def format(self, record):
        try:
            msg = record.getMessage()
        except Exception as e:             # a bad format string must not lose the line
            msg = "%s %r (unformattable: %s)" % (record.msg, record.args, e)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            msg = "%s: %s: %s" % (msg, type(exc).__name__, exc)
        line = "%s %s %s %s" % (stamp(record.created, ms=True), component_of(record.name, self.tool),
                                record.levelname, one_line(msg))
        if exc is not None and self.verbose:
            line += "\n" + self.formatException(record.exc_info).rstrip("\n")
        return line


# -- repeated lines ------------------------------------------------------------------

class _Seen:
    __slots__ = ("since", "count", "last")

    def __init__(self, since):
        self.since = since      # when the window began (the line was last shown)
        self.count = 0          # copies held back since
        self.last = None        # the last copy held back


class RepeatLimiter:
    """Decides which records are shown: the first of identical WARNING-or-worse
    lines, then "repeated N times in the last M s" at most once per `window`."""

    SCAN_EVERY = 1.0            # s between looks for ended windows (not at every record)

    def __init__(self, window=REPEAT_WINDOW, level=REPEAT_LEVEL, clock=time.monotonic):
        self.window = window
        self.level = level
        self.clock = clock
        self.held = 0           # records held back so far (all lines)
        self._seen = {}
        self._lock = threading.Lock()
        self._scanned = None

    @staticmethod
    def key(record):
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        exc = record.exc_info[1] if record.exc_info else None
        return (record.name, record.levelno, msg,
                None if exc is None else (type(exc).__name__, str(exc)))

    def admit(self, record):
        """Records to show now for `record` (itself, a summary, or nothing),
        preceded by the summaries of other lines whose window has ended."""
        now = self.clock()
        out = self.due(now)
        if record.levelno < self.level:
            return out + [record]
        k = self.key(record)
        with self._lock:
            seen = self._seen.get(k)
            if seen is None:
                if len(self._seen) >= REPEAT_KEYS_MAX:
                    self._seen.pop(next(iter(self._seen)))
                self._seen[k] = _Seen(now)
                return out + [record]
            if now - seen.since < self.window:
                seen.count += 1
                seen.last = record
                self.held += 1
                return out
            if seen.count:                   # the window ended with copies held back
                seen.count += 1
                seen.last = record
                summary = self._summary(seen, now)
                seen.since, seen.count, seen.last = now, 0, None
                return out + [summary]
            seen.since = now                 # quiet for a whole window: shown as new
            return out + [record]

    def due(self, now=None, everything=False, scan=False):
        """Summaries of lines whose window has ended (all of them: `everything`).
        Looks at most once per SCAN_EVERY s unless `scan` or `everything`."""
        now = self.clock() if now is None else now
        out = []
        with self._lock:
            if not (everything or scan) and self._scanned is not None and 0 <= now - self._scanned < self.SCAN_EVERY:
                return out
            self._scanned = now
            for k, seen in list(self._seen.items()):
                if now - seen.since < self.window and not everything:
                    continue
                if seen.count:
                    out.append(self._summary(seen, now))
                    seen.since, seen.count, seen.last = now, 0, None
                elif now - seen.since >= self.window:
                    del self._seen[k]
        return out

    def next_due(self):
        """Seconds until the earliest pending summary, or None when none waits."""
        with self._lock:
            pending = [s.since for s in self._seen.values() if s.count]
        if not pending:
            return None
        return max(0.0, min(pending) + self.window - self.clock())

    def _summary(self, seen, now):
        rec = logging.makeLogRecord(seen.last.__dict__)
        try:
            msg = seen.last.getMessage()
        except Exception:
            msg = str(seen.last.msg)
        rec.msg = "%s (repeated %d time%s in the last %d s)" % (
            msg, seen.count, "" if seen.count == 1 else "s", max(1, round(now - seen.since)))
        rec.args = None
        rec.created = time.time()
        rec.msecs = (rec.created - int(rec.created)) * 1000
        return rec


class LineHandler(logging.StreamHandler):
    """A StreamHandler with the one format and repeated lines rate-limited.
    stream=None writes to whatever sys.stderr is when a line is written."""

    def __init__(self, stream=None, verbose=False, tool=None, limiter=None, timer=True):
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None
        self.setFormatter(LineFormatter(verbose, tool))
        self.limiter = limiter if limiter is not None else RepeatLimiter()
        self._use_timer = timer
        self._timer = None
        self._timer_at = None
        self._closed = False

    def handle(self, record):
        if not self.filter(record):
            return False
        held = self.limiter.held
        for r in self.limiter.admit(record):
            self.acquire()
            try:
                self.emit(r)
            finally:
                self.release()
        if self.limiter.held != held:
            self._arm()
        return True

    def emit(self, record):
        if self._follow_stderr:
            self.stream = sys.stderr
        if self.stream is None:
            return
        shown = _shown_wait
        if shown is not None and shown.stream is self.stream:
            shown.erase()                   # the line goes where the countdown was; it comes back
        super().emit(record)

    def handleError(self, record):
        """A line that cannot be written (stderr closed, a reader gone) is lost
        quietly: never logging's own traceback on the user's screen."""

    def _arm(self):
        """A timer writes the pending "repeated" lines when their minute ends
        even if nothing else is logged meanwhile."""
        if not self._use_timer or self._closed:
            return
        wait = self.limiter.next_due()
        if wait is None:
            return
        at = self.limiter.clock() + wait
        if self._timer is not None and self._timer.is_alive():
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = threading.Timer(wait + 0.05, self._flush_due)
        self._timer.daemon = True
        self._timer.start()

    def _flush_due(self):
        self._timer = None
        if self._closed:
            return
        for r in self.limiter.due(scan=True):
            self.acquire()
            try:
                self.emit(r)
            finally:
                self.release()
        self._arm()

    def flush_repeats(self):
        """Write every pending "repeated N times" line now (at the end of a run)."""
        for r in self.limiter.due(everything=True):
            self.acquire()
            try:
                self.emit(r)
            finally:
                self.release()

    def close(self):
        if not self._closed:
            try:
                self.flush_repeats()
            except Exception:
                pass
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
        super().close()


# -- setup ---------------------------------------------------------------------------

class Setup:
    """What setup() changed; restore() puts the previous root handlers and level
    back (also as a context manager)."""

    def __init__(self, handler, saved_handlers, saved_level):
        self.handler = handler
        self._saved = (saved_handlers, saved_level)
        self._done = False

    def restore(self):
        if self._done:
            return
        self._done = True
        root = logging.getLogger()
        self.handler.close()
        if self.handler in root.handlers:
            root.removeHandler(self.handler)
        root.handlers[:] = self._saved[0]
        root.setLevel(self._saved[1])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.restore()


def setup(component, verbose=False, stream=None, verbose_level=logging.INFO, window=REPEAT_WINDOW):
    """Send every log record of this process to stderr (or `stream`) in the one
    format, as tool `component` ("platform", "smsc", "tech", "term", "emu",
    "wmmp").  Shown: NOTICE and above; with `verbose` also `verbose_level`
    (INFO; wmmp-emu's --verbose wants DEBUG) and tracebacks of internal errors."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    handler = LineHandler(stream, verbose=bool(verbose), tool=component, limiter=RepeatLimiter(window))
    # Lines to the console in another format (logging.basicConfig, an earlier
    # setup) give way; handlers elsewhere (a file, a test's log capture) stay.
    root.handlers[:] = [h for h in root.handlers if not _to_console(h)] + [handler]
    root.setLevel(min(verbose_level, NOTICE) if verbose else NOTICE)
    return Setup(handler, *saved)


def _to_console(h):
    if isinstance(h, LineHandler):
        return True
    if not isinstance(h, logging.StreamHandler) or isinstance(h, logging.FileHandler):
        return False
    stream = getattr(h, "stream", None)
    return stream is not None and any(stream is s for s in (sys.stderr, sys.__stderr__, sys.stdout, sys.__stdout__))


def notice(logger, msg, *args):
    """A line a tool always shows (its start-up line: where it listens)."""
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    logger.log(NOTICE, msg, *args)


# -- waits ---------------------------------------------------------------------------

_shown_wait = None              # the countdown on the screen now, if any


def _is_tty(stream):
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class waiting:
    """Show, while the block runs, what the tool waits for: on a terminal only,
    after WAIT_DELAY s; `seconds` (the deadline) gives a countdown, None a
    spinner alone.  See the module docstring."""

    def __init__(self, what, seconds=None, stream=None, prog=None, delay=WAIT_DELAY,
                 interval=WAIT_INTERVAL):
        self.what = what
        self.seconds = seconds
        self.stream = stream if stream is not None else sys.stderr
        self.prog = prog
        self.delay = delay
        self.interval = interval
        self._stop = threading.Event()
        self._thread = None
        self._width = 0
        self._lock = threading.Lock()

    def __enter__(self):
        global _shown_wait
        if _is_tty(self.stream):
            self._start = time.monotonic()
            self._outer = _shown_wait
            _shown_wait = self
            self._thread = threading.Thread(target=self._run, name="wmmp-wait", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """End the display (erasing the line); idempotent."""
        global _shown_wait
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if _shown_wait is self:
            _shown_wait = self._outer
        self.erase()

    def erase(self):
        """Take the countdown off the screen (it is drawn again at the next turn)."""
        with self._lock:
            if self._width:
                self._write("\r" + " " * self._width + "\r")
                self._width = 0

    def text(self, elapsed, turn, width=None):
        """The line shown after `elapsed` s; what is waited for is shortened
        (never the countdown) to fit `width` characters."""
        head = "%swaiting for " % ("%s: " % self.prog if self.prog else "")
        tail = ""
        if self.seconds is not None:
            tail = ": %d s left" % max(0, int(self.seconds - elapsed + 0.999))
        tail += " " + _SPINNER[turn % len(_SPINNER)]
        what = one_line(self.what)
        if width is not None and len(head) + 8 + len(tail) > width:
            head = "waiting for "                    # a narrow terminal: without the program's name
        if width is not None and len(head) + len(what) + len(tail) > width:
            room = max(3, width - len(head) - len(tail))
            what = what[:room - 3] + "..."
        return (head + what + tail)[:width] if width is not None else head + what + tail

    def _columns(self):
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return max(20, columns - 1) if columns > 0 else 79        # 0: a size nobody set

    def _write(self, s):
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):
            self._stop.set()

    def _run(self):
        if self._stop.wait(self.delay):
            return
        turn = 0
        while not self._stop.is_set():
            line = self.text(time.monotonic() - self._start, turn, self._columns())
            with self._lock:
                if self._stop.is_set():
                    break
                pad = " " * max(0, self._width - len(line))
                self._write("\r" + line + pad)
                self._width = max(self._width, len(line))
            turn += 1
            self._stop.wait(self.interval)
