// `bitswarm share <path> [--port N] [-o FILE] [--announce-host HOST]`: the one command to share a
// folder on a LAN — create a torrent whose tracker is this very peer, print its magnet link and
// .torrent path, and seed it.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { formatAddress } from '../protocol/address.js';
import { formatMagnet } from '../protocol/magnet.js';
import { magnetHashes, parseMetainfo } from '../protocol/metainfo.js';
import { createTorrent } from '../storage/create-torrent.js';
import { UsageError } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { VERSION } from '../util/version.js';
import { parse } from './args.js';
import { runTorrent } from './cmd-download.js';
import { readNetOptions, startSession } from './net-options.js';
import { refuseExisting, writeNewFile } from './write-new-file.js';

/** The address other machines on the LAN reach us at: the first non-internal IPv4 address. */
export function lanAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export async function runShare(argv: string[], log: Logger = silentLogger): Promise<number> {
  const { values, positionals } = parse('share', argv);
  if (positionals.length !== 1) throw new UsageError('share: expected one <path>');
  if (values['no-tracker'])
    throw new UsageError("share: the shared torrent announces to this peer's tracker; drop --no-tracker");
  const path = resolve(positionals[0]!);
  const net = readNetOptions('share', values);
  const bindHost = net.bind && net.bind !== '0.0.0.0' && net.bind !== '::' ? net.bind : undefined;
  const force = values.force === true;
  // Refused before the session starts and the hashing runs; checked again when it is written.
  // The default name is createTorrent's: the input's base name.
  const out = resolve(values.output ?? `${basename(path)}.torrent`);
  await refuseExisting('share', out, force);
  const session = await startSession(net, { logger: log });
  try {
    // Behind a router that forwards our port (UPnP, NAT-PMP/PCP), the link names its external
    // address: the first attempt is waited for (a few seconds at most) unless --announce-host says.
    const given = values['announce-host'];
    const mapped = given === undefined ? await session.portMappingReady() : undefined;
    const lanHost = bindHost ?? lanAddress() ?? '127.0.0.1';
    const host = given ?? mapped?.externalIp ?? lanHost;
    const port = given === undefined && mapped ? mapped.externalPort : session.port;
    const url = (h: string, p: number): string => `http://${isIP(h) === 6 ? `[${h}]` : h}:${p}/announce`;
    // Mapped: the LAN address is a second tier and a second peer, for hosts of the same LAN whose
    // router does not loop its external address back (and for this very peer's own announces).
    const lanToo = mapped !== undefined && given === undefined && lanHost !== host;
    const created = await createTorrent(path, {
      announce: [[url(host, port)], ...(lanToo ? [[url(lanHost, session.port)]] : [])],
      createdBy: `bitswarm/${VERSION}`,
      ...(values.private ? { private: true } : {}),
    });
    await writeNewFile('share', out, created.torrent, force);
    const m = parseMetainfo(created.torrent);
    const magnet = formatMagnet({
      ...magnetHashes(m),
      name: m.name,
      trackers: m.announceList.flat(),
      peers: [
        formatAddress({ host, port }),
        ...(lanToo ? [formatAddress({ host: lanHost, port: session.port })] : []),
      ],
    });
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ time: Date.now(), event: 'shared', torrent: out, magnet, infoHash: m.infoHashHex, port: session.port, announce: m.announceList[0]?.[0] })}\n`,
      );
    } else {
      process.stdout.write(
        `sharing ${path}\n  torrent  ${out}\n  magnet   ${magnet}\n  tracker  ${m.announceList[0]?.[0]} (this peer)\n`,
      );
    }
    return await runTorrent(
      session,
      {
        mode: 'share',
        json: values.json === true,
        quiet: values.quiet === true,
        verbose: values.verbose === true,
        keepSeeding: true,
      },
      (attach) => session.add(m, { dir: dirname(path), peers: net.peers, onTorrent: attach }),
    );
  } catch (err) {
    await session.stop();
    throw err;
  }
}
