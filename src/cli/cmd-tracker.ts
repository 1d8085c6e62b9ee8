// `bitswarm tracker [--port N] [--bind ADDR]`: the embedded tracker alone (HTTP and UDP on one port),
// open to any info hash.
import { UsageError } from '../util/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { parse } from './args.js';
import { Reporter } from './cmd-download.js';
import { readNetOptions, startSession } from './net-options.js';
import { stopSignal } from './stop-signal.js';

export async function runTracker(argv: string[], log: Logger = silentLogger): Promise<number> {
  const { values, positionals } = parse('tracker', argv);
  if (positionals.length > 0) throw new UsageError('tracker: takes no arguments');
  const net = readNetOptions('tracker', values);
  const session = await startSession(net, {
    openTracker: true,
    dht: false,
    lsd: false,
    tracker: true,
    logger: log,
  });
  const r = new Reporter({
    mode: 'tracker',
    json: values.json === true,
    quiet: values.quiet === true,
    keepSeeding: true,
  });
  // Listening for the stop signals before saying it listens: a signal right after is a clean stop.
  const stopped = stopSignal();
  const host = net.bind ?? '0.0.0.0';
  r.say(`tracker on http://${host}:${session.port}/announce and udp://${host}:${session.port}`);
  r.json({ event: 'listening', port: session.port });
  const { exitCode } = await stopped;
  await session.stop();
  return exitCode;
}
