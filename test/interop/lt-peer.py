#!/usr/bin/python3
"""A libtorrent peer for interop tests, driven by command-line arguments.

Usage: lt-peer.py --torrent FILE --dir DIR --port N [--peer HOST:PORT]... [--seed] [--exit-when-done]
Prints JSON lines: {"event": "listening", "port": N}, {"event": "progress", ...}, {"event": "complete"}.
DHT, LSD, UPnP and NAT-PMP are off; it listens on 127.0.0.1 only.
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def say(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent")
    ap.add_argument("--magnet")
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--peer", action="append", default=[])
    ap.add_argument("--exit-when-done", action="store_true")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--dht-bootstrap", default="")
    ap.add_argument("--tracker-only", action="store_true")
    args = ap.parse_args()

    settings = {
        "listen_interfaces": "%s:%d" % (args.bind, args.port),
        "enable_dht": bool(args.dht_bootstrap),
        "dht_bootstrap_nodes": args.dht_bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        "user_agent": "lt-interop",
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
    }
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    if args.torrent:
        params.ti = lt.torrent_info(args.torrent)
    else:
        params = lt.parse_magnet_uri(args.magnet)
    params.save_path = args.dir
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(params)

    # wait for the listen socket
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.05)
    say(event="listening", port=ses.listen_port())

    for p in args.peer:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)))

    start = time.time()
    done_reported = False
    last = 0
    while time.time() - start < args.timeout:
        for a in ses.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                say(event="alert", message=a.message())
        st = h.status()
        if st.state == lt.torrent_status.seeding or (st.is_seeding and not st.state == lt.torrent_status.checking_files):
            if not done_reported:
                say(event="complete", downloaded=st.total_payload_download, uploaded=st.total_payload_upload)
                done_reported = True
                if args.exit_when_done:
                    break
        if time.time() - last > 1:
            last = time.time()
            say(event="progress", state=str(st.state), progress=st.progress, peers=st.num_peers,
                downloaded=st.total_payload_download, uploaded=st.total_payload_upload)
            for p in args.peer:
                if st.num_peers == 0 and not st.is_seeding:
                    host, port = p.rsplit(":", 1)
                    h.connect_peer((host.strip("[]"), int(port)))
        time.sleep(0.1)
    st = h.status()
    say(event="exit", downloaded=st.total_payload_download, uploaded=st.total_payload_upload, progress=st.progress)


if __name__ == "__main__":
    main()
