// The path policy, rule by rule (see the header of src/protocol/path-policy.ts), plus properties:
// whatever a torrent says, a sanitized path is relative, has no empty/`.`/`..` elements and stays
// inside the download directory; disambiguated paths never merge two files.

import assert from 'node:assert/strict';
import { resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  disambiguate,
  MAX_ELEMENT_BYTES,
  sanitizeElement,
  sanitizePath,
} from '../../../src/protocol/path-policy.js';

describe('path policy: sanitizeElement, rule by rule', () => {
  const table: [string, string, string][] = [
    // 1. empty, `.` and `..` are dropped
    ['empty', '', ''],
    ['dot', '.', ''],
    ['dot-dot', '..', ''],
    // 2. separators, NUL, control characters and Windows-forbidden characters become `_`
    ['absolute', '/etc/passwd', '_etc_passwd'],
    ['slash inside', 'a/../b', 'a_.._b'],
    ['backslash inside', 'a\\..\\b', 'a_.._b'],
    ['drive letter', 'C:', 'C_'],
    ['drive letter path', 'C:\\Windows\\evil.dll', 'C__Windows_evil.dll'],
    ['UNC', '\\\\server\\share', '__server_share'],
    ['NUL', 'a\u0000b', 'a_b'],
    ['newline and escape', 'a\nb\u001b[0m', 'a_b_[0m'],
    ['DEL', 'x\u007f', 'x_'],
    ['Windows-forbidden', 'a<b>c:d"e|f?g*h', 'a_b_c_d_e_f_g_h'],
    ['dot-dot with a NUL is no longer dot-dot', '..\u0000', '.._'],
    // 3. trailing dots and spaces are removed
    ['trailing dot', 'file.', 'file'],
    ['trailing dots and spaces', 'file . . ', 'file'],
    ['only dots and spaces', '. . .', ''],
    ['leading dot kept (hidden file)', '.hidden', '.hidden'],
    ['leading space kept', ' x', ' x'],
    // 4. Windows device names get a leading `_`
    ['CON', 'CON', '_CON'],
    ['con lower case', 'con', '_con'],
    ['PRN with extension', 'prn.txt', '_prn.txt'],
    ['AUX', 'Aux', '_Aux'],
    ['NUL with two extensions', 'nul.tar.gz', '_nul.tar.gz'],
    ['COM1', 'COM1', '_COM1'],
    ['COM9', 'com9.log', '_com9.log'],
    ['LPT1', 'LPT1', '_LPT1'],
    ['CONIN$', 'CONIN$', '_CONIN$'],
    ['CON after trailing dot removal', 'CON.', '_CON'],
    ['COM0 is not a device', 'COM0', 'COM0'],
    ['CONSOLE is not a device', 'console', 'console'],
    ['device name inside a longer name', 'icon', 'icon'],
    // plain names pass unchanged
    ['plain', 'readme.txt', 'readme.txt'],
    ['unicode', 'Čaj ☕.txt', 'Čaj ☕.txt'],
  ];
  for (const [what, raw, expected] of table) {
    it(`${what}: ${JSON.stringify(raw)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(sanitizeElement(raw), expected);
    });
  }

  it('5. shortens an over-long element to 255 UTF-8 bytes, keeping a short extension', () => {
    assert.equal(sanitizeElement(`${'a'.repeat(300)}.txt`), `${'a'.repeat(251)}.txt`);
    assert.equal(sanitizeElement('a'.repeat(255)), 'a'.repeat(255));
    assert.equal(sanitizeElement('a'.repeat(256)), 'a'.repeat(255));
    // A long "extension" is not kept as one.
    assert.equal(sanitizeElement(`x.${'b'.repeat(300)}`), `x.${'b'.repeat(253)}`);
  });

  it('5. never splits a multi-byte character', () => {
    const out = sanitizeElement('é'.repeat(200)); // 400 bytes
    assert.equal(out, 'é'.repeat(127));
    assert.ok(Buffer.byteLength(out) <= MAX_ELEMENT_BYTES);
    const emoji = sanitizeElement(`${'😀'.repeat(100)}.txt`);
    assert.equal(emoji, `${'😀'.repeat(62)}.txt`);
    assert.ok(!emoji.includes('\ufffd'));
  });

  it('5. shortening does not leave a trailing dot or space behind (rule 3 still holds)', () => {
    assert.equal(sanitizeElement(`${'a'.repeat(254)} ${'b'.repeat(40)}`), 'a'.repeat(254));
    assert.equal(sanitizeElement(`${'a'.repeat(253)}. ${'b'.repeat(40)}`), 'a'.repeat(253));
  });
});

describe('path policy: sanitizePath', () => {
  it('drops `..`, `.` and empty elements and reports the change', () => {
    assert.deepEqual(sanitizePath(['..', '..', 'etc', 'passwd']), { path: ['etc', 'passwd'], changed: true });
    assert.deepEqual(sanitizePath(['a', '.', '', 'b']), { path: ['a', 'b'], changed: true });
  });

  it('6. a path left with no elements is called `_`', () => {
    assert.deepEqual(sanitizePath(['..']), { path: ['_'], changed: true });
    assert.deepEqual(sanitizePath([]), { path: ['_'], changed: true });
  });

  it('leaves a safe path alone', () => {
    assert.deepEqual(sanitizePath(['dir', 'file.txt']), { path: ['dir', 'file.txt'], changed: false });
  });
});

describe('path policy: disambiguate (rule 7)', () => {
  const table: [string, string[][], string[][], number[]][] = [
    ['distinct paths', [['a'], ['b'], ['d', 'a']], [['a'], ['b'], ['d', 'a']], []],
    ['same path twice', [['a'], ['a']], [['a'], ['a.1']], [1]],
    [
      'same path three times',
      [
        ['x', 'a'],
        ['x', 'a'],
        ['x', 'a'],
      ],
      [
        ['x', 'a'],
        ['x', 'a.1'],
        ['x', 'a.2'],
      ],
      [1, 2],
    ],
    ['file, then a folder of that name', [['a'], ['a', 'b']], [['a'], ['a.1', 'b']], [1]],
    ['folder, then a file of that name', [['a', 'b'], ['a']], [['a', 'b'], ['a.1']], [1]],
    [
      'clash deep down',
      [
        ['t', 'a', 'b'],
        ['t', 'a', 'b', 'c'],
      ],
      [
        ['t', 'a', 'b'],
        ['t', 'a', 'b.1', 'c'],
      ],
      [1],
    ],
    ['suffix taken by a real file', [['a'], ['a.1'], ['a']], [['a'], ['a.1'], ['a.2']], [2]],
    ['suffix taken later', [['a'], ['a'], ['a.1']], [['a'], ['a.1'], ['a.1.1']], [1, 2]],
    [
      'two files in the renamed folder',
      [['a'], ['a', 'x'], ['a', 'y']],
      [['a'], ['a.1', 'x'], ['a.1', 'y']],
      [1, 2],
    ],
  ];
  for (const [what, input, expected, renamed] of table) {
    it(what, () => {
      const paths = input.map((p) => p.slice());
      assert.deepEqual(disambiguate(paths), renamed);
      assert.deepEqual(paths, expected);
    });
  }

  it('collisions that only appear after sanitizing are told apart', () => {
    const paths = [['a?'], ['a*'], ['a|']].map((p) => sanitizePath(p).path);
    disambiguate(paths);
    assert.deepEqual(paths, [['a_'], ['a_.1'], ['a_.2']]);
  });

  it('the suffix keeps a 255-byte element within the limit', () => {
    const paths = [['z'.repeat(300)], ['z'.repeat(301)]].map((p) => sanitizePath(p).path);
    disambiguate(paths);
    assert.deepEqual(paths, [['z'.repeat(255)], [`${'z'.repeat(253)}.1`]]);
    for (const p of paths) for (const el of p) assert.ok(Buffer.byteLength(el) <= MAX_ELEMENT_BYTES);
  });
});

// Elements a hostile torrent might use: the dangerous pieces, mixed with anything at all.
const hostileElement = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '',
    '/',
    '\\',
    'C:',
    '\\\\srv',
    'CON',
    'nul.txt',
    ' ',
    '. .',
    'a',
    'a.',
    '\u0000',
  ),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('.', ' ', '/', '\\', ':', 'a', 'é', '\u0000', '\n'), maxLength: 300 }),
);
const hostilePath = fc.array(hostileElement, { maxLength: 6 });

describe('path policy: properties', () => {
  const dir = resolve('/tmp/bitswarm-download-dir');

  it('every sanitized path is relative, clean, and inside the download directory', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const { path } = sanitizePath(raw);
        assert.ok(path.length >= 1);
        for (const el of path) {
          assert.ok(el !== '' && el !== '.' && el !== '..', JSON.stringify(el));
          assert.doesNotMatch(el, /[\u0000-\u001f\u007f/\\<>:"|?*]/);
          assert.doesNotMatch(el, /[. ]$/);
          assert.doesNotMatch(el, /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)/i);
          assert.ok(Buffer.byteLength(el) <= MAX_ELEMENT_BYTES);
        }
        const full = resolve(dir, ...path);
        assert.ok(full.startsWith(dir + sep), full);
      }),
      { numRuns: 1000 },
    );
  });

  it('sanitizing is idempotent', () => {
    fc.assert(
      fc.property(hostilePath, (raw) => {
        const once = sanitizePath(raw).path;
        assert.deepEqual(sanitizePath(once), { path: once, changed: false });
      }),
      { numRuns: 1000 },
    );
  });

  it('after disambiguate no two files share a path and no file sits where a folder is needed', () => {
    const element = fc.constantFrom('a', 'b', 'a.1', 'A', 'a?', 'a*', '..', 'b.1');
    fc.assert(
      fc.property(fc.array(fc.array(element, { minLength: 1, maxLength: 3 }), { maxLength: 12 }), (raws) => {
        const paths = raws.map((r) => sanitizePath(r).path);
        disambiguate(paths);
        const files = new Set(paths.map((p) => p.join('/')));
        assert.equal(files.size, paths.length, JSON.stringify(paths));
        for (const p of paths) {
          for (let i = 1; i < p.length; i++) {
            assert.ok(!files.has(p.slice(0, i).join('/')), `${p.join('/')} needs a folder that is a file`);
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
