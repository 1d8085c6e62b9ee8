// The network switches shared by the peer commands: --max-per-ip reaches the session, bad values are usage errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readNetOptions } from '../../../src/cli/net-options.js';

describe('--max-per-ip', () => {
  it('sets the per-IP connection limit of the session; absent, the default stands', () => {
    assert.equal(readNetOptions('download', { 'max-per-ip': '3' }).session.maxConnectionsPerIp, 3);
    assert.equal(readNetOptions('download', {}).session.maxConnectionsPerIp, undefined);
  });

  it('0, negative or not a number: a usage error naming the option', () => {
    for (const bad of ['0', '-1', 'many', '2.5']) {
      assert.throws(
        () => readNetOptions('download', { 'max-per-ip': bad }),
        (err: Error) => {
          assert.equal(err.name, 'UsageError');
          assert.match(err.message, /max-per-ip/);
          return true;
        },
      );
    }
  });
});

describe('--no-upnp, --no-natpmp', () => {
  it('turn the router port mapping methods off one by one; both default on', () => {
    const on = readNetOptions('seed', {}).session;
    assert.equal(on.upnp, true);
    assert.equal(on.natpmp, true);
    const off = readNetOptions('seed', { 'no-upnp': true, 'no-natpmp': true }).session;
    assert.equal(off.upnp, false);
    assert.equal(off.natpmp, false);
    assert.equal(readNetOptions('seed', { 'no-upnp': true }).session.natpmp, true);
  });

  it('every peer command and the daemon take them', async () => {
    const { COMMANDS } = await import('../../../src/cli/commands.js');
    for (const name of ['download', 'seed', 'share', 'stream', 'daemon', 'tracker']) {
      const spec = (COMMANDS as Record<string, { options: Record<string, unknown> }>)[name];
      assert.ok(spec, name);
      assert.ok('no-upnp' in spec.options && 'no-natpmp' in spec.options, name);
    }
  });
});

describe('--transport', () => {
  it('tcp, utp or both reach the session; absent, the default (both) stands', () => {
    for (const t of ['tcp', 'utp', 'both'] as const)
      assert.equal(readNetOptions('seed', { transport: t }).session.transport, t);
    assert.equal(readNetOptions('seed', {}).session.transport, undefined);
  });

  it('anything else: a usage error naming the option and the choices', () => {
    assert.throws(
      () => readNetOptions('download', { transport: 'udp' }),
      (err: Error) =>
        err.name === 'UsageError' && /--transport: "udp" is not one of tcp, utp, both/.test(err.message),
    );
  });
});
