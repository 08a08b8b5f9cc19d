"""The LwM2M data model of the And-link profile, sans-I/O: paths, the content
formats of And-link spec section 3.6 (plain text, opaque, CoRE link format,
TLV, LwM2M JSON, SenML JSON), the object tables of section 5 and the object
store the client answers the server's requests from.  Submodules are imported
on demand (nothing is imported here):

    codes     CoAP response codes, content formats, resource types and
              operation flags, the errors (each carries its CoAP code)
    path      /O, /O/I, /O/I/R, /O/I/R/RI as tuples of ints
    text      plain text and opaque single values, Execute arguments
    tlv       LwM2M TLV (content format 11542)
    senml     SenML JSON (110), LwM2M JSON (11543), a small JSON writer and
              the And-link parameter document of /19/1/0 (sections 4.2.2, 4.3.2)
    linkfmt   CoRE link format (RFC 6690): registration and Discover payloads
    codec     records <-> payload in any of the formats above
    objects   declarative object tables (the packing and lookups)
    objdefs   the And-link objects 0-7, 19, 20 (section 5.2, 4.1.5, 4.4.4)
    attrs     Write-Attributes storage and the notification rule
    store     the object store: Read, Write, Execute, Create, Delete,
              Write-Attributes, the notification check
    discover  Discover responses and the registration payload
"""
