"""WSDL 1.1 documents of the HTTP binding (appendix C 1) item 1), made from the
catalogue: exactly the operations this package serves.

Two services, one per side that serves HTTP (docs/APP.md decision 12):

    platform_wsdl(location)     service WmmpPlatform: the 11 calls an application
                                makes (TAppLogin ... TConfigSet), served by serve_http
    application_wsdl(location)  service WmmpApplication: the 14 calls the platform
                                makes on an application's own endpoint (AppServer);
                                PLinkCheck is left out: appendix H r) checks long
                                connections only

SOAP 1.1, document/literal.  Operation name = call name of appendix H, SOAPAction
"<call name>"; input element <Name>Req, output <Name>Rsp, in namespace
urn:wmmp:app.  Each element is HEAD (SID, TIMESTAMP, SERVICEID, and TERMINID for
TConfigReq), BODY (a string: base64 of the 3DES-encrypted body document; absent
where appendix H gives the message no body) and HASH (a string).  The plain body
each BODY carries is described in each operation's documentation.
"""

from xml.sax.saxutils import escape, quoteattr

from wmmp_app import messages as M
from wmmp_app.xmlform import NS, SOAP_NS

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAPB_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"

HTTP_ONLY_EXCLUDED = ("PLinkCheck",)


def platform_calls():
    return M.calls(M.A2P)


def application_calls():
    return [c for c in M.calls(M.P2A) if c.name not in HTTP_ONLY_EXCLUDED]


def _element(spec):
    head = "".join('<xsd:element name="%s" type="xsd:string"/>' % h for h in spec.head)
    body = ""
    if spec.body is not None:
        opt = ' minOccurs="0"' if spec.body_read_optional else ""
        body = '<xsd:element name="BODY" type="xsd:string"%s/>' % opt
    return ('<xsd:element name="%s"><xsd:complexType><xsd:sequence>'
            '<xsd:element name="HEAD"><xsd:complexType><xsd:sequence>%s</xsd:sequence></xsd:complexType></xsd:element>'
            '%s<xsd:element name="HASH" type="xsd:string"/>'
            '</xsd:sequence></xsd:complexType></xsd:element>' % (spec.name, head, body))


def _doc(call):
    def fields(spec):
        if spec.body is None:
            return "no body"
        return "body: " + ", ".join(f.name + ("" if f.required else "?") for f in spec.body)
    return escape("%s, %s. Request %s; answer %s." % (call.section, call.title, fields(call.request),
                                                       fields(call.response)))


def build(service, calls, location):
    """A WSDL 1.1 document (bytes) for `calls` at endpoint `location`."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           '<wsdl:definitions name="%s" targetNamespace="%s" xmlns:tns="%s" xmlns:wsdl="%s" xmlns:soap="%s" '
           'xmlns:xsd="%s">' % (service, NS, NS, WSDL_NS, SOAPB_NS, XSD_NS),
           '<wsdl:documentation>WMMP platform-application interface (section 5, appendix C and H of the '
           'standard): %s. docs/APP.md tells how bodies are encrypted and signed.</wsdl:documentation>'
           % ("what an application calls on the platform" if service == "WmmpPlatform"
              else "what the platform calls on an application"),
           '<wsdl:types><xsd:schema targetNamespace="%s" elementFormDefault="qualified">' % NS]
    for c in calls:
        out.append(_element(c.request))
        out.append(_element(c.response))
    out.append("</xsd:schema></wsdl:types>")
    for c in calls:
        out.append('<wsdl:message name="%sRequest"><wsdl:part name="parameters" element="tns:%s"/></wsdl:message>'
                   % (c.name, c.request.name))
        out.append('<wsdl:message name="%sResponse"><wsdl:part name="parameters" element="tns:%s"/></wsdl:message>'
                   % (c.name, c.response.name))
    out.append('<wsdl:portType name="%sPortType">' % service)
    for c in calls:
        out.append('<wsdl:operation name="%s"><wsdl:documentation>%s</wsdl:documentation>'
                   '<wsdl:input message="tns:%sRequest"/><wsdl:output message="tns:%sResponse"/></wsdl:operation>'
                   % (c.name, _doc(c), c.name, c.name))
    out.append("</wsdl:portType>")
    out.append('<wsdl:binding name="%sSoapBinding" type="tns:%sPortType">'
               '<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>' % (service, service))
    for c in calls:
        out.append('<wsdl:operation name="%s"><soap:operation soapAction="%s" style="document"/>'
                   '<wsdl:input><soap:body use="literal"/></wsdl:input>'
                   '<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>' % (c.name, c.name))
    out.append("</wsdl:binding>")
    out.append('<wsdl:service name="%s"><wsdl:port name="%sPort" binding="tns:%sSoapBinding">'
               '<soap:address location=%s/></wsdl:port></wsdl:service>'
               % (service, service, service, quoteattr(location)))
    out.append("</wsdl:definitions>\n")
    return "".join(out).encode("utf-8")


def platform_wsdl(location):
    return build("WmmpPlatform", platform_calls(), location)


def application_wsdl(location):
    return build("WmmpApplication", application_calls(), location)


__all__ = ["application_wsdl", "platform_wsdl", "SOAP_NS"]
