"""The small filesystem interface wmmp.board.store writes through, and its adapter over
the real `os` module (littlefs on a board, the host's filesystem on CPython).

A filesystem object has:

    open(path, mode)   mode "rb", "wb" (create/truncate) or "ab" (append); the
                       file has read(n=-1), write(b) -> count, flush(), close().
                       flush() makes what was written durable (littlefs: a sync).
    rename(src, dst)   replace dst by src in one step (littlefs and POSIX do this
                       atomically); may raise OSError when dst exists (FAT)
    remove(path)
    listdir(path)      -> names
    exists(path)       -> bool
    mkdir(path)        raises OSError when it exists

Anything else (a RAM filesystem, a counting or power-cutting one for tests)
offers the same methods.  Paths use "/".
"""

import os


class _SyncFile:
    """A host file whose flush() also reaches the disk (os.fsync): CPython's own
    flush stops at the OS cache.  MicroPython's flush on littlefs is already a sync."""

    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        return self.f.read(n)

    def write(self, b):
        return self.f.write(b)

    def flush(self):
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


_FSYNC = hasattr(os, "fsync")


class OsFS:
    """The filesystem of `os` (MicroPython: the mounted littlefs / VFS)."""

    def open(self, path, mode):
        f = open(path, mode)
        if _FSYNC and mode[0] in "wa":
            return _SyncFile(f)
        return f

    def rename(self, src, dst):
        os.rename(src, dst)
        if _FSYNC and hasattr(os, "O_RDONLY"):
            # POSIX: the rename itself is durable only once its directory is synced
            d = dst.rsplit("/", 1)[0] or "/"
            try:
                fd = os.open(d, os.O_RDONLY)
            except OSError:
                return
            try:
                os.fsync(fd)
            except OSError:
                pass
            os.close(fd)

    def remove(self, path):
        os.remove(path)

    def listdir(self, path):
        return os.listdir(path)

    def exists(self, path):
        try:
            os.stat(path)
            return True
        except OSError:
            return False

    def mkdir(self, path):
        os.mkdir(path)
