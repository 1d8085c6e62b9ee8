// Two homes behind two NAT routers, and the internet between them, in network namespaces: the
// setting of BEP 55 hole punching. Neither home can be dialled from outside; a peer on the internet
// is reachable from both.
//
//   homeA 10.0.1.2 ── rtrA (10.0.1.1 | 11.22.1.1) ──┐
//                                                   inet (11.22.1.2 | 11.22.2.2, forwards)
//   homeB 10.0.2.2 ── rtrB (10.0.2.1 | 11.22.2.1) ──┘
//
// Each router masquerades its home (Linux keeps the source port when it can: a home's port 6881
// leaves as the router's 6881) and lets in only what answers a flow its home started: whatever
// arrives new at its outer address is dropped in the input hook — before conntrack confirms an
// entry, so a dropped packet leaves no state that would make the next outgoing flow take another
// port. The outer addresses are not reserved ones, but they exist only inside these namespaces,
// which have no link to the machine's interfaces. Teardown deletes everything (netns.ts's hooks
// also on exit or a signal).

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunError, type RunResult } from './helpers.js';
import { deleteNamespace, exec, registerNamespace, trackChild } from './netns.js';

export const HOME_A_IP = '10.0.1.2';
export const HOME_B_IP = '10.0.2.2';
export const ROUTER_A_WAN_IP = '11.22.1.1';
export const ROUTER_B_WAN_IP = '11.22.2.1';
/** The internet host's address on A's side (B reaches it through the internet's forwarding). */
export const INTERNET_IP = '11.22.1.2';

export interface TwoNats {
  homeA: string;
  homeB: string;
  internet: string;
  /** Starts a long-running command inside a namespace (killed by teardown). */
  spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess;
  /** Runs a command to completion inside a namespace. */
  exec(ns: string, cmd: string, args: readonly string[]): Promise<RunResult>;
  teardown(): Promise<void>;
}

const routerRules = `
table inet nat {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan0" ct state new drop;
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept;
    iifname "lan0" accept;
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "wan0" masquerade;
  }
}
`;

async function ok(cmd: string, args: readonly string[]): Promise<RunResult> {
  const r = await exec(cmd, args, { timeoutMs: 10_000 });
  if (r.code !== 0)
    throw new RunError(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr.trim()}`);
  return r;
}

/** Builds the five namespaces; `dir` holds the routers' rule files. */
export async function createTwoNats(dir: string): Promise<TwoNats> {
  const suffix = randomBytes(4).toString('hex');
  const ns = {
    homeA: `bsw-${suffix}-ha`,
    rtrA: `bsw-${suffix}-ra`,
    homeB: `bsw-${suffix}-hb`,
    rtrB: `bsw-${suffix}-rb`,
    internet: `bsw-${suffix}-in`,
  };
  const mine = new Set<ChildProcess>();
  const teardown = async (): Promise<void> => {
    for (const c of mine) c.kill('SIGKILL');
    mine.clear();
    for (const n of Object.values(ns)) deleteNamespace(n);
  };
  const ip = (...args: string[]): Promise<RunResult> => ok('ip', args);
  const inNs = (n: string, cmd: string, ...args: string[]): Promise<RunResult> =>
    ok('ip', ['netns', 'exec', n, cmd, ...args]);
  try {
    for (const n of Object.values(ns)) {
      registerNamespace(n);
      await ip('netns', 'add', n);
      await ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    const sides = [
      {
        home: ns.homeA,
        rtr: ns.rtrA,
        net: '10.0.1',
        wan: ROUTER_A_WAN_IP,
        inet: INTERNET_IP,
        inetDev: 'eth1',
        rules: 'a',
      },
      {
        home: ns.homeB,
        rtr: ns.rtrB,
        net: '10.0.2',
        wan: ROUTER_B_WAN_IP,
        inet: '11.22.2.2',
        inetDev: 'eth2',
        rules: 'b',
      },
    ];
    for (const s of sides) {
      await ip('-n', s.home, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', s.rtr);
      await ip(
        '-n',
        ns.internet,
        'link',
        'add',
        s.inetDev,
        'type',
        'veth',
        'peer',
        'name',
        'wan0',
        'netns',
        s.rtr,
      );
      await ip('-n', s.home, 'addr', 'add', `${s.net}.2/24`, 'dev', 'eth0');
      await ip('-n', s.home, 'link', 'set', 'eth0', 'up');
      await ip('-n', s.home, 'route', 'add', 'default', 'via', `${s.net}.1`);
      await ip('-n', s.rtr, 'addr', 'add', `${s.net}.1/24`, 'dev', 'lan0');
      await ip('-n', s.rtr, 'link', 'set', 'lan0', 'up');
      await ip('-n', s.rtr, 'addr', 'add', `${s.wan}/24`, 'dev', 'wan0');
      await ip('-n', s.rtr, 'link', 'set', 'wan0', 'up');
      await ip('-n', s.rtr, 'route', 'add', 'default', 'via', s.inet);
      await ip('-n', ns.internet, 'addr', 'add', `${s.inet}/24`, 'dev', s.inetDev);
      await ip('-n', ns.internet, 'link', 'set', s.inetDev, 'up');
      await inNs(s.rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
      const file = join(dir, `router-${s.rules}.nft`);
      await writeFile(file, routerRules);
      await inNs(s.rtr, 'nft', '-f', file);
    }
    await inNs(ns.internet, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    homeA: ns.homeA,
    homeB: ns.homeB,
    internet: ns.internet,
    spawn: (n, cmd, args) => {
      const child = spawn('ip', ['netns', 'exec', n, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      mine.add(child);
      trackChild(child);
      child.once('exit', () => mine.delete(child));
      return child;
    },
    exec: (n, cmd, args) => exec('ip', ['netns', 'exec', n, cmd, ...args], { timeoutMs: 15_000 }),
    teardown,
  };
}
