// The network switches every socket-opening command takes (DESIGN.md): --port, --bind, --peer,
// --no-dht, --no-lsd, --no-pex, --dht-bootstrap.
import { type PeerAddress, parseAddress } from '../peer/dial.js';
import { UsageError } from '../util/errors.js';
import { intOption, type Options } from './args.js';

export const netOptions = {
  port: { type: 'string' },
  bind: { type: 'string' },
  peer: { type: 'string', multiple: true },
  'no-dht': { type: 'boolean' },
  'no-lsd': { type: 'boolean' },
  'no-pex': { type: 'boolean' },
  'dht-bootstrap': { type: 'string', multiple: true },
} as const satisfies Options;

export const netHelp = `  --port N                 listening port (TCP; default 6881, or the next free one)
  --bind ADDR              address to listen on and connect from (default: all)
  --peer HOST:PORT         a peer to connect to (repeatable)
  --no-dht, --no-lsd, --no-pex   turn a discovery method off`;

export interface NetConfig {
  port: number | undefined;
  bind: string | undefined;
  peers: PeerAddress[];
}

export function readNetOptions(
  command: string,
  values: { port?: string; bind?: string; peer?: string[] },
): NetConfig {
  const peers = (values.peer ?? []).map((p) => {
    const a = parseAddress(p);
    if (!a) throw new UsageError(`${command}: --peer: "${p}" is not HOST:PORT`);
    return a;
  });
  return { port: intOption(command, 'port', values.port, 0, 65535), bind: values.bind, peers };
}
