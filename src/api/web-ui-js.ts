// The web UI's script (served at /app.js): plain browser JavaScript, no build step and no library.
// Routes live in the fragment (`#/`, `#/torrents/<infoHash>`), so a page is bookmarkable and
// reloadable; a `?token=` in the fragment logs in and is stripped from the address bar at once.
// Live data comes from the API's event stream, read with fetch (the token goes in a header).
// Kept free of backticks and dollar-brace so that it can live in this template string.

export const WEB_UI_JS = String.raw`'use strict';
(function () {
  var API = '/api/v1';
  var TOKEN_KEY = 'bitswarm-token';
  var DIR_KEY = 'bitswarm-dir';
  var PRIORITIES = [['0', 'skip'], ['1', 'low'], ['4', 'normal'], ['7', 'high']];
  var $ = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem(TOKEN_KEY) || '';
  var torrents = new Map();      // infoHash -> view from the API
  var rowOf = new Map();         // infoHash -> <tr>
  var selected = new Set();
  var anchor = null;             // last clicked row (shift ranges start here)
  var sort = { key: 'addedAtMs', dir: -1 };
  var streamAbort = null;
  var detailHash = null;
  var detailBusy = false;
  var detailAt = 0;

  // ---------------------------------------------------------------- formatting
  function fmtBytes(n) {
    if (n === null || n === undefined) return '?';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : 1) : String(n)) + ' ' + u[i];
  }
  function fmtRate(n) { return n > 0 ? fmtBytes(n) + '/s' : '–'; }
  function fmtEta(s) {
    if (s === null || s === undefined) return '∞';
    if (s === 0) return '–';
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }
  // One row of the files tree: a file (data-i) or a folder (data-folder), indented by its depth.
  function fileRow(o) {
    var folder = o.folder !== undefined;
    var tr = el('tr', folder ? { 'data-folder': o.folder, class: 'folder' } : { 'data-i': String(o.index) });
    cells(tr, [[o.label], ['', 'num'], ['']]);
    tr.cells[0].style.paddingLeft = (0.4 + 1.2 * o.depth) + 'em';
    tr.cells[2].appendChild(el('progress', { max: '100' }));
    tr.cells[2].appendChild(el('span'));
    var td = el('td');
    var s = el('select', folder
      ? { 'data-folder': o.folder, 'aria-label': 'Priority of every file in ' + o.folder }
      : { 'data-i': String(o.index), 'aria-label': 'Priority of ' + o.label });
    if (folder) s.appendChild(el('option', { value: '', disabled: '' }, 'mixed'));
    PRIORITIES.forEach(function (p) { s.appendChild(el('option', { value: p[0] }, p[1])); });
    td.appendChild(s);
    td.appendChild(el('span', { class: 'err', role: 'alert' }));
    tr.appendChild(td);
    var play = el('td');
    if (!folder && mediaKind(o.label))
      play.appendChild(el('button', { type: 'button', 'data-play': String(o.index), 'aria-label': 'Play ' + o.label }, 'Play'));
    tr.appendChild(play);
    return tr;
  }

  // Media files get a Play button: the browser plays them from the daemon's stream URL (signed, so
  // the player needs no token header) while the torrent downloads.
  var MEDIA = /\.(mp4|m4v|webm|mkv|mov|ogv|avi)$|\.(mp3|m4a|aac|flac|wav|ogg|oga|opus)$/i;
  function mediaKind(name) {
    var m = MEDIA.exec(name);
    return m ? (m[1] ? 'video' : 'audio') : null;
  }
  function play(hash, index, name) {
    var err = $('d-player-err');
    err.textContent = '';
    call('GET', '/torrents/' + hash + '/files/' + index + '/stream-url').then(function (r) {
      stopPlayer();
      var kind = mediaKind(name);
      var media = $(kind === 'audio' ? 'd-audio' : 'd-video');
      $('d-player-name').textContent = name;
      $('d-player-url').href = r.url;
      $('d-player').hidden = false;
      media.hidden = false;
      media.src = r.url;
      media.focus();
    }, function (x) { $('d-player').hidden = false; showError(err, x); });
  }
  // Stops playing (its HTTP stream closes) and hides the player.
  function stopPlayer() {
    ['d-video', 'd-audio'].forEach(function (id) {
      var m = $(id);
      if (!m.getAttribute('src')) return;
      m.pause();
      m.removeAttribute('src');
      m.load();
      m.hidden = true;
    });
    $('d-player').hidden = true;
  }

  // The pieces as a bar: each column's colour is as strong as the share of its pieces verified.
  function drawPieces(d) {
    var canvas = $('d-pieces');
    var text = $('d-pieces-text');
    if (!d.pieceCount || d.pieces === null) {
      canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
      text.textContent = d.pieceCount ? '0 of ' + d.pieceCount + ' pieces verified (its data not checked yet)' : '(metadata not yet known)';
      return;
    }
    var bytes = atob(d.pieces);
    var has = function (i) { return (bytes.charCodeAt(i >> 3) >> (7 - (i & 7))) & 1; };
    var n = d.pieceCount;
    var w = canvas.width;
    var ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, w, canvas.height);
    ctx.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2f7de1';
    var have = 0;
    for (var i = 0; i < n; i++) have += has(i);
    for (var x = 0; x < w; x++) {
      var from = Math.floor((x * n) / w);
      var to = Math.max(from + 1, Math.floor(((x + 1) * n) / w));
      var got = 0;
      for (var p = from; p < to; p++) got += has(p);
      if (!got) continue;
      ctx.globalAlpha = got / (to - from);
      ctx.fillRect(x, 0, 1, canvas.height);
    }
    ctx.globalAlpha = 1;
    text.textContent = have + ' of ' + n + ' pieces verified';
  }

  function fmtDate(ms) { return ms ? new Date(ms).toLocaleString() : ''; }
  function prioName(p) { return p === 0 ? 'skip' : p >= 6 ? 'high' : p <= 2 ? 'low' : 'normal'; }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function toast(msg) {
    $('toast').textContent = msg;
    clearTimeout(toast.t);
    toast.t = setTimeout(function () { $('toast').textContent = ''; }, 4000);
  }
  function showError(node, err) { node.textContent = err ? (err.message || String(err)) : ''; }

  // ---------------------------------------------------------------- API
  function call(method, path, body) {
    var init = { method: method, headers: { authorization: 'Bearer ' + token } };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(API + path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (json) {
        if (res.status === 401) { logout('The token was refused: log in again.'); throw new Error('not logged in'); }
        if (!res.ok) throw new Error((json.error && json.error.message) || ('HTTP ' + res.status + ' ' + res.statusText));
        return json;
      });
    }, function () { throw new Error('the daemon does not answer (is it running?)'); });
  }

  // ---------------------------------------------------------------- log in / out
  function takeTokenFromLink() {
    var h = location.hash;
    var q = h.indexOf('?');
    if (q < 0 && h.indexOf('#token=') === 0) q = 0; // the older form, #token=…
    if (q < 0) return;
    var params = new URLSearchParams(h.slice(q + 1));
    var t = params.get('token');
    if (t === null) return;
    params.delete('token');
    var rest = params.toString();
    if (/^[0-9a-f]{64}$/.test(t)) { token = t; sessionStorage.setItem(TOKEN_KEY, t); }
    history.replaceState(null, '', location.pathname + location.search + h.slice(0, q) + (rest ? '?' + rest : ''));
  }
  function showLogin(msg) {
    $('app').hidden = true;
    $('add-toggle').hidden = true;
    $('session-link').hidden = true;
    $('logout').hidden = true;
    $('stats').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('token').focus();
  }
  function logout(msg) {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    if (streamAbort) streamAbort.abort();
    streamAbort = null;
    torrents.clear();
    selected.clear();
    showLogin(msg);
  }
  function open() {
    return refresh().then(function () {
      $('login').hidden = true;
      $('app').hidden = false;
      $('add-toggle').hidden = false;
      $('session-link').hidden = false;
      $('logout').hidden = false;
      route();
      stream();
    }, function (e) { if (token) showLogin(e.message); });
  }

  // ---------------------------------------------------------------- live data
  function stream() {
    if (streamAbort) streamAbort.abort();
    var ac = new AbortController();
    streamAbort = ac;
    var loop = function () {
      if (ac.signal.aborted || !token) return;
      fetch(API + '/events', { headers: { authorization: 'Bearer ' + token }, signal: ac.signal }).then(function (res) {
        if (res.status === 401) { logout('The token was refused: log in again.'); return; }
        var reader = res.body.getReader();
        var dec = new TextDecoder();
        var buf = '';
        var pump = function () {
          return reader.read().then(function (r) {
            if (r.done) return;
            buf += dec.decode(r.value, { stream: true });
            var i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              var chunk = buf.slice(0, i);
              buf = buf.slice(i + 2);
              var data = chunk.split('\n').filter(function (l) { return l.indexOf('data: ') === 0; })[0];
              if (data) onEvent(JSON.parse(data.slice(6)));
            }
            return pump();
          });
        };
        return pump();
      }).catch(function () { /* reconnects below */ }).then(function () {
        if (!ac.signal.aborted) setTimeout(loop, 2000);
      });
    };
    loop();
  }
  function onEvent(msg) {
    if (msg.torrents) setTorrents(msg.torrents);
    else refresh().catch(function () {});
    if (detailHash && (!msg.infoHash || msg.infoHash === detailHash)) loadDetail(false);
    loadSession(false);
    stats();
  }
  function refresh() {
    return call('GET', '/torrents').then(function (r) { setTorrents(r.torrents); stats(); });
  }
  function stats() {
    var down = 0, up = 0, n = 0;
    torrents.forEach(function (t) { down += t.downloadRate; up += t.uploadRate; n++; });
    $('stats').textContent = n + ' torrent' + (n === 1 ? '' : 's') + ' · ↓ ' + fmtRate(down) + ' · ↑ ' + fmtRate(up);
  }
  function setTorrents(list) {
    var seen = new Set();
    list.forEach(function (t) { torrents.set(t.infoHash, t); seen.add(t.infoHash); });
    Array.from(torrents.keys()).forEach(function (h) {
      if (!seen.has(h)) { torrents.delete(h); selected.delete(h); }
    });
    renderList();
  }

  // ---------------------------------------------------------------- list
  function group(t) {
    if (t.status === 'error' || t.error) return 'error';
    if (t.status === 'paused') return 'paused';
    if (t.status === 'seeding' || t.status === 'finished') return 'seeding';
    return 'downloading';
  }
  function shown() {
    var f = $('filter').value;
    var q = $('search').value.trim().toLowerCase();
    var out = [];
    torrents.forEach(function (t) {
      if (f !== 'all' && group(t) !== f) return;
      if (q && t.name.toLowerCase().indexOf(q) < 0) return;
      out.push(t);
    });
    var k = sort.key;
    out.sort(function (a, b) {
      var x = a[k], y = b[k];
      if (k === 'etaSec') { x = x === null ? Infinity : x; y = y === null ? Infinity : y; }
      var c = typeof x === 'string' ? x.localeCompare(y) : (x === null ? -1 : x) - (y === null ? -1 : y);
      return (c || a.name.localeCompare(b.name)) * sort.dir;
    });
    return out;
  }
  function makeRow(h) {
    var tr = el('tr', { 'data-h': h, tabindex: '-1', 'aria-selected': 'false' });
    var sel = el('td', { class: 'c-sel' });
    var box = el('input', { type: 'checkbox', 'aria-label': 'Select' });
    sel.appendChild(box);
    tr.appendChild(sel);
    var name = el('td', { class: 'c-name' });
    var a = el('a', { href: '#/torrents/' + h });
    name.appendChild(a);
    name.appendChild(el('div', { class: 'warn' }));
    tr.appendChild(name);
    tr.appendChild(el('td', { class: 'c-status' }));
    var prog = el('td', { class: 'c-prog' });
    prog.appendChild(el('progress', { max: '100' }));
    prog.appendChild(el('span'));
    tr.appendChild(prog);
    ['num', 'num', 'num opt', 'num opt', 'num opt', 'num opt', 'opt', 'num opt c-queue'].forEach(function (c) { tr.appendChild(el('td', { class: c })); });
    return tr;
  }
  function fillRow(tr, t) {
    var c = tr.cells;
    tr.className = 's-' + t.status;
    var on = selected.has(t.infoHash);
    tr.setAttribute('aria-selected', String(on));
    c[0].firstChild.checked = on;
    c[0].firstChild.setAttribute('aria-label', 'Select ' + t.name);
    c[1].firstChild.textContent = t.name;
    c[1].lastChild.textContent = t.error || (t.warnings && t.warnings[0]) || '';
    c[2].textContent = t.status;
    c[2].className = 'c-status' + (t.status === 'error' ? ' status-error' : '');
    c[3].firstChild.value = t.percent;
    c[3].firstChild.setAttribute('aria-label', t.percent.toFixed(1) + '% of ' + t.name);
    c[3].lastChild.textContent = ' ' + t.percent.toFixed(1) + '%';
    c[4].textContent = fmtBytes(t.totalLength);
    c[5].textContent = fmtRate(t.downloadRate);
    c[6].textContent = fmtRate(t.uploadRate);
    c[7].textContent = t.status === 'downloading' ? fmtEta(t.etaSec) : '–';
    c[8].textContent = String(t.peers);
    c[9].textContent = t.ratio.toFixed(2);
    c[10].textContent = fmtDate(t.addedAtMs);
    c[11].textContent = String(t.queuePosition);
  }
  function renderList() {
    var list = shown();
    var tbody = $('rows');
    var keep = new Set(list.map(function (t) { return t.infoHash; }));
    rowOf.forEach(function (tr, h) { if (!keep.has(h)) { tr.remove(); rowOf.delete(h); } });
    list.forEach(function (t, i) {
      var tr = rowOf.get(t.infoHash);
      if (!tr) { tr = makeRow(t.infoHash); rowOf.set(t.infoHash, tr); }
      fillRow(tr, t);
      // Moved only when out of place: moving a node would take the keyboard focus from it.
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
    $('empty').hidden = list.length > 0;
    document.querySelectorAll('#torrents th[data-key]').forEach(function (th) {
      if (th.dataset.key === sort.key) th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    var n = Array.from(selected).filter(function (h) { return keep.has(h); }).length;
    $('select-all').checked = list.length > 0 && n === list.length;
    $('select-all').indeterminate = n > 0 && n < list.length;
    $('sel-count').textContent = selected.size ? selected.size + ' selected' : '';
    document.querySelectorAll('#list-view [data-act]').forEach(function (b) {
      if (!/-all$/.test(b.dataset.act)) b.disabled = selected.size === 0;
    });
  }
  function selectOnly(h) { selected.clear(); if (h) selected.add(h); anchor = h; }
  function selectRange(to) {
    var order = shown().map(function (t) { return t.infoHash; });
    var i = order.indexOf(anchor), j = order.indexOf(to);
    if (i < 0) { selectOnly(to); return; }
    selected.clear();
    order.slice(Math.min(i, j), Math.max(i, j) + 1).forEach(function (h) { selected.add(h); });
  }
  function onRowClick(e) {
    var tr = e.target.closest('tr[data-h]');
    if (!tr || e.target.closest('a')) return;
    var h = tr.dataset.h;
    var box = e.target.type === 'checkbox';
    if (e.shiftKey) selectRange(h);
    else if (e.ctrlKey || e.metaKey || box) {
      if (selected.has(h)) selected.delete(h); else selected.add(h);
      anchor = h;
    } else selectOnly(h);
    renderList();
    tr.focus();
  }
  function moveSelection(step, extend) {
    var order = shown().map(function (t) { return t.infoHash; });
    if (!order.length) return;
    var cur = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.h : null;
    var i = order.indexOf(cur || anchor);
    var j = i < 0 ? (step > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, i + step));
    if (extend) { if (!anchor) anchor = order[j]; selected.add(order[j]); } else selectOnly(order[j]);
    renderList();
    rowOf.get(order[j]).focus();
  }

  // ---------------------------------------------------------------- actions
  function removeOne(h, withData) {
    return call('DELETE', '/torrents/' + h + (withData ? '?deleteData=1' : '')).then(function (r) {
      selected.delete(h);
      torrents.delete(h);
      return r;
    });
  }
  function each(hashes, fn) {
    return Promise.allSettled(hashes.map(fn)).then(function (rs) {
      var bad = [];
      rs.forEach(function (r, i) {
        if (r.status === 'rejected') {
          var t = torrents.get(hashes[i]);
          bad.push((t ? t.name : hashes[i]) + ': ' + r.reason.message);
        }
      });
      return refresh().catch(function () {}).then(function () {
        if (bad.length) throw new Error(bad.join('\n'));
        return rs;
      });
    });
  }
  function act(what) {
    var err = $('list-error');
    var hashes = Array.from(selected);
    var all = Array.from(torrents.keys());
    var done;
    if (what === 'pause-all' || what === 'resume-all') {
      done = each(all, function (h) { return call('POST', '/torrents/' + h + '/' + what.slice(0, -4)); });
    } else if (!hashes.length) return;
    else if (what === 'move') { openForm('move-form'); return; }
    else if (/^queue-/.test(what)) {
      // One at a time, in queue order (the last first when moving down), so that a selection keeps
      // its own order; then every row's place is read again.
      var move = what.slice(6);
      var byQueue = hashes.slice().sort(function (x, y) { return torrents.get(x).queuePosition - torrents.get(y).queuePosition; });
      if (move === 'down' || move === 'top') byQueue.reverse();
      done = byQueue.reduce(function (p, h) {
        return p.then(function () { return call('POST', '/torrents/' + h + '/queue', { move: move }); });
      }, Promise.resolve()).then(refresh);
    }
    else if (what === 'limits') { openForm('limits-form'); return; }
    else if (what === 'remove' || what === 'remove-data') {
      var withData = what === 'remove-data';
      var names = hashes.map(function (h) { return torrents.get(h) ? torrents.get(h).name : h; });
      var q = 'Remove ' + (names.length === 1 ? '"' + names[0] + '"' : names.length + ' torrents') +
        (withData ? ' and delete the data it downloaded? Files it did not create stay.' : '? The data stays on disk.');
      if (!confirm(q)) return;
      done = each(hashes, function (h) { return removeOne(h, withData); }).then(function (rs) {
        // What stayed, and why (a file that was there before, a symlink, a folder not empty…).
        var kept = [];
        rs.forEach(function (r) { if (r.value && r.value.kept) r.value.kept.forEach(function (k) { kept.push(k.path + ': ' + k.reason); }); });
        toast('Removed ' + hashes.length + (withData ? ', data deleted' + (kept.length ? '; kept ' + kept.join('; ') : '') : ''));
      });
    } else {
      done = each(hashes, function (h) { return call('POST', '/torrents/' + h + '/' + what); });
    }
    showError(err);
    done.catch(function (e) { showError(err, e); });
  }
  function openForm(id) {
    ['move-form', 'limits-form'].forEach(function (f) { $(f).hidden = f !== id; });
    var f = $(id);
    f.querySelector('.err').textContent = '';
    if (id === 'move-form') {
      var first = torrents.get(Array.from(selected)[0]);
      if (first && !$('move-dir').value) $('move-dir').value = first.dir;
    }
    f.querySelector('input').focus();
  }
  function kib(v) { return v === '' ? 0 : Math.round(Number(v) * 1024); }
  function limitsBody(down, up, ratio) {
    return {
      downloadLimitBytesPerSec: kib(down),
      uploadLimitBytesPerSec: kib(up),
      seedRatio: ratio === '' || Number(ratio) === 0 ? null : Number(ratio),
    };
  }

  // ---------------------------------------------------------------- add
  function readBase64(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(String(r.result).replace(/^data:[^,]*,/, '')); };
      r.onerror = function () { reject(new Error('cannot read ' + file.name)); };
      r.readAsDataURL(file);
    });
  }
  function addOptions() {
    var o = {};
    var dir = $('add-dir').value.trim();
    if (dir) o.dir = dir;
    if ($('add-paused').checked) o.paused = true;
    if ($('add-sequential').checked) o.sequential = true;
    return o;
  }
  function result(name, err) {
    var li = el('li', { class: err ? 'bad' : 'ok' }, name + (err ? ': ' + err.message : ': added'));
    $('add-result').appendChild(li);
  }
  function addFiles(files, priorities) {
    var o = addOptions();
    return Promise.all(files.map(function (f, i) {
      return readBase64(f).then(function (b64) {
        var body = Object.assign({ torrent: b64 }, o);
        if (priorities && priorities[i]) body.priorities = priorities[i];
        return call('POST', '/torrents', body);
      }).then(function () { result(f.name); }, function (e) { result(f.name, e); });
    }));
  }
  function addMagnets(text) {
    var o = addOptions();
    var links = text.split(/\s+/).filter(Boolean);
    return Promise.all(links.map(function (m) {
      var short = m.length > 60 ? m.slice(0, 60) + '…' : m;
      if (m.indexOf('magnet:') !== 0) { result(short, new Error('not a magnet link')); return null; }
      var choose = $('add-choose-magnet').checked;
      return call('POST', '/torrents', Object.assign({ magnet: m }, o, choose ? { chooseFiles: true } : {})).then(function (r) {
        result(short);
        if (!choose) return;
        // Its page shows the files once the metadata is in; the torrent waits paused until Resume.
        choosing.add(r.infoHash);
        if (links.length === 1) { showAdd(false); location.hash = '#/torrents/' + r.infoHash; }
      }, function (e) { result(short, e); });
    }));
  }
  // Magnets added to choose their files first: their page says what to do.
  var choosing = new Set();
  function chooseHint(d) {
    var hint = $('d-choose');
    var waiting = choosing.has(d.infoHash) && (d.status === 'fetching-metadata' || d.status === 'paused');
    if (choosing.has(d.infoHash) && !waiting) choosing.delete(d.infoHash);
    hint.hidden = !waiting;
    hint.textContent = !waiting ? '' : d.status === 'fetching-metadata'
      ? 'Fetching the metadata from peers; then choose the files to download.'
      : 'Choose the files to download (a priority per file or folder, skip for none), then Resume.';
  }
  function showAdd(on) {
    $('add').hidden = !on;
    $('add-toggle').setAttribute('aria-expanded', String(on));
    if (on) $('add-files').focus();
  }
  // Reads the file list of a .torrent (bencode) to offer the choice of files before it starts.
  function torrentFiles(bytes) {
    var i = 0;
    var dec = new TextDecoder();
    function num(end) { var j = bytes.indexOf(end, i); var n = Number(dec.decode(bytes.subarray(i, j))); i = j + 1; return n; }
    function val() {
      var c = bytes[i];
      if (c === 105) { i++; return num(101); }
      if (c === 108) { i++; var l = []; while (bytes[i] !== 101) l.push(val()); i++; return l; }
      if (c === 100) { i++; var d = {}; while (bytes[i] !== 101) { var k = dec.decode(val()); d[k] = val(); } i++; return d; }
      if (c >= 48 && c <= 57) { var n = num(58); var s = bytes.subarray(i, i + n); i += n; return s; }
      throw new Error('not a torrent file');
    }
    var root = val();
    var info = root && root.info;
    if (!info || !info.name) throw new Error('not a torrent file');
    if (!info.files) return [{ path: dec.decode(info.name), length: info.length }];
    return info.files.map(function (f) {
      var p = f['path.utf-8'] || f.path;
      return { path: p.map(function (x) { return dec.decode(x); }).join('/'), length: f.length, pad: f.attr && dec.decode(f.attr).indexOf('p') >= 0 };
    });
  }
  function offerChoice(files) {
    var box = $('add-choose');
    box.textContent = '';
    if (files.length !== 1) { box.hidden = true; return Promise.resolve(); }
    return files[0].arrayBuffer().then(function (buf) {
      var list;
      try { list = torrentFiles(new Uint8Array(buf)); } catch (e) { box.hidden = true; return; }
      if (list.length < 2) { box.hidden = true; return; }
      box.appendChild(el('span', null, 'Files to download'));
      var ul = el('ul');
      list.forEach(function (f, i) {
        if (f.pad) return;
        var li = el('li');
        var lab = el('label');
        var cb = el('input', { type: 'checkbox', 'data-i': String(i) });
        cb.checked = true;
        lab.appendChild(cb);
        lab.appendChild(document.createTextNode(' ' + f.path + ' (' + fmtBytes(f.length) + ')'));
        li.appendChild(lab);
        ul.appendChild(li);
      });
      box.appendChild(ul);
      box.dataset.count = String(list.length);
      box.hidden = false;
    });
  }
  function chosenPriorities() {
    var box = $('add-choose');
    if (box.hidden) return null;
    var p = [];
    for (var i = 0; i < Number(box.dataset.count); i++) p.push(4);
    box.querySelectorAll('input[data-i]').forEach(function (cb) { if (!cb.checked) p[Number(cb.dataset.i)] = 0; });
    return [p];
  }

  // ---------------------------------------------------------------- a torrent's page
  function route() {
    takeTokenFromLink();
    var m = /^#\/torrents\/([0-9a-fA-F]{40})/.exec(location.hash);
    var h = m ? m[1].toLowerCase() : null;
    if (h !== detailHash) stopPlayer();
    detailHash = h;
    sessionShown = !h && /^#\/session/.test(location.hash);
    $('list-view').hidden = !!detailHash || sessionShown;
    $('detail-view').hidden = !detailHash;
    $('session-view').hidden = !sessionShown;
    if (sessionShown) {
      document.title = 'Session · bitswarm';
      ['s-limits', 's-alt', 's-net'].forEach(function (id) { $(id).dataset.filled = ''; $(id).querySelector('.err').textContent = ''; });
      loadSession(true);
      return;
    }
    if (detailHash) {
      $('d-error').textContent = '';
      $('d-name').textContent = torrents.get(detailHash) ? torrents.get(detailHash).name : detailHash;
      document.querySelectorAll('#d-limits .err, #d-move .err, #d-add-peer .err').forEach(function (e) { e.textContent = ''; });
      $('d-limits').dataset.filled = '';
      $('d-trackers-edit').dataset.filled = '';
      $('d-move-dir').value = '';
      loadDetail(true);
    } else document.title = 'bitswarm';
  }
  // ---------------------------------------------------------------- the session's page
  var sessionShown = false;
  var sessionAt = 0;
  function loadSession(force) {
    if (!sessionShown || (!force && Date.now() - sessionAt < 1500)) return;
    sessionAt = Date.now();
    call('GET', '/session').then(renderSession, function (e) { showError($('s-error'), e); });
  }
  function renderSession(s) {
    if (!sessionShown) return;
    $('s-error').textContent = '';
    var dl = $('s-stats');
    dl.textContent = '';
    var add = function (k, v) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); };
    add('Torrents', s.torrents + ' (' + (s.downloading || 0) + ' downloading, ' + (s.seeding || 0) + ' seeding, ' + (s.paused || 0) + ' paused, ' + (s.queued || 0) + ' queued)');
    add('Download / upload rate', fmtRate(s.downloadRate || 0) + ' / ' + fmtRate(s.uploadRate || 0));
    add('Downloaded / uploaded', fmtBytes(s.downloadedBytes || 0) + ' / ' + fmtBytes(s.uploadedBytes || 0));
    add('Ratio', s.downloadedBytes ? (s.uploadedBytes / s.downloadedBytes).toFixed(2) : '–');
    add('Connected peers', String(s.peers || 0));
    add('DHT nodes', s.dhtNodes === undefined || (s.discovery && !s.discovery.dht) ? 'DHT off' : String(s.dhtNodes));
    add('Listen port', String(s.port) + ' (TCP and UDP)' + (s.nextStart && s.nextStart.port !== s.port ? '; ' + s.nextStart.port + ' after a restart' : ''));
    var pm = s.portMapping;
    add('Port forwarding', !pm ? 'off' : pm.mapping
      ? pm.mapping.method.toUpperCase() + ': ' + pm.mapping.externalIp + ':' + pm.mapping.externalPort + ' via ' + pm.mapping.gateway
      : pm.pending ? 'asking the router…' : 'no router answered');
    add('Encryption', s.encryption || '–');
    var turtle = s.altSpeed || { enabled: false, schedule: {} };
    var eff = s.effectiveLimits || s.limits;
    add('Limits in force', '↓ ' + fmtLimit(eff.downloadLimitBytesPerSec) + ' · ↑ ' + fmtLimit(eff.uploadLimitBytesPerSec) +
      (turtle.enabled ? ' (turtle: the alternative speeds)' : ''));
    add('Turtle', (turtle.enabled ? 'on' : 'off') + (turtle.schedule.enabled ? '; by the clock ' + scheduleText(turtle.schedule) : ''));
    if (s.discovery) {
      add('Finding peers', ['dht', 'lsd', 'pex'].map(function (k) { return SWITCH_NAMES[k] + (s.discovery[k] ? ' on' : ' off'); }).join(', '));
    }
    if (s.downloadDir) add('Default download folder', s.downloadDir);
    $('s-turtle').setAttribute('aria-pressed', String(!!turtle.enabled));
    $('s-turtle-text').textContent = turtle.enabled
      ? 'the alternative speeds apply (↓ ' + fmtLimit(turtle.downloadLimitBytesPerSec) + ' · ↑ ' + fmtLimit(turtle.uploadLimitBytesPerSec) + ')'
      : 'the normal limits apply';
    fillSettings(s);
    var f = $('s-limits');
    if (f.dataset.filled !== 'yes' && !f.contains(document.activeElement)) {
      var l = s.limits;
      f.elements.down.value = l.downloadLimitBytesPerSec ? String(Math.round(l.downloadLimitBytesPerSec / 1024)) : '';
      f.elements.up.value = l.uploadLimitBytesPerSec ? String(Math.round(l.uploadLimitBytesPerSec / 1024)) : '';
      f.elements.maxDl.value = String(l.maxActiveDownloads);
      f.elements.maxSeed.value = String(l.maxActiveSeeds);
      f.elements.maxConn.value = String(l.maxConnections);
      f.dataset.filled = 'yes';
    }
  }
  var SWITCH_NAMES = { port: 'listen port', dht: 'DHT', lsd: 'LSD', pex: 'PEX' };
  var DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  function fmtLimit(n) { return n ? fmtBytes(n) + '/s' : 'no limit'; }
  function hhmm(m) {
    var two = function (n) { return (n < 10 ? '0' : '') + n; };
    return two(Math.floor(m / 60)) + ':' + two(m % 60);
  }
  function minutes(v) {
    var m = /^(\d\d):(\d\d)/.exec(v);
    return m ? Number(m[1]) * 60 + Number(m[2]) : null;
  }
  function scheduleText(sc) {
    var days = sc.days.length === 7 ? 'every day' : sc.days.length ? sc.days.slice().sort(function (a, b) { return ((a + 6) % 7) - ((b + 6) % 7); }).map(function (d) { return DAY_NAMES[d]; }).join(', ') : 'no day';
    return hhmm(sc.beginMinute) + '–' + hhmm(sc.endMinute) + ', ' + days;
  }
  // The turtle form and the network form: what they show, as the API's fields.
  function altValues() {
    var f = $('s-alt');
    var days = [];
    f.querySelectorAll('input[name=day]').forEach(function (c) { if (c.checked) days.push(Number(c.value)); });
    days.sort(function (a, b) { return a - b; });
    return {
      enabled: f.elements.on.checked,
      downloadLimitBytesPerSec: kib(f.elements.down.value.trim()),
      uploadLimitBytesPerSec: kib(f.elements.up.value.trim()),
      schedule: {
        enabled: f.elements.schedOn.checked,
        days: days,
        beginMinute: minutes(f.elements.begin.value),
        endMinute: minutes(f.elements.end.value),
      },
    };
  }
  function netValues() {
    var f = $('s-net');
    return {
      port: f.elements.port.value === '' ? null : Number(f.elements.port.value),
      dht: f.elements.dht.checked,
      lsd: f.elements.lsd.checked,
      pex: f.elements.pex.checked,
      downloadDir: f.elements.dir.value.trim(),
    };
  }
  // Filled once per visit and after a save, not while the user edits them; each keeps what it showed
  // (data-was) so that a save sends only what the user changed (a turtle switched by the schedule
  // meanwhile is not switched back, a schedule not touched does not restart).
  function editing(form) {
    var at = document.activeElement;
    return form.contains(at) && at.tagName !== 'BUTTON'; // just saved: filled again from the reply
  }
  function fillSettings(s) {
    var a = $('s-alt');
    if (s.altSpeed && a.dataset.filled !== 'yes' && !editing(a)) {
      var alt = s.altSpeed;
      a.elements.on.checked = alt.enabled;
      a.elements.down.value = alt.downloadLimitBytesPerSec ? String(Math.round(alt.downloadLimitBytesPerSec / 1024)) : '';
      a.elements.up.value = alt.uploadLimitBytesPerSec ? String(Math.round(alt.uploadLimitBytesPerSec / 1024)) : '';
      a.elements.schedOn.checked = alt.schedule.enabled;
      a.elements.begin.value = hhmm(alt.schedule.beginMinute);
      a.elements.end.value = hhmm(alt.schedule.endMinute);
      a.querySelectorAll('input[name=day]').forEach(function (c) { c.checked = alt.schedule.days.indexOf(Number(c.value)) >= 0; });
      a.dataset.was = JSON.stringify(altValues());
      a.dataset.filled = 'yes';
    }
    var n = $('s-net');
    if (s.nextStart && n.dataset.filled !== 'yes' && !editing(n)) {
      n.elements.port.value = String(s.nextStart.port);
      n.elements.dht.checked = s.nextStart.dht;
      n.elements.lsd.checked = s.nextStart.lsd;
      n.elements.pex.checked = s.nextStart.pex;
      n.elements.dir.value = s.downloadDir || '';
      n.dataset.was = JSON.stringify(netValues());
      n.dataset.filled = 'yes';
    }
    var pending = s.pendingRestart || [];
    $('s-restart').hidden = !pending.length;
    $('s-restart').textContent = pending.length
      ? 'Takes effect after the daemon restarts: ' + pending.map(function (k) { return SWITCH_NAMES[k] || k; }).join(', ')
      : '';
  }
  // What differs from what the form showed (all of it when it showed nothing).
  function changed(now, wasJson) {
    var was = wasJson ? JSON.parse(wasJson) : {};
    var out = {};
    Object.keys(now).forEach(function (k) { if (JSON.stringify(now[k]) !== JSON.stringify(was[k])) out[k] = now[k]; });
    return out;
  }
  function saveSettings(f, body, done) {
    var err = f.querySelector('.err');
    err.textContent = '';
    call('PUT', '/session/settings', body).then(function (s) {
      f.dataset.filled = '';
      renderSession(s);
      toast(done(s));
    }, function (x) { showError(err, x); });
  }
  function loadDetail(force) {
    var h = detailHash;
    if (!h || detailBusy || (!force && Date.now() - detailAt < 1500)) return;
    detailBusy = true;
    detailAt = Date.now();
    call('GET', '/torrents/' + h).then(function (d) {
      if (h === detailHash) renderDetail(d);
    }, function (e) {
      if (h === detailHash) showError($('d-error'), e);
    }).then(function () { detailBusy = false; });
  }
  function cells(tr, values) { values.forEach(function (v) { var td = el('td', null, v[0]); if (v[1]) td.className = v[1]; tr.appendChild(td); }); }
  function renderDetail(d) {
    document.title = d.name + ' · bitswarm';
    chooseHint(d);
    $('d-name').textContent = d.name;
    $('d-summary').textContent = d.status + ' · ' + d.percent.toFixed(1) + '% of ' + fmtBytes(d.totalLength) +
      ' · ↓ ' + fmtRate(d.downloadRate) + ' · ↑ ' + fmtRate(d.uploadRate) + ' · ' + d.peers.length + ' peers · ratio ' + d.ratio.toFixed(2) +
      (d.error ? ' · ' + d.error : '');
    var info = $('d-info');
    info.textContent = '';
    var add = function (k, v, node) {
      info.appendChild(el('dt', null, k));
      var dd = el('dd');
      if (node) dd.appendChild(node); else dd.textContent = v;
      info.appendChild(dd);
    };
    var v2only = d.metaVersion === 'v2';
    add(v2only ? 'Info hash (v2, truncated)' : d.infoHashV2 ? 'Info hash v1' : 'Info hash', null, el('code', { id: 'd-hash' }, d.infoHash));
    if (d.infoHashV2) add('Info hash v2', null, el('code', { id: 'd-hash2' }, d.infoHashV2));
    add('Version', d.metaVersion === 'hybrid' ? 'hybrid (v1 + v2)' : d.metaVersion || '(metadata not yet known)');
    var mag = el('span');
    mag.appendChild(el('code', { id: 'd-magnet' }, d.magnet));
    mag.appendChild(document.createTextNode(' '));
    var copy = el('button', { type: 'button', id: 'd-copy' }, 'Copy');
    copy.addEventListener('click', function () {
      var done = function () { toast('Magnet link copied'); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(d.magnet).then(done, function () { selectText($('d-magnet')); });
      else { selectText($('d-magnet')); try { if (document.execCommand('copy')) done(); } catch (e) { /* selected: Ctrl+C */ } }
    });
    mag.appendChild(copy);
    add('Magnet link', null, mag);
    add('Comment', d.comment || '–');
    add('Created by', d.createdBy || '–');
    add('Created', d.creationDate ? fmtDate(d.creationDate * 1000) : '–');
    add('Piece size', d.pieceLength ? fmtBytes(d.pieceLength) + ' × ' + d.pieceCount : '(metadata not yet known)');
    add('Save path', d.dir);
    add('Size', fmtBytes(d.totalLength));
    add('Added', fmtDate(d.addedAtMs));
    add('Downloaded / uploaded', fmtBytes(d.downloadedBytes) + ' / ' + fmtBytes(d.uploadedBytes));
    add('Private', d.private ? 'yes (no DHT, no PEX)' : 'no');
    if (d.warnings && d.warnings.length) add('Warnings', d.warnings.join('; '));

    drawPieces(d);

    var fb = $('d-files').tBodies[0];
    // A tree: each folder's row (its files' progress, and a priority that sets them all) above its
    // files, in path order. Rows are built once per torrent and updated in place: a select being
    // used stays where it is.
    var key = d.infoHash + ':' + d.files.length;
    if (fb.dataset.key !== key) {
      fb.textContent = '';
      fb.dataset.key = key;
      var shownDirs = {};
      d.files.slice().sort(function (a, b) { return a.path < b.path ? -1 : a.path > b.path ? 1 : 0; }).forEach(function (f) {
        var parts = f.path.split('/');
        for (var depth = 1; depth < parts.length; depth++) {
          var dir = parts.slice(0, depth).join('/');
          if (shownDirs[dir]) continue;
          shownDirs[dir] = true;
          fb.appendChild(fileRow({ folder: dir, depth: depth - 1, label: parts[depth - 1] + '/' }));
        }
        fb.appendChild(fileRow({ index: f.index, depth: parts.length - 1, label: f.path }));
      });
    }
    var byIndex = {};
    d.files.forEach(function (f) { byIndex[f.index] = f; });
    Array.from(fb.rows).forEach(function (tr) {
      var fs = tr.dataset.folder !== undefined
        ? d.files.filter(function (f) { return f.path.indexOf(tr.dataset.folder + '/') === 0; })
        : [byIndex[tr.dataset.i]].filter(Boolean);
      var len = 0, got = 0;
      fs.forEach(function (f) { len += f.length; got += f.verifiedBytes; });
      var pct = len ? (100 * got) / len : 100;
      tr.cells[1].textContent = fmtBytes(len);
      tr.cells[2].firstChild.value = pct;
      tr.cells[2].lastChild.textContent = ' ' + pct.toFixed(1) + '%';
      var s = tr.querySelector('select');
      var names = fs.map(function (f) { return prioName(f.priority); }).filter(function (n, i, all) { return all.indexOf(n) === i; });
      var value = names.length === 1 ? PRIORITIES.filter(function (p) { return p[1] === names[0]; })[0][0] : '';
      if (document.activeElement !== s) s.value = value;
    });

    var pb = $('d-peers').tBodies[0];
    pb.textContent = '';
    if (!d.peers.length) { var none = el('tr'); none.appendChild(el('td', { colspan: '8', class: 'muted' }, 'no connected peers')); pb.appendChild(none); }
    d.peers.forEach(function (p) {
      var tr = el('tr');
      cells(tr, [[p.address], [p.client || '?'], [fmtRate(p.downloadRate), 'num'], [fmtRate(p.uploadRate), 'num'], [p.seed ? 'yes' : 'no'], [p.encryption], [p.transport === 'utp' ? 'uTP' : 'TCP']]);
      var td = el('td');
      td.appendChild(el('button', { type: 'button', 'data-ban': p.address, 'aria-label': 'Ban ' + p.address }, 'Ban'));
      tr.appendChild(td);
      pb.appendChild(tr);
    });
    $('d-banned').textContent = d.bannedPeers && d.bannedPeers.length ? 'Banned: ' + d.bannedPeers.join(', ') : '';

    var tb = $('d-trackers').tBodies[0];
    tb.textContent = '';
    if (!d.trackers.length) { var no = el('tr'); no.appendChild(el('td', { colspan: '7', class: 'muted' }, 'no trackers (peers come from DHT, PEX, LSD)')); tb.appendChild(no); }
    d.trackers.forEach(function (t) {
      var tr = el('tr');
      var n = function (v) { return v === null || v === undefined ? '–' : String(v); };
      cells(tr, [[t.url], [String(t.tier), 'num'], [t.status, t.status === 'error' ? 'status-error' : ''], [t.lastError || t.lastResult || '–'],
        [n(t.seeders), 'num'], [n(t.leechers), 'num'], [t.nextAnnounceAtMs ? new Date(t.nextAnnounceAtMs).toLocaleTimeString() : '–']]);
      tb.appendChild(tr);
    });

    // The tracker list as text, filled once per visit (not while the user edits it).
    var te = $('d-trackers-edit');
    if (!te.dataset.filled && !te.contains(document.activeElement)) {
      var tiers = [];
      d.trackers.forEach(function (t) { (tiers[t.tier] = tiers[t.tier] || []).push(t.url); });
      $('d-tracker-list').value = tiers.filter(Boolean).map(function (t) { return t.join('\n'); }).join('\n\n');
      te.dataset.filled = '1';
    }

    var lf = $('d-limits');
    if (!lf.dataset.filled && !lf.contains(document.activeElement)) {
      lf.elements.down.value = d.limits.downloadLimitBytesPerSec ? String(d.limits.downloadLimitBytesPerSec / 1024) : '';
      lf.elements.up.value = d.limits.uploadLimitBytesPerSec ? String(d.limits.uploadLimitBytesPerSec / 1024) : '';
      lf.elements.ratio.value = d.limits.seedRatio === null ? '' : String(d.limits.seedRatio);
      lf.dataset.filled = '1';
    }
    if (!$('d-move-dir').value && document.activeElement !== $('d-move-dir')) $('d-move-dir').value = d.dir;
    var paused = d.status === 'paused' || d.status === 'finished' || d.status === 'error';
    document.querySelector('[data-dact=resume]').disabled = !paused;
    document.querySelector('[data-dact=pause]').disabled = paused;
  }
  function selectText(node) {
    var r = document.createRange();
    r.selectNodeContents(node);
    var s = getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }
  function detailAct(what) {
    var h = detailHash;
    var err = $('d-error');
    showError(err);
    var p;
    if (what === 'remove' || what === 'remove-data') {
      var withData = what === 'remove-data';
      if (!confirm('Remove "' + $('d-name').textContent + '"' + (withData ? ' and delete the data it downloaded?' : '? The data stays on disk.'))) return;
      p = removeOne(h, withData).then(function () { toast('Removed'); location.hash = '#/'; });
    } else p = call('POST', '/torrents/' + h + '/' + what).then(function () { loadDetail(true); refresh(); });
    p.catch(function (e) { showError(err, e); });
  }

  // ---------------------------------------------------------------- wiring
  function wire() {
    $('login-form').addEventListener('submit', function (e) {
      e.preventDefault();
      token = $('token').value.trim();
      $('token').value = '';
      sessionStorage.setItem(TOKEN_KEY, token);
      open();
    });
    $('logout').addEventListener('click', function () { logout('Logged out.'); });
    $('add-toggle').addEventListener('click', function () { showAdd($('add').hidden); });
    $('add-cancel').addEventListener('click', function () { showAdd(false); });
    $('add-dir').value = localStorage.getItem(DIR_KEY) || '';
    $('add-files').addEventListener('change', function () { offerChoice(Array.from($('add-files').files)); });
    $('add-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var files = Array.from($('add-files').files);
      var magnets = $('add-magnets').value.trim();
      $('add-result').textContent = '';
      if (!files.length && !magnets) { result('Nothing to add', new Error('choose .torrent files or paste magnet links')); return; }
      var dir = $('add-dir').value.trim();
      if (dir) localStorage.setItem(DIR_KEY, dir); else localStorage.removeItem(DIR_KEY);
      $('add-submit').disabled = true;
      Promise.all([addFiles(files, chosenPriorities()), addMagnets(magnets)]).then(function () {
        $('add-submit').disabled = false;
        var bad = $('add-result').querySelector('.bad');
        if (!bad) { $('add-files').value = ''; $('add-magnets').value = ''; $('add-choose').hidden = true; }
        refresh().catch(function () {});
      });
    });
    var depth = 0;
    var hasFiles = function (e) { return e.dataTransfer && Array.from(e.dataTransfer.types).indexOf('Files') >= 0; };
    document.addEventListener('dragenter', function (e) { if (token && hasFiles(e)) { depth++; $('drop').hidden = false; } });
    document.addEventListener('dragleave', function () { if (--depth <= 0) { depth = 0; $('drop').hidden = true; } });
    document.addEventListener('dragover', function (e) { if (hasFiles(e)) e.preventDefault(); });
    document.addEventListener('drop', function (e) {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      $('drop').hidden = true;
      if (!token) return;
      var files = Array.from(e.dataTransfer.files).filter(function (f) { return /\.torrent$/i.test(f.name) || f.type === 'application/x-bittorrent'; });
      showAdd(true);
      $('add-result').textContent = '';
      if (!files.length) { result('Dropped files', new Error('no .torrent file among them')); return; }
      addFiles(files).then(function () { refresh().catch(function () {}); });
    });

    $('filter').addEventListener('change', renderList);
    $('search').addEventListener('input', renderList);
    document.querySelectorAll('#torrents th[data-key] button').forEach(function (b) {
      b.addEventListener('click', function () {
        var k = b.parentElement.dataset.key;
        if (sort.key === k) sort.dir = -sort.dir; else sort = { key: k, dir: k === 'name' || k === 'status' || k === 'queuePosition' ? 1 : -1 };
        renderList();
      });
    });
    $('select-all').addEventListener('change', function () {
      if ($('select-all').checked) shown().forEach(function (t) { selected.add(t.infoHash); }); else selected.clear();
      renderList();
    });
    $('rows').addEventListener('click', onRowClick);
    $('rows').addEventListener('dblclick', function (e) {
      var tr = e.target.closest('tr[data-h]');
      if (tr && e.target.type !== 'checkbox') location.hash = '#/torrents/' + tr.dataset.h;
    });
    document.querySelectorAll('#list-view [data-act]').forEach(function (b) {
      b.addEventListener('click', function () { act(b.dataset.act); });
    });
    document.querySelectorAll('#list-view form .cancel').forEach(function (b) {
      b.addEventListener('click', function () { b.closest('form').hidden = true; });
    });
    $('move-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var dir = $('move-dir').value.trim();
      var err = $('move-form').querySelector('.err');
      each(Array.from(selected), function (h) { return call('POST', '/torrents/' + h + '/move', { dir: dir }); })
        .then(function () { $('move-form').hidden = true; toast('Moved to ' + dir); }, function (x) { showError(err, x); });
    });
    $('limits-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $('limits-form').querySelector('.err');
      var body = limitsBody($('lim-down').value, $('lim-up').value, $('lim-ratio').value);
      each(Array.from(selected), function (h) { return call('PUT', '/torrents/' + h + '/limits', body); })
        .then(function () { $('limits-form').hidden = true; toast('Limits set'); }, function (x) { showError(err, x); });
    });

    document.querySelectorAll('[data-dact]').forEach(function (b) {
      b.addEventListener('click', function () { detailAct(b.dataset.dact); });
    });
    $('d-files').addEventListener('click', function (e) {
      var b = e.target.closest ? e.target.closest('button[data-play]') : null;
      if (b) play(detailHash, Number(b.dataset.play), b.closest('tr').cells[0].textContent);
    });
    $('d-player-close').addEventListener('click', stopPlayer);
    $('s-limits').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = $('s-limits');
      var err = f.querySelector('.err');
      err.textContent = '';
      var kib = function (v) { return v === '' ? 0 : Math.round(Number(v) * 1024); };
      call('PUT', '/session/limits', {
        downloadLimitBytesPerSec: kib(f.elements.down.value),
        uploadLimitBytesPerSec: kib(f.elements.up.value),
        maxActiveDownloads: Number(f.elements.maxDl.value),
        maxActiveSeeds: Number(f.elements.maxSeed.value),
        maxConnections: Number(f.elements.maxConn.value),
      }).then(function (s) { f.dataset.filled = ''; renderSession(s); toast('Session limits saved'); }, function (x) { showError(err, x); });
    });
    $('s-alt').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = $('s-alt');
      var now = altValues();
      var body = changed(now, f.dataset.was);
      // The limits go every time (harmless); the switch and the schedule only when changed.
      body.downloadLimitBytesPerSec = now.downloadLimitBytesPerSec;
      body.uploadLimitBytesPerSec = now.uploadLimitBytesPerSec;
      if (body.schedule && (body.schedule.beginMinute === null || body.schedule.endMinute === null)) {
        showError(f.querySelector('.err'), new Error('Schedule: give the time it begins and the time it ends'));
        (body.schedule.beginMinute === null ? f.elements.begin : f.elements.end).focus();
        return;
      }
      saveSettings(f, { altSpeed: body }, function (s) { return 'Turtle settings saved: turtle ' + (s.altSpeed.enabled ? 'on' : 'off'); });
    });
    $('s-net').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = $('s-net');
      saveSettings(f, changed(netValues(), f.dataset.was), function (s) {
        return s.pendingRestart && s.pendingRestart.length ? 'Saved; some settings wait for a restart of the daemon' : 'Network and folders saved';
      });
    });
    $('s-turtle').addEventListener('click', function () {
      var on = $('s-turtle').getAttribute('aria-pressed') !== 'true';
      call('PUT', '/session/settings', { altSpeed: { enabled: on } }).then(function (s) {
        // The form shows the switch as it is now (what it showed is updated too: nothing to save).
        var a = $('s-alt');
        a.elements.on.checked = s.altSpeed.enabled;
        if (a.dataset.was) { var was = JSON.parse(a.dataset.was); was.enabled = s.altSpeed.enabled; a.dataset.was = JSON.stringify(was); }
        renderSession(s);
        toast(s.altSpeed.enabled ? 'Turtle on' : 'Turtle off');
      }, function (x) { showError($('s-error'), x); });
    });
    $('d-player-copy').addEventListener('click', function () {
      var url = $('d-player-url').href;
      (navigator.clipboard ? navigator.clipboard.writeText(url) : Promise.reject(new Error('no clipboard')))
        .then(function () { toast('Stream URL copied'); }, function () { window.prompt('Stream URL', url); });
    });
    $('d-player-url').addEventListener('click', function (e) {
      // The link is for other players (copy it, or open it in a new tab): here the player above plays it.
      if (!e.ctrlKey && !e.metaKey && !e.shiftKey) e.preventDefault();
    });
    $('d-files').addEventListener('change', function (e) {
      var s = e.target;
      if (s.tagName !== 'SELECT') return;
      var err = s.parentElement.querySelector('.err');
      err.textContent = '';
      var files = s.dataset.folder !== undefined
        ? Array.from($('d-files').querySelectorAll('tr[data-i]')).filter(function (tr) {
          return tr.cells[0].textContent.indexOf(s.dataset.folder + '/') === 0;
        }).map(function (tr) { return Number(tr.dataset.i); })
        : [Number(s.dataset.i)];
      call('PUT', '/torrents/' + detailHash + '/priorities', { files: files, priority: Number(s.value) })
        .then(function (d) { s.blur(); renderDetail(d); toast('Priority: ' + prioName(Number(s.value))); }, function (x) { showError(err, x); });
    });
    $('d-limits').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = $('d-limits');
      var err = f.querySelector('.err');
      err.textContent = '';
      call('PUT', '/torrents/' + detailHash + '/limits', limitsBody(f.elements.down.value, f.elements.up.value, f.elements.ratio.value))
        .then(function (d) { f.dataset.filled = ''; renderDetail(d); toast('Limits saved'); }, function (x) { showError(err, x); });
    });
    $('d-move').addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $('d-move').querySelector('.err');
      err.textContent = '';
      call('POST', '/torrents/' + detailHash + '/move', { dir: $('d-move-dir').value.trim() })
        .then(function () { toast('Moved'); loadDetail(true); }, function (x) { showError(err, x); });
    });

    $('d-peers').addEventListener('click', function (e) {
      var peer = e.target.dataset && e.target.dataset.ban;
      if (!peer || !confirm('Ban ' + peer + '? It is disconnected and never connected again for this torrent.')) return;
      call('POST', '/torrents/' + detailHash + '/ban', { peer: peer })
        .then(function (d) { renderDetail(d); toast('Banned ' + peer); }, function (x) { showError($('d-error'), x); });
    });

    $('d-trackers-edit').addEventListener('submit', function (e) {
      e.preventDefault();
      var f = $('d-trackers-edit');
      var err = f.querySelector('.err');
      err.textContent = '';
      var tiers = $('d-tracker-list').value.split(/\n\s*\n/).map(function (block) {
        return block.split('\n').map(function (l) { return l.trim(); }).filter(Boolean);
      }).filter(function (t) { return t.length; });
      call('PUT', '/torrents/' + detailHash + '/trackers', { tiers: tiers })
        .then(function (d) { f.dataset.filled = ''; $('d-tracker-list').blur(); renderDetail(d); toast('Trackers saved'); }, function (x) { showError(err, x); });
    });

    $('d-add-peer').addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $('d-add-peer').querySelector('.err');
      err.textContent = '';
      var peers = $('d-peer').value.split(/[\s,]+/).filter(Boolean);
      call('POST', '/torrents/' + detailHash + '/peers', { peers: peers })
        .then(function () { $('d-peer').value = ''; toast(peers.length === 1 ? 'Peer added' : peers.length + ' peers added'); loadDetail(true); }, function (x) { showError(err, x); });
    });

    document.addEventListener('keydown', onKey);
    window.addEventListener('hashchange', function () { if (token) route(); else { takeTokenFromLink(); if (token) open(); } });
  }
  function onKey(e) {
    if ($('app').hidden) return;
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) && e.target.type !== 'checkbox';
    if (e.key === 'Escape') {
      if (typing) e.target.blur();
      var open = Array.from(document.querySelectorAll('#move-form, #limits-form')).filter(function (f) { return !f.hidden; });
      if (open.length) open.forEach(function (f) { f.hidden = true; });
      else if (!$('add').hidden) showAdd(false);
      else { selected.clear(); renderList(); }
      return;
    }
    if (typing || e.altKey) return;
    var mod = e.ctrlKey || e.metaKey;
    if (detailHash) return;
    var k = e.key;
    if (mod && k.toLowerCase() === 'a') { e.preventDefault(); shown().forEach(function (t) { selected.add(t.infoHash); }); renderList(); return; }
    if (mod) return;
    if (k === 'a') { e.preventDefault(); showAdd(true); }
    else if (k === '/') { e.preventDefault(); $('search').focus(); }
    else if (k === 'ArrowDown' || k === 'j') { e.preventDefault(); moveSelection(1, e.shiftKey); }
    else if (k === 'ArrowUp' || k === 'k') { e.preventDefault(); moveSelection(-1, e.shiftKey); }
    else if (k === 'Enter' && selected.size === 1) { location.hash = '#/torrents/' + Array.from(selected)[0]; }
    else if (k === 'p') act('pause');
    else if (k === 'r') act('resume');
    else if (k === 'm') { e.preventDefault(); act('move'); }
    else if (k === 'l') { e.preventDefault(); act('limits'); }
    else if (k === 'Delete' || k === 'Backspace') act(e.shiftKey ? 'remove-data' : 'remove');
  }

  function start() {
    wire();
    takeTokenFromLink();
    if (token) open(); else showLogin();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
`;
