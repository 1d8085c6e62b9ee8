// UPnP IGD messages, sans I/O: the SSDP search (M-SEARCH) and its replies, the device description
// (only what a port mapping needs: the WAN connection service's type and control URL), and the SOAP
// calls GetExternalIPAddress, AddPortMapping, DeletePortMapping and GetSpecificPortMappingEntry.
// A router is a remote party like any other: every parser checks sizes first, reads only the fields
// it needs with a small tag scanner (no XML library), and throws only UpnpError.

export class UpnpError extends Error {
  override readonly name = 'UpnpError';
  readonly code = 'ERR_UPNP';
}

export const SSDP_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;

/** The device and service types we search for and can drive, newest first. */
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const;

const WAN_SERVICE = /^urn:schemas-upnp-org:service:(WANIPConnection:[12]|WANPPPConnection:1)$/;

/** Most bytes of an SSDP reply, a device description and a SOAP reply we read. */
export const MAX_SSDP_BYTES = 4096;
export const MAX_DESCRIPTION_BYTES = 128 * 1024;
export const MAX_SOAP_BYTES = 32 * 1024;
/** Most `<service>` elements of a description looked at. */
const MAX_SERVICES = 64;

/** One M-SEARCH datagram for `target` (MX in seconds: how long devices may wait before they answer). */
export function encodeMSearch(target: string, mxSec = 2): Buffer {
  if (!/^[\x21-\x7e]{1,200}$/.test(target)) throw new UpnpError('bad search target');
  return Buffer.from(
    `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: ${mxSec}\r\nST: ${target}\r\n\r\n`,
    'latin1',
  );
}

export interface SsdpReply {
  /** The description URL (`LOCATION`). */
  location: string;
  /** The search target answered (`ST`). */
  st: string;
  server?: string;
}

/**
 * Parses a reply to an M-SEARCH (`HTTP/1.1 200 OK` with LOCATION and ST). Undefined for anything
 * else — other devices' announcements (NOTIFY), other searches — which a multicast socket hears too.
 */
export function parseSsdpReply(msg: Uint8Array): SsdpReply | undefined {
  if (msg.length > MAX_SSDP_BYTES) return undefined;
  const text = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString('latin1');
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1, 64)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  const location = headers.get('location');
  const st = headers.get('st');
  if (!location || !st || location.length > 1024) return undefined;
  if (!/^http:\/\//i.test(location)) return undefined;
  const server = headers.get('server');
  return { location, st, ...(server ? { server: server.slice(0, 200) } : {}) };
}

/** The WAN connection service of a gateway: what SOAP calls go to. */
export interface IgdService {
  /** e.g. `urn:schemas-upnp-org:service:WANIPConnection:1`. */
  serviceType: string;
  /** Absolute http URL of the control endpoint. */
  controlUrl: string;
}

/** The text of XML character data with its entities decoded (the five named ones and numeric ones). */
export function decodeXmlText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const n = e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    return n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : '';
  });
}

/** Escapes text for XML character data or an attribute value. */
export function encodeXmlText(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

/**
 * The XML without its comments, so that a commented-out element is not read. A linear scan (a lazy
 * regex would rescan the rest of the text at every unterminated `<!--`).
 */
function stripComments(xml: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const open = xml.indexOf('<!--', at);
    if (open === -1) return out + xml.slice(at);
    out += xml.slice(at, open);
    const close = xml.indexOf('-->', open + 4);
    if (close === -1) return out;
    at = close + 3;
  }
}

/**
 * The text content of the first element named `name` (any namespace prefix) in `xml`, or undefined.
 * Only leaf elements count: text followed at once by the element's end tag.
 */
export function firstElementText(xml: string, name: string): string | undefined {
  const re = new RegExp(
    `<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^<>]*)?>([^<]*)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>`,
    '',
  );
  const m = re.exec(xml);
  return m ? decodeXmlText(m[1]!).trim() : undefined;
}

/**
 * The WAN connection service of a device description, with its control URL made absolute against
 * `URLBase` (when present) or the description's own URL. Prefers WANIPConnection:2, then :1, then
 * WANPPPConnection:1. Only http URLs on the description's host are accepted: a description must not
 * send our SOAP calls elsewhere.
 */
export function parseDeviceDescription(xmlBytes: Uint8Array, descriptionUrl: string): IgdService {
  if (xmlBytes.length > MAX_DESCRIPTION_BYTES) throw new UpnpError('device description too large');
  const xml = stripComments(Buffer.from(xmlBytes).toString('utf8'));
  let base: URL;
  try {
    base = new URL(descriptionUrl);
  } catch {
    throw new UpnpError('bad description URL');
  }
  const urlBase = firstElementText(xml, 'URLBase');
  if (urlBase) {
    try {
      const u = new URL(urlBase);
      if (u.protocol === 'http:' && u.hostname === base.hostname) base = u;
    } catch {
      // An unusable URLBase: the description's URL serves.
    }
  }
  const found: IgdService[] = [];
  // Each <service> element's body, found with two sticky-free scans per element (linear overall).
  const openRe = /<(?:[A-Za-z_][\w.-]*:)?service(?:\s[^<>]*)?>/g;
  const closeRe = /<\/(?:[A-Za-z_][\w.-]*:)?service\s*>/g;
  for (let count = 0; count < MAX_SERVICES; count++) {
    const open = openRe.exec(xml);
    if (open === null) break;
    closeRe.lastIndex = openRe.lastIndex;
    const close = closeRe.exec(xml);
    if (close === null) break;
    const body = xml.slice(openRe.lastIndex, close.index);
    openRe.lastIndex = closeRe.lastIndex;
    const serviceType = firstElementText(body, 'serviceType');
    const control = firstElementText(body, 'controlURL');
    if (!serviceType || !control || !WAN_SERVICE.test(serviceType)) continue;
    let url: URL;
    try {
      url = new URL(control, base);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' || url.hostname !== base.hostname) continue;
    found.push({ serviceType, controlUrl: url.href });
  }
  const rank = (t: string): number =>
    t.endsWith('WANIPConnection:2') ? 0 : t.endsWith('WANIPConnection:1') ? 1 : 2;
  found.sort((a, b) => rank(a.serviceType) - rank(b.serviceType));
  const best = found[0];
  if (!best) throw new UpnpError('no WANIPConnection or WANPPPConnection service in the device description');
  return best;
}

/** A SOAP request: its body, and the SOAPAction header's value. */
export interface SoapRequest {
  body: Buffer;
  soapAction: string;
}

/** Builds a SOAP call of `action` on `serviceType` with its arguments, in order. */
export function encodeSoapRequest(
  serviceType: string,
  action: string,
  args: readonly (readonly [string, string | number])[],
): SoapRequest {
  if (!/^[A-Za-z]{1,64}$/.test(action)) throw new UpnpError('bad action name');
  const argXml = args.map(([k, v]) => `<${k}>${encodeXmlText(String(v))}</${k}>`).join('');
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${encodeXmlText(serviceType)}">${argXml}</u:${action}></s:Body></s:Envelope>\r\n`;
  return { body: Buffer.from(body, 'utf8'), soapAction: `"${serviceType}#${action}"` };
}

/** A SOAP fault of the gateway: UPnP's error code (718 conflict, 725 only permanent leases, …). */
export class SoapFaultError extends UpnpError {
  constructor(
    readonly upnpCode: number | undefined,
    readonly description: string,
  ) {
    super(
      `${upnpCode !== undefined ? `UPnP error ${upnpCode}` : 'SOAP fault'}${description ? `: ${description}` : ''}`,
    );
  }
}

/** UPnP error codes we act on. */
export const UpnpErrorCode = {
  noSuchEntry: 714,
  conflict: 718,
  onlyPermanentLeases: 725,
} as const;

/**
 * Parses a SOAP reply of `action`: the output arguments asked for (`names`), by element name.
 * Throws SoapFaultError for a fault (any HTTP status), UpnpError for anything unreadable.
 */
export function parseSoapResponse(
  bytes: Uint8Array,
  action: string,
  names: readonly string[],
): Record<string, string> {
  if (bytes.length > MAX_SOAP_BYTES) throw new UpnpError('SOAP reply too large');
  const xml = stripComments(Buffer.from(bytes).toString('utf8'));
  if (/<(?:[A-Za-z_][\w.-]*:)?Fault[\s>]/.test(xml)) {
    const codeText = firstElementText(xml, 'errorCode');
    const code = codeText !== undefined && /^\d{1,5}$/.test(codeText) ? Number(codeText) : undefined;
    const description = (
      firstElementText(xml, 'errorDescription') ??
      firstElementText(xml, 'faultstring') ??
      ''
    )
      .replace(/[^\x20-\x7e]/g, '?')
      .slice(0, 120);
    throw new SoapFaultError(code, description);
  }
  if (!new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${action}Response[\\s>/]`).test(xml))
    throw new UpnpError(`no ${action}Response in the SOAP reply`);
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = firstElementText(xml, n);
    if (v !== undefined) out[n] = v.slice(0, 256);
  }
  return out;
}

export type MapProtocol = 'TCP' | 'UDP';

export function addPortMappingRequest(
  s: IgdService,
  m: {
    externalPort: number;
    protocol: MapProtocol;
    internalPort: number;
    internalClient: string;
    description: string;
    leaseSec: number;
  },
): SoapRequest {
  return encodeSoapRequest(s.serviceType, 'AddPortMapping', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', m.externalPort],
    ['NewProtocol', m.protocol],
    ['NewInternalPort', m.internalPort],
    ['NewInternalClient', m.internalClient],
    ['NewEnabled', 1],
    ['NewPortMappingDescription', m.description],
    ['NewLeaseDuration', m.leaseSec],
  ]);
}

export function deletePortMappingRequest(
  s: IgdService,
  externalPort: number,
  protocol: MapProtocol,
): SoapRequest {
  return encodeSoapRequest(s.serviceType, 'DeletePortMapping', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', externalPort],
    ['NewProtocol', protocol],
  ]);
}

export function getExternalIpRequest(s: IgdService): SoapRequest {
  return encodeSoapRequest(s.serviceType, 'GetExternalIPAddress', []);
}

export function getSpecificPortMappingRequest(
  s: IgdService,
  externalPort: number,
  protocol: MapProtocol,
): SoapRequest {
  return encodeSoapRequest(s.serviceType, 'GetSpecificPortMappingEntry', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', externalPort],
    ['NewProtocol', protocol],
  ]);
}

/** The external address of a GetExternalIPAddress reply: a dotted IPv4 address, or UpnpError. */
export function parseExternalIp(bytes: Uint8Array): string {
  const r = parseSoapResponse(bytes, 'GetExternalIPAddress', ['NewExternalIPAddress']);
  const ip = r.NewExternalIPAddress ?? '';
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255))
    throw new UpnpError(`the gateway's external address is not an IPv4 address: "${ip.slice(0, 40)}"`);
  if (ip === '0.0.0.0') throw new UpnpError('the gateway has no external address (0.0.0.0)');
  return ip;
}

/** A mapping entry (GetSpecificPortMappingEntry): where the external port leads. */
export function parsePortMappingEntry(bytes: Uint8Array): {
  internalClient: string;
  internalPort: number;
  leaseSec: number;
} {
  const r = parseSoapResponse(bytes, 'GetSpecificPortMappingEntry', [
    'NewInternalClient',
    'NewInternalPort',
    'NewLeaseDuration',
  ]);
  const port = Number(r.NewInternalPort);
  const lease = Number(r.NewLeaseDuration ?? '0');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UpnpError('bad NewInternalPort');
  return {
    internalClient: r.NewInternalClient ?? '',
    internalPort: port,
    leaseSec: Number.isInteger(lease) && lease >= 0 ? lease : 0,
  };
}
