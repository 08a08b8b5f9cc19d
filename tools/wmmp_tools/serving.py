"""Shared by the host servers (wmmp-platform serve, wmmp-smsc, andlink-platform
serve): wait until SIGINT or SIGTERM asks the process to stop, and log
(NOTICE, the tool's own component: wmmp_tools.logfmt) which one did; the
JSON-lines control socket of the two platform simulators (ControlSocket, the
server; json_line, one encoded line; call, the blocking client)."""
import asyncio
import logging
import signal

from wmmp_tools import logfmt


async def until_stopped():
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    got = []

    def on_signal(sig):
        got.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):   # not the main thread / no signals here
            pass
    await stop.wait()
    if got:
        logfmt.notice(logging.getLogger("wmmp"), "stopping (%s)", signal.Signals(got[0]).name)


async def json_lines(reader, writer, handle, encode):
    """One client of a JSON-lines control socket (wmmp-platform, andlink-platform):
    each line a request, `await handle(req)` its reply, written as `encode(reply)`;
    a line too long or not JSON is answered as bad input; the connection's end
    (or a broken one) ends the loop.  The caller closes the writer."""
    import json
    try:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                writer.write(encode({"ok": False, "kind": "input", "error": "line too long"}))
                break
            if not line:
                break
            if not line.strip():
                continue
            try:
                req = json.loads(line)
            except ValueError:
                reply = {"ok": False, "kind": "input", "error": "not JSON"}
            else:
                reply = await handle(req)
            writer.write(encode(reply))
            await writer.drain()
    except (ConnectionError, OSError):
        pass


LINE_MAX = 65536             # a request line
REPLY_MAX = 1 << 30          # an answer line (show / log with a large --limit)


def _default(o):
    if isinstance(o, (bytes, bytearray, memoryview)):
        return bytes(o).hex()
    if isinstance(o, set):
        return sorted(o)
    return str(o)


def json_line(obj):
    """One control-socket line: JSON, bytes as hex, sets sorted, the rest as text."""
    import json
    return (json.dumps(obj, default=_default) + "\n").encode("utf-8")


class StreamServer:
    """A TCP server on (host, port), or on a socket already bound, whose
    connections self.serve(reader, writer) handles (lines up to `limit`);
    close() ends the server and the connections still open."""

    limit = 64 * 1024

    def __init__(self, host, port):
        self.host, self.port = host, port
        self._server = None
        self._writers = set()

    async def start(self, sock=None):
        if sock is not None:
            self._server = await asyncio.start_server(self._client, sock=sock, limit=self.limit)
        else:
            self._server = await asyncio.start_server(self._client, self.host, self.port, limit=self.limit)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self):
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader, writer):
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        finally:
            self._writers.discard(writer)
            writer.close()


class ControlSocket(StreamServer):
    """A control socket of JSON lines: each request {"op": ...} is run by
    self.operator.run(op, req); the reply is {"ok": true, ...} or {"ok":
    false, "kind": "input" | "failed", "error": ...}.  Subclasses set
    `input_errors` and `failed_errors` (exception classes: bad input, a
    failure to report), `log`, and self.operator; any other exception is
    logged with its traceback and answered as an internal error."""

    input_errors = ()
    failed_errors = ()
    log = logging.getLogger("wmmp")
    limit = LINE_MAX + 2

    def __init__(self, host, port):
        StreamServer.__init__(self, host, port)
        self.operator = None

    async def handle(self, req):
        """The reply dict of one request dict."""
        if not isinstance(req, dict) or not isinstance(req.get("op"), str):
            return {"ok": False, "kind": "input", "error": "a request is a JSON object with an \"op\""}
        try:
            out = await self.operator.run(req["op"], req)
        except self.input_errors as e:
            return {"ok": False, "kind": "input", "error": str(e)}
        except self.failed_errors as e:
            return {"ok": False, "kind": "failed", "error": str(e)}
        except Exception as e:               # never let one request kill the socket
            self.log.error("control request %s failed: %s: %s", req.get("op"), type(e).__name__, e, exc_info=e)
            return {"ok": False, "kind": "failed", "error": "internal error: %s" % e}
        out = dict(out)
        out["ok"] = True
        return out

    async def serve(self, reader, writer):
        await json_lines(reader, writer, self.handle, json_line)


def call(address, req, timeout=60.0, tool="the platform's"):
    """Client side (blocking): send one request to the control socket at
    (host, port) and return the reply dict; OSError / ConnectionError when
    the platform cannot be reached.  `tool` names the port in the error of
    an answer that is not JSON ("a wmmp-platform")."""
    import json
    import socket
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(json_line(req))
        f = s.makefile("rb")
        line = f.readline(REPLY_MAX + 1)
    if not line:
        raise ConnectionError("the platform closed the control connection")
    if not line.endswith(b"\n"):
        if len(line) > REPLY_MAX:
            raise ConnectionError("the answer is longer than %d MiB (ask for less: --limit)" % (REPLY_MAX >> 20))
        raise ConnectionError("the platform closed the control connection in the middle of its answer")
    try:
        reply = json.loads(line)
    except ValueError:
        raise ConnectionError("the answer is not the platform's (not JSON): is this %s control port?" % tool)
    if not isinstance(reply, dict):
        raise ConnectionError("the answer is not the platform's (not a JSON object)")
    return reply
