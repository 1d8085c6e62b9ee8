// The network switches every socket-opening command takes (DESIGN.md): --port, --bind, --peer,
// --no-dht, --no-lsd, --no-pex, --no-upnp, --no-natpmp, --dht-bootstrap, and the session they configure.

import { ENCRYPTION_POLICIES, type EncryptionPolicy } from '../peer/encryption.js';
import { type PeerAddress, parseAddress } from '../protocol/address.js';
import type { Session, SessionOptions } from '../session/session.js';
import { startSession as startSessionOn } from '../session/start-session.js';
import { TRANSPORT_MODES, type TransportMode } from '../session/transport-policy.js';
import { UsageError } from '../util/errors.js';
import { intOption, sizeOption } from './args.js';
import { portMappingLine } from './port-mapping-text.js';

export interface NetConfig {
  port: number | undefined;
  bind: string | undefined;
  peers: PeerAddress[];
  session: SessionOptions;
  /** --json: warnings go to stdout as `warning` events instead of lines on stderr. */
  json: boolean;
}

export function readNetOptions(
  command: string,
  values: {
    port?: string;
    bind?: string;
    peer?: string[];
    'no-dht'?: boolean;
    'no-lsd'?: boolean;
    'no-pex'?: boolean;
    'no-upnp'?: boolean;
    'no-natpmp'?: boolean;
    'no-tracker'?: boolean;
    'open-tracker'?: boolean;
    'dht-bootstrap'?: string[];
    'upload-limit'?: string;
    'download-limit'?: string;
    'max-per-ip'?: string;
    'super-seed'?: boolean;
    'no-super-seed'?: boolean;
    encryption?: string;
    transport?: string;
    'allow-local-peers'?: boolean;
    json?: boolean;
    'no-part-suffix'?: boolean;
  },
): NetConfig {
  const addr = (flag: string, p: string): PeerAddress => {
    const a = parseAddress(p);
    if (!a) throw new UsageError(`${command}: --${flag}: "${p}" is not HOST:PORT`);
    return a;
  };
  const peers = (values.peer ?? []).map((p) => addr('peer', p));
  const boot = values['dht-bootstrap'];
  const session: SessionOptions = {
    dht: !values['no-dht'],
    lsd: !values['no-lsd'],
    pex: !values['no-pex'],
    upnp: !values['no-upnp'],
    natpmp: !values['no-natpmp'],
    tracker: !values['no-tracker'],
    openTracker: values['open-tracker'] ?? false,
    ...(values['allow-local-peers'] ? { allowLocalPeers: true } : {}),
    ...(values['no-part-suffix'] ? { partSuffix: false } : {}),
    ...(values['super-seed'] ? { superSeed: true } : values['no-super-seed'] ? { superSeed: false } : {}),
  };
  if (boot) session.dhtBootstrap = boot.includes('none') ? [] : boot.map((b) => addr('dht-bootstrap', b));
  if (values.bind) session.bind = values.bind;
  if (values.encryption !== undefined) {
    if (!ENCRYPTION_POLICIES.includes(values.encryption as EncryptionPolicy)) {
      throw new UsageError(
        `${command}: --encryption: "${values.encryption}" is not one of ${ENCRYPTION_POLICIES.join(', ')}`,
      );
    }
    session.encryption = values.encryption as EncryptionPolicy;
  }
  if (values.transport !== undefined) {
    if (!TRANSPORT_MODES.includes(values.transport as TransportMode)) {
      throw new UsageError(
        `${command}: --transport: "${values.transport}" is not one of ${TRANSPORT_MODES.join(', ')}`,
      );
    }
    session.transport = values.transport as TransportMode;
  }
  const up = sizeOption(command, 'upload-limit', values['upload-limit']);
  const down = sizeOption(command, 'download-limit', values['download-limit']);
  if (up !== undefined) session.uploadLimitBytesPerSec = up;
  if (down !== undefined) session.downloadLimitBytesPerSec = down;
  const perIp = intOption(command, 'max-per-ip', values['max-per-ip'], 1, 10_000);
  if (perIp !== undefined) session.maxConnectionsPerIp = perIp;
  return {
    port: intOption(command, 'port', values.port, 0, 65535),
    bind: values.bind,
    peers,
    session,
    json: values.json === true,
  };
}

/** Starts a session on the given port, or on 6881 and the next free ones when none was given. */
export async function startSession(net: NetConfig, extra: SessionOptions = {}): Promise<Session> {
  const session = await startSessionOn(net.port, { ...net.session, ...extra });
  const warn = (message: string): void => {
    if (net.json)
      process.stdout.write(`${JSON.stringify({ time: Date.now(), event: 'warning', message })}\n`);
    else process.stderr.write(`bitswarm: warning: ${message}\n`);
  };
  // A discovery method that could not start (LSD without multicast) is a warning: the others run.
  for (const message of session.warnings) warn(message);
  // The router's port mapping runs in the background: its outcome is one line (or event) when known.
  session.on('portmap:failed', (_method, message) => warn(message));
  session.on('portmap:mapped', (m) => {
    if (net.json) process.stdout.write(`${JSON.stringify({ time: Date.now(), event: 'portmap', ...m })}\n`);
    else process.stderr.write(`bitswarm: ${portMappingLine(m)}\n`);
  });
  return session;
}
