"""Attach an emulator to a pseudo-terminal (os.openpty, raw mode), so a program
using pyserial, or the firmware's UART code on the host, talks to it as to a
device: open `port.path` at any baud rate.

    port = PtyPort(emu, link="/tmp/ttySIM7600")   # link: optional symlink (argcheck rules)
    port.open()          # needs a running asyncio loop; port.path is the slave
    ...
    port.close()

The emulator paces its UART itself (modem.py "Pacing": output at the module's
line rate, host bytes acted on after their line time); the pty's own termios
speed is not looked at, so a client at another rate is not garbled here (the
in-process stream.HostPort(baud=...) models that).

The emulator keeps its own descriptor of the slave open, so a client may close
and reopen the device without the master seeing a hang-up.  Output nobody reads
waits in the kernel and then in a bounded buffer (oldest bytes lost first, as a
UART with no reader loses them).
"""

import asyncio
import errno
import logging
import os
import tty

from wmmp_tools.emu import argcheck

log = logging.getLogger("wmmp.emu.pty")

OUT_MAX = 256 * 1024


class PtyPort:
    def __init__(self, emu, link=None):
        self.emu = emu
        self.link = link
        self.master = None
        self.slave = None
        self.path = None
        self.lost = 0                 # output bytes lost because nobody read them
        self._out = bytearray()
        self._writing = False
        self._loop = None

    def open(self):
        self._loop = asyncio.get_running_loop()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        if self.link:
            try:          # replaces only a link to a pty (argcheck.check_link), else raises
                argcheck.make_link(self.link, self.path)
            except BaseException:
                os.close(self.master)
                os.close(self.slave)
                self.master = self.slave = None
                raise
        self._loop.add_reader(self.master, self._readable)
        self.emu.attach(self._write)
        return self

    def _readable(self):
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        except OSError as e:           # EIO: no slave open (cannot happen while we hold one)
            if e.errno != errno.EIO:
                log.warning("pty read: %s", e)
            return
        if data:
            self.emu.feed(data)

    def _write(self, data):
        self._out += data
        if len(self._out) > OUT_MAX:
            cut = len(self._out) - OUT_MAX
            del self._out[:cut]
            self.lost += cut
        self._flush()

    def _flush(self):
        while self._out and self.master is not None:
            try:
                n = os.write(self.master, self._out)
            except BlockingIOError:
                n = 0
            except OSError as e:
                log.warning("pty write: %s", e)
                self._out.clear()
                return
            if n <= 0:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.master, self._writable)
                return
            del self._out[:n]
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.master)

    def _writable(self):
        self._flush()

    def close(self):
        if self.master is None and self.path is None:
            return
        self.emu.detach(self._write)
        if self.master is not None:
            self._loop.remove_reader(self.master)
            if self._writing:
                self._loop.remove_writer(self.master)
            os.close(self.master)
            os.close(self.slave)
            self.master = self.slave = None
        if self.link and self.path:
            argcheck.remove_link(self.link, self.path)      # only while it is still ours
