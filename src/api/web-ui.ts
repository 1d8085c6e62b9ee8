// The web UI: one self-contained page served by the daemon at `/`. It talks to the control API with
// the token the user pastes once (kept in the tab's sessionStorage, never in a cookie), lists the
// torrents with live progress from the event stream, and adds, pauses, resumes and removes them.

export const WEB_UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bitswarm</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
  header { background: #1d232b; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  header .stats { opacity: .8; }
  main { padding: 16px; max-width: 1100px; margin: 0 auto; }
  form { display: flex; gap: 8px; margin-bottom: 16px; }
  input[type=text], input[type=password] { flex: 1; padding: 6px 8px; border: 1px solid #c7ccd4; border-radius: 4px; }
  button { padding: 6px 12px; border: 1px solid #c7ccd4; border-radius: 4px; background: #fff; cursor: pointer; }
  table { width: 100%; border-collapse: collapse; background: #fff; border-radius: 6px; overflow: hidden; }
  th, td { text-align: left; padding: 8px; border-bottom: 1px solid #eceef2; white-space: nowrap; }
  td.name { white-space: normal; word-break: break-all; }
  .bar { width: 140px; height: 8px; background: #eceef2; border-radius: 4px; overflow: hidden; display: inline-block; vertical-align: middle; }
  .bar > div { height: 100%; background: #2f7de1; }
  .seeding .bar > div { background: #2ea44f; }
  .error { color: #b42318; }
  #login { max-width: 520px; margin: 60px auto; background: #fff; padding: 20px; border-radius: 6px; }
  .muted { color: #6b7480; }
</style>
</head>
<body>
<header><h1>bitswarm</h1><span class="stats" id="stats"></span></header>
<div id="login" hidden>
  <p>Paste the daemon's token (the file <code>api-token</code> in its state directory).</p>
  <form id="login-form"><input type="password" id="token" autocomplete="off" placeholder="token"><button>Open</button></form>
  <p class="error" id="login-error"></p>
</div>
<main id="app" hidden>
  <form id="add-form">
    <input type="text" id="magnet" placeholder="magnet:?xt=urn:btih:… or a .torrent path on the daemon's machine">
    <input type="text" id="dir" placeholder="download folder (optional)">
    <button>Add</button>
  </form>
  <p class="error" id="app-error"></p>
  <table>
    <thead><tr><th>Name</th><th>Status</th><th>Done</th><th>Size</th><th>↓</th><th>↑</th><th>Peers</th><th>Ratio</th><th></th></tr></thead>
    <tbody id="rows"><tr><td colspan="9" class="muted">no torrents</td></tr></tbody>
  </table>
</main>
<script>
'use strict';
const api = '/api/v1';
let token = sessionStorage.getItem('bitswarm-token') || '';
const $ = (id) => document.getElementById(id);
const fmtBytes = (n) => { if (n == null) return '?'; const u = ['B','KiB','MiB','GiB','TiB']; let i = 0; while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; } return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + u[i]; };
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
async function call(method, path, body) {
  const res = await fetch(api + path, { method, headers: { authorization: 'Bearer ' + token, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) { showLogin('wrong token'); throw new Error('wrong token'); }
  if (!res.ok) throw new Error((json.error && json.error.message) || ('HTTP ' + res.status));
  return json;
}
function showLogin(msg) { $('app').hidden = true; $('login').hidden = false; $('login-error').textContent = msg || ''; }
function render(torrents) {
  const rows = $('rows');
  if (!torrents.length) { rows.innerHTML = '<tr><td colspan="9" class="muted">no torrents</td></tr>'; return; }
  rows.innerHTML = torrents.map((t) => '<tr class="' + esc(t.status) + '">' +
    '<td class="name">' + esc(t.name) + (t.error ? '<div class="error">' + esc(t.error) + '</div>' : '') + '</td>' +
    '<td>' + esc(t.status) + '</td>' +
    '<td><span class="bar"><div style="width:' + Math.min(100, t.percent) + '%"></div></span> ' + t.percent.toFixed(1) + '%</td>' +
    '<td>' + fmtBytes(t.totalLength) + '</td><td>' + fmtBytes(t.downloadRate) + '/s</td><td>' + fmtBytes(t.uploadRate) + '/s</td>' +
    '<td>' + t.peers + '</td><td>' + t.ratio.toFixed(2) + '</td>' +
    '<td>' + (t.status === 'paused' || t.status === 'finished' || t.status === 'error'
      ? '<button data-act="resume" data-h="' + t.infoHash + '">Resume</button>'
      : '<button data-act="pause" data-h="' + t.infoHash + '">Pause</button>') +
    ' <button data-act="rm" data-h="' + t.infoHash + '">Remove</button></td></tr>').join('');
}
async function stream() {
  // fetch, not EventSource: the token goes in a header, never in a URL.
  while (token) {
    try {
      const res = await fetch(api + '/events', { headers: { authorization: 'Bearer ' + token } });
      if (res.status === 401) { showLogin('wrong token'); return; }
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\\n\\n')) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = chunk.split('\\n').find((l) => l.startsWith('data: '));
          if (!data) continue;
          const msg = JSON.parse(data.slice(6));
          if (msg.torrents) render(msg.torrents); else refresh();
        }
      }
    } catch (e) { /* reconnect below */ }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
async function refresh() {
  const [{ torrents }, s] = await Promise.all([call('GET', '/torrents'), call('GET', '/session')]);
  render(torrents);
  $('stats').textContent = 'port ' + s.port + ' · ' + s.torrents + ' torrents · ↓ ' + fmtBytes(s.downloadRate) + '/s · ↑ ' + fmtBytes(s.uploadRate) + '/s · ' + s.peers + ' peers';
}
async function open() {
  try { await refresh(); } catch (e) { if (!$('login').hidden) return; showLogin(e.message); return; }
  $('login').hidden = true; $('app').hidden = false;
  setInterval(() => refresh().catch(() => {}), 5000);
  stream();
}
$('login-form').addEventListener('submit', (e) => { e.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('bitswarm-token', token); open(); });
$('add-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const v = $('magnet').value.trim(); const dir = $('dir').value.trim();
  if (!v) return;
  try {
    await call('POST', '/torrents', { ...(v.startsWith('magnet:') ? { magnet: v } : { path: v }), ...(dir ? { dir } : {}) });
    $('magnet').value = ''; $('app-error').textContent = ''; refresh();
  } catch (err) { $('app-error').textContent = err.message; }
});
$('rows').addEventListener('click', async (e) => {
  const b = e.target.closest('button'); if (!b) return;
  const h = b.dataset.h, act = b.dataset.act;
  try {
    if (act === 'rm') { if (!confirm('Remove this torrent? (its files stay on disk)')) return; await call('DELETE', '/torrents/' + h); }
    else await call('POST', '/torrents/' + h + '/' + act);
    refresh();
  } catch (err) { $('app-error').textContent = err.message; }
});
// A link may carry the token in its fragment (never sent to a server): take it and clean the URL.
const m = /(?:^#|&)token=([0-9a-f]{64})/.exec(location.hash);
if (m) { token = m[1]; sessionStorage.setItem('bitswarm-token', token); history.replaceState(null, '', location.pathname); }
if (token) open(); else showLogin();
</script>
</body>
</html>
`;
