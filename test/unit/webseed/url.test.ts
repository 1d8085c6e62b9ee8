// BEP 19 URLs and the file segments of a byte range: known vectors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TorrentFile } from '../../../src/protocol/metainfo.js';
import { retryAfterMs } from '../../../src/webseed/http-client.js';
import { fileSegments, refuseWebSeedUrl, webSeedFileUrl } from '../../../src/webseed/url.js';

function files(spec: [string, number, boolean?][]): TorrentFile[] {
  let offset = 0;
  return spec.map(([p, length, padding]) => {
    const f = {
      path: p.split('/'),
      rawPath: p.split('/'),
      length,
      offset,
      padding: padding ?? false,
      attr: '',
    };
    offset += length;
    return f;
  });
}

describe('web seed URLs', () => {
  it('single file: the URL itself, or the name appended to a URL ending in /', () => {
    assert.equal(webSeedFileUrl('http://h/x/file.iso', false, ['file.iso']).href, 'http://h/x/file.iso');
    assert.equal(webSeedFileUrl('http://h/x/', false, ['a b#1.iso']).href, 'http://h/x/a%20b%231.iso');
    assert.equal(webSeedFileUrl('https://h:8443/?q=1', false, ['n']).href, 'https://h:8443/n?q=1');
  });

  it('multi-file: URL + / + name + path, each element percent-encoded', () => {
    assert.equal(
      webSeedFileUrl('http://h/pub', true, ['set #1', 'ü', '100% &.txt']).href,
      'http://h/pub/set%20%231/%C3%BC/100%25%20%26.txt',
    );
    assert.equal(webSeedFileUrl('http://h/pub/', true, ['n', 'a/b']).href, 'http://h/pub/n/a%2Fb');
    // Dot segments would make the URL name another file: refused.
    for (const bad of ['..', '.', ''])
      assert.throws(() => webSeedFileUrl('http://h', true, ['n', bad, 'x']), RangeError);
    assert.throws(() => webSeedFileUrl('http://h/', false, ['..']), RangeError);
    assert.equal(webSeedFileUrl('http://h/', true, ['n', '...', '.x']).href, 'http://h/n/.../.x');
  });

  it('only http and https, without credentials', () => {
    assert.equal(refuseWebSeedUrl('http://127.0.0.1/x'), undefined);
    assert.equal(refuseWebSeedUrl('https://example.org/x'), undefined);
    assert.equal(refuseWebSeedUrl('file:///etc/passwd'), 'scheme file: is not supported');
    assert.equal(refuseWebSeedUrl('ftp://h/x'), 'scheme ftp: is not supported');
    assert.equal(refuseWebSeedUrl('javascript:alert(1)'), 'scheme javascript: is not supported');
    assert.equal(refuseWebSeedUrl('not a url'), 'not a URL');
    assert.equal(refuseWebSeedUrl('http://u:p@h/x'), 'credentials in the URL are not used');
  });
});

describe('file segments of a byte range', () => {
  const m = {
    files: files([
      ['t/a', 100],
      ['t/empty', 0],
      ['t/pad', 28, true],
      ['t/b', 50],
    ]),
  };
  it('splits at file boundaries, skips empty files, marks padding', () => {
    assert.deepEqual(fileSegments(m, 90, 60), [
      { file: 0, offset: 90, length: 10, padding: false },
      { file: 2, offset: 0, length: 28, padding: true },
      { file: 3, offset: 0, length: 22, padding: false },
    ]);
    assert.deepEqual(fileSegments(m, 0, 100), [{ file: 0, offset: 0, length: 100, padding: false }]);
    assert.deepEqual(fileSegments(m, 170, 8), [{ file: 3, offset: 42, length: 8, padding: false }]);
    assert.deepEqual(fileSegments(m, 0, 0), []);
  });
});

describe('Retry-After', () => {
  it('seconds or an HTTP date, bounded to an hour', () => {
    assert.equal(retryAfterMs('3', 0), 3000);
    assert.equal(retryAfterMs('999999', 0), 3_600_000);
    assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 0), 10_000);
    assert.equal(retryAfterMs('soon', 0), undefined);
    assert.equal(retryAfterMs(undefined, 0), undefined);
  });
});
