// Debian's nginx as a web seed for the interop test and bench:webseed: a temp config that serves one
// folder on 127.0.0.1 (no root paths outside the temp dir: pid, logs and temp folders live there),
// in the foreground, killed by stop(). Run by root, its workers stay this user (not `nobody`, who
// could not read a temp dir).
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { run as startProc } from './clients.js';

export const NGINX =
  process.env.BITSWARM_NGINX ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

export interface Nginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Serves `root` over HTTP on 127.0.0.1 with nginx; its files live under `work` (a temp dir). */
export async function startNginx(root: string, work: string): Promise<Nginx> {
  const prefix = join(work, 'nginx');
  await mkdir(join(prefix, 'logs'), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = join(prefix, 'nginx.conf');
    await writeFile(
      conf,
      `daemon off;
${
  process.getuid?.() === 0
    ? `user ${userInfo().username};
`
    : ''
}worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'logs', 'error.log')} warn;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 60s;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  types { application/octet-stream bin; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port};
    root ${root};
  }
}
`,
    );
    const proc = startProc(NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'logs', 'error.log')]);
    const up = await waitListening(port, 5_000);
    if (up) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        stop: () => proc.kill('SIGTERM'),
      };
    }
    await proc.kill('SIGKILL');
    if (attempt >= 3) throw new Error(`nginx did not start: ${proc.output.slice(-5).join('\n')}`);
  }
}

async function waitListening(port: number, timeoutMs: number): Promise<boolean> {
  const { connect } = await import('node:net');
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
