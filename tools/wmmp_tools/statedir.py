"""Host storage for wmmp.terminal.params: the terminal's persistent values as one JSON file
in a state directory, written atomically (temporary file + rename) and only when
something changed.  The board's flash store with checksums and generations is
lib/wmmp/board/store.py; this is for terminals running on a host."""
import json
import os


class FileStorage:
    """load()/save() of wmmp.terminal.params' storage interface over DIR/params.json.
    Keys are tags (stored as "0x0011") or short names; values are bytes (hex)."""

    def __init__(self, directory):
        self.dir = directory
        self.path = os.path.join(directory, "params.json")
        self.writes = 0

    def load(self):
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return None
        out = {}
        for k, v in doc.items():
            key = int(k, 16) if k.startswith("0x") else k
            out[key] = bytes.fromhex(v)
        return out

    def save(self, data):
        os.makedirs(self.dir, exist_ok=True)
        doc = {("0x%04X" % k if isinstance(k, int) else k): bytes(v).hex() for k, v in data.items()}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.writes += 1
