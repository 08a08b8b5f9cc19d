"""Published FOTA packages and the Block2 file server the devices pull them from
(And-link spec 4.4.1: Pull over plain CoAP, block transfer; 3.2: RFC 7959; 3.4:
PREFERRED_BLOCK_SIZE 512, MAX_MESSAGE_SIZE 1024).

A package is served at coap://HOST:PORT/fota/<id> (id: the first 8 hex digits of
its SHA-256) with an ETag (its first 8 SHA-256 bytes, the same in every block),
Content-Format 42 and Size2 on block 0.  A GET with Block2 gets the block it asks
for in the size it asks for (16..1024 bytes: szx 0-6; szx 7, BERT, is for CoAP
over TCP and is refused 4.00); a GET without Block2 gets the whole package when
it fits in 1024 bytes, else block 0 of 512 bytes (the preferred size); a block
beyond the end is 4.02 Bad Option (RFC 7959 2.2).

Each download is followed per requester and package (blocks, bytes, highest
offset, last block time) and reported to the FOTA flow, which matches the
requester to a registered device by its address."""

import hashlib
import logging
import os
import secrets
import time

import aiocoap
from aiocoap.numbers.codes import Code
from aiocoap.optiontypes import BlockOption

from andlink_tools import codec, coapio

log = logging.getLogger("andlink.platform.fota")

FILE_MAX = 16 << 20           # bytes of one package
VERSION_MAX = 64              # characters of a version
UPLOADS_MAX = 8               # unfinished uploads at once


class PackageError(ValueError):
    pass


def check_version(text):
    if not isinstance(text, str) or not text or len(text) > VERSION_MAX or not text.isprintable() or text != text.strip():
        raise PackageError("a version is 1-%d printable characters without surrounding spaces" % VERSION_MAX)
    return text


class Package:
    def __init__(self, data, version, name=None, when=None):
        self.data = bytes(data)
        digest = hashlib.sha256(self.data).digest()
        self.sha256 = digest.hex()
        self.id = self.sha256[:8]
        self.etag = digest[:8]
        self.version = version
        self.name = name
        self.size = len(self.data)
        self.time = time.time() if when is None else when

    @property
    def path(self):
        return ("fota", self.id)

    def to_json(self):
        return {"id": self.id, "version": self.version, "name": self.name, "size": self.size,
                "sha256": self.sha256, "etag": self.etag.hex(), "time": self.time, "path": "/fota/" + self.id}


class Download:
    """One requester's download of one package."""

    def __init__(self, host, port, pkg):
        self.host, self.port, self.pkg = host, port, pkg
        self.blocks = 0
        self.served = 0
        self.highest = 0
        self.sizes = set()
        self.first = self.last = time.time()

    def to_json(self):
        return {"address": coapio.hostport(self.host, self.port), "package": self.pkg.id, "blocks": self.blocks,
                "served": self.served, "highest": self.highest, "block_sizes": sorted(self.sizes),
                "first": self.first, "last": self.last}


class Packages:
    """The published packages (kept in `directory` when given), uploads being
    received over the control socket, and the downloads."""

    def __init__(self, pf, directory=None):
        self.pf = pf
        self.directory = directory
        self.items = {}
        self.uploads = {}
        self.downloads = {}
        self.preferred = coapio.PREFERRED_BLOCK

    # -- publishing -------------------------------------------------------------------

    def publish(self, data, version, name=None, sha256=None):
        check_version(version)
        if not data:
            raise PackageError("the package is empty")
        if len(data) > FILE_MAX:
            raise PackageError("the package is longer than %d bytes" % FILE_MAX)
        pkg = Package(data, version, name)
        if sha256 is not None and sha256 != pkg.sha256:
            raise PackageError("the package arrived damaged (SHA-256 differs): publish it again")
        old = self.items.get(pkg.id)
        if old is not None:
            old.version, old.name = version, name or old.name
            pkg = old
        else:
            self.items[pkg.id] = pkg
            self._store(pkg)
        log.info("package %s published: version %s, %d bytes", pkg.id, version, pkg.size)
        self.pf.changed()
        return pkg

    def upload(self, data, token=None, offset=0):
        """A part of a package coming over the control socket: (token, size so far)."""
        if token is None:
            if len(self.uploads) >= UPLOADS_MAX:
                self.uploads.pop(next(iter(self.uploads)))
            token = secrets.token_hex(8)
            self.uploads[token] = bytearray()
        buf = self.uploads.get(token)
        if buf is None:
            raise PackageError("no upload %s (it expired or the platform restarted): publish again" % token[:16])
        if offset != len(buf):
            raise PackageError("upload %s: part at %d, %d bytes received so far" % (token[:16], offset, len(buf)))
        if len(buf) + len(data) > FILE_MAX:
            del self.uploads[token]
            raise PackageError("the package is longer than %d bytes" % FILE_MAX)
        buf += data
        return token, len(buf)

    def take_upload(self, token):
        buf = self.uploads.pop(token, None)
        if buf is None:
            raise PackageError("no upload %s (it expired or the platform restarted): publish again" % str(token)[:16])
        return bytes(buf)

    def find(self, version=None, ident=None):
        """The package of `ident`, or the latest of `version`, or the latest."""
        if ident is not None:
            return self.items.get(ident)
        cands = [p for p in self.items.values() if version is None or p.version == version]
        return max(cands, key=lambda p: p.time) if cands else None

    def uri(self, pkg):
        host, port = self.pf.files_address
        return "coap://%s/fota/%s" % (coapio.hostport(host, port), pkg.id)

    def _store(self, pkg):
        if self.directory is None:
            return
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        tmp = os.path.join(self.directory, ".%s.tmp" % pkg.id)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pkg.data)
        os.replace(tmp, os.path.join(self.directory, pkg.id + ".bin"))

    def to_state(self):
        return [dict(p.to_json(), data=None) for p in self.items.values()]

    def load_state(self, rows):
        for r in rows or []:
            path = os.path.join(self.directory or "", r["id"] + ".bin")
            try:
                with open(path, "rb") as f:
                    data = f.read(FILE_MAX + 1)
            except OSError as e:
                log.warning("package %s (version %s) not loaded: %s", r["id"], r["version"], e.strerror or e)
                continue
            pkg = Package(data, r["version"], r.get("name"), r.get("time"))
            if pkg.id != r["id"]:
                log.warning("package %s not loaded: its file has other contents", r["id"])
                continue
            self.items[pkg.id] = pkg

    # -- serving (RFC 7959 Block2) -----------------------------------------------------------

    def serve(self, request):
        if request.code != Code.GET:
            return aiocoap.Message(code=Code.METHOD_NOT_ALLOWED)
        path = request.opt.uri_path
        pkg = self.items.get(path[1]) if len(path) == 2 else None
        if pkg is None:
            return aiocoap.Message(code=Code.NOT_FOUND, payload=b"no such package")
        b2 = request.opt.block2
        if b2 is None:
            if pkg.size <= coapio.MAX_PAYLOAD:
                return self._block(request, pkg, 0, pkg.size, None)
            szx = self.preferred.bit_length() - 5
            b2 = BlockOption.BlockwiseTuple(0, False, szx)
        if b2.size_exponent == 7:
            return aiocoap.Message(code=Code.BAD_REQUEST, payload=b"szx 7 (BERT) is for CoAP over TCP")
        start = b2.block_number * b2.size
        if start >= pkg.size:
            return aiocoap.Message(code=Code.BAD_OPTION, payload=b"block beyond the end of the package")
        end = min(pkg.size, start + b2.size)
        return self._block(request, pkg, start, end,
                           BlockOption.BlockwiseTuple(b2.block_number, end < pkg.size, b2.size_exponent))

    def _block(self, request, pkg, start, end, b2):
        host, port = coapio.remote_address(request.remote)
        key = (host, port, pkg.id)
        d = self.downloads.get(key)
        if d is None:
            d = self.downloads[key] = Download(host, port, pkg)
            log.info("download of package %s (version %s) by %s started", pkg.id, pkg.version,
                     coapio.hostport(host, port))
        d.blocks += 1
        d.served += end - start
        d.highest = max(d.highest, end)
        d.sizes.add(b2.size if b2 is not None else pkg.size)
        d.last = time.time()
        self.pf.emit_download(d)
        m = aiocoap.Message(code=Code.CONTENT, payload=pkg.data[start:end], content_format=codec.OPAQUE)
        m.opt.etag = pkg.etag
        if b2 is not None:
            m.opt.block2 = b2
            if b2.block_number == 0:
                m.opt.size2 = pkg.size
        return m
