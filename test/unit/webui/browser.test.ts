// The web UI in a real browser (Chromium driven by puppeteer-core, headless) against a real
// `bitswarm daemon` (the CLI, spawned, loopback only) and a real bitswarm seeder: log in through the
// link the daemon prints, upload a .torrent through the file input, add a magnet link, watch both
// complete, set file priorities and limits, pause/resume, remove with data (its files go, nothing
// else), read a torrent's page (files, peers, trackers, info), log out and in again by link.
// Screenshots of the main views land in test-artifacts/webui/ (git-ignored).
// Skipped when Chromium is missing, except in CI (there it must be installed: .ci/run).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { parseMetainfo } from '../../../src/protocol/metainfo.js';
import type { Session } from '../../../src/session/session.js';
import { createTorrent } from '../../../src/storage/create-torrent.js';
import { assertTools, type JsonChild, skipUnlessCI } from '../../interop/helpers.js';
import {
  daemonApi,
  differences,
  freePort,
  listing,
  loopbackSession,
  makeTorrent,
  type SampleTorrent,
  seeder,
  startDaemonJson,
  tempDir,
} from '../api/helpers.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? [] : [`chromium (${CHROMIUM})`];
const skip = skipUnlessCI(missing);
// dist/test/unit/webui → repository root
const artifacts = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../..'),
  'test-artifacts',
  'webui',
);

let root: string;
let cleanup: () => Promise<void>;
let seed: Session;
let album: SampleTorrent;
let single: SampleTorrent;
let dropped: SampleTorrent;
let downloads: string;
let state: string;
let daemon: JsonChild;
let browser: Browser;
let page: Page;
let loginUrl: string;
let api: Awaited<ReturnType<typeof daemonApi>>;

interface Detail {
  status: string;
  queuePosition: number;
  trackers: { url: string; tier: number }[];
  files: { index: number; priority: number }[];
  limits: { downloadLimitBytesPerSec: number; uploadLimitBytesPerSec: number; seedRatio: number | null };
}

async function detail(hex: string): Promise<Detail> {
  const r = await api('GET', `/torrents/${hex}`);
  assert.equal(r.status, 200, r.text);
  return r.json as Detail;
}

/** Waits until `fn` (run in the page) returns something truthy. */
async function until(fn: string, what: string, timeoutMs = 15_000): Promise<void> {
  try {
    await page.waitForFunction(fn, { timeout: timeoutMs, polling: 50 });
  } catch (err) {
    throw new Error(`timed out waiting for ${what}`, { cause: err });
  }
}

const rowStatus = (hex: string): string =>
  `(document.querySelector('#rows tr[data-h="${hex}"] .c-status') || {}).textContent`;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** A screenshot at phone width in dark mode, where `what` must not scroll sideways; then back. */
async function phoneDarkShot(name: string, what: string): Promise<void> {
  await page.setViewport({ width: 390, height: 760 });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await shot(name);
  assert.equal(
    await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'),
    true,
    `no sideways scrolling of ${what} at phone width`,
  );
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  await page.setViewport({ width: 1280, height: 800 });
}

before(async () => {
  if (skip) return;
  assertTools(missing);
  ({ dir: root, cleanup } = await tempDir('webui-browser'));
  await mkdir(artifacts, { recursive: true });
  // The seeder's own tracker is the torrents' announce: it tells the seeder of the daemon, which dials it.
  seed = await loopbackSession();
  const announce = [[`http://127.0.0.1:${seed.port}/announce`]];
  album = await makeTorrent(root, 'album', [300_000, 200_000, 60_000], { announce });
  // A hybrid (BEP 52) fetched by its v1 magnet: its page shows both info hashes.
  single = await makeTorrent(root, 'single', [150_000], {
    announce,
    single: true,
    version: 'hybrid',
    createdBy: 'bitswarm test',
  });
  dropped = await makeTorrent(root, 'dropped', [40_000], { announce, single: true });
  for (const s of [album, single, dropped]) await seed.add(s.metainfo, { dir: s.dataDir });
  downloads = join(root, 'downloads');
  await mkdir(downloads, { recursive: true });
  await writeFile(join(downloads, 'keep-me.txt'), 'not bitswarm’s');
  state = join(root, 'state');
  // Magnet links naming loopback trackers and peers are followed only with --allow-local-peers.
  daemon = await startDaemonJson({ state, downloads, args: ['--no-lsd', '--allow-local-peers'] });
  const listening = daemon.lines.find((l) => l.event === 'listening');
  loginUrl = String(listening?.webUi);
  api = await daemonApi(state);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      // Loopback only: no name but 127.0.0.1 resolves, no proxy.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--no-proxy-server',
    ],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
});

after(async () => {
  if (skip) return;
  await browser?.close();
  if (daemon) {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
  }
  await seed?.stop();
  await cleanup?.();
});

const errors: string[] = [];

test('the printed link logs the browser in, and leaves the token out of the address bar', {
  skip,
}, async () => {
  assert.match(loginUrl, /^http:\/\/127\.0\.0\.1:\d+\/#\/\?token=[0-9a-f]{64}$/);
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(loginUrl);
  await until(`!document.getElementById('app').hidden`, 'the app to show');
  assert.equal(await page.evaluate('location.hash'), '#/');
  assert.equal(await page.evaluate('location.href.includes("token")'), false);
  assert.equal(await page.evaluate('sessionStorage.getItem("bitswarm-token")'), loginUrl.slice(-64));
  assert.equal(await page.evaluate(`!document.getElementById('empty').hidden`), true);
  await shot('1-list-empty');
});

test('a .torrent uploaded through the file input is added, paused, in the folder chosen (remembered)', {
  skip,
}, async () => {
  await page.click('#add-toggle');
  const input = await page.$('#add-files');
  assert.ok(input);
  await input.uploadFile(album.torrentPath);
  // Its files are listed to choose from before it starts.
  await until(`document.querySelectorAll('#add-choose input[data-i]').length === 3`, 'the file choice');
  // Not the last file: chosen before the download starts.
  await page.click('#add-choose input[data-i="2"]');
  await page.type('#add-dir', downloads);
  await page.click('#add-paused');
  await shot('2-add');
  await page.click('#add-submit');
  await until(`document.querySelector('#add-result li.ok')`, 'the add result');
  await until(`${rowStatus(album.metainfo.infoHashHex)} === 'paused'`, 'the album row, paused');
  assert.deepEqual(
    (await detail(album.metainfo.infoHashHex)).files.map((f) => f.priority),
    [4, 4, 0],
  );
  assert.equal(await page.evaluate('localStorage.getItem("bitswarm-dir")'), downloads);
  // The API's refusal shows beside the form: the same torrent again.
  await input.uploadFile(album.torrentPath);
  await page.click('#add-submit');
  await until(`document.querySelector('#add-result li.bad')`, 'the error of a second add');
  const why = await page.$eval('#add-result li.bad', (e) => e.textContent ?? '');
  assert.match(why, /^album\.torrent: .*already/);
});

test('a magnet link is added and downloads to completion, live', { skip }, async () => {
  const hex = single.metainfo.infoHashHex;
  await page.click('#add-paused'); // not paused this time
  await page.click('#add-sequential');
  const magnet = `magnet:?xt=urn:btih:${hex}&dn=single&tr=${encodeURIComponent(`http://127.0.0.1:${seed.port}/announce`)}`;
  await page.$eval('#add-files', (e) => {
    (e as unknown as { value: string }).value = '';
  });
  await page.type('#add-magnets', magnet);
  await page.click('#add-submit');
  await until(`document.querySelector('#add-result li.ok')`, 'the magnet added');
  await until(`${rowStatus(hex)} === 'seeding'`, 'the magnet download to complete', 20_000);
  assert.deepEqual(await differences(single, downloads), []);
  // Sequential, as asked: kept in its record in the state directory.
  const record = JSON.parse(await readFile(join(state, 'torrents', `${hex}.json`), 'utf8')) as {
    sequential?: boolean;
  };
  assert.equal(record.sequential, true);
  const pct = await page.$eval(`#rows tr[data-h="${hex}"] .c-prog span`, (e) => e.textContent);
  assert.equal(pct?.trim(), '100.0%');
  await page.click('#add-cancel');
  await shot('3-list');
  // Its page: both info hashes (BEP 52) and the version, learnt with the metadata.
  await page.click(`#rows tr[data-h="${hex}"] a`);
  await until(`location.hash === '#/torrents/${hex}'`, 'the route');
  await until(`document.getElementById('d-hash2')`, 'the v2 info hash');
  const info = await page.$eval('#d-info', (e) => e.textContent ?? '');
  assert.match(info, new RegExp(`Info hash v1${hex}`));
  assert.match(info, new RegExp(`Info hash v2${single.metainfo.infoHashV2!.toString('hex')}`));
  assert.match(info, /Versionhybrid \(v1 \+ v2\)/);
  // `created by` lies outside the info dictionary: a magnet's metadata does not carry it.
  assert.match(info, /Created by–Created–/);
  await page.evaluate("location.hash = '#/'");
  await until(`document.querySelector('#rows tr[data-h="${hex}"]')`, 'the list again');
});

test("a torrent's page: set file priorities and a limit, resume, see its peer, files, trackers and info", {
  skip,
}, async () => {
  const hex = album.metainfo.infoHashHex;
  await page.click(`#rows tr[data-h="${hex}"] a`);
  await until(`location.hash === '#/torrents/${hex}'`, 'the route');
  await until(`document.querySelectorAll('#d-files tbody tr[data-i]').length === 3`, 'the file list');
  // A tree: the folder's row above its files.
  const paths = await page.$$eval('#d-files tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(paths, ['album/', 'album/f0.bin', 'album/f1.bin', 'album/f2.bin']);
  assert.equal(
    await page.$eval('#d-files select[data-i="2"]', (e) => (e as unknown as { value: string }).value),
    '0',
  );
  await page.select('#d-files select[data-i="0"]', '7');
  const prios = async (): Promise<number[]> => (await detail(hex)).files.map((f) => f.priority);
  for (let i = 0; i < 100 && (await prios()).join() !== '7,4,0'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await prios(), [7, 4, 0]);
  await page.select('#d-files select[data-i="2"]', '4');
  for (let i = 0; i < 100 && (await prios()).join() !== '7,4,4'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await prios(), [7, 4, 4]);
  // The folder's priority: mixed now; set, it sets every file in it.
  const folderValue = (): Promise<string> =>
    page.$eval('#d-files select[data-folder="album"]', (e) => (e as unknown as { value: string }).value);
  assert.equal(await folderValue(), '');
  await page.select('#d-files select[data-folder="album"]', '1');
  for (let i = 0; i < 100 && (await prios()).join() !== '1,1,1'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await prios(), [1, 1, 1]);
  await until(
    `document.querySelector('#d-files select[data-i="2"]').value === '1'`,
    'the files follow the folder',
  );
  await page.select('#d-files select[data-folder="album"]', '4');
  for (let i = 0; i < 100 && (await prios()).join() !== '4,4,4'; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await prios(), [4, 4, 4]);
  assert.equal(await folderValue(), '4');
  // A download limit slow enough to see the peer while it downloads (560 kB at 100 KiB/s: a window of
  // 5 s, which a loaded machine's browser still catches; 200 KiB/s was missed once under load).
  await page.type('#d-limits input[name=down]', '100');
  await page.click('#d-limits button');
  for (let i = 0; i < 100 && (await detail(hex)).limits.downloadLimitBytesPerSec !== 102_400; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal((await detail(hex)).limits.downloadLimitBytesPerSec, 102_400);
  // An API error shows beside its form.
  await page.type('#d-move-dir', '-relative', { delay: 0 });
  await page.$eval('#d-move-dir', (e) => {
    (e as unknown as { value: string }).value = 'not/absolute';
  });
  await page.click('#d-move button');
  await until(`document.querySelector('#d-move .err').textContent.includes('absolute')`, 'the move error');

  // The pieces bar: none yet.
  await until(
    `document.getElementById('d-pieces-text').textContent.startsWith('0 of 35 pieces verified')`,
    'no pieces',
  );
  await page.click('[data-dact=resume]');
  // A failure here says where it stopped: the click (still paused), the tracker, or the peer.
  await until(
    `[...document.querySelectorAll('#d-peers tbody td:first-child')].some((td) => td.textContent.startsWith('127.0.0.1:'))`,
    'the seeder in the peer list',
  ).catch(async (err: Error) => {
    const d = (await api('GET', `/torrents/${hex}`)).json as Record<string, unknown>;
    const { status, percent, peers, trackers, warnings } = d;
    throw new Error(`${err.message}: ${JSON.stringify({ status, percent, peers, trackers, warnings })}`);
  });
  await shot('4-torrent-downloading');
  await until(`document.getElementById('d-summary').textContent.startsWith('seeding')`, 'completion', 20_000);
  assert.deepEqual(await differences(album, downloads), []);
  await until(
    `[...document.querySelectorAll('#d-files tbody tr td:nth-child(3)')].every((td) => td.textContent.trim() === '100.0%')`,
    'every file at 100%',
  );
  // A peer by address: a bad one is refused beside the form; a good one is kept in the record.
  await page.type('#d-peer', 'nope');
  await page.click('#d-add-peer button');
  await until(
    `document.querySelector('#d-add-peer .err').textContent.includes('HOST:PORT')`,
    'the peer error',
  );
  await page.$eval('#d-peer', (e) => {
    (e as unknown as { value: string }).value = '';
  });
  await page.type('#d-peer', '127.0.0.1:9');
  await page.click('#d-add-peer button');
  await until(`document.getElementById('d-peer').value === ''`, 'the peer added');
  const recordPeers = async (): Promise<string[]> => {
    const text = await readFile(join(state, 'torrents', `${hex}.json`), 'utf8').catch(() => '{}');
    return (JSON.parse(text) as { peers?: string[] }).peers ?? [];
  };
  for (let i = 0; i < 100 && !(await recordPeers()).includes('127.0.0.1:9'); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.ok((await recordPeers()).includes('127.0.0.1:9'), JSON.stringify(await recordPeers()));
  // Every piece: the bar is filled from end to end.
  await until(
    `document.getElementById('d-pieces-text').textContent === '35 of 35 pieces verified'`,
    'all pieces',
  );
  const filled = await page.$eval('#d-pieces', (c) => {
    const canvas = c as unknown as {
      width: number;
      getContext(k: '2d'): {
        getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
      };
    };
    const row = canvas.getContext('2d').getImageData(0, 10, canvas.width, 1).data;
    let n = 0;
    for (let i = 3; i < row.length; i += 4) if (row[i]! > 200) n++;
    return n / canvas.width;
  });
  assert.equal(filled, 1, `share of the pieces bar filled: ${filled}`);
  const trackers = await page.$$eval('#d-trackers tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  );
  assert.equal(trackers.length, 1);
  assert.equal(trackers[0]?.[0], `http://127.0.0.1:${seed.port}/announce`);
  assert.equal(trackers[0]?.[2], 'working');
  // Edit the trackers: a second tier added, then a bad URL refused beside the form, then removed again.
  const seedTracker = `http://127.0.0.1:${seed.port}/announce`;
  assert.equal(
    await page.$eval('#d-tracker-list', (e) => (e as unknown as { value: string }).value),
    seedTracker,
  );
  const setList = async (text: string): Promise<void> => {
    await page.$eval(
      '#d-tracker-list',
      (e, v) => {
        (e as unknown as { value: string }).value = v as string;
      },
      text,
    );
    await page.click('#d-trackers-edit button');
  };
  await setList(`${seedTracker}\n\nudp://127.0.0.1:9`);
  await until(`document.querySelectorAll('#d-trackers tbody tr').length === 2`, 'two trackers');
  assert.deepEqual(
    (await detail(hex)).trackers.map((t) => [t.url, t.tier]),
    [
      [seedTracker, 0],
      ['udp://127.0.0.1:9', 1],
    ],
  );
  await setList('ftp://127.0.0.1/x');
  await until(
    `document.querySelector('#d-trackers-edit .err').textContent.includes('not an http')`,
    'the refusal',
  );
  await setList(seedTracker);
  await until(`document.querySelectorAll('#d-trackers tbody tr').length === 1`, 'one tracker again');
  const info = await page.$eval('#d-info', (e) => e.textContent ?? '');
  assert.match(info, new RegExp(`Info hash${hex}`));
  assert.match(info, /Piece size16\.0 KiB × 35/);
  assert.match(info, new RegExp(`Save path${downloads.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const magnet = await page.$eval('#d-magnet', (e) => e.textContent ?? '');
  assert.match(magnet, new RegExp(`^magnet:\\?xt=urn:btih:${hex}&dn=album&tr=`));
  await shot('5-torrent');
  // Reloadable and bookmarkable: the same page after a reload.
  await page.reload();
  await until(`document.getElementById('d-name').textContent === 'album'`, 'the page after a reload');
  await until(
    `document.querySelectorAll('#d-files tbody tr[data-i]').length === 3`,
    'the files after a reload',
  );
});

test('the list: sort, filter, search; pause and resume by keyboard and toolbar; a limit on the selection', {
  skip,
}, async () => {
  const a = album.metainfo.infoHashHex;
  const s = single.metainfo.infoHashHex;
  await page.click('#detail-view a[href="#/"]');
  await until(`!document.getElementById('list-view').hidden`, 'the list');
  const order = (): Promise<string[]> =>
    page.$$eval('#rows tr', (trs) => trs.map((tr) => tr.getAttribute('data-h') ?? ''));
  await page.click('th[data-key=name] button');
  assert.deepEqual(await order(), [a, s]);
  await page.click('th[data-key=name] button');
  assert.deepEqual(await order(), [s, a]);
  await page.type('#search', 'sing');
  assert.deepEqual(await order(), [s]);
  await page.$eval('#search', (e) => {
    (e as unknown as { value: string }).value = '';
  });
  await page.select('#filter', 'paused');
  assert.deepEqual(await order(), []);
  await page.select('#filter', 'all');
  await page.evaluate('document.getElementById("search").dispatchEvent(new Event("input"))');
  assert.equal((await order()).length, 2);

  await page.click(`#rows tr[data-h="${s}"] .c-status`);
  await page.keyboard.press('p');
  await until(`${rowStatus(s)} === 'paused'`, 'paused by the p key');
  assert.equal((await detail(s)).status, 'paused');
  await page.click('#list-view [data-act=resume]');
  await until(`${rowStatus(s)} === 'seeding'`, 'resumed by the toolbar');
  // Ctrl+A selects both; pause all, resume all.
  await page.click('#list-view [data-act=pause-all]');
  await until(`${rowStatus(a)} === 'paused' && ${rowStatus(s)} === 'paused'`, 'pause all');
  await page.select('#filter', 'paused');
  assert.equal((await order()).length, 2);
  await page.select('#filter', 'all');
  await page.click('#list-view [data-act=resume-all]');
  await until(`${rowStatus(a)} === 'seeding' && ${rowStatus(s)} === 'seeding'`, 'resume all');

  // The queue: sorted by place (#), the album first (added first); the single moved to the top,
  // then to the bottom again; its record keeps the place.
  await page.click('th[data-key=queuePosition] button');
  assert.deepEqual(await order(), [a, s]);
  await page.click(`#rows tr[data-h="${s}"] .c-status`);
  await page.click('#list-view [data-act=queue-top]');
  await until(`document.querySelector('#rows tr').getAttribute('data-h') === '${s}'`, 'the single on top');
  assert.equal((await detail(s)).queuePosition, 1);
  assert.equal(await page.$eval(`#rows tr[data-h="${a}"] .c-queue`, (e) => e.textContent), '2');
  await page.click('#list-view [data-act=queue-bottom]');
  await until(
    `document.querySelector('#rows tr').getAttribute('data-h') === '${a}'`,
    'the single at the bottom',
  );
  assert.equal((await detail(a)).queuePosition, 1);

  await page.click(`#rows tr[data-h="${s}"] .c-status`);
  await page.click('#list-view [data-act=limits]');
  await page.type('#lim-up', '100');
  await page.click('#limits-form button');
  for (let i = 0; i < 100 && (await detail(s)).limits.uploadLimitBytesPerSec !== 102_400; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal((await detail(s)).limits.uploadLimitBytesPerSec, 102_400);
  await until(`document.getElementById('limits-form').hidden`, 'the limits form to close');

  // Shift+click selects a range.
  await page.click(`#rows tr[data-h="${a}"] .c-status`);
  await page.keyboard.down('Shift');
  await page.click(`#rows tr[data-h="${s}"] .c-status`);
  await page.keyboard.up('Shift');
  assert.equal(await page.$eval('#sel-count', (e) => e.textContent), '2 selected');
  await shot('6-list-selection');
  await phoneDarkShot('7-list-phone-dark', 'the page');
});

test('a .torrent dropped on the page is added; moved, rechecked, reannounced; removed by keyboard, data kept', {
  skip,
}, async () => {
  const hex = dropped.metainfo.infoHashHex;
  const b64 = dropped.torrentBytes.toString('base64');
  // What a browser does when a file is dragged from the desktop and dropped on the list.
  await page.evaluate(`(() => {
    const bytes = Uint8Array.from(atob('${b64}'), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.torrent', { type: 'application/x-bittorrent' }));
    const target = document.querySelector('#list-view');
    for (const type of ['dragenter', 'dragover', 'drop'])
      target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
  })()`);
  await until(`${rowStatus(hex)} === 'seeding'`, 'the dropped torrent to complete', 20_000);
  assert.deepEqual(await differences(dropped, downloads), []);
  await page.click('#add-cancel');

  // Move its data to another folder.
  const moved = join(downloads, 'moved');
  await page.click(`#rows tr[data-h="${hex}"] .c-status`);
  await page.keyboard.press('m');
  await page.$eval('#move-dir', (e) => {
    (e as unknown as { value: string }).value = '';
  });
  await page.type('#move-dir', moved);
  await page.click('#move-form button');
  await until(`document.getElementById('move-form').hidden`, 'the move form to close');
  const view = (await api('GET', `/torrents/${hex}`)).json as { dir: string; status: string };
  assert.equal(view.dir, moved);
  assert.deepEqual(await differences(dropped, moved), []);
  assert.equal(existsSync(join(downloads, 'dropped')), false);

  await page.click('#list-view [data-act=recheck]');
  await page.click('#list-view [data-act=reannounce]');
  await until(`${rowStatus(hex)} === 'seeding'`, 'seeding after a recheck');
  assert.equal(await page.$eval('#list-error', (e) => e.textContent), '');

  // Delete (keep the data), confirmed.
  page.once('dialog', (d) => {
    void d.accept();
  });
  await page.focus(`#rows tr[data-h="${hex}"]`);
  await page.keyboard.press('Delete');
  await until(`!document.querySelector('#rows tr[data-h="${hex}"]')`, 'the row to go');
  assert.deepEqual(await differences(dropped, moved), [], 'the data stays');
});

test('remove with data: its files go, nothing else does', { skip }, async () => {
  const a = album.metainfo.infoHashHex;
  await page.click(`#rows tr[data-h="${a}"] .c-status`);
  page.once('dialog', (d) => {
    void d.accept();
  });
  await page.click('#list-view [data-act=remove-data]');
  await until(`!document.querySelector('#rows tr[data-h="${a}"]')`, 'the row to go');
  // The row may go (event stream) before the files do: the notice comes with the API's reply.
  await until(`document.getElementById('toast').textContent.includes('data deleted')`, 'the removal notice');
  const notice = await page.$eval('#toast', (e) => e.textContent);
  assert.deepEqual(await listing(downloads), ['keep-me.txt', 'moved/dropped', 'single'], String(notice));
  assert.equal(notice, 'Removed 1, data deleted');
  const list = (await api('GET', '/torrents')).json as { torrents: { infoHash: string }[] };
  assert.deepEqual(
    list.torrents.map((t) => t.infoHash),
    [single.metainfo.infoHashHex],
  );
});

test('log out forgets the token; a bookmarked page with ?token= logs in again there', { skip }, async () => {
  const s = single.metainfo.infoHashHex;
  await page.click('#logout');
  await until(`!document.getElementById('login').hidden`, 'the login form');
  assert.equal(await page.evaluate('sessionStorage.getItem("bitswarm-token")'), null);
  const base = loginUrl.slice(0, loginUrl.indexOf('#'));
  await page.goto(`${base}#/torrents/${s}`);
  await page.reload();
  await until(`!document.getElementById('login').hidden`, 'the login form after a reload');
  await shot('0-login');
  await page.goto(`${base}#/torrents/${s}?token=${loginUrl.slice(-64)}`);
  await until(`document.getElementById('d-name').textContent === 'single'`, "the torrent's page");
  assert.equal(await page.evaluate('location.hash'), `#/torrents/${s}`);
  assert.deepEqual(errors, [], 'no script errors in the page');
});

test('a peer banned from the torrent page is disconnected and listed as banned', { skip }, async () => {
  const t = await makeTorrent(root, 'banme', [400_000], { single: true });
  const src = await seeder(t);
  const hex = t.metainfo.infoHashHex;
  const peer = `127.0.0.1:${src.port}`;
  try {
    // Slow enough to be connected when the ban comes.
    const r = await api('POST', '/torrents', {
      path: t.torrentPath,
      dir: join(downloads, 'ban'),
      peers: [peer],
      downloadLimitBytesPerSec: 20_000,
    });
    assert.equal(r.status, 201, r.text);
    await page.evaluate(`location.hash = '#/torrents/${hex}'`);
    await until(
      `document.querySelector('#d-peers button[data-ban="${peer}"]')`,
      'the seeder with a Ban button',
    );
    page.once('dialog', (d) => {
      void d.accept();
    });
    await page.click(`#d-peers button[data-ban="${peer}"]`);
    await until(`document.getElementById('d-banned').textContent === 'Banned: ${peer}'`, 'the banned list');
    await until(`!document.querySelector('#d-peers button[data-ban="${peer}"]')`, 'the seeder gone');
    assert.deepEqual(((await api('GET', `/torrents/${hex}`)).json as { bannedPeers: string[] }).bannedPeers, [
      peer,
    ]);
    assert.deepEqual(errors, [], 'no script errors in the page');
  } finally {
    await src.stop();
  }
});

const FFMPEG = '/usr/bin/ffmpeg';
const skipPlay = skip || skipUnlessCI(existsSync(FFMPEG) ? [] : [`ffmpeg (${FFMPEG})`]);

test('a media file plays in the page from its stream URL while the torrent downloads', {
  skip: skipPlay,
}, async () => {
  assertTools(existsSync(FFMPEG) ? [] : [`ffmpeg (${FFMPEG})`]);
  // A 4 s WebM (VP8, which every Chromium build decodes) beside a text file, downloaded slowly.
  const data = join(root, 'seed-movie', 'movie');
  await mkdir(data, { recursive: true });
  const clip = join(data, 'clip.webm');
  const made = spawnSync(
    FFMPEG,
    [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'testsrc=duration=4:size=160x120:rate=10',
      '-c:v',
      'libvpx',
      '-b:v',
      '200k',
      clip,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(made.status, 0, made.stderr);
  await writeFile(join(data, 'notes.txt'), 'not media');
  const created = await createTorrent(data, { pieceLength: 16384, creationDate: null, threads: 0 });
  const m = parseMetainfo(created.torrent);
  const torrentPath = join(root, 'movie.torrent');
  await writeFile(torrentPath, created.torrent);
  const src = await loopbackSession();
  await src.add(m, { dir: dirname(data) });
  const hex = m.infoHashHex;
  try {
    const r = await api('POST', '/torrents', {
      path: torrentPath,
      dir: join(downloads, 'movie'),
      peers: [`127.0.0.1:${src.port}`],
      downloadLimitBytesPerSec: 100_000,
    });
    assert.equal(r.status, 201, r.text);
    await page.evaluate(`location.hash = '#/torrents/${hex}'`);
    await until(`document.querySelectorAll('#d-files tbody tr[data-i]').length === 2`, 'the files');
    // Only the media file has a Play button.
    const playable = await page.$$eval('#d-files button[data-play]', (bs) =>
      bs.map((b) => b.getAttribute('aria-label')),
    );
    assert.deepEqual(playable, ['Play movie/clip.webm']);
    await page.click('#d-files button[data-play]');
    await until(`!document.getElementById('d-player').hidden`, 'the player');
    const url = await page.$eval('#d-video', (v) => (v as unknown as { src: string }).src);
    assert.match(url, /\/api\/v1\/torrents\/[0-9a-f]{40}\/files\/\d+\/stream\?sig=[0-9a-f]+$/);
    // The browser read the file's header from the stream: it knows its size and length.
    await until(
      `(() => { const v = document.getElementById('d-video'); return v.readyState >= 1 && v.videoWidth === 160; })()`,
      'the video metadata',
      30_000,
    );
    const duration = await page.$eval('#d-video', (v) => (v as unknown as { duration: number }).duration);
    assert.ok(duration > 3.5 && duration < 4.5, `duration ${duration}`);
    await shot('6-player');
    await page.click('#d-player-close');
    await until(`document.getElementById('d-player').hidden`, 'the player closed');
    assert.equal(await page.$eval('#d-video', (v) => v.getAttribute('src')), null);
    assert.deepEqual(errors, [], 'no script errors in the page');
  } finally {
    await src.stop();
  }
});

test("the session's page: statistics, and limits that the daemon keeps in its state directory", {
  skip,
}, async () => {
  await page.click('#session-link');
  await until(
    `location.hash === '#/session' && !document.getElementById('session-view').hidden`,
    'the session page',
  );
  await until(`document.getElementById('s-stats').textContent.includes('Listen port')`, 'the statistics');
  const s = (await api('GET', '/session')).json as { port: number; torrents: number };
  const text = await page.$eval('#s-stats', (e) => e.textContent ?? '');
  assert.match(text, new RegExp(`Listen port${s.port} \\(TCP and UDP\\)`));
  assert.match(text, new RegExp(`Torrents${s.torrents} \\(`));
  assert.match(text, /Port forwarding/);
  await shot('7-session');
  // The limits: set in the form, in effect at once (the API says so) and written to session.json.
  const set = async (id: string, v: string): Promise<void> => {
    await page.$eval(
      `#${id}`,
      (e, value) => {
        (e as unknown as { value: string }).value = value as string;
      },
      v,
    );
  };
  await set('s-down', '500');
  await set('s-up', '');
  await set('s-max-dl', '3');
  await set('s-max-seed', '7');
  await page.click('#s-limits button');
  interface Limits {
    downloadLimitBytesPerSec: number;
    uploadLimitBytesPerSec: number;
    maxActiveDownloads: number;
    maxActiveSeeds: number;
    maxConnections: number;
  }
  const limits = async (): Promise<Limits> =>
    ((await api('GET', '/session')).json as { limits: Limits }).limits;
  for (let i = 0; i < 100 && (await limits()).maxActiveDownloads !== 3; i++)
    await new Promise((r) => setTimeout(r, 50));
  const l = await limits();
  assert.equal(l.downloadLimitBytesPerSec, 512_000);
  assert.equal(l.uploadLimitBytesPerSec, 0);
  assert.equal(l.maxActiveDownloads, 3);
  assert.equal(l.maxActiveSeeds, 7);
  // Saved before the reply (the page then says so).
  await until(`document.getElementById('toast').textContent === 'Session limits saved'`, 'the saved toast');
  const saved = JSON.parse(await readFile(join(state, 'session.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(saved.downloadLimitBytesPerSec, 512_000);
  assert.equal(saved.maxActiveDownloads, 3);
  // A bad value is refused beside the form, and changes nothing.
  await set('s-max-conn', '0');
  await page.$eval('#s-limits', (f) => ((f as unknown as { noValidate: boolean }).noValidate = true));
  await page.click('#s-limits button');
  await until(
    `document.querySelector('#s-limits .err').textContent.startsWith('maxConnections: at least 1')`,
    'the error beside the form',
  );
  assert.ok((await limits()).maxConnections > 0);
  // Back to no limit, for the tests that follow.
  await set('s-down', '');
  await set('s-max-conn', '500');
  await page.click('#s-limits button');
  for (let i = 0; i < 100 && (await limits()).downloadLimitBytesPerSec !== 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal((await limits()).downloadLimitBytesPerSec, 0);
  await page.evaluate("location.hash = '#/'");
  await until(
    `!document.getElementById('list-view').hidden && document.getElementById('session-view').hidden`,
    'the list again',
  );
  assert.deepEqual(errors, [], 'no script errors in the page');
});

interface Settings {
  port: number;
  altSpeed: {
    enabled: boolean;
    uploadLimitBytesPerSec: number;
    downloadLimitBytesPerSec: number;
    schedule: { enabled: boolean; days: number[]; beginMinute: number; endMinute: number };
  };
  effectiveLimits: { uploadLimitBytesPerSec: number; downloadLimitBytesPerSec: number };
  discovery: { dht: boolean; lsd: boolean; pex: boolean };
  downloadDir: string;
  nextStart: { port: number; dht: boolean; lsd: boolean; pex: boolean };
  pendingRestart: string[];
}

test("the session's page: turtle speeds, their schedule, port, discovery and folder, kept over a restart", {
  skip,
}, async () => {
  const settings = async (): Promise<Settings> => {
    const r = await api('GET', '/session');
    assert.equal(r.status, 200, r.text);
    return r.json as Settings;
  };
  const savedJson = async (): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(join(state, 'session.json'), 'utf8')) as Record<string, unknown>;
  const set = async (id: string, v: string): Promise<void> => {
    await page.$eval(
      `#${id}`,
      (e, value) => {
        (e as unknown as { value: string }).value = value as string;
      },
      v,
    );
  };
  const check = async (selector: string, on: boolean): Promise<void> => {
    await page.$eval(
      selector,
      (e, value) => {
        (e as unknown as { checked: boolean }).checked = value as boolean;
      },
      on,
    );
  };
  const value = (id: string): Promise<string> =>
    page.$eval(`#${id}`, (e) => (e as unknown as { value: string }).value);
  const checked = (id: string): Promise<boolean> =>
    page.$eval(`#${id}`, (e) => (e as unknown as { checked: boolean }).checked);
  const formsFilled = `document.getElementById('s-alt').dataset.filled === 'yes' && document.getElementById('s-net').dataset.filled === 'yes'`;
  const toastSays = async (text: string, what: string): Promise<void> =>
    until(`document.getElementById('toast').textContent.startsWith(${JSON.stringify(text)})`, what, 30_000);
  const clearToast = (): Promise<unknown> =>
    page.evaluate(`document.getElementById('toast').textContent = ''`);

  await page.evaluate("location.hash = '#/session'");
  await until(formsFilled, 'the settings forms filled', 30_000);
  const first = await settings();
  // The forms show what the daemon keeps for its next start: --no-dht and --no-lsd are kept too.
  assert.equal(await value('s-port'), String(first.nextStart.port));
  assert.deepEqual(
    [await checked('s-dht'), await checked('s-lsd'), await checked('s-pex')],
    [false, false, true],
  );
  assert.equal(await value('s-dir'), downloads);
  assert.equal(await checked('s-alt-on'), false);
  assert.deepEqual(first.pendingRestart, []);
  assert.equal(await page.$eval('#s-restart', (e) => (e as unknown as { hidden: boolean }).hidden), true);

  // Turtle: slower limits, switched on, and a schedule whose window is now (a window that is not would
  // switch turtle off at once, as its end would), on yesterday, today and tomorrow (past midnight too).
  const now = new Date();
  const minute = now.getHours() * 60 + now.getMinutes();
  const begin = (minute + 1440 - 60) % 1440;
  const end = (minute + 120) % 1440;
  const hhmm = (m: number): string =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const days = [6, 0, 1].map((d) => (now.getDay() + d) % 7).sort((a, b) => a - b);
  await set('s-alt-down', '300');
  await set('s-alt-up', '100');
  await check('#s-alt-on', true);
  await check('#s-sched-on', true);
  await set('s-sched-begin', hhmm(begin));
  await set('s-sched-end', hhmm(end));
  for (let d = 0; d < 7; d++) await check(`#s-alt input[name=day][value="${d}"]`, days.includes(d));
  await clearToast();
  await page.click('#s-alt button');
  await toastSays('Turtle settings saved', 'the turtle settings saved');
  assert.equal(await page.$eval('#toast', (e) => e.textContent), 'Turtle settings saved: turtle on');
  const turtle = await settings();
  assert.deepEqual(turtle.effectiveLimits, {
    uploadLimitBytesPerSec: 102_400,
    downloadLimitBytesPerSec: 307_200,
  });
  assert.deepEqual(turtle.altSpeed, {
    enabled: true,
    uploadLimitBytesPerSec: 102_400,
    downloadLimitBytesPerSec: 307_200,
    schedule: { enabled: true, days, beginMinute: begin, endMinute: end },
  });
  const kept = await savedJson();
  assert.equal(kept.altSpeedEnabled, true);
  assert.equal(kept.altDownloadLimitBytesPerSec, 307_200);
  assert.equal(kept.altUploadLimitBytesPerSec, 102_400);
  assert.deepEqual(kept.altSpeedSchedule, { enabled: true, days, beginMinute: begin, endMinute: end });
  // The statistics say which limits are in force, and the quick switch shows turtle on.
  await until(
    `document.getElementById('s-stats').textContent.includes('Limits in force↓ 300.0 KiB/s · ↑ 100.0 KiB/s (turtle')`,
    'the limits in force in the statistics',
  );
  const stats = await page.$eval('#s-stats', (e) => e.textContent ?? '');
  assert.match(stats, new RegExp(`Turtleon; by the clock ${hhmm(begin)}–${hhmm(end)}, `));
  assert.match(stats, /Finding peersDHT off, LSD off, PEX on/);
  assert.equal(await page.$eval('#s-turtle', (e) => e.getAttribute('aria-pressed')), 'true');
  // A time left out is refused beside the form (the browser's own check off), and changes nothing.
  await set('s-sched-end', '');
  await page.$eval('#s-alt', (f) => ((f as unknown as { noValidate: boolean }).noValidate = true));
  await page.click('#s-alt button');
  await until(
    `document.querySelector('#s-alt .err').textContent === 'Schedule: give the time it begins and the time it ends'`,
    'the schedule error beside the form',
  );
  assert.equal(await page.evaluate('document.activeElement.id'), 's-sched-end');
  await set('s-sched-end', hhmm(end));
  // The API's refusal too: a limit below 0.
  await set('s-alt-down', '-5');
  await page.click('#s-alt button');
  await until(
    `document.querySelector('#s-alt .err').textContent.startsWith('altSpeed.downloadLimitBytesPerSec: ')`,
    'the API error beside the form',
  );
  const unchanged = await settings();
  assert.equal(unchanged.altSpeed.schedule.endMinute, end);
  assert.equal(unchanged.altSpeed.downloadLimitBytesPerSec, 307_200);
  await set('s-alt-down', '300');

  // Network and folders: a new port and PEX off wait for the next start; the folder is for the next add.
  const newPort = await freePort();
  const later = join(downloads, 'later');
  await set('s-port', String(newPort));
  await check('#s-pex', false);
  await set('s-dir', later);
  await clearToast();
  await page.click('#s-net button');
  await toastSays('Saved; some settings wait for a restart', 'the network settings saved');
  const net = await settings();
  assert.deepEqual(net.nextStart, { port: newPort, dht: false, lsd: false, pex: false });
  assert.equal(net.port, first.port, 'the port in use until the restart');
  assert.equal(net.discovery.pex, true, 'PEX runs until the restart');
  assert.deepEqual(net.pendingRestart, ['port', 'pex']);
  assert.equal(net.downloadDir, later);
  assert.equal((await stat(later)).isDirectory(), true, 'the folder is created');
  await until(`!document.getElementById('s-restart').hidden`, 'the restart notice');
  assert.equal(
    await page.$eval('#s-restart', (e) => e.textContent),
    'Takes effect after the daemon restarts: listen port, PEX',
  );
  const keptNet = await savedJson();
  assert.equal(keptNet.port, newPort);
  assert.equal(keptNet.pex, false);
  assert.equal(keptNet.downloadDir, later);
  // A folder outside the allowed ones is refused beside the form.
  await set('s-dir', '/etc');
  await page.click('#s-net button');
  await until(
    `document.querySelector('#s-net .err').textContent.startsWith('downloadDir: "/etc" is not inside an allowed folder')`,
    'the folder error beside the form',
  );
  assert.equal((await settings()).downloadDir, later);
  await set('s-dir', later);
  await page.$$eval('#s-alt .err, #s-net .err', (es) => {
    for (const e of es) e.textContent = '';
  });
  await shot('8-session-settings');
  await phoneDarkShot('8-session-settings-phone-dark', 'the session page');
  assert.deepEqual(errors, [], 'no script errors in the page');

  // Restart the daemon, without --port and -d (which would win over what it saved): it listens on the
  // saved port, with PEX off, turtle on at the alternative speeds, the new folder the default.
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  const again = await startDaemonJson({
    state,
    port: null,
    args: ['--no-lsd', '--allow-local-peers'],
    timeoutMs: 30_000,
  });
  daemon = again;
  const listening = again.lines.find((l) => l.event === 'listening');
  assert.equal(listening?.port, newPort);
  loginUrl = String(listening?.webUi);
  api = await daemonApi(state);
  // Really listening there (TCP).
  await new Promise<void>((res, rej) => {
    const c = connect(newPort, '127.0.0.1', () => {
      c.destroy();
      res();
    });
    c.once('error', rej);
  });
  const restarted = await settings();
  assert.equal(restarted.port, newPort);
  assert.deepEqual(restarted.discovery, { dht: false, lsd: false, pex: false });
  assert.equal(restarted.altSpeed.enabled, true);
  assert.deepEqual(restarted.effectiveLimits, {
    uploadLimitBytesPerSec: 102_400,
    downloadLimitBytesPerSec: 307_200,
  });
  assert.deepEqual(restarted.altSpeed.schedule, { enabled: true, days, beginMinute: begin, endMinute: end });
  assert.equal(restarted.downloadDir, later);
  assert.deepEqual(restarted.pendingRestart, []);
  // The web UI moved with the API (another port): logged in again by the new link, on the same page.
  await page.goto(loginUrl);
  await until(`!document.getElementById('app').hidden`, 'the app after the restart', 30_000);
  await page.evaluate("location.hash = '#/session'");
  await until(formsFilled, 'the settings forms filled after the restart', 30_000);
  assert.equal(await value('s-port'), String(newPort));
  assert.deepEqual(
    [await checked('s-dht'), await checked('s-lsd'), await checked('s-pex')],
    [false, false, false],
  );
  assert.equal(await value('s-dir'), later);
  assert.equal(await checked('s-alt-on'), true);
  assert.deepEqual([await value('s-alt-down'), await value('s-alt-up')], ['300', '100']);
  assert.equal(await checked('s-sched-on'), true);
  assert.deepEqual([await value('s-sched-begin'), await value('s-sched-end')], [hhmm(begin), hhmm(end)]);
  const ticked = await page.$$eval('#s-alt input[name=day]', (cs) =>
    cs
      .filter((c) => (c as unknown as { checked: boolean }).checked)
      .map((c) => Number((c as unknown as { value: string }).value))
      .sort((a, b) => a - b),
  );
  assert.deepEqual(ticked, days);
  assert.equal(await page.$eval('#s-restart', (e) => (e as unknown as { hidden: boolean }).hidden), true);
  const statsAfter = await page.$eval('#s-stats', (e) => e.textContent ?? '');
  assert.match(statsAfter, new RegExp(`Listen port${newPort} \\(TCP and UDP\\)`));
  assert.match(statsAfter, /Limits in force↓ 300\.0 KiB\/s · ↑ 100\.0 KiB\/s \(turtle/);
  assert.match(statsAfter, /Finding peersDHT off, LSD off, PEX off/);
  assert.match(
    statsAfter,
    new RegExp(`Default download folder${later.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
  );

  // Turtle off by the quick switch, the schedule off and PEX on again (for the next start), so that
  // the tests that follow run at full speed.
  await clearToast();
  await page.click('#s-turtle');
  await toastSays('Turtle off', 'turtle off');
  assert.equal(await checked('s-alt-on'), false, 'the form follows the quick switch');
  await check('#s-sched-on', false);
  await clearToast();
  await page.click('#s-alt button');
  await toastSays('Turtle settings saved', 'the schedule off');
  await check('#s-pex', true);
  await clearToast();
  await page.click('#s-net button');
  await toastSays('Saved; some settings wait for a restart', 'PEX on for the next start');
  const end2 = await settings();
  assert.equal(end2.altSpeed.enabled, false);
  assert.equal(end2.altSpeed.schedule.enabled, false);
  assert.deepEqual(end2.effectiveLimits, { uploadLimitBytesPerSec: 0, downloadLimitBytesPerSec: 0 });
  assert.deepEqual(end2.pendingRestart, ['pex']);
  await until(
    `document.getElementById('s-restart').textContent === 'Takes effect after the daemon restarts: PEX'`,
    'the restart notice for PEX',
  );
  assert.equal(await page.$eval('#s-turtle', (e) => e.getAttribute('aria-pressed')), 'false');
  await page.evaluate("location.hash = '#/'");
  await until(`!document.getElementById('list-view').hidden`, 'the list again');
  assert.deepEqual(errors, [], 'no script errors in the page');
});

test('a magnet whose files are chosen first: metadata, then the choice, then only the chosen files download', {
  skip,
}, async () => {
  const t = await makeTorrent(root, 'choose', [120_000, 90_000, 30_000]);
  const src = await seeder(t);
  const hex = t.metainfo.infoHashHex;
  try {
    const magnet = `magnet:?xt=urn:btih:${hex}&dn=choose&x.pe=127.0.0.1:${src.port}`;
    await page.click('#add-toggle');
    await page.$eval('#add-magnets', (e) => {
      (e as unknown as { value: string }).value = '';
    });
    await page.type('#add-magnets', magnet);
    await page.$eval(
      '#add-dir',
      (e, v) => {
        (e as unknown as { value: string }).value = v as string;
      },
      join(downloads, 'chosen'),
    );
    for (const id of ['add-paused', 'add-sequential'])
      if (await page.$eval(`#${id}`, (e) => (e as unknown as { checked: boolean }).checked))
        await page.click(`#${id}`);
    await page.click('#add-choose-magnet');
    await page.click('#add-submit');
    // Its page, which lists the files once the metadata is in; the torrent waits paused.
    await until(`location.hash === '#/torrents/${hex}'`, 'the torrent page');
    await until(
      `document.querySelectorAll('#d-files tbody tr[data-i]').length === 3`,
      'the files from the metadata',
      20_000,
    );
    await until(
      `document.getElementById('d-choose').textContent.startsWith('Choose the files')`,
      'the hint to choose',
    );
    assert.equal((await detail(hex)).status, 'paused');
    const before = (await api('GET', `/torrents/${hex}`)).json as {
      downloadedBytes: number;
      verifiedBytes: number;
    };
    assert.equal(before.verifiedBytes, 0, 'nothing downloaded before the choice');
    assert.deepEqual(await listing(join(downloads, 'chosen')), [], 'no file created before the choice');
    await shot('8-choose');
    // Skip the second file, then resume.
    await page.select('#d-files select[data-i="1"]', '0');
    for (let i = 0; i < 100 && (await detail(hex)).files[1]!.priority !== 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    await page.click('[data-dact=resume]');
    await until(
      `document.getElementById('d-summary').textContent.startsWith('seeding')`,
      'the chosen files',
      20_000,
    );
    assert.equal(await page.$eval('#d-choose', (e) => (e as unknown as { hidden: boolean }).hidden), true);
    const got = await listing(join(downloads, 'chosen'));
    assert.ok(got.includes('choose/f0.bin') && got.includes('choose/f2.bin'), `files: ${got}`);
    const f0 = await readFile(join(downloads, 'chosen', 'choose', 'f0.bin'));
    assert.ok(f0.equals(t.files[0]!.bytes));
    assert.deepEqual(errors, [], 'no script errors in the page');
  } finally {
    await src.stop();
  }
});
