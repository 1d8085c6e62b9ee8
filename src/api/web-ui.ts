// The web UI: a page, a style sheet and a script, served by the daemon at `/`, `/app.css` and
// `/app.js` (plain HTML/CSS/JS kept in these modules, so the package ships them with the compiled
// code and the daemon needs no files beside it). The script talks to the control API with the token
// from the login link (kept in the tab's sessionStorage, sent in a header, never in a cookie or URL).

import { WEB_UI_CSS } from './web-ui-css.js';
import { WEB_UI_JS } from './web-ui-js.js';

export const WEB_UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>bitswarm</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header class="top">
  <h1><a href="#/">bitswarm</a></h1>
  <span class="stats" id="stats" aria-live="off"></span>
  <span class="grow"></span>
  <a href="#/session" id="session-link" hidden>Session</a>
  <button type="button" id="add-toggle" hidden aria-controls="add" aria-expanded="false">Add…</button>
  <button type="button" id="logout" hidden>Log out</button>
</header>

<section id="login" class="panel narrow" hidden aria-labelledby="login-title">
  <h2 id="login-title">Log in</h2>
  <p>Open the link that <code>bitswarm daemon</code> printed when it started, or paste the token
  (the file <code>api-token</code> in its state directory).</p>
  <form id="login-form">
    <label for="token">Token</label>
    <input type="password" id="token" autocomplete="off" spellcheck="false" required>
    <button>Log in</button>
  </form>
  <p class="err" id="login-error" role="alert"></p>
</section>

<main id="app" hidden>
  <section id="add" class="panel" hidden aria-labelledby="add-title">
    <h2 id="add-title">Add torrents</h2>
    <form id="add-form">
      <div class="field">
        <label for="add-files">.torrent files (or drop them anywhere on the page)</label>
        <input type="file" id="add-files" accept=".torrent,application/x-bittorrent" multiple>
      </div>
      <div id="add-choose" class="field" hidden></div>
      <div class="field">
        <label for="add-magnets">Magnet links, one per line</label>
        <textarea id="add-magnets" rows="2" spellcheck="false" placeholder="magnet:?xt=urn:btih:…"></textarea>
      </div>
      <div class="field">
        <label for="add-dir">Download folder (empty: the daemon's default)</label>
        <input type="text" id="add-dir" spellcheck="false" placeholder="/home/me/Downloads">
      </div>
      <div class="row">
        <label><input type="checkbox" id="add-paused"> Start paused</label>
        <label><input type="checkbox" id="add-sequential"> Download in order (sequential)</label>
        <label><input type="checkbox" id="add-choose-magnet"> Magnet links: choose the files first</label>
      </div>
      <div class="row">
        <button id="add-submit">Add</button>
        <button type="button" id="add-cancel">Close</button>
      </div>
      <ul class="results" id="add-result" aria-live="polite"></ul>
    </form>
  </section>

  <section id="list-view" aria-label="Torrents">
    <div class="toolbar" role="toolbar" aria-label="Filter and actions">
      <label class="sr" for="filter">Show</label>
      <select id="filter">
        <option value="all">All</option>
        <option value="downloading">Downloading</option>
        <option value="seeding">Seeding</option>
        <option value="paused">Paused</option>
        <option value="error">Error</option>
      </select>
      <label class="sr" for="search">Search by name</label>
      <input type="search" id="search" placeholder="Search (/)">
      <span class="grow"></span>
      <span id="sel-count" class="muted"></span>
      <button type="button" data-act="resume" title="Resume the selection (r)">Resume</button>
      <button type="button" data-act="pause" title="Pause the selection (p)">Pause</button>
      <button type="button" data-act="recheck" title="Check the selection's data again">Recheck</button>
      <button type="button" data-act="reannounce" title="Ask the trackers for peers now">Reannounce</button>
      <button type="button" data-act="move" title="Move the selection's data (m)">Move…</button>
      <button type="button" data-act="limits" title="Speed limits of the selection (l)">Limits…</button>
      <button type="button" data-act="remove" title="Remove, keep the data (Delete)">Remove</button>
      <button type="button" data-act="remove-data" class="danger" title="Remove and delete the data (Shift+Delete)">Remove + data</button>
      <span class="group" role="group" aria-label="Queue order">
        <button type="button" data-act="queue-top" title="Move the selection to the top of the queue">⤒</button>
        <button type="button" data-act="queue-up" title="Move the selection up the queue">↑</button>
        <button type="button" data-act="queue-down" title="Move the selection down the queue">↓</button>
        <button type="button" data-act="queue-bottom" title="Move the selection to the bottom of the queue">⤓</button>
      </span>
      <button type="button" data-act="resume-all">Resume all</button>
      <button type="button" data-act="pause-all">Pause all</button>
    </div>
    <p class="err" id="list-error" role="alert"></p>
    <form id="move-form" class="panel inline" hidden>
      <label for="move-dir">Move the data of the selected torrents to</label>
      <input type="text" id="move-dir" spellcheck="false" required placeholder="/absolute/folder">
      <button>Move</button> <button type="button" class="cancel">Cancel</button>
      <p class="err" role="alert"></p>
    </form>
    <form id="limits-form" class="panel inline" hidden>
      <span>Limits of the selected torrents (0 or empty: none)</span>
      <label>↓ KiB/s <input type="number" min="0" step="1" id="lim-down"></label>
      <label>↑ KiB/s <input type="number" min="0" step="1" id="lim-up"></label>
      <label>Stop seeding at ratio <input type="number" min="0" step="0.1" id="lim-ratio"></label>
      <button>Apply</button> <button type="button" class="cancel">Cancel</button>
      <p class="err" role="alert"></p>
    </form>
    <div class="table-wrap">
      <table id="torrents" aria-multiselectable="true">
        <thead><tr>
          <th class="c-sel"><input type="checkbox" id="select-all" aria-label="Select all"></th>
          <th data-key="name" class="c-name"><button type="button">Name</button></th>
          <th data-key="status"><button type="button">Status</button></th>
          <th data-key="percent" class="c-prog"><button type="button">Progress</button></th>
          <th data-key="totalLength" class="num"><button type="button">Size</button></th>
          <th data-key="downloadRate" class="num"><button type="button">↓</button></th>
          <th data-key="uploadRate" class="num opt"><button type="button">↑</button></th>
          <th data-key="etaSec" class="num opt"><button type="button">ETA</button></th>
          <th data-key="peers" class="num opt"><button type="button">Peers</button></th>
          <th data-key="ratio" class="num opt"><button type="button">Ratio</button></th>
          <th data-key="addedAtMs" class="opt"><button type="button">Added</button></th>
          <th data-key="queuePosition" class="num opt"><button type="button" title="Place in the queue">#</button></th>
        </tr></thead>
        <tbody id="rows"></tbody>
      </table>
      <p id="empty" class="muted" hidden>No torrents here. Add some with “Add…”, or drop .torrent files on the page.</p>
    </div>
    <details class="help">
      <summary>Keyboard shortcuts</summary>
      <dl>
        <dt>a</dt><dd>add torrents</dd>
        <dt>/</dt><dd>search</dd>
        <dt>↑ ↓ (j k)</dt><dd>move the selection; with Shift, extend it</dd>
        <dt>Ctrl+A</dt><dd>select all shown</dd>
        <dt>Esc</dt><dd>clear the selection, close a form</dd>
        <dt>Enter</dt><dd>open the selected torrent's page</dd>
        <dt>p / r</dt><dd>pause / resume the selection</dd>
        <dt>m / l</dt><dd>move the data / set limits of the selection</dd>
        <dt>Delete (Backspace)</dt><dd>remove the selection (data kept), after a confirmation</dd>
        <dt>Shift+Delete</dt><dd>remove the selection and delete its data</dd>
      </dl>
      <p>Click selects one row, Ctrl (⌘) + click adds or drops a row, Shift + click selects a range.</p>
    </details>
  </section>

  <section id="session-view" hidden aria-labelledby="s-title">
    <p><a href="#/">← All torrents</a></p>
    <h2 id="s-title">Session</h2>
    <p class="err" id="s-error" role="alert"></p>
    <div class="toolbar">
      <button type="button" id="s-turtle" aria-pressed="false" title="Switch the alternative speeds on or off now">Turtle</button>
      <span class="muted" id="s-turtle-text"></span>
    </div>
    <h3>Statistics</h3>
    <dl class="info" id="s-stats"></dl>
    <h3>Limits</h3>
    <form id="s-limits" class="panel">
      <p class="muted">For every torrent together; 0 or empty is no limit. Kept in the state directory: in effect after a restart too.</p>
      <div class="field"><label for="s-down">Download, KiB/s</label><input type="number" id="s-down" name="down" min="0" step="1"></div>
      <div class="field"><label for="s-up">Upload, KiB/s</label><input type="number" id="s-up" name="up" min="0" step="1"></div>
      <div class="field"><label for="s-max-dl">Torrents downloading at once</label><input type="number" id="s-max-dl" name="maxDl" min="0" step="1" required></div>
      <div class="field"><label for="s-max-seed">Torrents seeding at once</label><input type="number" id="s-max-seed" name="maxSeed" min="0" step="1" required></div>
      <div class="field"><label for="s-max-conn">Peer connections in all</label><input type="number" id="s-max-conn" name="maxConn" min="1" step="1" required></div>
      <button>Save limits</button>
      <span class="err" role="alert"></span>
    </form>
    <h3 id="s-alt-title">Alternative speeds (turtle)</h3>
    <form id="s-alt" class="panel" aria-labelledby="s-alt-title">
      <p class="muted">Other limits for every torrent together, switched on by hand or by the clock; 0 or empty is no limit. In effect at once, and after a restart too.</p>
      <div class="row"><label><input type="checkbox" id="s-alt-on" name="on"> Turtle on: these limits apply now instead of the ones above</label></div>
      <div class="field"><label for="s-alt-down">Download, KiB/s</label><input type="number" id="s-alt-down" name="down" min="0" step="1"></div>
      <div class="field"><label for="s-alt-up">Upload, KiB/s</label><input type="number" id="s-alt-up" name="up" min="0" step="1"></div>
      <fieldset>
        <legend>Schedule</legend>
        <div class="row"><label><input type="checkbox" id="s-sched-on" name="schedOn"> Switch turtle on and off by the clock</label></div>
        <div class="row">
          <div class="field"><label for="s-sched-begin">From</label><input type="time" id="s-sched-begin" name="begin" required></div>
          <div class="field"><label for="s-sched-end">To</label><input type="time" id="s-sched-end" name="end" required></div>
        </div>
        <div class="row days" role="group" aria-label="On these days">
          <label><input type="checkbox" name="day" value="1"> Mon</label>
          <label><input type="checkbox" name="day" value="2"> Tue</label>
          <label><input type="checkbox" name="day" value="3"> Wed</label>
          <label><input type="checkbox" name="day" value="4"> Thu</label>
          <label><input type="checkbox" name="day" value="5"> Fri</label>
          <label><input type="checkbox" name="day" value="6"> Sat</label>
          <label><input type="checkbox" name="day" value="0"> Sun</label>
        </div>
        <p class="muted">Turtle goes on when the time comes on a day ticked, and off at the end; switched by hand in between, it stays so until the next change. An end before the beginning runs past midnight.</p>
      </fieldset>
      <button>Save turtle settings</button>
      <span class="err" role="alert"></span>
    </form>
    <h3 id="s-net-title">Network and folders</h3>
    <form id="s-net" class="panel" aria-labelledby="s-net-title">
      <p class="muted">The port and the ways to find peers are kept for the next start of the daemon; the folder is for the torrents added from now on (without a folder of their own).</p>
      <div class="field"><label for="s-port">Listen port (TCP and UDP)</label><input type="number" id="s-port" name="port" min="1" max="65535" step="1" required></div>
      <div class="row">
        <label><input type="checkbox" id="s-dht" name="dht"> DHT (peers without a tracker)</label>
        <label><input type="checkbox" id="s-lsd" name="lsd"> Local peer discovery (LSD)</label>
        <label><input type="checkbox" id="s-pex" name="pex"> Peer exchange (PEX)</label>
      </div>
      <div class="field"><label for="s-dir">Default download folder</label><input type="text" id="s-dir" name="dir" spellcheck="false" required></div>
      <p class="note" id="s-restart" role="status" hidden></p>
      <button>Save network and folders</button>
      <span class="err" role="alert"></span>
    </form>
  </section>

  <section id="detail-view" hidden aria-labelledby="d-name">
    <p><a href="#/">← All torrents</a></p>
    <h2 id="d-name"></h2>
    <p class="muted" id="d-summary"></p>
    <div class="toolbar" role="toolbar" aria-label="Torrent actions">
      <button type="button" data-dact="resume">Resume</button>
      <button type="button" data-dact="pause">Pause</button>
      <button type="button" data-dact="recheck">Recheck</button>
      <button type="button" data-dact="reannounce">Reannounce</button>
      <button type="button" data-dact="remove">Remove</button>
      <button type="button" data-dact="remove-data" class="danger">Remove + data</button>
    </div>
    <p class="err" id="d-error" role="alert"></p>
    <p class="note" id="d-choose" hidden role="status"></p>
    <h3>General</h3>
    <dl class="info" id="d-info"></dl>
    <h3>Pieces</h3>
    <canvas id="d-pieces" width="800" height="20" role="img" aria-describedby="d-pieces-text"></canvas>
    <p class="muted" id="d-pieces-text"></p>
    <h3>Files</h3>
    <div class="table-wrap"><table id="d-files">
      <thead><tr><th>Path</th><th class="num">Size</th><th>Progress</th><th>Priority</th><th><span class="sr-only">Play</span></th></tr></thead>
      <tbody></tbody>
    </table></div>
    <section id="d-player" class="panel" hidden aria-labelledby="d-player-title">
      <h3 id="d-player-title">Playing <span id="d-player-name"></span></h3>
      <video id="d-video" controls preload="metadata" hidden></video>
      <audio id="d-audio" controls preload="metadata" hidden></audio>
      <p class="muted">Plays while it downloads (pieces are fetched in the order it reads them). In another player (VLC, mpv):
        <a id="d-player-url" href="#" rel="noreferrer">stream URL</a>
        <button type="button" id="d-player-copy">Copy URL</button>
        <button type="button" id="d-player-close">Close</button></p>
      <p class="err" id="d-player-err" role="alert"></p>
    </section>
    <h3>Peers</h3>
    <div class="table-wrap"><table id="d-peers">
      <thead><tr><th>Address</th><th>Client</th><th class="num">↓</th><th class="num">↑</th><th>Seed</th><th>Encryption</th><th>Transport</th><th><span class="sr-only">Ban</span></th></tr></thead>
      <tbody></tbody>
    </table></div>
    <p class="muted" id="d-banned"></p>
    <form id="d-add-peer" class="panel inline">
      <label for="d-peer">Add a peer</label>
      <input type="text" id="d-peer" spellcheck="false" placeholder="host:port or [IPv6]:port" required>
      <button>Add</button>
      <p class="err" role="alert"></p>
    </form>
    <h3>Trackers</h3>
    <div class="table-wrap"><table id="d-trackers">
      <thead><tr><th>URL</th><th class="num">Tier</th><th>Status</th><th>Last result</th><th class="num">Seeders</th><th class="num">Leechers</th><th>Next announce</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <form id="d-trackers-edit" class="panel">
      <label for="d-tracker-list">Edit the trackers: one URL per line, a blank line between tiers</label>
      <textarea id="d-tracker-list" rows="4" spellcheck="false"></textarea>
      <button>Save trackers</button>
      <p class="err" role="alert"></p>
    </form>
    <h3>Limits</h3>
    <form id="d-limits" class="panel inline">
      <label>↓ KiB/s <input type="number" min="0" step="1" name="down"></label>
      <label>↑ KiB/s <input type="number" min="0" step="1" name="up"></label>
      <label>Stop seeding at ratio <input type="number" min="0" step="0.1" name="ratio"></label>
      <button>Save limits</button>
      <p class="err" role="alert"></p>
    </form>
    <h3>Location</h3>
    <form id="d-move" class="panel inline">
      <label for="d-move-dir">Move the data to</label>
      <input type="text" id="d-move-dir" spellcheck="false" required>
      <button>Move</button>
      <p class="err" role="alert"></p>
    </form>
  </section>
</main>
<div id="drop" hidden aria-hidden="true">Drop .torrent files to add them</div>
<p id="toast" role="status" aria-live="polite"></p>
</body>
</html>
`;

/** Scripts, styles and connections only from the daemon itself; no framing, no inline code. */
export const WEB_UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Path → what the daemon serves there. */
export const WEB_UI_FILES: ReadonlyMap<string, { type: string; body: string }> = new Map([
  ['/index.html', { type: 'text/html; charset=utf-8', body: WEB_UI_HTML }],
  ['/app.css', { type: 'text/css; charset=utf-8', body: WEB_UI_CSS }],
  ['/app.js', { type: 'text/javascript; charset=utf-8', body: WEB_UI_JS }],
]);
