"""Host tools for China Mobile's And-link LPWAN profile (an LwM2M 1.x client over
CoAP, "And-link spec" below: 中国移动 And-link 协议规范 LPWAN 设备接入分册 1.2).

The `andlink-platform` simulator (docs/ANDLINK_PLATFORM.md): a bootstrap server,
an LwM2M server with the And-link registration reads, observations, queue mode and
the Send (/dp) data channel, and a FOTA file server and flow; operated through a
local control socket.

The simulator is an independent check of the device's encodings: its TLV, SenML
JSON, LwM2M JSON, plain text, opaque and link-format code (andlink_tools.codec,
andlink_tools.linkformat) is written here from the OMA LwM2M TS, its DTLS
(andlink_tools.dtlsrecord, dtlsserver) from the RFCs, and none of the
simulator's modules below imports the device package (lib/andlink).

    andlink_tools.objects    the object / resource table and paths
    andlink_tools.codec      content formats: decode and encode
    andlink_tools.linkformat CoRE link format
    andlink_tools.coapio     aiocoap glue: contexts, And-link CoAP parameters, link shaping
    andlink_tools.registry   devices, registrations, the data feed, history
    andlink_tools.rd         the registration interface and the /dp Send channel (CoAP side)
    andlink_tools.devices    device management: requests, queue mode, observations
    andlink_tools.bootstrap  the bootstrap server
    andlink_tools.packages   published FOTA packages and the Block2 file server
    andlink_tools.fota       the FOTA flow of spec section 4.4
    andlink_tools.state      the --state file
    andlink_tools.dtlsrecord DTLS record protection and key schedule (hmac, PyCryptodome)
    andlink_tools.dtlsserver the DTLS-PSK server handshake, sans-I/O
    andlink_tools.dtlsfront  the coaps front: DTLS before the plain CoAP servers
    andlink_tools.platform   everything put together
    andlink_tools.control    the control socket (JSON lines) and its requests
    andlink_tools.values     operator input: endpoint names, paths, values
    andlink_tools.cli        the `andlink-platform` command (andlink_tools.cliprint: its output)
"""
