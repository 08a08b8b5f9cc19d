"""The wmmp.board.fsio filesystem interface in RAM for the portable tests: its files
outlive a "power cycle" (a new FlashStorage over the same RamFS).  remove of a
missing file and mkdir of an existing directory fail as on a board;
fail_writes = True makes every write of a ".tmp" file fail (a full flash)."""


class _RF:
    def __init__(self, b):
        self.b = b
        self.i = 0

    def read(self, n=-1):
        j = len(self.b) if n < 0 else min(len(self.b), self.i + n)
        out = self.b[self.i:j]
        self.i = j
        return out

    def close(self):
        pass


class _WF:
    def __init__(self, buf):
        self.buf = buf

    def write(self, b):
        self.buf.extend(b)
        return len(b)

    def flush(self):
        pass

    def close(self):
        pass


class RamFS:
    def __init__(self):
        self.files = {}
        self.dirs = set()
        self.fail_writes = False

    def open(self, path, mode):
        if mode == "rb":
            if path not in self.files:
                raise OSError(2)
            return _RF(bytes(self.files[path]))
        if self.fail_writes and path.endswith(".tmp"):
            raise OSError(28)
        if mode == "wb" or path not in self.files:
            self.files[path] = bytearray()
        return _WF(self.files[path])

    def rename(self, a, b):
        self.files[b] = self.files.pop(a)

    def remove(self, p):
        if p not in self.files:
            raise OSError(2)
        del self.files[p]

    def listdir(self, d):
        return [p[len(d) + 1:] for p in self.files if p.startswith(d + "/")]

    def exists(self, p):
        return p in self.files or p in self.dirs

    def mkdir(self, p):
        if p in self.dirs:
            raise OSError(17)
        self.dirs.add(p)
