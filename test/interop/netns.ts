// A tiny network-namespace harness for tests of real multicast (LSD): N namespaces, each with one
// veth link to a bridge that lives in a namespace of its own, addresses 10.77.0.2… /24, loopback up
// and a multicast route. Every link is created directly inside its namespace, so nothing is ever
// attached to (or sent through) the machine's real interfaces. Names carry a random suffix, so
// parallel runs do not clash. Teardown deletes the namespaces (which deletes their links), also when
// a test fails, and on SIGINT/SIGTERM or exit of the test process.
//
// Needs root (as in CI). Without it, `netnsSkip()` gives node:test a reason to skip, except in CI,
// where the test runs and fails so that a broken runner cannot turn the suite green.
//
// `netem(ns, …)` shapes one member's `eth0` egress with `tc qdisc … netem` (delay, loss, rate), so a
// LAN can behave like a slow or lossy one; `netemSkip()` says whether this kernel has sch_netem.
// `shape(ns, …)` asks for the same but makes do without sch_netem (some kernels, CI's among them,
// lack it): the rate by `tc htb`, the loss by a classic-BPF classifier that sends a random share of
// packets to an HTB class whose queue holds nothing (`pfifo limit 0`), and the delay by a small
// userspace relay (python3 with a TAP device; the packets leave `eth0` through a packet socket that
// bypasses its qdisc). It says what it really applied; `probeShaping()` tells before a test starts.

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { inCI, RunError, type RunResult } from './helpers.js';

/** Namespaces and processes alive, for the exit and signal hooks. */
const live = new Set<string>();
const children = new Set<ChildProcess>();

export interface ExecOptions {
  timeoutMs?: number;
}

/**
 * Runs a program with no stdin (helpers.run pipes an empty stdin, which fails with EPIPE when the
 * program exits before reading it, as `ip` does) and collects its output; kills it after `timeoutMs`.
 */
export function exec(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && 'killed' in err && err.killed) {
          reject(new RunError(`${cmd} ${args.join(' ')}: timed out after ${timeoutMs} ms`));
        } else if (err && typeof err.code === 'string') {
          reject(new RunError(`${cmd}: ${err.message}`, { cause: err }));
        } else {
          resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
        }
      },
    );
    child.stdin?.end();
    // Tracked so that SIGINT or exit of the test process kills it with the namespaces.
    children.add(child);
    child.once('exit', () => children.delete(child));
  });
}

async function execOk(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<RunResult> {
  const r = await exec(cmd, args, options);
  if (r.code !== 0)
    throw new RunError(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr.trim()}`);
  return r;
}

export interface NetnsLan {
  /** Names of the member namespaces, one per node. */
  readonly namespaces: readonly string[];
  /** IPv4 address of each member's `eth0`, same order. */
  readonly addresses: readonly string[];
  /** Name of the namespace that holds the bridge. */
  readonly bridgeNamespace: string;
  /** Runs a command to completion inside a member namespace. */
  exec(ns: string, cmd: string, args: readonly string[], options?: ExecOptions): Promise<RunResult>;
  /** Starts a long-running command inside a member namespace (killed by teardown). */
  spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess;
  /** Shapes the egress of a member's `eth0` (replaces any earlier shaping; `{}` removes it). */
  netem(ns: string, options: NetemOptions): Promise<void>;
  /**
   * Like `netem`, by netem when the kernel has it, else by what it has (see the header); resolves
   * with what was really applied. `{}` removes any shaping.
   */
  shape(ns: string, options: NetemOptions): Promise<AppliedShaping>;
  /**
   * Packets the shaping of a member has sent and dropped so far (its root qdisc, on `eth0` or on
   * the relay's TAP), or undefined when it has none.
   */
  shapingStats(ns: string): Promise<{ sentPackets: number; droppedPackets: number } | undefined>;
  /** Removes every namespace and process of this LAN. Idempotent. */
  teardown(): Promise<void>;
}

/** Egress shaping of one host: each packet it sends is delayed, dropped or paced. */
export interface NetemOptions {
  /** One-way delay added to every packet (a round trip between two shaped hosts gets it twice). */
  delayMs?: number;
  /** Share of packets dropped, in percent (0–100). */
  lossPercent?: number;
  /** Line rate in Mbit/s. */
  rateMbit?: number;
}

/**
 * The arguments of `tc` that install this shaping as the root qdisc of `dev`, or undefined when the
 * options ask for none (delay, loss and rate all absent or zero).
 */
export function netemTcArgs(dev: string, o: NetemOptions): string[] | undefined {
  const args: string[] = [];
  const check = (name: string, v: number | undefined, max: number): v is number => {
    if (v === undefined || v === 0) return false;
    if (!Number.isFinite(v) || v < 0 || v > max) throw new RangeError(`netem: bad ${name} ${v}`);
    return true;
  };
  if (check('delayMs', o.delayMs, 60_000)) args.push('delay', `${o.delayMs}ms`);
  if (check('lossPercent', o.lossPercent, 100)) args.push('loss', `${o.lossPercent}%`);
  if (check('rateMbit', o.rateMbit, 100_000)) args.push('rate', `${o.rateMbit}mbit`);
  if (args.length === 0) return undefined;
  // The default queue of 1,000 packets is below the bandwidth-delay product of fast links with long
  // delays, which would add loss nobody asked for.
  return ['qdisc', 'replace', 'dev', dev, 'root', 'netem', 'limit', '100000', ...args];
}

/** What `shape()` really put in place on one host. */
export interface AppliedShaping {
  /** The means, e.g. "tc netem", or "tc htb, cls_bpf drop class, userspace delay relay". */
  method: string;
  delayMs: number;
  lossPercent: number;
  rateMbit: number;
  /** What was asked for and could not be applied here, each with the reason. */
  notApplied: string[];
}

/** "20 ms delay, 1% loss, 100 Mbit/s" (what is zero left out). */
export function describeShaping(o: NetemOptions): string {
  const parts: string[] = [];
  if (o.delayMs) parts.push(`${o.delayMs} ms delay`);
  if (o.lossPercent) parts.push(`${o.lossPercent}% loss`);
  if (o.rateMbit) parts.push(`${o.rateMbit} Mbit/s`);
  return parts.join(', ') || 'no shaping';
}

/**
 * A classic BPF program (in the `tc … bpf bytecode` notation) that matches a random `lossPercent`
 * of the packets: `ld rand` (the SKF_AD_RANDOM ancillary load), below the threshold → -1 (match,
 * the filter's class), else 0 (no match).
 */
export function lossBpfBytecode(lossPercent: number): string {
  if (!Number.isFinite(lossPercent) || lossPercent <= 0 || lossPercent > 100)
    throw new RangeError(`loss: bad percentage ${lossPercent}`);
  const threshold = Math.min(2 ** 32 - 1, Math.round((lossPercent / 100) * 2 ** 32));
  const ldRand = `32 0 0 ${2 ** 32 - 0x1000 + 56}`;
  return `4,${ldRand},53 0 1 ${threshold},6 0 0 0,6 0 0 ${2 ** 32 - 1}`;
}

/**
 * The `tc` commands that give `dev` a rate and a loss without netem: an HTB root whose default
 * class has the rate, and (for loss) a filter that sends a random share of packets to a class
 * whose `pfifo limit 0` drops them all. Undefined when neither is asked for.
 */
export function htbTcCommands(
  dev: string,
  o: { lossPercent?: number; rateMbit?: number },
): string[][] | undefined {
  const loss = o.lossPercent ?? 0;
  const rate = o.rateMbit ?? 0;
  if (!Number.isFinite(rate) || rate < 0 || rate > 100_000) throw new RangeError(`htb: bad rate ${rate}`);
  if (loss === 0 && rate === 0) return undefined;
  // No rate asked for: a class far above any veth's real speed. A small quantum keeps HTB quiet.
  const cls = (id: string, r: string): string[] => [
    'class',
    'add',
    'dev',
    dev,
    'parent',
    '1:',
    'classid',
    id,
    'htb',
    'rate',
    r,
    'quantum',
    '1514',
  ];
  const cmds = [
    ['qdisc', 'replace', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10'],
    cls('1:10', rate > 0 ? `${rate}mbit` : '100gbit'),
  ];
  if (loss > 0) {
    const code = lossBpfBytecode(loss);
    cmds.push(
      cls('1:99', '1mbit'),
      ['qdisc', 'add', 'dev', dev, 'parent', '1:99', 'handle', '99:', 'pfifo', 'limit', '0'],
      [
        'filter',
        'add',
        'dev',
        dev,
        'parent',
        '1:',
        'protocol',
        'all',
        'prio',
        '1',
        'bpf',
        'bytecode',
        code,
        'classid',
        '1:99',
      ],
    );
  }
  return cmds;
}

/**
 * The delay relay, run by python3 inside a namespace: it creates a TAP device, reads every frame
 * sent to it, holds each for the delay (first in, first out) and sends it on the real interface
 * through a packet socket with PACKET_QDISC_BYPASS, so it does not come back through the redirect.
 * argv: tap name, interface, delay in ms. Prints "ready" once the TAP exists.
 */
const RELAY_PY = `
import collections, fcntl, os, select, socket, struct, sys, time
tap, dev, delay = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', tap.encode(), 0x0002 | 0x1000))  # TUNSETIFF, TAP, no PI
os.set_blocking(fd, False)
out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
out.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS
out.bind((dev, 0))
print('ready', flush=True)
q = collections.deque()
while True:
    wait = max(0.0, q[0][0] - time.monotonic()) if q else None
    if select.select([fd], [], [], wait)[0]:
        now = time.monotonic()
        while True:
            try:
                q.append((now + delay, os.read(fd, 65536)))
            except BlockingIOError:
                break
    now = time.monotonic()
    while q and q[0][0] <= now:
        try:
            out.send(q.popleft()[1])
        except OSError:
            pass
`;
const RELAY_TAP = 'dly0';

/** The interface name inside every member namespace. */
export const NETNS_IFACE = 'eth0';
const PREFIX = 'bsw';

let hooked = false;

function deleteSync(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  live.delete(ns);
}

function cleanupSync(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const ns of [...live]) deleteSync(ns);
}

function hookProcess(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanupSync();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * For harnesses of other shapes (nat-router.ts): a namespace made by the caller is deleted with the
 * others at exit or on a signal; `deleteNamespace` removes it at once.
 */
export function registerNamespace(ns: string): void {
  hookProcess();
  live.add(ns);
}

export function deleteNamespace(ns: string): void {
  deleteSync(ns);
}

/** A long-running process started by the caller, killed at exit or on a signal if still alive. */
export function trackChild(child: ChildProcess): void {
  hookProcess();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/**
 * False when namespaces can be made here (or in CI, where the test must run and fail loudly);
 * otherwise the reason to skip.
 */
export async function netnsSkip(): Promise<string | false> {
  if (inCI()) return false;
  const probe = `${PREFIX}-probe-${randomBytes(4).toString('hex')}`;
  hookProcess();
  live.add(probe);
  try {
    const r = await exec('ip', ['netns', 'add', probe], { timeoutMs: 10_000 });
    if (r.code !== 0) return `network namespaces unavailable (ip netns add: ${r.stderr.trim() || r.code})`;
  } catch (err) {
    return `network namespaces unavailable (${err instanceof Error ? err.message : String(err)})`;
  }
  deleteSync(probe);
  return false;
}

/**
 * False when `tc … netem` works here (or in CI, where the test must run and fail loudly); otherwise
 * the reason to skip — some kernels are built without sch_netem.
 */
export async function netemSkip(): Promise<string | false> {
  const ns = await netnsSkip();
  if (ns) return ns;
  if (inCI()) return false;
  const probe = `${PREFIX}-probe-${randomBytes(4).toString('hex')}`;
  hookProcess();
  live.add(probe);
  try {
    await execOk('ip', ['netns', 'add', probe], { timeoutMs: 10_000 });
    const r = await exec('ip', ['netns', 'exec', probe, 'tc', ...netemTcArgs('lo', { delayMs: 1 })!], {
      timeoutMs: 10_000,
    });
    if (r.code !== 0) return `tc netem unavailable (${r.stderr.trim() || `exit ${r.code}`})`;
    return false;
  } catch (err) {
    return `tc netem unavailable (${err instanceof Error ? err.message : String(err)})`;
  } finally {
    deleteSync(probe);
  }
}

/**
 * What `shape(…, options)` applies on this machine, found on a LAN of one host made for the
 * purpose; undefined when namespaces cannot be made here.
 */
export async function probeShaping(options: NetemOptions): Promise<AppliedShaping | undefined> {
  let lan: NetnsLan;
  try {
    lan = await createLan(1);
  } catch {
    return undefined;
  }
  try {
    return await lan.shape(lan.namespaces[0]!, options);
  } finally {
    await lan.teardown();
  }
}

/** Creates a LAN of `count` namespaces (at most 200). */
export async function createLan(count: number): Promise<NetnsLan> {
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new RangeError(`bad namespace count ${count}`);
  hookProcess();
  const suffix = randomBytes(4).toString('hex');
  const bridgeNs = `${PREFIX}-${suffix}-br`;
  const namespaces = Array.from({ length: count }, (_, i) => `${PREFIX}-${suffix}-${i}`);
  const addresses = namespaces.map((_, i) => `10.77.0.${i + 2}`);
  const mine = new Set<ChildProcess>();
  const ip = (...args: string[]): Promise<RunResult> => execOk('ip', args, { timeoutMs: 10_000 });

  const teardown = async (): Promise<void> => {
    for (const c of mine) {
      c.kill('SIGKILL');
      children.delete(c);
    }
    mine.clear();
    for (const ns of [...namespaces, bridgeNs]) if (live.has(ns)) deleteSync(ns);
  };

  try {
    await ip('netns', 'add', bridgeNs);
    live.add(bridgeNs);
    await ip('-n', bridgeNs, 'link', 'set', 'lo', 'up');
    // Snooping off: with no querier on this LAN the bridge would otherwise decide on its own.
    await ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
    await ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
    for (let i = 0; i < count; i++) {
      const ns = namespaces[i]!;
      const port = `p${i}`;
      await ip('netns', 'add', ns);
      live.add(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'link', 'add', NETNS_IFACE, 'type', 'veth', 'peer', 'name', port, 'netns', bridgeNs);
      await ip('-n', bridgeNs, 'link', 'set', port, 'master', 'br0');
      await ip('-n', bridgeNs, 'link', 'set', port, 'up');
      // No duplicate address detection: the link-local IPv6 address is usable at once (else the
      // first IPv6 multicast sends fail with EADDRNOTAVAIL). Absent IPv6 support is fine.
      await exec('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${NETNS_IFACE}.accept_dad=0`]);
      await ip('-n', ns, 'addr', 'add', `${addresses[i]}/24`, 'dev', NETNS_IFACE);
      await ip('-n', ns, 'link', 'set', NETNS_IFACE, 'up');
      await ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', NETNS_IFACE);
    }
  } catch (err) {
    await teardown();
    throw err;
  }

  const member = (ns: string): void => {
    if (!namespaces.includes(ns)) throw new RangeError(`${ns} is not a namespace of this LAN`);
  };
  const spawnIn = (ns: string, cmd: string, args: readonly string[]): ChildProcess => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    mine.add(child);
    children.add(child);
    child.once('exit', () => {
      mine.delete(child);
      children.delete(child);
    });
    return child;
  };
  /** The delay relay of each namespace that has one. */
  const relays = new Map<string, ChildProcess>();
  /** Removes every kind of shaping of a member (absent ones are fine). */
  const unshape = async (ns: string): Promise<void> => {
    const relay = relays.get(ns);
    relays.delete(ns);
    if (relay) {
      relay.kill('SIGKILL');
      if (relay.exitCode === null && relay.signalCode === null)
        await new Promise((r) => relay.once('exit', r));
    }
    await exec('ip', ['-n', ns, 'link', 'set', NETNS_IFACE, 'gso_max_segs', '65535'], { timeoutMs: 10_000 });
    for (const kind of ['root', 'clsact'])
      await exec('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', NETNS_IFACE, kind], {
        timeoutMs: 10_000,
      });
  };
  /** Starts the delay relay of `ns` and redirects everything `eth0` sends through it. */
  const startRelay = async (ns: string, delayMs: number): Promise<void> => {
    const relay = spawnIn(ns, 'python3', ['-c', RELAY_PY, RELAY_TAP, NETNS_IFACE, String(delayMs)]);
    relays.set(ns, relay);
    let err = '';
    relay.stderr?.on('data', (c: Buffer) => {
      err = (err + c.toString('utf8')).slice(-2000);
    });
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('python3 relay: no "ready" in 10 s')), 10_000);
      relay.stdout?.on('data', (c: Buffer) => {
        if (c.toString('utf8').includes('ready')) {
          clearTimeout(timer);
          res();
        }
      });
      relay.once('exit', (code, signal) => {
        clearTimeout(timer);
        const last = err.trim().split('\n').slice(-1)[0];
        rej(new Error(`python3 relay exited (${code ?? signal})${last ? `: ${last}` : ''}`));
      });
      relay.once('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
    });
    const tc = (...a: string[]): Promise<RunResult> =>
      execOk('ip', ['netns', 'exec', ns, 'tc', ...a], { timeoutMs: 10_000 });
    await execOk('ip', ['-n', ns, 'link', 'set', RELAY_TAP, 'up'], { timeoutMs: 10_000 });
    await tc('qdisc', 'add', 'dev', NETNS_IFACE, 'clsact');
    // A classic BPF program that matches every packet (`ret -1`); the action steals it to the TAP.
    await tc(
      'filter',
      'add',
      'dev',
      NETNS_IFACE,
      'egress',
      'prio',
      '1',
      'bpf',
      'bytecode',
      '1,6 0 0 4294967295',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      RELAY_TAP,
    );
  };
  return {
    namespaces,
    addresses,
    bridgeNamespace: bridgeNs,
    exec(ns, cmd, args, options) {
      member(ns);
      return exec('ip', ['netns', 'exec', ns, cmd, ...args], options);
    },
    spawn(ns, cmd, args) {
      member(ns);
      return spawnIn(ns, cmd, args);
    },
    async netem(ns, options) {
      member(ns);
      const args = netemTcArgs(NETNS_IFACE, options);
      if (args) {
        const r = await exec('ip', ['netns', 'exec', ns, 'tc', ...args], { timeoutMs: 10_000 });
        if (r.code !== 0)
          throw new RunError(`tc ${args.join(' ')} in ${ns}: exit ${r.code ?? r.signal}: ${r.stderr.trim()}`);
      } else {
        // No root qdisc to delete is fine: there was no shaping.
        await exec('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', NETNS_IFACE, 'root'], {
          timeoutMs: 10_000,
        });
      }
    },
    async shape(ns, options) {
      member(ns);
      const want = {
        delayMs: options.delayMs ?? 0,
        lossPercent: options.lossPercent ?? 0,
        rateMbit: options.rateMbit ?? 0,
      };
      const args = netemTcArgs(NETNS_IFACE, options);
      await unshape(ns);
      if (!args) return { method: 'none', ...want, notApplied: [] };
      const netem = await exec('ip', ['netns', 'exec', ns, 'tc', ...args], { timeoutMs: 10_000 });
      if (netem.code === 0) return { method: 'tc netem', ...want, notApplied: [] };
      const noNetem = netem.stderr.trim() || `exit ${netem.code}`;
      const notApplied: string[] = [];
      const means: string[] = [];
      let dev = NETNS_IFACE;
      let delayMs = 0;
      if (want.delayMs > 0) {
        try {
          await startRelay(ns, want.delayMs);
          dev = RELAY_TAP;
          delayMs = want.delayMs;
          means.push('userspace delay relay (python3, TAP)');
        } catch (err) {
          await unshape(ns);
          notApplied.push(
            `${want.delayMs} ms delay (no netem: ${noNetem}; relay: ${err instanceof Error ? err.message : String(err)})`,
          );
        }
      }
      let lossPercent = 0;
      let rateMbit = 0;
      const cmds = htbTcCommands(dev, want);
      if (cmds) {
        try {
          // One wire-size packet per skb: else TCP hands over skbs of up to 64 KiB (GSO) and the
          // drop class would lose whole bursts, far more bytes than the share asked for.
          if (want.lossPercent > 0)
            await execOk('ip', ['-n', ns, 'link', 'set', NETNS_IFACE, 'gso_max_segs', '1'], {
              timeoutMs: 10_000,
            });
          for (const c of cmds) await execOk('ip', ['netns', 'exec', ns, 'tc', ...c], { timeoutMs: 10_000 });
          lossPercent = want.lossPercent;
          rateMbit = want.rateMbit;
          means.unshift(
            `tc htb${want.lossPercent > 0 ? ' with a cls_bpf drop class (gso_max_segs 1, so per wire packet)' : ''}`,
          );
        } catch (err) {
          await unshape(ns);
          delayMs = 0;
          means.length = 0;
          notApplied.length = 0;
          if (want.delayMs > 0) notApplied.push(`${want.delayMs} ms delay (no netem: ${noNetem})`);
          const reason = err instanceof Error ? err.message.split('\n').slice(-1)[0] : String(err);
          if (want.lossPercent > 0) notApplied.push(`${want.lossPercent}% loss (no netem, htb: ${reason})`);
          if (want.rateMbit > 0) notApplied.push(`${want.rateMbit} Mbit/s (no netem, htb: ${reason})`);
        }
      }
      return { method: means.join(', ') || 'none', delayMs, lossPercent, rateMbit, notApplied };
    },
    async shapingStats(ns) {
      member(ns);
      const dev = relays.has(ns) ? RELAY_TAP : NETNS_IFACE;
      const r = await exec('ip', ['netns', 'exec', ns, 'tc', '-s', 'qdisc', 'show', 'dev', dev], {
        timeoutMs: 10_000,
      });
      const m = /qdisc (?:netem|htb) \S+ root[^\n]*\n\s*Sent \d+ bytes (\d+) pkt \(dropped (\d+)/.exec(
        r.stdout,
      );
      return m ? { sentPackets: Number(m[1]), droppedPackets: Number(m[2]) } : undefined;
    },
    teardown,
  };
}
