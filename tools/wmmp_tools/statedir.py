"""Host storage for wmmp.terminal.params: the terminal's persistent values as one JSON file
in a state directory, written atomically (temporary file + rename) and only when
something changed.  The board's flash store with checksums and generations is
lib/wmmp/board/store.py; this is for terminals running on a host.

The values include passwords and keys: the directory is created mode 0700 and
the file 0600 (wmmp-term refuses state that other users can read).  A file
that is not a state file is never overwritten: load() raises StateError."""
import json
import os


class StateError(ValueError):
    """params.json exists but cannot be read as a state file (it is left as it is)."""


class FileStorage:
    """load()/save() of wmmp.terminal.params' storage interface over DIR/params.json.
    Keys are tags (stored as "0x0011") or short names; values are bytes (hex)."""

    def __init__(self, directory):
        self.dir = directory
        self.path = os.path.join(directory, "params.json")
        self.writes = 0

    def load(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        except (ValueError, RecursionError) as e:      # not JSON, not UTF-8
            raise StateError("%s is not a state file (%s)" % (self.path, e.__class__.__name__))
        if not isinstance(doc, dict):
            raise StateError("%s is not a state file (not a JSON object)" % self.path)
        out = {}
        try:
            for k, v in doc.items():
                key = int(k, 16) if k.startswith("0x") else k
                out[key] = bytes.fromhex(v)
        except (ValueError, TypeError, AttributeError):
            raise StateError("%s is not a state file (a value is not hex)" % self.path)
        return out

    def save(self, data):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        doc = {("0x%04X" % k if isinstance(k, int) else k): bytes(v).hex() for k, v in data.items()}
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        os.fchmod(fd, 0o600)            # also when an old .tmp was left with another mode
        with open(fd, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.writes += 1
