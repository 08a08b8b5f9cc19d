"""The --state file of `andlink-platform serve`: devices (registrations, values,
history, bootstrap, product check), FOTA records and the published packages'
list as one JSON document, written atomically (a temporary file renamed over
it) at most once a second while things change and when the platform stops;
the packages themselves in FILE.packages/ next to it.

It holds product tokens and PSKs: it is created 0600 (its directory 0700 when
missing), and one that other users may read is refused, as is a file that is
not this tool's, or one another running platform holds (a lock on FILE.lock)."""

import fcntl
import json
import os
import stat

FORMAT = "andlink-platform-state"
VERSION = 1


class StateError(Exception):
    pass


class StateFile:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.packages_dir = self.path + ".packages"
        self._lock = None

    def open(self):
        """Lock it and return what it holds ({} for a new file)."""
        d = os.path.dirname(self.path)
        if not os.path.isdir(d):
            try:
                os.makedirs(d, mode=0o700)
            except OSError as e:
                raise StateError("%s: %s" % (d, e.strerror or e))
        try:
            fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StateError("%s: %s" % (self.path, e.strerror or e))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError("%s is in use by another running andlink-platform" % self.path)
        self._lock = fd
        try:
            return self._read()
        except StateError:
            self.close()
            raise

    def _read(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StateError("%s: %s" % (self.path, e.strerror or e))
        if not stat.S_ISREG(st.st_mode):
            raise StateError("%s is not a file" % self.path)
        if st.st_mode & 0o077:
            raise StateError("%s may be read by other users (it holds product tokens and keys): chmod 600 it" % self.path)
        if st.st_size == 0:
            return {}
        try:
            with open(self.path, "rb") as f:
                doc = json.loads(f.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise StateError("%s is not an andlink-platform state file (%s)" % (self.path, getattr(e, "strerror", None) or e))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StateError("%s is not an andlink-platform state file" % self.path)
        if doc.get("version") != VERSION:
            raise StateError("%s: state format version %r, this tool reads %d" % (self.path, doc.get("version"), VERSION))
        return doc

    def save(self, doc):
        doc = dict(doc, format=FORMAT, version=VERSION)
        data = json.dumps(doc, separators=(",", ":"), default=_default).encode("utf-8")
        tmp = "%s.%d.tmp" % (self.path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def close(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _default(o):
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).hex()
    if isinstance(o, set):
        return sorted(o)
    return str(o)
