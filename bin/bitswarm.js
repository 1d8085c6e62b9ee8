#!/usr/bin/env node
// The bitswarm executable: runs the compiled CLI (npm run build first when working from a checkout).
const argv = process.argv.slice(2);
const fail = (err) => {
  process.stderr.write(`bitswarm: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
};

// `create` hashes on a worker thread besides the main one, and a worker takes tens of milliseconds
// to boot: it starts now, while the CLI's modules load, instead of once the command has parsed its
// arguments. A worker that turns out not to be needed (a small input, --threads 1) is dropped.
if (argv[0] === 'create' && !argv.some((a) => a === '-h' || a === '--help')) {
  import('../dist/src/storage/hasher-pool.js').then((m) => m.prestartHashWorker(), fail);
}

import('../dist/src/cli/main.js')
  .then(({ main }) => main(argv))
  .then((code) => {
    process.exitCode = code;
  }, fail);
