"""The operator CLIs' side of publishing an update file (wmmp-platform upgrade
publish, andlink-platform fota publish): the file read and checked, then sent
over the control socket whole or in parts of UPLOAD_PART bytes (a control
line is at most 64 KiB), its SHA-256 checked by the platform."""

import hashlib
import os

UPLOAD_PART = 24576


def short_path(path, n=60):
    """A file name for a one-line error: its end (where the name is) when long."""
    return path if len(path) <= n else "..." + path[-n:]


def read_file(path, limit, error):
    """The file's bytes; error(text) (the CLI's bad-input exception) when it
    is a directory, cannot be read, is empty or longer than `limit`."""
    try:
        if os.path.isdir(path):
            raise error("%s is a directory" % short_path(path))
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error("%s: %s" % (short_path(path), e.strerror or e))
    if not data:
        raise error("%s is empty" % short_path(path))
    if len(data) > limit:
        raise error("%s is longer than %d bytes" % (short_path(path), limit))
    return data


def publish(data, path, version, publish_op, upload_op, call):
    """Publish `data` (read from `path`) as `version`: one `publish_op`
    request, preceded by `upload_op` parts when it is long; call(req) -> the
    platform's reply (the CLI's own, which fails on a refusal)."""
    req = {"op": publish_op, "version": version, "name": os.path.basename(path)[:200],
           "sha256": hashlib.sha256(data).hexdigest()}
    if len(data) <= UPLOAD_PART:
        req["data"] = data.hex()
    else:
        token = None
        for off in range(0, len(data), UPLOAD_PART):
            part = {"op": upload_op, "offset": off, "data": data[off:off + UPLOAD_PART].hex()}
            if token is not None:
                part["upload"] = token
            token = call(part)["upload"]
        req["upload"] = token
    return call(req)
