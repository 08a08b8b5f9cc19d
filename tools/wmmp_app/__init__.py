"""The WMMP platform <-> application interface (section 5, appendices C and H of
the standard), host side, CPython 3 and the standard library only.

    messages.py   the 26 calls of appendix H as data; Message, build(), checks
    fields.py     the kinds of body element (tags, values, lists, FILTER, ...)
    xmlform.py    the XML PDU of appendix C 2.1, SOAP envelope, safe XML reading
    security.py   section 5.2: accounts, 3DES, the MD5 digest, sessions, address
                  lists, refusals and their result codes
    pdu.py        a Message to PDU bytes and back (encrypt, sign, verify, decrypt)
    transport.py  long connection frames and links, a small HTTP/1.1 server and client
    wsdl.py       WSDL 1.1 of the HTTP binding, made from the catalogue
    client.py     AppClient: an OEM's application
    gateway.py    Gateway: the platform's end, over a backend the platform provides
    serve.py      the gateway on the long connection and on HTTP
    cli.py        the `wmmp-app` command

docs/APP.md tells how it works and which decisions were taken where the
standard leaves a detail open.
"""

__version__ = "0.1.0"
