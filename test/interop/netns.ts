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
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      mine.add(child);
      children.add(child);
      child.once('exit', () => {
        mine.delete(child);
        children.delete(child);
      });
      return child;
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
    teardown,
  };
}
