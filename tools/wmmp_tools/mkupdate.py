"""Build an update file (docs/UPDATE.md): a 72-byte header naming the board,
the software version, the content kind, the payload size and its SHA-256,
then the payload.

    python -m wmmp_tools.mkupdate --board pico_bc95 --version APP0.2 \\
        --kind mpy-app -o app-0.2.wup app.mpy board.mpy
    python -m wmmp_tools.mkupdate --board esp32_sim7600 --version FW0.2 \\
        --kind esp32-app -o fw-0.2.wup micropython.bin

mpy-app: each FILE becomes one archive entry named by its base name (top-level
modules only: app.mpy, board.mpy).  esp32-app / romfs: exactly one FILE, the
payload as it is (the app partition image, micropython.bin; a ROMFS image).
"""
import argparse
import hashlib
import os
import sys

from wmmp.board import otaimage as I


def build(board, version, kind, files):
    """The update file's bytes (header + payload) from FILES [(name, data)]."""
    if kind == "mpy-app":
        payload = b"".join(I.archive_entry(name, data) for name, data in files)
    else:
        if len(files) != 1:
            raise I.ImageError("%s takes exactly one file" % kind)
        payload = files[0][1]
    return I.build_header(board, version, kind, len(payload), hashlib.sha256(payload).digest()) + payload


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m wmmp_tools.mkupdate", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--board", required=True, help="the board it is for (boards/<name>, or host)")
    ap.add_argument("--version", required=True, help="software version, 1 to 8 visible characters")
    ap.add_argument("--kind", required=True, choices=sorted(I.KINDS))
    ap.add_argument("-o", "--output", required=True, metavar="FILE")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args(argv)
    try:
        files = []
        for path in args.files:
            with open(path, "rb") as f:
                files.append((os.path.basename(path), f.read()))
        data = build(args.board, args.version, args.kind, files)
    except (OSError, I.ImageError) as e:
        print("mkupdate: %s" % e, file=sys.stderr)
        return 2
    with open(args.output, "wb") as f:
        f.write(data)
    h = I.parse_header(data)
    print("%s: %s %s for %s, payload %d bytes, SHA-256 %s" % (
        args.output, h.kind, h.version, h.board, h.size, h.sha256.hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
