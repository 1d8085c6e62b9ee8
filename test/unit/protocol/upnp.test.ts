// UPnP IGD codecs: the M-SEARCH we send, SSDP replies (and what is not one), device descriptions
// (miniupnpd's, prefixed, commented, hostile: huge, malformed, a control URL elsewhere), SOAP
// requests (escaping) and replies (faults, wrong types, missing fields), and random bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  addPortMappingRequest,
  decodeXmlText,
  encodeMSearch,
  encodeSoapRequest,
  MAX_DESCRIPTION_BYTES,
  parseDeviceDescription,
  parseExternalIp,
  parsePortMappingEntry,
  parseSoapResponse,
  parseSsdpReply,
  SoapFaultError,
  UpnpError,
} from '../../../src/protocol/upnp.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** miniupnpd 2.3.1's root description, shortened (its nesting and element order kept). */
export const MINIUPNPD_DESC = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337"><specVersion><major>1</major><minor>1</minor></specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:2</deviceType><friendlyName>Debian router</friendlyName><serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><SCPDURL>/L3F.xml</SCPDURL><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL></service></serviceList><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:2</deviceType><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId><SCPDURL>/WANCfg.xml</SCPDURL><controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL></service></serviceList><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:2</deviceType><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service><service><serviceType>urn:schemas-upnp-org:service:WANIPv6FirewallControl:1</serviceType><serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId><SCPDURL>/WANIP6FC.xml</SCPDURL><controlURL>/ctl/IP6FCtl</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL></service></serviceList></device></deviceList></device></deviceList><presentationURL>http://10.0.0.1/</presentationURL></device></root>`;

const soapReply = (action: string, inner: string): Buffer =>
  b(
    `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">${inner}</u:${action}Response></s:Body></s:Envelope>`,
  );

const fault = (code: string, text: string): Buffer =>
  b(
    `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode><errorDescription>${text}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`,
  );

describe('SSDP', () => {
  test('M-SEARCH: the exact datagram', () => {
    assert.equal(
      encodeMSearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1', 2).toString('latin1'),
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n',
    );
    assert.throws(() => encodeMSearch('a\r\nEVIL: 1'), UpnpError);
  });

  test('a reply: LOCATION and ST, header names in any case', () => {
    const r = parseSsdpReply(
      b(
        'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nst: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLocation: http://10.0.0.1:5000/rootDesc.xml\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3.1\r\n\r\n',
      ),
    );
    assert.deepEqual(r, {
      location: 'http://10.0.0.1:5000/rootDesc.xml',
      st: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
      server: 'Debian UPnP/1.1 MiniUPnPd/2.3.1',
    });
  });

  test('not a reply: NOTIFY, a search, no LOCATION, an https or odd LOCATION, too large', () => {
    for (const s of [
      'NOTIFY * HTTP/1.1\r\nLOCATION: http://10.0.0.1/x\r\nNT: upnp:rootdevice\r\n\r\n',
      'M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: https://10.0.0.1/x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: file:///etc/passwd\r\n\r\n',
      'HTTP/1.1 404 Not Found\r\nST: x\r\nLOCATION: http://10.0.0.1/x\r\n\r\n',
      '',
    ])
      assert.equal(parseSsdpReply(b(s)), undefined, JSON.stringify(s));
    assert.equal(
      parseSsdpReply(b(`HTTP/1.1 200 OK\r\nST: x\r\nLOCATION: http://10.0.0.1/${'a'.repeat(5000)}\r\n\r\n`)),
      undefined,
    );
  });

  test('random bytes: undefined or a reply, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = parseSsdpReply(bytes);
        assert.ok(r === undefined || typeof r.location === 'string');
      }),
    );
  });
});

describe('device description', () => {
  const url = 'http://10.0.0.1:5000/rootDesc.xml';

  test("miniupnpd's: the WANIPConnection:2 service and its absolute control URL", () => {
    assert.deepEqual(parseDeviceDescription(b(MINIUPNPD_DESC), url), {
      serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
      controlUrl: 'http://10.0.0.1:5000/ctl/IPConn',
    });
  });

  test('WANPPPConnection, namespace prefixes, attributes, entities, URLBase, whitespace', () => {
    const xml = `<?xml version="1.0"?><d:root xmlns:d="urn:schemas-upnp-org:device-1-0"><d:URLBase>http://10.0.0.1:49000/</d:URLBase>
      <d:serviceList><d:service a="1">
        <d:serviceType> urn:schemas-upnp-org:service:WANPPPConnection:1 </d:serviceType>
        <d:controlURL>/upnp/control?x=1&amp;y=2</d:controlURL>
      </d:service ></d:serviceList></d:root>`;
    assert.deepEqual(parseDeviceDescription(b(xml), 'http://10.0.0.1:1900/desc.xml'), {
      serviceType: 'urn:schemas-upnp-org:service:WANPPPConnection:1',
      controlUrl: 'http://10.0.0.1:49000/upnp/control?x=1&y=2',
    });
  });

  test('WANIPConnection is preferred to WANPPPConnection, :2 to :1', () => {
    const svc = (t: string, c: string): string =>
      `<service><serviceType>urn:schemas-upnp-org:service:${t}</serviceType><controlURL>${c}</controlURL></service>`;
    const xml = `<root>${svc('WANPPPConnection:1', '/ppp')}${svc('WANIPConnection:1', '/ip1')}${svc('WANIPConnection:2', '/ip2')}</root>`;
    assert.equal(parseDeviceDescription(b(xml), url).controlUrl, 'http://10.0.0.1:5000/ip2');
  });

  test('a commented-out service is not used', () => {
    const xml = `<root><!-- <service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/evil</controlURL></service> --></root>`;
    assert.throws(() => parseDeviceDescription(b(xml), url), /no WANIPConnection/);
  });

  test('a control URL on another host, or not http, is refused (our SOAP calls go nowhere else)', () => {
    for (const c of [
      'http://192.0.2.66/ctl',
      'https://10.0.0.1/ctl',
      'file:///etc/passwd',
      'javascript:alert(1)',
    ]) {
      const xml = `<root><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>${c}</controlURL></service></root>`;
      assert.throws(() => parseDeviceDescription(b(xml), url), UpnpError, c);
    }
    // A URLBase on another host is ignored: the description's own URL is the base.
    const xml = `<root><URLBase>http://192.0.2.66/</URLBase><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl</controlURL></service></root>`;
    assert.equal(parseDeviceDescription(b(xml), url).controlUrl, 'http://10.0.0.1:5000/ctl');
  });

  test('hostile: too large, unterminated, garbage, many unterminated tags (fast)', () => {
    assert.throws(
      () => parseDeviceDescription(Buffer.alloc(MAX_DESCRIPTION_BYTES + 1, 0x20), url),
      /too large/,
    );
    for (const xml of [
      '',
      '<root',
      '<service><serviceType>',
      '\u0000\u0001\u0002',
      '<<<<>>>>',
      'not xml at all',
    ]) {
      assert.throws(() => parseDeviceDescription(b(xml), url), UpnpError, JSON.stringify(xml));
    }
    assert.throws(() => parseDeviceDescription(b(MINIUPNPD_DESC), 'not a url'), UpnpError);
    const started = performance.now();
    for (const unit of ['<service>', '<!--', '<serviceType>', '<s:service x="', '<controlURL>']) {
      const big = unit.repeat(Math.floor((MAX_DESCRIPTION_BYTES - 100) / unit.length));
      assert.throws(() => parseDeviceDescription(b(big), url), UpnpError);
    }
    assert.ok(performance.now() - started < 2000, 'linear in the size');
  });

  test('random text: a service or UpnpError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        try {
          parseDeviceDescription(b(`<root>${s}</root>`), url);
        } catch (err) {
          assert.ok(err instanceof UpnpError, String(err));
        }
      }),
    );
  });
});

describe('SOAP', () => {
  const service = {
    serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:1',
    controlUrl: 'http://10.0.0.1:5000/ctl/IPConn',
  };

  test('AddPortMapping: the arguments in order, the SOAPAction header, text escaped', () => {
    const r = addPortMappingRequest(service, {
      externalPort: 6881,
      protocol: 'TCP',
      internalPort: 6881,
      internalClient: '10.0.0.2',
      description: 'bitswarm <&>',
      leaseSec: 3600,
    });
    assert.equal(r.soapAction, '"urn:schemas-upnp-org:service:WANIPConnection:1#AddPortMapping"');
    const body = r.body.toString('utf8');
    assert.match(
      body,
      /<u:AddPortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewRemoteHost><\/NewRemoteHost><NewExternalPort>6881<\/NewExternalPort><NewProtocol>TCP<\/NewProtocol><NewInternalPort>6881<\/NewInternalPort><NewInternalClient>10.0.0.2<\/NewInternalClient><NewEnabled>1<\/NewEnabled><NewPortMappingDescription>bitswarm &lt;&amp;&gt;<\/NewPortMappingDescription><NewLeaseDuration>3600<\/NewLeaseDuration><\/u:AddPortMapping>/,
    );
    assert.throws(() => encodeSoapRequest(service.serviceType, 'Evil"Action', []), UpnpError);
  });

  test('GetExternalIPAddress: the address; wrong types and empty answers are errors', () => {
    assert.equal(
      parseExternalIp(
        soapReply('GetExternalIPAddress', '<NewExternalIPAddress>11.22.33.1</NewExternalIPAddress>'),
      ),
      '11.22.33.1',
    );
    for (const v of ['', '0.0.0.0', '256.1.1.1', 'example.com', '1.2.3', '::1', '1.2.3.4<x/>']) {
      assert.throws(
        () =>
          parseExternalIp(
            soapReply('GetExternalIPAddress', `<NewExternalIPAddress>${v}</NewExternalIPAddress>`),
          ),
        UpnpError,
        v,
      );
    }
    assert.throws(() => parseExternalIp(soapReply('GetExternalIPAddress', '')), UpnpError);
    assert.throws(() => parseExternalIp(soapReply('AddPortMapping', '')), /no GetExternalIPAddressResponse/);
    assert.throws(() => parseExternalIp(b('garbage')), UpnpError);
  });

  test('a fault: its UPnP error code and text', () => {
    assert.throws(
      () => parseSoapResponse(fault('725', 'OnlyPermanentLeasesSupported'), 'AddPortMapping', []),
      (e: unknown) =>
        e instanceof SoapFaultError &&
        e.upnpCode === 725 &&
        /725: OnlyPermanentLeasesSupported/.test(e.message),
    );
    assert.throws(
      () => parseSoapResponse(fault('x7', 'bad\u0007'), 'AddPortMapping', []),
      (e: unknown) => e instanceof SoapFaultError && e.upnpCode === undefined && e.description === 'bad?',
    );
  });

  test('a mapping entry', () => {
    assert.deepEqual(
      parsePortMappingEntry(
        soapReply(
          'GetSpecificPortMappingEntry',
          '<NewInternalPort>6881</NewInternalPort><NewInternalClient>10.0.0.2</NewInternalClient><NewEnabled>1</NewEnabled><NewLeaseDuration>3599</NewLeaseDuration>',
        ),
      ),
      { internalClient: '10.0.0.2', internalPort: 6881, leaseSec: 3599 },
    );
    assert.throws(
      () =>
        parsePortMappingEntry(
          soapReply('GetSpecificPortMappingEntry', '<NewInternalPort>99999</NewInternalPort>'),
        ),
      UpnpError,
    );
  });

  test('too large, and random bytes: UpnpError only', () => {
    assert.throws(() => parseSoapResponse(Buffer.alloc(64 * 1024, 0x41), 'X', []), /too large/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        try {
          parseExternalIp(bytes);
        } catch (err) {
          assert.ok(err instanceof UpnpError, String(err));
        }
      }),
    );
  });

  test('XML entities', () => {
    assert.equal(
      decodeXmlText('a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;&#0;&#xD800;&unknown;'),
      'a&b<>"\'AB&unknown;',
    );
  });
});
