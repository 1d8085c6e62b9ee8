// Fuzz target: what a router sends back to the port mapper — NAT-PMP and PCP replies, SSDP
// replies, device descriptions and SOAP replies. The first byte picks the parser, the rest is its
// input. Each returns a value or throws its typed error (NatPmpError, UpnpError); a decoded
// NAT-PMP/PCP reply has fields in range, and a description's control URL stays on its host.

import { decodeNatPmpResponse, decodePcpMapResponse, NatPmpError } from '../../../src/protocol/natpmp.js';
import {
  parseDeviceDescription,
  parseExternalIp,
  parsePortMappingEntry,
  parseSoapResponse,
  parseSsdpReply,
  UpnpError,
} from '../../../src/protocol/upnp.js';
import { check, typedOnly } from '../contract.js';

const DESC_URL = 'http://10.0.0.1:5000/rootDesc.xml';

export const dictionary = [
  '<service>',
  '</service>',
  '<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>',
  '<serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType>',
  '<controlURL>/ctl/IPConn</controlURL>',
  '<URLBase>http://10.0.0.1:5000/</URLBase>',
  '<!--',
  '-->',
  '&amp;',
  '&#x41;',
  '<s:Fault>',
  '<errorCode>725</errorCode>',
  '<u:GetExternalIPAddressResponse>',
  '<NewExternalIPAddress>11.22.33.1</NewExternalIPAddress>',
  '<u:GetSpecificPortMappingEntryResponse>',
  '<NewInternalPort>6881</NewInternalPort>',
  'HTTP/1.1 200 OK\r\n',
  'LOCATION: http://10.0.0.1:5000/rootDesc.xml\r\n',
  'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n',
  '\r\n',
];

export function seeds(): Uint8Array[] {
  const tag = (k: number, s: string | Buffer): Buffer => Buffer.concat([Buffer.from([k]), Buffer.from(s)]);
  return [
    tag(0, Buffer.from('00800000000000090b162101', 'hex')),
    tag(0, Buffer.from('008200000000000900001ae11ae100001c20', 'hex')),
    tag(
      1,
      Buffer.from(
        `02810000000000000000000000000000000000000000000001020304050607080910111206000000${'1ae11ae1'}00000000000000000000ffff0b162101`,
        'hex',
      ),
    ),
    tag(
      2,
      'HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://10.0.0.1:5000/d.xml\r\n\r\n',
    ),
    tag(
      3,
      '<root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></root>',
    ),
    tag(
      4,
      '<s:Envelope><s:Body><u:GetExternalIPAddressResponse><NewExternalIPAddress>11.22.33.1</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>',
    ),
    tag(
      4,
      '<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>',
    ),
  ];
}

export const maxLength = 4096;

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const body = data.subarray(1);
  switch (data[0]! % 5) {
    case 0: {
      const r = typedOnly('decodeNatPmpResponse', [NatPmpError], () => decodeNatPmpResponse(body));
      if (r?.op === 'map')
        check(r.externalPort <= 65535 && r.internalPort <= 65535, 'NAT-PMP port out of range');
      return;
    }
    case 1: {
      const r = typedOnly('decodePcpMapResponse', [NatPmpError], () => decodePcpMapResponse(body));
      if (r && r.result === 0)
        check(r.nonce.length === 12 && r.externalPort <= 65535, 'PCP reply fields out of range');
      return;
    }
    case 2: {
      const r = parseSsdpReply(body);
      if (r)
        check(
          /^http:\/\//i.test(r.location) && r.location.length <= 1024,
          'SSDP LOCATION not a short http URL',
        );
      return;
    }
    case 3: {
      const s = typedOnly('parseDeviceDescription', [UpnpError], () =>
        parseDeviceDescription(body, DESC_URL),
      );
      if (s) check(new URL(s.controlUrl).hostname === '10.0.0.1', 'control URL left the gateway');
      return;
    }
    default: {
      typedOnly('parseExternalIp', [UpnpError], () => parseExternalIp(body));
      typedOnly('parsePortMappingEntry', [UpnpError], () => parsePortMappingEntry(body));
      typedOnly('parseSoapResponse', [UpnpError], () => parseSoapResponse(body, 'AddPortMapping', ['X']));
    }
  }
}
