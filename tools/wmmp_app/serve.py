"""The gateway on its two transports (appendix C 1)):

    server = await serve_long(gateway, "127.0.0.1", 9000)      # long connection
    http = await serve_http(gateway, "127.0.0.1", 8080)        # POST /wmmp/app, GET /wmmp/app?wsdl

Either takes sock= instead of host and port: a socket already bound (and
listening), as asyncio's start_server(sock=...) does -- for a program that
binds its ports first and hands them over.  Both are closed by gateway.close().

On the long connection a PDU that cannot be answered at all (not XML, no usable
SID or SERVICEID) is logged and dropped; on HTTP it gets 400 (a SOAP Fault when
it came in an envelope).  Every other refusal is an answer PDU with its
RESULTCODE (security.REFUSAL_CODES).  The answer to a login is reported to the
gateway once written (gateway.respond): only then does it use the new session.
"""

import logging

from wmmp_app import messages as M
from wmmp_app import transport as T
from wmmp_app import wsdl as W
from wmmp_app import xmlform as X

log = logging.getLogger("wmmp.app.gateway")

XML = "text/xml; charset=utf-8"


def _check_where(host, port, sock):
    if (sock is None) == (host is None or port is None):
        raise ValueError("give host and port, or sock")


async def serve_long(gateway, host=None, port=None, max_frame=None, sock=None):
    """Accept long connections for `gateway` on host:port or on the bound socket
    `sock`; returns the asyncio Server."""
    _check_where(host, port, sock)
    async def on_request(data, link):
        try:
            out, sent = await gateway.respond(data, link.peer, link, "long")
        except M.MessageError as e:
            log.warning("long %s: unanswerable PDU dropped: %s", link.peer_text, e)
            return None
        if sent is None:
            return out
        await link.send(out)        # then the session it opens is used (gateway.respond)
        sent()
        return None
    srv = await T.serve_long_links(on_request, host, port, max_frame or gateway.max_pdu, "long", gateway.add_link,
                                   sock=sock)
    gateway.servers.append(srv)
    return srv


def _location(host_header, host, port, path):
    h = host_header if host_header and all(c not in host_header for c in " /\\\"'<>") else (
        "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port))
    return "http://%s%s" % (h, path)


async def serve_http(gateway, host=None, port=None, path="/wmmp/app", idle_timeout=T.HTTP_IDLE, max_body=None,
                     sock=None):
    """Serve `gateway` over HTTP on host:port or on the bound socket `sock`;
    returns the HttpServer (.port, .close())."""
    _check_where(host, port, sock)
    if sock is not None:
        host = sock.getsockname()[0]
    srv = None

    async def handler(body, peer, headers):
        soap = False
        try:
            root = X.parse(body, gateway.max_pdu, "request")
            soap = X.is_soap(root)
            out, sent = await gateway.respond(root, peer, None, "http")
        except M.MessageError as e:
            log.warning("http %s: bad request: %s", peer, e)
            if soap:
                return 400, XML, X.soap_fault(str(e))
            return 400, "text/plain; charset=utf-8", ("bad request: %s\n" % e).encode("utf-8")
        return 200, XML, X.soap_wrap(out) if soap else out, sent      # sent(): once written

    def wsdl(host_header):
        return W.platform_wsdl(_location(host_header, host, srv.port if srv else port, path))

    srv = T.HttpServer(handler, path, wsdl, max_body or gateway.max_pdu, idle_timeout, "http")
    await srv.start(host, port, sock=sock)
    gateway.servers.append(srv)
    return srv
