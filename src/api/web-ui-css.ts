// The web UI's style sheet (served at /app.css): light or dark as the system says, usable at phone width.

export const WEB_UI_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --fg: #1d232b; --panel: #fff; --line: #e3e6eb; --muted: #6b7480;
  --accent: #2f7de1; --ok: #2ea44f; --err: #b42318; --sel: #dbe9fb; --head: #1d232b; --head-fg: #fff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #14171c; --fg: #e4e7ec; --panel: #1d2128; --line: #2e343d; --muted: #98a1ad;
    --accent: #5b9cf0; --ok: #4cc46c; --err: #ff7b6e; --sel: #233a58; --head: #0c0e11; --head-fg: #e4e7ec;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: var(--bg); color: var(--fg); }
a { color: var(--accent); }
.top { background: var(--head); color: var(--head-fg); padding: 8px 16px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; }
.top h1 { font-size: 18px; margin: 0; }
.top h1 a { color: inherit; text-decoration: none; }
.top .stats { opacity: .85; font-variant-numeric: tabular-nums; }
.top > a { color: var(--head-fg); }
.grow { flex: 1; }
main { padding: 12px 16px; max-width: 1400px; margin: 0 auto; }
h2 { font-size: 18px; margin: 8px 0; word-break: break-word; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 0 0 12px; }
.panel.narrow { max-width: 560px; margin: 48px auto; }
.panel.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.panel.inline .err { flex-basis: 100%; margin: 0; }
.field { display: flex; flex-direction: column; gap: 4px; margin-bottom: 10px; }
.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-bottom: 10px; }
input[type=text], input[type=password], input[type=search], input[type=number], input[type=time], textarea, select {
  font: inherit; color: inherit; background: var(--panel); padding: 5px 8px; border: 1px solid var(--line); border-radius: 4px;
}
input[type=number] { width: 7em; }
textarea { width: 100%; resize: vertical; }
fieldset { border: 1px solid var(--line); border-radius: 4px; margin: 0 0 10px; padding: 8px 12px 0; min-width: 0; }
legend { padding: 0 4px; font-weight: 600; }
.row .field { margin-bottom: 0; }
.days label { white-space: nowrap; }
#s-dir { max-width: 40em; }
#login-form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
#login-form input { flex: 1; min-width: 12em; }
button { font: inherit; color: inherit; padding: 5px 10px; border: 1px solid var(--line); border-radius: 4px; background: var(--panel); cursor: pointer; }
button:hover { border-color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
button.danger { color: var(--err); }
button[aria-pressed=true] { background: var(--sel); border-color: var(--accent); font-weight: 600; }
.top button { background: transparent; color: var(--head-fg); border-color: #ffffff55; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.toolbar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 0 0 8px; }
.toolbar .group { display: inline-flex; gap: 2px; }
.err { color: var(--err); min-height: 0; margin: 4px 0; white-space: pre-wrap; }
.err:empty { display: none; }
.muted { color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.table-wrap { overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: middle; }
th { font-weight: 600; }
th button { border: 0; background: none; padding: 0; font-weight: 600; }
th[aria-sort=ascending] button::after { content: " ▲"; }
th[aria-sort=descending] button::after { content: " ▼"; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.c-name { white-space: normal; word-break: break-word; min-width: 12em; }
td.c-name a { color: inherit; }
#rows tr { cursor: default; user-select: none; }
#rows tr[aria-selected=true] { background: var(--sel); }
#rows tr:focus { outline: 2px solid var(--accent); outline-offset: -2px; }
#d-files tr.folder td:first-child { font-weight: 600; }
.note { border-left: 4px solid var(--accent); padding: 6px 10px; background: var(--panel); }
#d-player video { width: 100%; max-height: 60vh; background: #000; display: block; }
#d-player audio { width: 100%; display: block; }
#d-player video[hidden], #d-player audio[hidden] { display: none; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
#d-tracker-list { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; display: block; margin: 4px 0; }
#d-pieces { width: 100%; height: 20px; display: block; background: var(--line); border-radius: 3px; }
progress { width: 110px; height: 10px; vertical-align: middle; accent-color: var(--accent); }
tr.s-seeding progress, tr.s-finished progress { accent-color: var(--ok); }
.status-error, .warn { color: var(--err); }
.warn { font-size: 12px; }
.help { margin: 12px 0; }
.help dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.help dt { font-family: ui-monospace, monospace; }
.help dd { margin: 0; }
.info { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.info dt { color: var(--muted); }
.info dd { margin: 0; word-break: break-all; }
.info code { font-size: 12px; }
.results { margin: 6px 0 0; padding-left: 18px; }
.results .ok { color: var(--ok); }
.results .bad { color: var(--err); }
#add-choose ul { list-style: none; padding: 0; margin: 4px 0; max-height: 240px; overflow: auto; }
#drop { position: fixed; inset: 0; background: #2f7de1cc; color: #fff; font-size: 24px; display: flex; align-items: center; justify-content: center; z-index: 10; }
#drop[hidden] { display: none; }
#toast { position: fixed; bottom: 12px; left: 50%; transform: translateX(-50%); background: var(--head); color: var(--head-fg); padding: 6px 14px; border-radius: 4px; margin: 0; }
#toast:empty { display: none; }
@media (max-width: 700px) {
  main { padding: 8px; }
  .opt { display: none; }
  progress { width: 48px; }
  td.c-name { min-width: 7em; }
  th, td { padding: 5px 4px; }
  .c-sel { width: 1px; }
  .toolbar input[type=search] { flex: 1; min-width: 8em; }
  .info { grid-template-columns: 1fr; }
}
`;
