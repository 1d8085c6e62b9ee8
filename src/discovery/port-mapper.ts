// Being reachable behind a home router: asks the gateway to forward the session's TCP and UDP port
// to us, learns the external address, renews the mapping before its lease ends, and removes it when
// the session stops. Two ways, tried in this order:
//  1. PCP (RFC 6887) MAP on the default gateway's UDP 5351, falling back to NAT-PMP (RFC 6886) when
//     the gateway answers in NAT-PMP's version 0 or does not answer PCP;
//  2. UPnP IGD: SSDP search on 239.255.255.250:1900, the device description, then SOAP
//     AddPortMapping / DeletePortMapping on its WANIPConnection (or WANPPPConnection) service.
// The default gateway is read from /proc/net/route (Linux; elsewhere there is none and only UPnP
// runs). The session never starts this when bound to loopback, so tests and the demo never send
// SSDP or NAT-PMP to a real router. Failures are reported (events, `status`), never thrown.

import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import {
  decodeNatPmpResponse,
  decodePcpMapResponse,
  encodeNatPmpExternalRequest,
  encodeNatPmpMapRequest,
  encodePcpMapRequest,
  type MapProtocol,
  NATPMP_PORT,
  NatPmpError,
  natPmpResultText,
  PcpResult,
  PcpVersionError,
  pcpResultText,
} from '../protocol/natpmp.js';
import {
  addPortMappingRequest,
  deletePortMappingRequest,
  encodeMSearch,
  getExternalIpRequest,
  getSpecificPortMappingRequest,
  IGD_SEARCH_TARGETS,
  type IgdService,
  MAX_DESCRIPTION_BYTES,
  MAX_SOAP_BYTES,
  parseDeviceDescription,
  parseExternalIp,
  parsePortMappingEntry,
  parseSoapResponse,
  parseSsdpReply,
  SoapFaultError,
  type SoapRequest,
  SSDP_ADDRESS,
  SSDP_PORT,
  UpnpError,
  UpnpErrorCode,
} from '../protocol/upnp.js';
import { type Clock, realClock, type TimerHandle } from '../util/clock.js';
import { errorText } from '../util/logger.js';
import { TypedEmitter } from '../util/typed-events.js';

export type PortMapMethod = 'upnp' | 'natpmp' | 'pcp';

/** A mapping in place: where the outside world reaches us. */
export interface PortMapping {
  method: PortMapMethod;
  /** The gateway that made it (its address). */
  gateway: string;
  externalIp: string;
  /** External port of the TCP mapping (the port we advertise). */
  externalPort: number;
  /** Whether the UDP port (DHT, UDP tracker) is mapped too, on the same external port. */
  udp: boolean;
  /** Lease granted, seconds (0: permanent until removed). */
  leaseSec: number;
}

export interface PortMapStatus {
  mapping: PortMapping | undefined;
  /** One line per method that was tried and failed (the last failure of each). */
  failures: { method: 'upnp' | 'natpmp'; message: string }[];
  /** True while the first attempt runs. */
  pending: boolean;
}

export type PortMapperEvents = {
  'portmap:mapped': [PortMapping];
  'portmap:failed': [method: 'upnp' | 'natpmp', message: string];
  'portmap:removed': [PortMapping];
};

export interface PortMapperOptions {
  /** The session's port, TCP and UDP. */
  internalPort: number;
  /** Map the UDP port too (default true). */
  udp?: boolean;
  upnp?: boolean;
  natpmp?: boolean;
  /** Try PCP before NAT-PMP (default true; false: NAT-PMP alone, for tests of it). */
  pcp?: boolean;
  /** A specific local address the session is bound to (not a wildcard). */
  bindAddress?: string;
  /** The NAT-PMP/PCP gateway; default the default route's gateway (/proc/net/route). */
  gateway?: string;
  /** NAT-PMP/PCP port of the gateway (5351; tests change it). */
  natPmpPort?: number;
  /** Where the SSDP search goes (the multicast group; tests give a unicast loopback address). */
  ssdpTarget?: { host: string; port: number };
  /** How long to collect SSDP replies (default 2500 ms). */
  ssdpWaitMs?: number;
  /** Lease asked for, seconds (default 3600 UPnP, 7200 NAT-PMP/PCP). */
  leaseSec?: number;
  /** Bound on removing the mappings at stop (default 2000 ms). */
  removeTimeoutMs?: number;
  /** Timeout of one HTTP request to the gateway (default 3000 ms). */
  httpTimeoutMs?: number;
  /** First NAT-PMP/PCP retransmission timeout (default 250 ms, doubled per try, RFC 6886). */
  natPmpFirstTimeoutMs?: number;
  natPmpTries?: number;
  /** The mapping's description in the router's table. */
  description?: string;
  clock?: Clock;
}

/** The IPv4 default gateway from the contents of /proc/net/route, or undefined. */
export function parseProcNetRoute(text: string): string | undefined {
  const lines = text.split('\n').slice(1, 1000);
  let best: { gw: string; metric: number } | undefined;
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway Flags RefCnt Use Metric Mask …; RTF_UP 0x1, RTF_GATEWAY 0x2.
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const flags = Number.parseInt(f[3]!, 16);
    if (!(flags & 1) || !(flags & 2) || !/^[0-9A-Fa-f]{8}$/.test(f[2]!)) continue;
    const n = Number.parseInt(f[2]!, 16);
    // The kernel prints the address in host byte order (little-endian on the machines we run on).
    const gw = `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
    const metric = Number.parseInt(f[6]!, 10) || 0;
    if (gw !== '0.0.0.0' && (!best || metric < best.metric)) best = { gw, metric };
  }
  return best?.gw;
}

export async function defaultGateway(): Promise<string | undefined> {
  try {
    return parseProcNetRoute(await readFile('/proc/net/route', 'utf8'));
  } catch {
    return undefined;
  }
}

class Aborted extends Error {}

/** The gateway did not answer NAT-PMP/PCP at all. */
class NoAnswerError extends NatPmpError {}

const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class PortMapper extends TypedEmitter<PortMapperEvents> {
  readonly #o: PortMapperOptions;
  readonly #clock: Clock;
  readonly #ac = new AbortController();
  #mapping: PortMapping | undefined;
  readonly #failures = new Map<'upnp' | 'natpmp', string>();
  #pending = false;
  /** What the first attempt is asking for right now: removed at stop if the attempt is cut short. */
  #inFlight: PortMapping | undefined;
  #renewTimer: TimerHandle | undefined;
  #started = false;
  #first: Promise<PortMapping | undefined> | undefined;
  /** UPnP: the service and our address as the gateway sees it, once found. */
  #igd: { service: IgdService; internalClient: string } | undefined;
  /** PCP: the nonces of our TCP and UDP mappings (renewals and deletion reuse them). */
  readonly #nonces = { TCP: randomBytes(12), UDP: randomBytes(12) };

  constructor(options: PortMapperOptions) {
    super();
    this.#o = options;
    this.#clock = options.clock ?? realClock;
  }

  get status(): PortMapStatus {
    return {
      mapping: this.#mapping ? { ...this.#mapping } : undefined,
      failures: [...this.#failures].map(([method, message]) => ({ method, message })),
      pending: this.#pending,
    };
  }

  get mapping(): PortMapping | undefined {
    return this.#mapping;
  }

  /** Starts the first attempt in the background; `ready` resolves with its outcome. Idempotent. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#pending = true;
    this.#first = this.#establish().finally(() => {
      this.#pending = false;
    });
  }

  /** The first attempt's outcome: the mapping, or undefined when every method failed. */
  ready(): Promise<PortMapping | undefined> {
    return this.#first ?? Promise.resolve(undefined);
  }

  async #establish(): Promise<PortMapping | undefined> {
    const natpmp = this.#o.natpmp !== false;
    const upnp = this.#o.upnp !== false;
    if (natpmp) {
      try {
        return this.#mapped(await this.#mapNatPmp(0));
      } catch (err) {
        if (err instanceof Aborted) return undefined;
        this.#inFlight = undefined;
        this.#fail('natpmp', errText(err));
      }
    }
    if (upnp) {
      try {
        return this.#mapped(await this.#mapUpnp(0));
      } catch (err) {
        if (err instanceof Aborted) return undefined;
        this.#inFlight = undefined;
        this.#fail('upnp', errText(err));
      }
    }
    return undefined;
  }

  #fail(method: 'upnp' | 'natpmp', message: string): void {
    this.#failures.set(method, message);
    this.emit('portmap:failed', method, message);
  }

  #mapped(m: PortMapping): PortMapping {
    this.#mapping = m;
    this.#inFlight = undefined;
    this.#failures.delete(m.method === 'upnp' ? 'upnp' : 'natpmp');
    this.emit('portmap:mapped', { ...m });
    this.#scheduleRenewal(m.leaseSec);
    return m;
  }

  /** Renews at half the lease (at least 60 s from now); a permanent lease (0) needs none. */
  #scheduleRenewal(leaseSec: number): void {
    this.#clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    if (leaseSec === 0 || this.#ac.signal.aborted) return;
    const delayMs = Math.max(60, Math.floor(leaseSec / 2)) * 1000;
    this.#renewTimer = this.#clock.setTimeout(() => void this.#renew(), delayMs);
    this.#renewTimer.unref();
  }

  async #renew(): Promise<void> {
    const m = this.#mapping;
    if (!m || this.#ac.signal.aborted) return;
    try {
      const next =
        m.method === 'upnp' ? await this.#mapUpnp(m.externalPort) : await this.#mapNatPmp(m.externalPort);
      this.#mapping = next;
      if (next.externalIp !== m.externalIp || next.externalPort !== m.externalPort)
        this.emit('portmap:mapped', { ...next });
      this.#scheduleRenewal(next.leaseSec);
    } catch (err) {
      if (err instanceof Aborted) return;
      const method = m.method === 'upnp' ? 'upnp' : 'natpmp';
      this.#fail(method, `renewal failed: ${errText(err)}`);
      // The router may have restarted with another control URL: search again next time.
      if (method === 'upnp') this.#igd = undefined;
      // Try again in a minute; the old lease may still hold until then.
      this.#scheduleRenewal(120);
    }
  }

  /** Removes the mappings (bounded by `removeTimeoutMs`) and stops every timer. Idempotent. */
  async stop(): Promise<void> {
    if (this.#ac.signal.aborted) return;
    this.#clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    const boundMs = this.#o.removeTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, boundMs);
    });
    // A first attempt still running is abandoned: its requests end at once on the abort. The router
    // may have made the mapping it was asking for: that one is removed too.
    const cutShort = this.#pending ? this.#inFlight : undefined;
    this.#ac.abort();
    await Promise.race([this.#first?.catch(() => undefined), bound]);
    const m = this.#mapping ?? cutShort;
    this.#mapping = undefined;
    if (m) {
      const remove = m.method === 'upnp' ? this.#unmapUpnp(m) : this.#unmapNatPmp(m);
      const failed = await Promise.race([
        remove.then(
          () => undefined,
          (err: unknown) => err,
        ),
        bound,
      ]);
      if (failed !== undefined)
        this.emit(
          'portmap:failed',
          m.method === 'upnp' ? 'upnp' : 'natpmp',
          `the router may still map port ${m.externalPort}: ${errorText(failed)}`,
        );
      this.emit('portmap:removed', m);
    }
    clearTimeout(timer);
  }

  // -------------------------------------------------------------------------------------------------
  // PCP and NAT-PMP

  async #gateway(): Promise<string> {
    const gw = this.#o.gateway ?? (await defaultGateway());
    if (!gw) throw new NatPmpError('no IPv4 default gateway (read from /proc/net/route)');
    return gw;
  }

  async #mapNatPmp(suggestedPort: number): Promise<PortMapping> {
    const gateway = await this.#gateway();
    const leaseSec = this.#o.leaseSec ?? 7200;
    const internal = this.#o.internalPort;
    const wanted = suggestedPort || internal;
    return this.#withNatPmpSocket(gateway, async (ask, localIp) => {
      // PCP first (RFC 6887 §9): a gateway that only speaks NAT-PMP answers in version 0.
      let pcpFailure: string | undefined;
      try {
        if (this.#o.pcp === false) throw new PcpVersionError('PCP is off');
        this.#inFlight = {
          method: 'pcp',
          gateway,
          externalIp: '',
          externalPort: wanted,
          udp: true,
          leaseSec,
        };
        const tcp = await this.#pcpMap(ask, localIp, 'TCP', internal, wanted, leaseSec);
        let udp = false;
        if (this.#o.udp !== false) {
          const u = await this.#pcpMap(ask, localIp, 'UDP', internal, tcp.externalPort, leaseSec).catch(
            () => undefined,
          );
          udp = u !== undefined && u.externalPort === tcp.externalPort;
        }
        return {
          method: 'pcp',
          gateway,
          externalIp: tcp.externalIp,
          externalPort: tcp.externalPort,
          udp,
          leaseSec: tcp.lifetimeSec,
        } satisfies PortMapping;
      } catch (err) {
        if (err instanceof Aborted) throw err;
        // No answer at all: no NAT-PMP either (a NAT-PMP-only gateway answers PCP with its version
        // 0). A refusal: NAT-PMP may still work.
        if (err instanceof NoAnswerError) throw err;
        if (!(err instanceof PcpVersionError)) pcpFailure = errText(err);
      }
      try {
        const ext = decodeNatPmpResponse(await ask(encodeNatPmpExternalRequest(), (r) => r[1] === 128));
        if (ext.op !== 'external')
          throw new NatPmpError(
            `external address refused: ${natPmpResultText(ext.op === 'other' ? ext.result : -1)}`,
          );
        this.#inFlight = {
          method: 'natpmp',
          gateway,
          externalIp: '',
          externalPort: wanted,
          udp: true,
          leaseSec,
        };
        const tcp = await this.#natPmpMap(ask, 'TCP', internal, wanted, leaseSec);
        let udp = false;
        if (this.#o.udp !== false) {
          const u = await this.#natPmpMap(ask, 'UDP', internal, tcp.externalPort, leaseSec).catch(
            () => undefined,
          );
          udp = u !== undefined && u.externalPort === tcp.externalPort;
        }
        return {
          method: 'natpmp',
          gateway,
          externalIp: ext.externalIp,
          externalPort: tcp.externalPort,
          udp,
          leaseSec: tcp.lifetimeSec,
        } satisfies PortMapping;
      } catch (err) {
        if (err instanceof Aborted || pcpFailure === undefined) throw err;
        throw new NatPmpError(`PCP: ${pcpFailure}; NAT-PMP: ${errText(err)}`);
      }
    });
  }

  async #pcpMap(
    ask: Ask,
    clientIp: string,
    protocol: MapProtocol,
    internalPort: number,
    suggested: number,
    lifetimeSec: number,
  ): Promise<{ externalIp: string; externalPort: number; lifetimeSec: number }> {
    const nonce = this.#nonces[protocol];
    const req = encodePcpMapRequest({
      clientIp,
      nonce,
      protocol,
      internalPort,
      suggestedExternalPort: suggested,
      lifetimeSec,
    });
    // A version-0 reply (NAT-PMP only) or our MAP's reply, told apart by the nonce.
    const reply = await ask(
      req,
      (r) =>
        r[0] === 0 ||
        (r.length >= 36 && r[1] === 0x81 && nonce.equals(r.subarray(24, 36))) ||
        (r[0] === 2 && r[1] === 0x81 && r.length < 60),
    );
    const r = decodePcpMapResponse(reply);
    if (r.result !== PcpResult.success)
      throw new NatPmpError(`PCP MAP ${protocol} refused: ${pcpResultText(r.result)}`);
    if (lifetimeSec > 0 && (r.externalPort === 0 || !r.externalIp))
      throw new NatPmpError('PCP MAP reply without an external address');
    return { externalIp: r.externalIp, externalPort: r.externalPort, lifetimeSec: r.lifetimeSec };
  }

  async #natPmpMap(
    ask: Ask,
    protocol: MapProtocol,
    internalPort: number,
    suggested: number,
    lifetimeSec: number,
  ): Promise<{ externalPort: number; lifetimeSec: number }> {
    const op = protocol === 'UDP' ? 1 : 2;
    const reply = await ask(
      encodeNatPmpMapRequest(protocol, internalPort, suggested, lifetimeSec),
      (r) => r[1] === 128 + op,
    );
    const r = decodeNatPmpResponse(reply);
    if (r.op !== 'map')
      throw new NatPmpError(
        `NAT-PMP ${protocol} mapping refused: ${natPmpResultText(r.op === 'other' ? r.result : -1)}`,
      );
    if (r.internalPort !== internalPort) throw new NatPmpError('NAT-PMP reply for another internal port');
    return { externalPort: r.externalPort, lifetimeSec: r.lifetimeSec };
  }

  async #unmapNatPmp(m: PortMapping): Promise<void> {
    const internal = this.#o.internalPort;
    const protocols: MapProtocol[] = m.udp ? ['TCP', 'UDP'] : ['TCP'];
    await this.#withNatPmpSocket(
      m.gateway,
      async (ask, localIp) => {
        await eachProtocol(protocols, (p) =>
          m.method === 'pcp'
            ? this.#pcpMap(ask, localIp, p, internal, 0, 0)
            : this.#natPmpMap(ask, p, internal, 0, 0),
        );
      },
      true,
    );
  }

  /**
   * Runs `fn` with a UDP socket connected to the gateway's port 5351: `ask` sends a request and
   * retransmits it (RFC 6886: 250 ms, doubling) until a reply that `match` accepts arrives.
   */
  async #withNatPmpSocket<T>(
    gateway: string,
    fn: (ask: Ask, localIp: string) => Promise<T>,
    ignoreAbort = false,
  ): Promise<T> {
    if (isIP(gateway) !== 4) throw new NatPmpError(`gateway ${gateway} is not an IPv4 address`);
    const socket = createSocket('udp4');
    socket.on('error', () => undefined);
    const bind = this.#o.bindAddress;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(bind ? { address: bind } : {}) }, () => resolve());
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.connect(this.#o.natPmpPort ?? NATPMP_PORT, gateway, (err?: Error) =>
          err ? reject(err) : resolve(),
        );
      });
      const localIp = socket.address().address;
      const waiting = new Set<{ match: (r: Buffer) => boolean; resolve: (r: Buffer) => void }>();
      socket.on('message', (msg) => {
        if (msg.length > 1100) return;
        for (const w of waiting) {
          if (w.match(msg)) {
            waiting.delete(w);
            w.resolve(msg);
            return;
          }
        }
      });
      const ask: Ask = (req, match) =>
        new Promise<Buffer>((resolve, reject) => {
          const tries = this.#o.natPmpTries ?? 3;
          let timeoutMs = this.#o.natPmpFirstTimeoutMs ?? 250;
          let sent = 0;
          let timer: TimerHandle | undefined;
          const signal = this.#ac.signal;
          const onAbort = (): void => finish(new Aborted('stopped'));
          const entry = {
            match,
            resolve: (r: Buffer): void => finish(undefined, r),
          };
          const finish = (err: Error | undefined, r?: Buffer): void => {
            this.#clock.clearTimeout(timer);
            waiting.delete(entry);
            if (!ignoreAbort) signal.removeEventListener('abort', onAbort);
            if (err) reject(err);
            else resolve(r!);
          };
          const send = (): void => {
            if (sent >= tries) {
              finish(new NoAnswerError(`no answer from ${gateway}:${this.#o.natPmpPort ?? NATPMP_PORT}`));
              return;
            }
            sent++;
            socket.send(req, () => undefined);
            timer = this.#clock.setTimeout(send, timeoutMs);
            timeoutMs *= 2;
          };
          if (!ignoreAbort) {
            if (signal.aborted) {
              reject(new Aborted('stopped'));
              return;
            }
            signal.addEventListener('abort', onAbort, { once: true });
          }
          waiting.add(entry);
          send();
        });
      return await fn(ask, localIp);
    } finally {
      socket.close();
    }
  }

  // -------------------------------------------------------------------------------------------------
  // UPnP IGD

  async #mapUpnp(suggestedPort: number): Promise<PortMapping> {
    const igd = this.#igd ?? (await this.#discoverIgd());
    this.#igd = igd;
    const { service, internalClient } = igd;
    const internal = this.#o.internalPort;
    const externalIp = parseExternalIp(await this.#soap(service, getExternalIpRequest(service)));
    let lease = this.#o.leaseSec ?? 3600;
    let port = suggestedPort || internal;
    const add = async (protocol: MapProtocol, externalPort: number): Promise<void> => {
      this.#inFlight = {
        method: 'upnp',
        gateway: new URL(service.controlUrl).hostname,
        externalIp: '',
        externalPort,
        udp: true,
        leaseSec: lease,
      };
      const req = (leaseSec: number): SoapRequest =>
        addPortMappingRequest(service, {
          externalPort,
          protocol,
          internalPort: internal,
          internalClient,
          description: this.#o.description ?? `bitswarm ${internal}`,
          leaseSec,
        });
      try {
        parseSoapResponse(await this.#soap(service, req(lease)), 'AddPortMapping', []);
      } catch (err) {
        // Some routers accept only permanent mappings (UPnP error 725); we remove it at exit.
        if (
          !(err instanceof SoapFaultError) ||
          err.upnpCode !== UpnpErrorCode.onlyPermanentLeases ||
          lease === 0
        )
          throw err;
        lease = 0;
        parseSoapResponse(await this.#soap(service, req(0)), 'AddPortMapping', []);
      }
    };
    // The port taken by another host's mapping (718): one other, random, port is tried.
    try {
      await add('TCP', port);
    } catch (err) {
      if (!(err instanceof SoapFaultError) || err.upnpCode !== UpnpErrorCode.conflict || suggestedPort !== 0)
        throw err;
      port = randomInt(10_000, 60_000);
      await add('TCP', port);
    }
    let udp = false;
    if (this.#o.udp !== false) {
      udp = await add('UDP', port).then(
        () => true,
        () => false,
      );
    }
    return {
      method: 'upnp',
      gateway: new URL(service.controlUrl).hostname,
      externalIp,
      externalPort: port,
      udp,
      leaseSec: lease,
    };
  }

  async #unmapUpnp(m: PortMapping): Promise<void> {
    const igd = this.#igd;
    if (!igd) return;
    const protocols: MapProtocol[] = m.udp ? ['TCP', 'UDP'] : ['TCP'];
    await eachProtocol(protocols, (p) =>
      this.#soap(igd.service, deletePortMappingRequest(igd.service, m.externalPort, p), true),
    );
  }

  /**
   * Where the gateway's external `port`/`protocol` leads (GetSpecificPortMappingEntry), or undefined
   * when there is no such mapping: for tests and diagnostics.
   */
  async lookupUpnpMapping(
    port: number,
    protocol: MapProtocol,
  ): Promise<{ internalClient: string; internalPort: number; leaseSec: number } | undefined> {
    const igd = this.#igd ?? (await this.#discoverIgd());
    this.#igd = igd;
    try {
      return parsePortMappingEntry(
        await this.#soap(igd.service, getSpecificPortMappingRequest(igd.service, port, protocol), true),
      );
    } catch (err) {
      if (err instanceof SoapFaultError && err.upnpCode === UpnpErrorCode.noSuchEntry) return undefined;
      throw err;
    }
  }

  /** SSDP search, then the first description that has a WAN connection service. */
  async #discoverIgd(): Promise<{ service: IgdService; internalClient: string }> {
    const replies = await this.#ssdpSearch();
    if (replies.length === 0) throw new UpnpError('no UPnP gateway answered the SSDP search');
    let last: unknown;
    for (const r of replies.slice(0, 4)) {
      try {
        const { body, localAddress } = await this.#http('GET', r.location, undefined, MAX_DESCRIPTION_BYTES);
        const service = parseDeviceDescription(body, r.location);
        const internalClient = this.#o.bindAddress ?? localAddress;
        if (!internalClient || isIP(internalClient) !== 4)
          throw new UpnpError('cannot tell our LAN address as the gateway sees it');
        return { service, internalClient };
      } catch (err) {
        if (err instanceof Aborted) throw err;
        last = err;
      }
    }
    throw last instanceof Error ? last : new UpnpError('no usable gateway description');
  }

  /** M-SEARCHes for the IGD types; replies whose LOCATION is on the replying host, first come first. */
  async #ssdpSearch(): Promise<{ location: string }[]> {
    const target = this.#o.ssdpTarget ?? { host: SSDP_ADDRESS, port: SSDP_PORT };
    const socket: UdpSocket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.on('error', () => undefined);
    const bind = this.#o.bindAddress;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: 0, ...(bind ? { address: bind } : {}) }, () => resolve());
    });
    const found: { location: string }[] = [];
    const seen = new Set<string>();
    try {
      if (bind && !this.#o.ssdpTarget) socket.setMulticastInterface(bind);
      socket.setMulticastTTL(2);
      socket.on('message', (msg, rinfo) => {
        const r = parseSsdpReply(msg);
        if (!r || seen.has(r.location) || found.length >= 8) return;
        let host: string;
        try {
          host = new URL(r.location).hostname;
        } catch {
          return;
        }
        // The description must live on the device that answered.
        if (host !== rinfo.address) return;
        seen.add(r.location);
        found.push({ location: r.location });
      });
      const waitMs = this.#o.ssdpWaitMs ?? 2500;
      for (const st of IGD_SEARCH_TARGETS)
        socket.send(encodeMSearch(st, 2), target.port, target.host, () => undefined);
      await this.#sleep(Math.min(400, waitMs));
      if (found.length === 0) {
        // Once more (UDP may lose the first), then the rest of the wait.
        for (const st of IGD_SEARCH_TARGETS.slice(0, 2))
          socket.send(encodeMSearch(st, 2), target.port, target.host, () => undefined);
        const deadline = this.#clock.now() + waitMs - 400;
        while (found.length === 0 && this.#clock.now() < deadline) await this.#sleep(100);
      }
      return found;
    } finally {
      socket.close();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#ac.signal.aborted) {
        reject(new Aborted('stopped'));
        return;
      }
      const onAbort = (): void => {
        this.#clock.clearTimeout(t);
        reject(new Aborted('stopped'));
      };
      const t = this.#clock.setTimeout(() => {
        this.#ac.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.#ac.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #soap(service: IgdService, req: SoapRequest, ignoreAbort = false): Promise<Buffer> {
    const { body } = await this.#http('POST', service.controlUrl, req, MAX_SOAP_BYTES, ignoreAbort);
    return body;
  }

  /** One HTTP request to the gateway with a timeout and a cap on the reply (4xx/5xx bodies are read: SOAP faults). */
  #http(
    method: 'GET' | 'POST',
    url: string,
    soap: SoapRequest | undefined,
    maxBytes: number,
    ignoreAbort = false,
  ): Promise<{ body: Buffer; localAddress: string | undefined }> {
    return new Promise((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        reject(new UpnpError(`bad URL ${url.slice(0, 100)}`));
        return;
      }
      if (u.protocol !== 'http:') {
        reject(new UpnpError('only http URLs are followed'));
        return;
      }
      if (!ignoreAbort && this.#ac.signal.aborted) {
        reject(new Aborted('stopped'));
        return;
      }
      const timeoutMs = this.#o.httpTimeoutMs ?? 3000;
      const signal = ignoreAbort
        ? AbortSignal.timeout(timeoutMs)
        : AbortSignal.any([this.#ac.signal, AbortSignal.timeout(timeoutMs)]);
      const req = httpRequest(
        {
          method,
          host: u.hostname,
          port: u.port || 80,
          path: `${u.pathname}${u.search}`,
          agent: false,
          signal,
          ...(this.#o.bindAddress ? { localAddress: this.#o.bindAddress } : {}),
          headers: soap
            ? {
                'Content-Type': 'text/xml; charset="utf-8"',
                SOAPAction: soap.soapAction,
                'Content-Length': String(soap.body.length),
                Connection: 'close',
              }
            : { Connection: 'close' },
        },
        (res: IncomingMessage) => {
          const localAddress = res.socket?.localAddress;
          const declared = Number(res.headers['content-length']);
          if (Number.isFinite(declared) && declared > maxBytes) {
            res.destroy();
            reject(new UpnpError(`the gateway's reply is too large (${declared} bytes)`));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) {
              res.destroy();
              reject(new UpnpError(`the gateway's reply is larger than ${maxBytes} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const body = Buffer.concat(chunks);
            // A SOAP fault comes with status 500: its body says which.
            if (method === 'GET' && status !== 200)
              reject(new UpnpError(`GET ${u.pathname}: HTTP ${status}`));
            else resolve({ body, localAddress: localAddress ? unmapV4(localAddress) : undefined });
          });
          res.on('error', (e) =>
            reject(this.#ac.signal.aborted && !ignoreAbort ? new Aborted('stopped') : e),
          );
        },
      );
      req.on('error', (e) => {
        if (this.#ac.signal.aborted && !ignoreAbort) reject(new Aborted('stopped'));
        else if (e.name === 'AbortError' || e.name === 'TimeoutError')
          reject(new UpnpError(`${method} ${u.host}${u.pathname}: no reply in ${timeoutMs} ms`));
        else reject(new UpnpError(`${method} ${u.host}${u.pathname}: ${e.message}`));
      });
      req.end(soap?.body);
    });
  }
}

type Ask = (req: Buffer, match: (reply: Buffer) => boolean) => Promise<Buffer>;

function unmapV4(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** Runs `remove` for every protocol, each tried whatever the others did; throws what failed, named. */
async function eachProtocol(
  protocols: readonly MapProtocol[],
  remove: (p: MapProtocol) => Promise<unknown>,
): Promise<void> {
  const failed: string[] = [];
  for (const p of protocols) {
    try {
      await remove(p);
    } catch (err) {
      failed.push(`${p}: ${errorText(err)}`);
    }
  }
  if (failed.length > 0) throw new Error(`removing the mapping failed (${failed.join('; ')})`);
}
