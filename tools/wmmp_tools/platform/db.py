"""SQLite state of the WMMP platform simulator: subscriptions, terminals, reported
parameters, the message log, operator commands and forwarded application data.

One file (or ":memory:"), one connection, used from the event-loop thread only.
Rows come back as dicts.  Secrets (passwords, keys) are stored in clear: this is a
development simulator, and the operator needs to see what a terminal should hold.
So the file is kept from other users: a new file is created 0600 (its directory,
when created here, 0700), and an existing one that others may read is refused
(StoreError saying how to fix it).  A file that is not SQLite, or an SQLite
database of something else, is refused too and left untouched.
"""

import errno
import json
import os
import sqlite3
import stat
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    imsi TEXT PRIMARY KEY,             -- 15 digits
    msisdn TEXT NOT NULL UNIQUE,
    serial TEXT,                       -- serial the operator expects (optional)
    preset_uplink TEXT,                -- preset E025 (REGISTER op 0x03)
    preset_downlink TEXT,              -- preset E028
    preset_key TEXT,                   -- preset E036
    preset_key_alg INTEGER,            -- E039 code of the preset key
    preset_validity INTEGER,           -- E027 / E02A / E038 of the preset values
    force_sms INTEGER NOT NULL DEFAULT 0,  -- REGISTER by packet -> 0x02 (appendix G a)
    no_security INTEGER NOT NULL DEFAULT 0,
    created REAL
);
CREATE TABLE IF NOT EXISTS terminals (
    serial TEXT PRIMARY KEY,
    imei TEXT, imsi TEXT, msisdn TEXT,
    state TEXT NOT NULL,               -- registered / online / offline / logged-out
    last_seen REAL, last_bearer TEXT, last_address TEXT,
    software_version TEXT,
    version INTEGER,
    up_pw TEXT, up_valid INTEGER,
    down_pw TEXT, down_valid INTEGER,
    base_key TEXT, base_alg INTEGER, base_valid INTEGER,   -- base_alg: E039 code
    session_alg INTEGER,               -- E03E code
    security INTEGER NOT NULL DEFAULT 1,
    preset INTEGER NOT NULL DEFAULT 0, -- 1 passwords preset, 2 base key preset
    keys_acked INTEGER NOT NULL DEFAULT 0,
    supports_encryption INTEGER NOT NULL DEFAULT 0,
    session_required INTEGER NOT NULL DEFAULT 0,
    keep_connected INTEGER NOT NULL DEFAULT 0,
    fail_reply INTEGER NOT NULL DEFAULT 0,   -- E041
    cleared INTEGER NOT NULL DEFAULT 0,      -- last E020 report
    pending_keys TEXT,                 -- JSON: new secrets sent, not yet confirmed
    registered REAL,
    core_tags TEXT,                    -- tags of the last core-config report (LOGIN CRC32)
    note TEXT
);
CREATE TABLE IF NOT EXISTS params (
    terminal TEXT NOT NULL, tag INTEGER NOT NULL, value BLOB NOT NULL, updated REAL,
    PRIMARY KEY (terminal, tag)
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL, terminal TEXT, direction TEXT, bearer TEXT, command TEXT, seq INTEGER,
    hex TEXT, note TEXT
);
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL, terminal TEXT, command TEXT, seq INTEGER, request TEXT,
    status TEXT, answer TEXT, answered REAL
);
CREATE TABLE IF NOT EXISTS app_data (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL, terminal TEXT, ec_code TEXT, data BLOB
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS upgrade_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL, version TEXT NOT NULL, name TEXT,
    size INTEGER NOT NULL, crc16 INTEGER NOT NULL, crc32 INTEGER NOT NULL, sha256 TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS upgrades (
    trans_id INTEGER PRIMARY KEY,      -- TRANS_ID (0x1009, u32), one per push
    time REAL, terminal TEXT NOT NULL, file_id INTEGER NOT NULL, version TEXT, size INTEGER,
    scheme TEXT, url TEXT, forced INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,               -- see wmmp_tools.platform.upgrade
    ack INTEGER,                       -- DOWNLOAD_INFO_ACK result
    reason INTEGER,                    -- 0x3012 reason
    position INTEGER NOT NULL DEFAULT 0,   -- end of the last block / bytes served
    served INTEGER NOT NULL DEFAULT 0,     -- bytes served in all (re-requests counted)
    updated REAL, note TEXT
);
CREATE INDEX IF NOT EXISTS messages_terminal ON messages (terminal, id);
"""

TERMINAL_COLUMNS = (
    "serial", "imei", "imsi", "msisdn", "state", "last_seen", "last_bearer", "last_address",
    "software_version", "version", "up_pw", "up_valid", "down_pw", "down_valid", "base_key",
    "base_alg", "base_valid", "session_alg", "security", "preset", "keys_acked",
    "supports_encryption", "session_required", "keep_connected", "fail_reply", "cleared",
    "pending_keys", "registered", "core_tags", "note")

SUBSCRIPTION_COLUMNS = (
    "imsi", "msisdn", "serial", "preset_uplink", "preset_downlink", "preset_key",
    "preset_key_alg", "preset_validity", "force_sms", "no_security", "created")

MESSAGE_LOG_MAX = 200000     # oldest rows are pruned beyond this

SQLITE_MAGIC = b"SQLite format 3\x00"
TABLE_COLUMNS = {
    "subscriptions": SUBSCRIPTION_COLUMNS,
    "terminals": TERMINAL_COLUMNS,
    "params": ("terminal", "tag", "value", "updated"),
    "messages": ("id", "time", "terminal", "direction", "bearer", "command", "seq", "hex", "note"),
    "pending": ("id", "time", "terminal", "command", "seq", "request", "status", "answer", "answered"),
    "app_data": ("id", "time", "terminal", "ec_code", "data"),
    "counters": ("name", "value"),
    "upgrade_files": ("id", "time", "version", "name", "size", "crc16", "crc32", "sha256", "data"),
    "upgrades": ("trans_id", "time", "terminal", "file_id", "version", "size", "scheme", "url", "forced",
                 "state", "ack", "reason", "position", "served", "updated", "note"),
}

UPGRADE_FILE_INFO = "id, time, version, name, size, crc16, crc32, sha256"


class StoreError(Exception):
    """The database file cannot be used; one line for the operator.  `usage` is
    True when the file named is wrong (exit 2), False when it is busy (exit 1)."""

    def __init__(self, text, usage=True):
        super().__init__(text)
        self.usage = usage


class ProvisionConflict(Exception):
    """provision would replace or delete another subscription (see Store.provision)."""


def _others_may_access(mode):
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))


def check_path(path):
    """Everything that can be said about a database path before touching it:
    StoreError when it cannot be used.  Returns True when the file exists."""
    if path == ":memory:":
        return False
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise StoreError("--db needs a file name (or :memory:)")
    if os.path.isdir(path):
        raise StoreError("--db %s is a directory: name a file in it (e.g. %s)"
                         % (path, os.path.join(path, "platform.sqlite")))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(parent):
        grand = os.path.dirname(parent)
        if not os.path.isdir(grand):
            raise StoreError("--db %s: directory %s does not exist" % (path, grand))
        return False
    if not os.path.isdir(parent):
        raise StoreError("--db %s: %s is not a directory" % (path, parent))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not os.access(parent, os.W_OK | os.X_OK):
            raise StoreError("--db %s: cannot create a file in %s (permission denied)" % (path, parent))
        return False
    except OSError as e:
        raise StoreError("--db %s: %s" % (path, e.strerror or e))
    if not stat.S_ISREG(st.st_mode):
        raise StoreError("--db %s is not a regular file" % path)
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError("--db %s: cannot read and write it (permission denied)" % path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError("--db %s: cannot write in %s, where SQLite keeps its journal (permission denied)"
                         % (path, parent))
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StoreError("--db %s: %s" % (path, e.strerror or e))
    if head and head != SQLITE_MAGIC:
        raise StoreError("--db %s is not an SQLite database (left untouched)" % path)
    if head:
        _check_tables(path)
    if _others_may_access(st.st_mode):
        raise StoreError("database %s is open to other users (mode %04o) and holds the terminals' "
                         "passwords and keys: run  chmod 600 %s  and start again"
                         % (path, stat.S_IMODE(st.st_mode), path))
    return True


def _check_tables(path):
    """An existing SQLite file: opened read-only, it must be empty or this tool's."""
    try:
        ro = sqlite3.connect("file:%s?mode=ro" % _uri_path(path), uri=True)
        try:
            tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            tables.discard("sqlite_sequence")
            if tables and not {"subscriptions", "terminals"} <= tables:
                raise StoreError("--db %s is an SQLite database of something else (tables: %s): "
                                 "left untouched, name another file"
                                 % (path, ", ".join(sorted(tables)[:6])))
            for name in sorted(tables & set(TABLE_COLUMNS)):
                have = {r[1] for r in ro.execute("PRAGMA table_info(%s)" % name)}
                missing = [c for c in TABLE_COLUMNS[name] if c not in have]
                if missing:
                    raise StoreError("--db %s was made by another version of wmmp-platform (table %s "
                                     "lacks %s): left untouched, name another file"
                                     % (path, name, ", ".join(missing[:4])))
        finally:
            ro.close()
    except sqlite3.DatabaseError as e:
        raise StoreError("--db %s is not a usable SQLite database (%s): left untouched" % (path, e))


def _uri_path(path):
    from urllib.parse import quote
    return quote(os.path.abspath(path))


def _create(path):
    """A new database file, 0600; its directory (one level) 0700 when missing."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        if not os.path.exists(parent):
            os.mkdir(parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as e:
        raise StoreError("--db %s: cannot create it: %s" % (path, e.strerror or e))


class Store:
    """The platform database.  lock=True takes an exclusive lock on the file for
    the life of the Store (one `wmmp-platform serve` per database)."""

    def __init__(self, path=":memory:", clock=time.time, lock=False):
        self._lock_fd = None
        if path != ":memory:":
            if not check_path(path):
                _create(path)
            if lock:
                self._lock(path)
        try:
            self.conn = sqlite3.connect(path, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as e:
            self._unlock()
            raise StoreError("--db %s cannot be used: %s" % (path, e), usage=False)
        self.clock = clock
        self._logged = 0

    def _lock(self, path):
        import fcntl
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise StoreError("--db %s: %s" % (path, e.strerror or e))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise StoreError("database %s is in use by another wmmp-platform serve" % path, usage=False)
            raise StoreError("--db %s: cannot lock it: %s" % (path, e.strerror or e), usage=False)
        self._lock_fd = fd

    def _unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self):
        self.conn.close()
        self._unlock()

    def _one(self, sql, args=()):
        row = self.conn.execute(sql, args).fetchone()
        return dict(row) if row is not None else None

    def _all(self, sql, args=()):
        return [dict(r) for r in self.conn.execute(sql, args).fetchall()]

    # -- counters --------------------------------------------------------------

    def next_counter(self, name):
        self.conn.execute("INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", (name,))
        self.conn.execute("UPDATE counters SET value = value + 1 WHERE name = ?", (name,))
        return self._one("SELECT value FROM counters WHERE name = ?", (name,))["value"]

    # -- subscriptions ---------------------------------------------------------

    def provision(self, imsi, msisdn, replace=False, **extra):
        """Create the subscription of `imsi` (operator command).  Returns (row,
        replaced, changed): `replaced` lists the subscriptions removed or
        overwritten, `changed` is False when the same subscription was there.

        Nothing another command created is deleted or overwritten unless
        `replace`: an IMSI provisioned with other values, or an MSISDN that
        belongs to another IMSI, raise ProvisionConflict."""
        row = {c: None for c in SUBSCRIPTION_COLUMNS}
        row.update(imsi=imsi, msisdn=msisdn, force_sms=0, no_security=0, created=self.clock())
        for k, v in extra.items():
            if k not in row:
                raise KeyError(k)
            row[k] = v
        same = self.subscription(imsi)
        other = self.subscription_by_msisdn(msisdn)
        if other is not None and other["imsi"] == imsi:
            other = None
        if same is not None and all(same[c] == row[c] for c in SUBSCRIPTION_COLUMNS if c != "created") \
                and other is None:
            return same, [], False
        if not replace:
            if other is not None:
                raise ProvisionConflict("MSISDN %s already belongs to IMSI %s: nothing changed "
                                        "(--replace moves it, deleting that subscription)"
                                        % (msisdn, other["imsi"]))
            if same is not None:
                diff = [c for c in SUBSCRIPTION_COLUMNS if c != "created" and same[c] != row[c]]
                raise ProvisionConflict("IMSI %s is already provisioned with other values (%s): nothing "
                                        "changed (--replace overwrites it)"
                                        % (imsi, ", ".join("--" + c.replace("_", "-") for c in diff)))
        replaced = [r for r in (other, same) if r is not None]
        cols = ",".join(SUBSCRIPTION_COLUMNS)
        marks = ",".join("?" for _ in SUBSCRIPTION_COLUMNS)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if other is not None:
                self.conn.execute("DELETE FROM subscriptions WHERE imsi = ?", (other["imsi"],))
            if same is not None:
                self.conn.execute("DELETE FROM subscriptions WHERE imsi = ?", (imsi,))
            self.conn.execute("INSERT INTO subscriptions (%s) VALUES (%s)" % (cols, marks),
                              [row[c] for c in SUBSCRIPTION_COLUMNS])
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return row, replaced, True

    def subscription(self, imsi):
        return self._one("SELECT * FROM subscriptions WHERE imsi = ?", (imsi,))

    def subscription_by_msisdn(self, msisdn):
        return self._one("SELECT * FROM subscriptions WHERE msisdn = ?", (msisdn,))

    def subscriptions(self):
        return self._all("SELECT * FROM subscriptions ORDER BY imsi")

    # -- terminals -------------------------------------------------------------

    def terminal(self, serial):
        return self._one("SELECT * FROM terminals WHERE serial = ?", (serial,))

    def terminal_by_imsi(self, imsi):
        return self._one("SELECT * FROM terminals WHERE imsi = ? ORDER BY registered DESC", (imsi,))

    def terminal_by_imei(self, imei):
        return self._one("SELECT * FROM terminals WHERE imei = ? ORDER BY registered DESC", (imei,))

    def terminal_by_msisdn(self, msisdn):
        return self._one("SELECT * FROM terminals WHERE msisdn = ? ORDER BY registered DESC", (msisdn,))

    def terminals(self):
        return self._all("SELECT * FROM terminals ORDER BY serial")

    def save_terminal(self, row):
        """Insert or replace a whole terminal row (a dict with TERMINAL_COLUMNS keys)."""
        full = {c: None for c in TERMINAL_COLUMNS}
        full.update(state="registered", security=1, preset=0, keys_acked=0, supports_encryption=0,
                    session_required=0, keep_connected=0, fail_reply=0, cleared=0)
        full.update({k: v for k, v in row.items() if k in full})
        cols = ",".join(TERMINAL_COLUMNS)
        marks = ",".join("?" for _ in TERMINAL_COLUMNS)
        self.conn.execute("INSERT OR REPLACE INTO terminals (%s) VALUES (%s)" % (cols, marks),
                          [full[c] for c in TERMINAL_COLUMNS])
        return full

    def update_terminal(self, serial, **fields):
        if not fields:
            return
        for k in fields:
            if k not in TERMINAL_COLUMNS or k == "serial":
                raise KeyError(k)
        sets = ",".join("%s = ?" % k for k in fields)
        self.conn.execute("UPDATE terminals SET %s WHERE serial = ?" % sets,
                          list(fields.values()) + [serial])

    def delete_terminal(self, serial):
        self.conn.execute("DELETE FROM terminals WHERE serial = ?", (serial,))

    def pending_keys(self, serial):
        row = self.terminal(serial)
        if row is None or not row["pending_keys"]:
            return None
        return json.loads(row["pending_keys"])

    # -- reported parameters ---------------------------------------------------

    def set_param(self, serial, tag, value):
        self.conn.execute("INSERT OR REPLACE INTO params (terminal, tag, value, updated) VALUES (?,?,?,?)",
                          (serial, tag, bytes(value), self.clock()))

    def param(self, serial, tag):
        row = self._one("SELECT value FROM params WHERE terminal = ? AND tag = ?", (serial, tag))
        return bytes(row["value"]) if row is not None else None

    def params(self, serial):
        return [(r["tag"], bytes(r["value"]), r["updated"]) for r in
                self._all("SELECT tag, value, updated FROM params WHERE terminal = ? ORDER BY tag",
                          (serial,))]

    def rename_params(self, old, new):
        self.conn.execute("UPDATE OR REPLACE params SET terminal = ? WHERE terminal = ?", (new, old))

    # -- message log -----------------------------------------------------------

    def log_message(self, terminal, direction, bearer, command, seq, data, note=""):
        self.conn.execute(
            "INSERT INTO messages (time, terminal, direction, bearer, command, seq, hex, note)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (self.clock(), terminal, direction, bearer, command, seq,
             bytes(data).hex() if data is not None else "", note or ""))
        rowid = self.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        self._logged += 1
        if self._logged % 1000 == 0:
            self.conn.execute("DELETE FROM messages WHERE id <= (SELECT MAX(id) FROM messages) - ?",
                              (MESSAGE_LOG_MAX,))
        return rowid

    def retag_message(self, rowid, terminal):
        """File a logged message under `terminal` (a REGISTER, once its serial is known)."""
        if rowid is not None:
            self.conn.execute("UPDATE messages SET terminal = ? WHERE id = ?", (terminal, rowid))

    def messages(self, terminal=None, limit=50):
        if terminal is None:
            rows = self._all("SELECT * FROM messages ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._all("SELECT * FROM messages WHERE terminal = ? ORDER BY id DESC LIMIT ?",
                             (terminal, limit))
        rows.reverse()
        return rows

    def logged(self, command, direction, terminal=None, since=None, until=None):
        """(terminal, time, note) of the logged messages of one command and
        direction, oldest first; of one terminal and within [since, until) when
        given.  Read-only (the application interface's statistics, appif.py)."""
        sql, args = "SELECT terminal, time, note FROM messages WHERE command = ? AND direction = ?", [command,
                                                                                                   direction]
        for cond, v in (("terminal = ?", terminal), ("time >= ?", since), ("time < ?", until)):
            if v is not None:
                sql += " AND " + cond
                args.append(v)
        return [(r[0], r[1], r[2]) for r in self.conn.execute(sql + " ORDER BY id", args).fetchall()]

    # -- operator commands -----------------------------------------------------

    def add_pending(self, terminal, command, seq, request):
        cur = self.conn.execute(
            "INSERT INTO pending (time, terminal, command, seq, request, status) VALUES (?,?,?,?,?,?)",
            (self.clock(), terminal, command, seq, json.dumps(request), "sent"))
        return cur.lastrowid

    def update_pending(self, pid, status, answer=None, seq=None):
        row = self._one("SELECT answer FROM pending WHERE id = ?", (pid,))
        if row is None:
            return
        if answer is not None:
            old = json.loads(row["answer"]) if row["answer"] else []
            old.append(answer)
            self.conn.execute("UPDATE pending SET answer = ?, answered = ? WHERE id = ?",
                              (json.dumps(old), self.clock(), pid))
        self.conn.execute("UPDATE pending SET status = ? WHERE id = ?", (status, pid))
        if seq is not None:
            self.conn.execute("UPDATE pending SET seq = ? WHERE id = ?", (seq, pid))

    def pending_by_seq(self, terminal, command, seq):
        return self._one("SELECT * FROM pending WHERE terminal = ? AND command = ? AND seq = ?"
                         " ORDER BY id DESC", (terminal, command, seq))

    def pending_row(self, pid):
        row = self._one("SELECT * FROM pending WHERE id = ?", (pid,))
        if row is not None:
            row["request"] = json.loads(row["request"]) if row["request"] else None
            row["answer"] = json.loads(row["answer"]) if row["answer"] else []
        return row

    def pendings(self, terminal=None, limit=50):
        if terminal is None:
            rows = self._all("SELECT * FROM pending ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self._all("SELECT * FROM pending WHERE terminal = ? ORDER BY id DESC LIMIT ?",
                             (terminal, limit))
        for r in rows:
            r["request"] = json.loads(r["request"]) if r["request"] else None
            r["answer"] = json.loads(r["answer"]) if r["answer"] else []
        rows.reverse()
        return rows

    # -- application data (TRANSPARENT_DATA to an EC code, appendix G j) --------

    def add_app_data(self, terminal, ec_code, data):
        self.conn.execute("INSERT INTO app_data (time, terminal, ec_code, data) VALUES (?,?,?,?)",
                          (self.clock(), terminal, ec_code, bytes(data)))

    def app_data(self, ec_code=None):
        if ec_code is None:
            return self._all("SELECT * FROM app_data ORDER BY id")
        return self._all("SELECT * FROM app_data WHERE ec_code = ? ORDER BY id", (ec_code,))

    def app_data_since(self, after, ec_code=None, terminal=None, limit=1000):
        """Rows of application data with id above `after`, oldest first (at most
        `limit`), of one EC code and / or one terminal when given."""
        sql, args = "SELECT * FROM app_data WHERE id > ?", [after]
        if ec_code is not None:
            sql += " AND ec_code = ?"
            args.append(ec_code)
        if terminal is not None:
            sql += " AND terminal = ?"
            args.append(terminal)
        return self._all(sql + " ORDER BY id LIMIT ?", args + [limit])

    def app_data_last(self):
        """The id of the newest application data row (0: none)."""
        row = self._one("SELECT MAX(id) AS id FROM app_data")
        return (row["id"] if row is not None else None) or 0

    # -- software upgrade (4.3.8, appendix G k, l; wmmp_tools.platform.upgrade) --

    def add_upgrade_file(self, version, name, data, crc16, crc32, sha256):
        cur = self.conn.execute(
            "INSERT INTO upgrade_files (time, version, name, size, crc16, crc32, sha256, data)"
            " VALUES (?,?,?,?,?,?,?,?)", (self.clock(), version, name, len(data), crc16, crc32, sha256,
                                         bytes(data)))
        return cur.lastrowid

    def upgrade_file(self, file_id, with_data=False):
        return self._one("SELECT %s FROM upgrade_files WHERE id = ?" % ("*" if with_data else UPGRADE_FILE_INFO),
                         (file_id,))

    def upgrade_file_by_version(self, version):
        return self._one("SELECT %s FROM upgrade_files WHERE version = ? ORDER BY id DESC LIMIT 1"
                         % UPGRADE_FILE_INFO, (version,))

    def upgrade_files(self):
        return self._all("SELECT %s FROM upgrade_files ORDER BY id" % UPGRADE_FILE_INFO)

    def add_upgrade(self, row):
        cols = [c for c in TABLE_COLUMNS["upgrades"] if c in row]
        self.conn.execute("INSERT INTO upgrades (%s, time, updated) VALUES (%s,?,?)" % (
            ",".join(cols), ",".join("?" for _ in cols)), [row[c] for c in cols] + [self.clock()] * 2)

    def upgrade(self, trans_id):
        return self._one("SELECT * FROM upgrades WHERE trans_id = ?", (trans_id,))

    def update_upgrade(self, trans_id, **fields):
        for k in fields:
            if k not in TABLE_COLUMNS["upgrades"] or k == "trans_id":
                raise KeyError(k)
        fields["updated"] = self.clock()
        self.conn.execute("UPDATE upgrades SET %s WHERE trans_id = ?" % ",".join("%s = ?" % k for k in fields),
                          list(fields.values()) + [trans_id])

    def upgrades(self, terminal=None, limit=1000):
        """Newest first."""
        if terminal is None:
            return self._all("SELECT * FROM upgrades ORDER BY time DESC, rowid DESC LIMIT ?", (limit,))
        return self._all("SELECT * FROM upgrades WHERE terminal = ? ORDER BY time DESC, rowid DESC LIMIT ?",
                         (terminal, limit))
