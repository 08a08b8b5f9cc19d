"""The firmware's entry point, frozen as main.py (MicroPython runs a frozen
main.py in preference to one on the filesystem: pyexec_file_if_exists in
shared/runtime/pyexec.c).  It takes the board module `board` (frozen from
boards/<name>/board.py), switches Ctrl-C off in production, runs
wmmp.board.device.main(board) for ever and, if anything ever escapes it, logs the
traceback and resets the board: a production image never reaches the REPL.

A development image (board.PRODUCTION = False) keeps Ctrl-C: a KeyboardInterrupt
then ends in the REPL (mpremote needs it).  The traceback of an escape goes to
the console line as lines starting "# " (wmmp-tech ignores them) and to
CRASH_FILE (overwritten, at most CRASH_MAX bytes).
"""

CRASH_FILE = "/crash.txt"
CRASH_MAX = 1024


def note(e):
    try:
        from wmmp.board.supervise import describe     # the traceback as text
        text = describe(e)
    except BaseException:
        text = repr(e)
    for line in text.split("\n"):
        if line:
            print("# " + line)
    try:
        with open(CRASH_FILE, "w") as f:
            f.write(text[-CRASH_MAX:])
    except Exception:
        pass


def app_slot(board):
    """A board with ota_boot() (RP2040: wmmp.board.ota.AppStager) runs its
    updated application: the slot's directory first on sys.path, so its
    top-level modules (.mpy) come before the frozen ones; then `board` itself
    is imported again from there when the update replaced it.  Any failure
    leaves the frozen stack running."""
    boot = getattr(board, "ota_boot", None)
    if boot is None:
        return board
    try:
        path = boot()
        if path:
            import os
            import sys
            sys.path.insert(0, path)
            names = os.listdir(path)
            if "board.mpy" in names or "board.py" in names:
                booted = board._booted
                del sys.modules["board"]
                import board as updated
                updated._booted[:] = booted     # the trial is counted once
                return updated
    except Exception as e:
        print("# ota: boot check failed: %r" % (e,))
    return board


def run():
    production = True
    try:
        import asyncio
        import board
        board = app_slot(board)
        from wmmp.board import console, device
        production = getattr(board, "PRODUCTION", True)
        if production:
            console.disable_ctrl_c()
        asyncio.run(device.main(board))
    except BaseException as e:          # SystemExit and KeyboardInterrupt too
        if isinstance(e, KeyboardInterrupt) and not production:
            raise                       # development image: to the REPL
        note(e)
    import machine
    machine.reset()


if __name__ == "__main__":
    run()
