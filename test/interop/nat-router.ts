// A home router in network namespaces, for tests of port mapping: Debian's miniupnpd (UPnP IGD,
// NAT-PMP and PCP) with nftables NAT between two links.
//
//   home (10.0.0.2/24, default via 10.0.0.1) ── eth0 · lan0 ── router ── wan0 · eth0 ── internet
//                                                  10.0.0.1       11.22.33.1       11.22.33.2/24
//
// The router masquerades what the home side sends to the internet and forwards nothing inbound but
// what miniupnpd maps (its chains: forwardUPnP, prerouting_miniupnpd, postrouting_miniupnpd). The
// internet namespace has no route to 10.0.0.0/24: the home host is reachable only through a mapping.
// The outer addresses are not a reserved range because miniupnpd refuses to hand out a reserved
// external address (`ext_ip`); they exist only inside these namespaces, which have no link to the
// machine's real interfaces. Names carry a random suffix; teardown deletes everything, also on
// failure, exit or a signal (netns.ts's hooks).

import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunResult } from './helpers.js';
import { RunError } from './helpers.js';
import { deleteNamespace, type ExecOptions, exec, registerNamespace, trackChild } from './netns.js';

export const MINIUPNPD = '/usr/sbin/miniupnpd';
export const HOME_IP = '10.0.0.2';
export const ROUTER_LAN_IP = '10.0.0.1';
export const ROUTER_WAN_IP = '11.22.33.1';
export const INTERNET_IP = '11.22.33.2';

export interface NatRouter {
  home: string;
  router: string;
  internet: string;
  /** The miniupnpd log so far (stderr and stdout). */
  log(): string;
  /** Runs a command to completion inside a namespace. */
  exec(ns: string, cmd: string, args: readonly string[], options?: ExecOptions): Promise<RunResult>;
  /** Starts a long-running command inside a namespace (killed by teardown). */
  spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess;
  /** The rules of miniupnpd's NAT chain (the mappings in place), as `nft list chain` prints them. */
  natRules(): Promise<string>;
  teardown(): Promise<void>;
}

const NFT_RULES = `
table inet miniupnpd {
  chain forwardUPnP { }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept;
    iifname "lan0" accept;
    jump forwardUPnP;
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd;
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd;
    oifname "wan0" masquerade;
  }
}
`;

function miniupnpdConf(dir: string): string {
  return `ext_ifname=wan0
ext_ip=${ROUTER_WAN_IP}
listening_ip=lan0
http_port=5000
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=yes
lease_file=${join(dir, 'upnp.leases')}
uuid=385425e1-29fe-4b27-b1af-2f7c702e9a17
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=forwardUPnP
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 10.0.0.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`;
}

async function ok(cmd: string, args: readonly string[]): Promise<RunResult> {
  const r = await exec(cmd, args, { timeoutMs: 10_000 });
  if (r.code !== 0)
    throw new RunError(`${cmd} ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr.trim()}`);
  return r;
}

/** Builds the three namespaces and starts miniupnpd in the router; `dir` holds its files. */
export async function createNatRouter(dir: string): Promise<NatRouter> {
  const suffix = randomBytes(4).toString('hex');
  const home = `bsw-${suffix}-home`;
  const router = `bsw-${suffix}-rtr`;
  const internet = `bsw-${suffix}-inet`;
  const mine = new Set<ChildProcess>();
  let log = '';
  const spawnIn = (ns: string, cmd: string, args: readonly string[]): ChildProcess => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    mine.add(child);
    trackChild(child);
    child.once('exit', () => mine.delete(child));
    return child;
  };
  const teardown = async (): Promise<void> => {
    for (const c of mine) c.kill('SIGKILL');
    mine.clear();
    for (const ns of [home, router, internet]) deleteNamespace(ns);
  };
  const ip = (...args: string[]): Promise<RunResult> => ok('ip', args);
  try {
    for (const ns of [home, router, internet]) {
      registerNamespace(ns);
      await ip('netns', 'add', ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', home, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan0', 'netns', router);
    await ip('-n', internet, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', router);
    await ip('-n', home, 'addr', 'add', `${HOME_IP}/24`, 'dev', 'eth0');
    await ip('-n', home, 'link', 'set', 'eth0', 'up');
    await ip('-n', home, 'route', 'add', 'default', 'via', ROUTER_LAN_IP);
    await ip('-n', router, 'addr', 'add', `${ROUTER_LAN_IP}/24`, 'dev', 'lan0');
    await ip('-n', router, 'link', 'set', 'lan0', 'up');
    await ip('-n', router, 'addr', 'add', `${ROUTER_WAN_IP}/24`, 'dev', 'wan0');
    await ip('-n', router, 'link', 'set', 'wan0', 'up');
    await ip('-n', internet, 'addr', 'add', `${INTERNET_IP}/24`, 'dev', 'eth0');
    await ip('-n', internet, 'link', 'set', 'eth0', 'up');
    await ok('ip', ['netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const rules = join(dir, 'router.nft');
    await writeFile(rules, NFT_RULES);
    await ok('ip', ['netns', 'exec', router, 'nft', '-f', rules]);
    const conf = join(dir, 'miniupnpd.conf');
    await writeFile(conf, miniupnpdConf(dir));
    const daemon = spawnIn(router, MINIUPNPD, ['-d', '-f', conf, '-P', join(dir, 'miniupnpd.pid')]);
    const onData = (b: Buffer): void => {
      log = (log + b.toString('utf8')).slice(-200_000);
    };
    daemon.stdout?.on('data', onData);
    daemon.stderr?.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`miniupnpd did not start in 10 s:\n${log}`)), 10_000);
      const check = (): void => {
        if (log.includes('Listening for NAT-PMP')) {
          clearTimeout(timer);
          resolve();
        }
      };
      daemon.stdout?.on('data', check);
      daemon.stderr?.on('data', check);
      daemon.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`miniupnpd exited (${code}):\n${log}`));
      });
    });
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    home,
    router,
    internet,
    log: () => log,
    exec: (ns, cmd, args, options) => exec('ip', ['netns', 'exec', ns, cmd, ...args], options),
    spawn: spawnIn,
    natRules: async () =>
      (
        await ok('ip', [
          'netns',
          'exec',
          router,
          'nft',
          'list',
          'chain',
          'inet',
          'miniupnpd',
          'prerouting_miniupnpd',
        ])
      ).stdout,
    teardown,
  };
}
