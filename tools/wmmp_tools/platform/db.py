"""SQLite state of the WMMP platform simulator: subscriptions, terminals, reported
parameters, the message log, operator commands and forwarded application data.

One file (or ":memory:"), one connection, used from the event-loop thread only.
Rows come back as dicts.  Secrets (passwords, keys) are stored in clear: this is a
development simulator, and the operator needs to see what a terminal should hold.
"""

import json
import sqlite3
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


class Store:
    """The platform database."""

    def __init__(self, path=":memory:", clock=time.time):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.executescript(SCHEMA)
        self.clock = clock
        self._logged = 0

    def close(self):
        self.conn.close()

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

    def provision(self, imsi, msisdn, **extra):
        """Create or replace the subscription of `imsi` (operator command)."""
        row = {c: None for c in SUBSCRIPTION_COLUMNS}
        row.update(imsi=imsi, msisdn=msisdn, force_sms=0, no_security=0, created=self.clock())
        for k, v in extra.items():
            if k not in row:
                raise KeyError(k)
            row[k] = v
        self.conn.execute("DELETE FROM subscriptions WHERE msisdn = ? AND imsi != ?", (msisdn, imsi))
        cols = ",".join(SUBSCRIPTION_COLUMNS)
        marks = ",".join("?" for _ in SUBSCRIPTION_COLUMNS)
        self.conn.execute("INSERT OR REPLACE INTO subscriptions (%s) VALUES (%s)" % (cols, marks),
                          [row[c] for c in SUBSCRIPTION_COLUMNS])
        return row

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
