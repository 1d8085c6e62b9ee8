// The port mapper against fake gateways on 127.0.0.1 (never a real router): a PCP/NAT-PMP server on
// UDP, and a UPnP IGD (SSDP answered by unicast, the description and SOAP over HTTP). Mapping,
// fallbacks (PCP → NAT-PMP, lease → permanent lease), renewal on a virtual clock, removal at stop,
// and hostile gateways (huge or malformed replies, silence) that cost a warning and nothing else.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { PortMapper, type PortMapperOptions, parseProcNetRoute } from '../../../src/discovery/port-mapper.js';
import { isLoopback, Session } from '../../../src/session/session.js';
import { type Clock, realClock, type TimerHandle } from '../../../src/util/clock.js';

/** A clock whose time moves only when told; `advance` runs the timers that fall due. */
class ManualClock implements Clock {
  #now = 1_000_000;
  #timers = new Set<{ at: number; fn: () => void; every?: number }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t = { at: this.#now + delayMs, fn };
    this.#timers.add(t);
    return Object.assign(t, { unref: () => t });
  }
  clearTimeout(h: TimerHandle | undefined): void {
    this.#timers.delete(h as never);
  }
  setInterval(fn: () => void, intervalMs: number): TimerHandle {
    const t = { at: this.#now + intervalMs, fn, every: intervalMs };
    this.#timers.add(t);
    return Object.assign(t, { unref: () => t });
  }
  clearInterval(h: TimerHandle | undefined): void {
    this.#timers.delete(h as never);
  }
  get pending(): number {
    return this.#timers.size;
  }
  async advance(ms: number): Promise<void> {
    this.#now += ms;
    for (const t of [...this.#timers].sort((a, b) => a.at - b.at)) {
      if (t.at > this.#now) continue;
      if (t.every) t.at += t.every;
      else this.#timers.delete(t);
      t.fn();
      await new Promise((r) => setImmediate(r));
    }
  }
}

interface PmpServer {
  socket: Socket;
  port: number;
  requests: Buffer[];
  close(): Promise<void>;
}

/** A gateway on 127.0.0.1 that answers each request with what `answer` returns (nothing: silence). */
async function pmpServer(answer: (req: Buffer) => Buffer | undefined): Promise<PmpServer> {
  const socket = createSocket('udp4');
  const requests: Buffer[] = [];
  socket.on('message', (msg, rinfo) => {
    requests.push(msg);
    const reply = answer(msg);
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    socket,
    port: (socket.address() as AddressInfo).port,
    requests,
    close: () => new Promise((r) => socket.close(() => r())),
  };
}

/** A NAT-PMP-only gateway (PCP gets "unsupported version"), external address 11.22.33.1. */
function natPmpOnly(lifetimeSec: number, externalPortOffset = 0): (req: Buffer) => Buffer | undefined {
  return (req) => {
    if (req[0] !== 0) {
      const r = Buffer.alloc(8);
      r[1] = 128 + (req[1] ?? 0);
      r.writeUInt16BE(1, 2);
      return r;
    }
    if (req[1] === 0) return Buffer.from([0, 128, 0, 0, 0, 0, 0, 9, 11, 22, 33, 1]);
    const r = Buffer.alloc(16);
    r[1] = 128 + req[1]!;
    r.writeUInt32BE(9, 4);
    r.writeUInt16BE(req.readUInt16BE(4), 8);
    const lifetime = req.readUInt32BE(8);
    r.writeUInt16BE(lifetime === 0 ? 0 : req.readUInt16BE(4) + externalPortOffset, 10);
    r.writeUInt32BE(lifetime === 0 ? 0 : lifetimeSec, 12);
    return r;
  };
}

/** A PCP gateway: MAP answered with the nonce echoed, external 11.22.33.1. */
function pcpGateway(lifetimeSec: number): (req: Buffer) => Buffer | undefined {
  return (req) => {
    if (req[0] !== 2 || req.length !== 60) return undefined;
    const r = Buffer.alloc(60);
    r[0] = 2;
    r[1] = 0x81;
    const lifetime = req.readUInt32BE(4);
    r.writeUInt32BE(lifetime === 0 ? 0 : lifetimeSec, 4);
    req.copy(r, 24, 24, 44);
    r.writeUInt16BE(req.readUInt16BE(42), 42);
    Buffer.from('00000000000000000000ffff0b162101', 'hex').copy(r, 44);
    return r;
  };
}

/** A mapper that asks only the NAT-PMP/PCP gateway `gw` (UPnP off), from 127.0.0.1. */
function natPmpMapper(
  gw: PmpServer,
  internalPort: number,
  more: Partial<PortMapperOptions> = {},
): PortMapper {
  return new PortMapper({
    internalPort,
    upnp: false,
    gateway: '127.0.0.1',
    natPmpPort: gw.port,
    bindAddress: '127.0.0.1',
    ...more,
  });
}

const opened: { close(): Promise<void> }[] = [];
after(async () => {
  for (const o of opened) await o.close();
});

describe('PCP and NAT-PMP', () => {
  test('NAT-PMP-only gateway: PCP falls back; TCP and UDP mapped; renewed at half the lease on the clock; removed at stop', async () => {
    const gw = await pmpServer(natPmpOnly(120));
    opened.push(gw);
    const clock = new ManualClock();
    const pm = natPmpMapper(gw, 40001, { clock });
    const mapped: unknown[] = [];
    pm.on('portmap:mapped', (m) => mapped.push(m));
    pm.start();
    const m = await pm.ready();
    assert.deepEqual(m, {
      method: 'natpmp',
      gateway: '127.0.0.1',
      externalIp: '11.22.33.1',
      externalPort: 40001,
      udp: true,
      leaseSec: 120,
    });
    assert.equal(mapped.length, 1);
    // PCP (version 2) first, then NAT-PMP: external address, TCP, UDP.
    assert.deepEqual(
      gw.requests.map((r) => `${r[0]}/${r[1]}`),
      ['2/1', '0/0', '0/2', '0/1'],
    );
    const before = gw.requests.length;
    await clock.advance(59_000);
    assert.equal(gw.requests.length, before, 'not renewed before half the lease');
    await clock.advance(1_000);
    await waitUntil(() => gw.requests.length >= before + 4);
    // The renewal asks for the same external port.
    const tcpRenewal = gw.requests.slice(before).find((r) => r[0] === 0 && r[1] === 2)!;
    assert.equal(tcpRenewal.readUInt16BE(6), 40001);
    assert.equal(pm.mapping?.leaseSec, 120);
    const n = gw.requests.length;
    await pm.stop();
    const removal = gw.requests.slice(n).filter((r) => r[0] === 0);
    assert.deepEqual(
      removal.map((r) => [r[1], r.readUInt32BE(8), r.readUInt16BE(6)]),
      [
        [2, 0, 0],
        [1, 0, 0],
      ],
    );
    assert.equal(pm.mapping, undefined);
    assert.equal(clock.pending, 0, 'no timer left');
  });

  test('a removal the gateway refuses: a failure line that names the port still mapped, both protocols tried', async () => {
    const base = natPmpOnly(120);
    const gw = await pmpServer((req) => {
      const r = base(req);
      // Removal (lifetime 0) refused: result code 2, not authorized.
      if (r && req[0] === 0 && req[1] !== 0 && req.readUInt32BE(8) === 0) r.writeUInt16BE(2, 2);
      return r;
    });
    opened.push(gw);
    const pm = natPmpMapper(gw, 40004, { clock: new ManualClock() });
    const failures: string[] = [];
    pm.on('portmap:failed', (method, message) => failures.push(`${method}: ${message}`));
    pm.start();
    await pm.ready();
    const n = gw.requests.length;
    await pm.stop();
    assert.deepEqual(
      gw.requests.slice(n).map((r) => r[1]),
      [2, 1],
      'TCP and UDP removal both asked',
    );
    assert.equal(failures.length, 1, failures.join('\n'));
    assert.match(
      failures[0]!,
      /^natpmp: the router may still map port 40004: removing the mapping failed \(TCP: .*; UDP: .*\)$/,
    );
  });

  test('a renewal the gateway no longer answers: a failure line, tried again a minute later', async () => {
    let answering = true;
    const answer = natPmpOnly(120);
    const gw = await pmpServer((req) => (answering ? answer(req) : undefined));
    opened.push(gw);
    const clock = new ManualClock();
    const pm = natPmpMapper(gw, 40005, { clock, removeTimeoutMs: 200 });
    const failures: string[] = [];
    pm.on('portmap:failed', (_m, e) => {
      failures.push(e);
    });
    pm.start();
    assert.equal((await pm.ready())?.method, 'natpmp');
    answering = false;
    const before = gw.requests.length;
    await clock.advance(60_000);
    await waitUntil(() => gw.requests.length > before);
    // Three tries of PCP (250, 500, 1000 ms), then silence: no answer.
    for (const ms of [250, 500, 1000]) {
      await clock.advance(ms);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitUntil(() => failures.length === 1);
    assert.match(failures[0]!, /^renewal failed: no answer/);
    assert.equal(gw.requests.length, before + 3);
    answering = true;
    await clock.advance(58_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(gw.requests.length, before + 3, 'not before a minute');
    await clock.advance(2_000);
    await waitUntil(() => gw.requests.length >= before + 7);
    assert.equal(pm.mapping?.leaseSec, 120);
    await pm.stop();
  });

  test('PCP gateway: MAP with our nonce and address; removal with lifetime 0', async () => {
    const gw = await pmpServer(pcpGateway(3600));
    opened.push(gw);
    const pm = natPmpMapper(gw, 40002);
    pm.start();
    const m = await pm.ready();
    assert.equal(m?.method, 'pcp');
    assert.equal(m?.externalIp, '11.22.33.1');
    assert.equal(m?.externalPort, 40002);
    assert.equal(m?.udp, true);
    const first = gw.requests[0]!;
    assert.equal(first.subarray(8, 24).toString('hex'), '00000000000000000000ffff7f000001');
    await pm.stop();
    const last = gw.requests.at(-1)!;
    assert.equal(last.readUInt32BE(4), 0);
    assert.equal(last.subarray(24, 36).toString('hex'), gw.requests[1]!.subarray(24, 36).toString('hex'));
  });

  test('a silent gateway: a failure line in a bounded time, no throw', async () => {
    const gw = await pmpServer(() => undefined);
    opened.push(gw);
    const pm = natPmpMapper(gw, 40003, { natPmpFirstTimeoutMs: 20 });
    const failures: string[] = [];
    pm.on('portmap:failed', (_m, e) => {
      failures.push(e);
    });
    pm.start();
    assert.equal(await pm.ready(), undefined);
    assert.match(failures[0] ?? '', /no answer from 127\.0\.0\.1/);
    assert.deepEqual(pm.status.failures, [{ method: 'natpmp', message: failures[0] }]);
    assert.equal(gw.requests.length, 3, 'three tries of PCP, none of NAT-PMP after silence');
    await pm.stop();
  });

  test('hostile replies (garbage, wrong opcode, refusal) are a failure, not a crash', async () => {
    const gw = await pmpServer((req) =>
      req[0] === 2
        ? Buffer.from([0, 0x81, 0, 1])
        : req[1] === 0
          ? Buffer.from([0, 128, 0, 2, 1, 2, 3, 4])
          : Buffer.from('garbage'),
    );
    opened.push(gw);
    const pm = natPmpMapper(gw, 40004, { natPmpFirstTimeoutMs: 20 });
    pm.start();
    assert.equal(await pm.ready(), undefined);
    assert.match(pm.status.failures[0]?.message ?? '', /not authorized/);
    await pm.stop();
  });
});

interface FakeIgd {
  ssdpPort: number;
  calls: { action: string; body: string }[];
  close(): Promise<void>;
}

/**
 * A UPnP gateway on 127.0.0.1: SSDP by unicast, the description, SOAP. `onSoap` answers an action
 * (status and body); `description` replaces the description.
 */
async function fakeIgd(o: {
  onSoap?: (action: string, body: string) => { status: number; body: string } | undefined;
  description?: (port: number) => string | Buffer;
  /** Answers this action only after a while (a slow router). */
  slow?: { action: string; delayMs: number };
}): Promise<FakeIgd> {
  const calls: { action: string; body: string }[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      if (req.method === 'GET') {
        res.end(o.description ? o.description(port) : DESC);
        return;
      }
      const action = /#(\w+)"/.exec(String(req.headers.soapaction))?.[1] ?? '';
      calls.push({ action, body });
      if (o.slow?.action === action && !res.headersSent) {
        const t = setTimeout(() => res.end(`<u:${action}Response></u:${action}Response>`), o.slow.delayMs);
        res.once('close', () => clearTimeout(t));
        return;
      }
      const custom = o.onSoap?.(action, body);
      if (custom) {
        res.statusCode = custom.status;
        res.end(custom.body);
        return;
      }
      const inner =
        action === 'GetExternalIPAddress' ? '<NewExternalIPAddress>11.22.33.1</NewExternalIPAddress>' : '';
      res.end(
        `<s:Envelope><s:Body><u:${action}Response>${inner}</u:${action}Response></s:Body></s:Envelope>`,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const ssdp = createSocket('udp4');
  ssdp.on('message', (msg, rinfo) => {
    if (!msg.toString().startsWith('M-SEARCH')) return;
    ssdp.send(
      `HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://127.0.0.1:${port}/desc.xml\r\n\r\n`,
      rinfo.port,
      rinfo.address,
    );
  });
  await new Promise<void>((r) => ssdp.bind(0, '127.0.0.1', () => r()));
  return {
    ssdpPort: (ssdp.address() as AddressInfo).port,
    calls,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => ssdp.close(() => r()));
    },
  };
}

const DESC = `<?xml version="1.0"?><root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL></service></serviceList></device></root>`;

const upnpOptions = (igd: FakeIgd, internalPort: number) => ({
  internalPort,
  natpmp: false,
  bindAddress: '127.0.0.1',
  ssdpTarget: { host: '127.0.0.1', port: igd.ssdpPort },
  ssdpWaitMs: 500,
  httpTimeoutMs: 1000,
});

describe('UPnP IGD', () => {
  test('maps TCP and UDP, reports the external address; removes both at stop', async () => {
    const igd = await fakeIgd({});
    opened.push(igd);
    const pm = new PortMapper(upnpOptions(igd, 40010));
    pm.start();
    const m = await pm.ready();
    assert.deepEqual(m, {
      method: 'upnp',
      gateway: '127.0.0.1',
      externalIp: '11.22.33.1',
      externalPort: 40010,
      udp: true,
      leaseSec: 3600,
    });
    assert.deepEqual(
      igd.calls.map((c) => c.action),
      ['GetExternalIPAddress', 'AddPortMapping', 'AddPortMapping'],
    );
    assert.match(igd.calls[1]!.body, /<NewInternalClient>127\.0\.0\.1<\/NewInternalClient>/);
    assert.match(igd.calls[1]!.body, /<NewProtocol>TCP<\/NewProtocol>/);
    assert.match(igd.calls[2]!.body, /<NewProtocol>UDP<\/NewProtocol>/);
    await pm.stop();
    assert.deepEqual(
      igd.calls.slice(3).map((c) => `${c.action} ${/<NewProtocol>(\w+)/.exec(c.body)?.[1]}`),
      ['DeletePortMapping TCP', 'DeletePortMapping UDP'],
    );
  });

  test('a router that only takes permanent leases (725): mapped with lease 0, no renewal', async () => {
    const igd = await fakeIgd({
      onSoap: (action, body) =>
        action === 'AddPortMapping' && !body.includes('<NewLeaseDuration>0<')
          ? {
              status: 500,
              body: '<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>',
            }
          : undefined,
    });
    opened.push(igd);
    // The real clock, watched: a renewal would be a timer of a minute or more.
    const long: number[] = [];
    const clock: Clock = {
      ...realClock,
      setTimeout: (fn, ms) => {
        if (ms >= 60_000) long.push(ms);
        return realClock.setTimeout(fn, ms);
      },
    };
    const pm = new PortMapper({ ...upnpOptions(igd, 40011), clock });
    pm.start();
    const m = await pm.ready();
    assert.equal(m?.leaseSec, 0);
    assert.equal(m?.udp, true);
    assert.deepEqual(long, []);
    assert.match(igd.calls.filter((c) => c.action === 'AddPortMapping').at(-1)!.body, /<NewLeaseDuration>0</);
    await pm.stop();
  });

  test('hostile gateways: a huge or malformed description, a non-IP external address, a huge SOAP reply', async () => {
    const cases: { name: string; igd: Parameters<typeof fakeIgd>[0]; expect: RegExp }[] = [
      {
        name: 'huge',
        igd: { description: () => Buffer.alloc(300 * 1024, 0x3c) },
        expect: /larger than|too large/,
      },
      {
        name: 'malformed',
        igd: { description: () => '<root><service><serviceType>' },
        expect: /no WANIPConnection/,
      },
      {
        name: 'wrong type',
        igd: {
          onSoap: (a) =>
            a === 'GetExternalIPAddress'
              ? {
                  status: 200,
                  body: '<u:GetExternalIPAddressResponse><NewExternalIPAddress>lots</NewExternalIPAddress></u:GetExternalIPAddressResponse>',
                }
              : undefined,
        },
        expect: /not an IPv4 address/,
      },
      {
        name: 'huge SOAP',
        igd: { onSoap: () => ({ status: 200, body: 'x'.repeat(100_000) }) },
        expect: /larger than|too large/,
      },
    ];
    for (const c of cases) {
      const igd = await fakeIgd(c.igd);
      opened.push(igd);
      const pm = new PortMapper(upnpOptions(igd, 40012));
      pm.start();
      assert.equal(await pm.ready(), undefined, c.name);
      assert.match(pm.status.failures[0]?.message ?? '', c.expect, c.name);
      await pm.stop();
    }
  });

  test('stopped while the router is still mapping: the mapping it was asking for is removed too', async () => {
    const igd = await fakeIgd({ slow: { action: 'AddPortMapping', delayMs: 5000 } });
    opened.push(igd);
    const pm = new PortMapper(upnpOptions(igd, 40014));
    pm.start();
    await waitUntil(() => igd.calls.some((c) => c.action === 'AddPortMapping'));
    const started = Date.now();
    await pm.stop();
    assert.ok(Date.now() - started < 2500, 'bounded');
    assert.equal(await pm.ready(), undefined);
    assert.deepEqual(
      igd.calls
        .filter((c) => c.action === 'DeletePortMapping')
        .map((c) => /<NewExternalPort>(\d+)/.exec(c.body)?.[1]),
      ['40014', '40014'],
    );
  });

  test('nobody answers the search: a failure line', async () => {
    const silent = await pmpServer(() => undefined);
    opened.push(silent);
    const pm = new PortMapper({
      internalPort: 40013,
      natpmp: false,
      bindAddress: '127.0.0.1',
      ssdpTarget: { host: '127.0.0.1', port: silent.port },
      ssdpWaitMs: 300,
    });
    pm.start();
    assert.equal(await pm.ready(), undefined);
    assert.match(pm.status.failures[0]?.message ?? '', /no UPnP gateway answered/);
    await pm.stop();
  });
});

test('/proc/net/route: the default route with the lowest metric, in host byte order', () => {
  const text = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t50\t00000000\t0\t0\t0
eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
  assert.equal(parseProcNetRoute(text), '192.168.1.1');
  assert.equal(parseProcNetRoute(text.split('\n').slice(0, 2).join('\n')), '10.0.0.1');
  assert.equal(parseProcNetRoute('Iface\n'), undefined);
  assert.equal(parseProcNetRoute('garbage\nx y z\n'), undefined);
});

test('a session bound to loopback never maps a port', async () => {
  assert.ok(isLoopback('127.0.0.1'));
  const s = new Session({ port: 0, bind: '127.0.0.1', dht: false, lsd: false, tracker: false });
  await s.start();
  try {
    assert.equal(s.portMapping, undefined);
    assert.equal(await s.portMappingReady(), undefined);
    assert.deepEqual(s.advertisedAddress, { port: s.port });
  } finally {
    await s.stop();
  }
});

async function waitUntil(f: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
