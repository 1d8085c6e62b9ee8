#!/usr/bin/python3
"""A libtorrent peer for interop tests, driven by command-line arguments.

Usage: lt-peer.py --torrent FILE --dir DIR --port N [--peer HOST:PORT]... [--seed] [--exit-when-done]
                  [--log-trackers] [--log-peers] [--encryption forced|enabled|disabled]
                  [--transport tcp|utp|both]
Prints JSON lines: {"event": "listening", "port": N}, {"event": "progress", ...}, {"event": "complete"}.
--log-trackers adds {"event": "tracker", "kind": ..., "url": ..., "message": ...} per tracker alert
(announce sent, reply with its peer count, error); --log-peers adds {"event": "peer", "kind":
"connect"|"incoming"|"disconnect", "ip": ..., "port": ...}, so a test can see who dialled whom.
LSD, UPnP and NAT-PMP are off; it listens on 127.0.0.1 only. The DHT is off unless --dht-bootstrap
names its only bootstrap nodes; --dht-loopback then lifts libtorrent's guards against many DHT nodes
on one IP (every node of a test swarm is 127.0.0.1), and --dht-announce-every N re-announces the
torrent to the DHT every N seconds until a peer connects (libtorrent's own first announce may come
before its routing table has any node). --auto-managed adds the torrent with libtorrent's default
flags (auto-managed, started by the queue), as desktop clients do. --transport: TCP only (the
default), uTP only (TCP off both ways, as the uTP-only peers of the public swarm) or both (libtorrent's
own default: uTP dialled first); progress lines then count the connected peers by transport.
"""
import argparse
import json
import sys
import time
import warnings

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
    ap.add_argument("--dht-loopback", action="store_true")
    ap.add_argument("--auto-managed", action="store_true")
    ap.add_argument("--dht-announce-every", type=float, default=0)
    ap.add_argument("--log-trackers", action="store_true")
    ap.add_argument("--log-peers", action="store_true")
    ap.add_argument("--encryption", choices=["forced", "enabled", "disabled"], default="")
    ap.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp")
    args = ap.parse_args()

    mask = lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
    if args.log_trackers:
        mask |= lt.alert.category_t.tracker_notification
    if args.log_peers:
        mask |= lt.alert.category_t.connect_notification | lt.alert.category_t.peer_notification

    settings = {
        "listen_interfaces": "%s:%d" % (args.bind, args.port),
        "enable_dht": bool(args.dht_bootstrap),
        "dht_bootstrap_nodes": args.dht_bootstrap,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": args.transport != "tcp",
        "enable_outgoing_utp": args.transport != "tcp",
        "enable_incoming_tcp": args.transport != "utp",
        "enable_outgoing_tcp": args.transport != "utp",
        "allow_multiple_connections_per_ip": True,
        "alert_mask": mask,
        "user_agent": "lt-interop",
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
    }
    if args.dht_loopback:
        settings.update({
            # One routing-table entry per IP (and per /24) would keep a single node of the swarm.
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            # BEP 42 ids are computed from the external IP; loopback nodes have none to check.
            "dht_prefer_verified_node_ids": False,
            "dht_enforce_node_id": False,
        })
        settings["alert_mask"] |= lt.alert.category_t.dht_notification
    if args.encryption:
        # Protocol encryption both ways; "forced" with RC4 only is what a "require encryption" user runs.
        policy = int(getattr(lt.enc_policy, args.encryption))
        settings.update({"out_enc_policy": policy, "in_enc_policy": policy})
        if args.encryption == "forced":
            settings.update({"allowed_enc_level": int(lt.enc_level.rc4), "prefer_rc4": True})
    ses = lt.session(settings)
    params = lt.add_torrent_params()
    if args.torrent:
        params.ti = lt.torrent_info(args.torrent)
    else:
        params = lt.parse_magnet_uri(args.magnet)
    params.save_path = args.dir
    if not args.auto_managed:
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
    last_dht_announce = 0
    while time.time() - start < args.timeout:
        for a in ses.pop_alerts():
            if args.log_trackers and isinstance(a, lt.tracker_alert):
                say(event="tracker", kind=type(a).__name__, url=a.tracker_url(), message=a.message(),
                    peers=getattr(a, "num_peers", None))
                continue
            if args.log_peers and isinstance(a, (lt.peer_connect_alert, lt.incoming_connection_alert,
                                                 lt.peer_disconnected_alert)):
                kind = {"peer_connect_alert": "connect", "incoming_connection_alert": "incoming",
                        "peer_disconnected_alert": "disconnect"}[type(a).__name__]
                say(event="peer", kind=kind, ip=a.endpoint[0], port=a.endpoint[1], message=a.message())
                continue
            if a.category() & lt.alert.category_t.error_notification:
                say(event="alert", message=a.message())
            elif args.dht_loopback and a.category() & lt.alert.category_t.dht_notification:
                say(event="dht", type=type(a).__name__, message=a.message())
        st = h.status()
        if args.dht_announce_every and st.num_peers == 0 and time.time() - last_dht_announce > args.dht_announce_every:
            last_dht_announce = time.time()
            h.force_dht_announce()
        if st.state == lt.torrent_status.seeding or (st.is_seeding and not st.state == lt.torrent_status.checking_files):
            if not done_reported:
                say(event="complete", downloaded=st.total_payload_download, uploaded=st.total_payload_upload)
                done_reported = True
                if args.exit_when_done:
                    break
        if time.time() - last > 1:
            last = time.time()
            extra = {}
            if args.dht_loopback:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # session.status() is deprecated in 2.0
                        extra["dht_nodes"] = ses.status().dht_nodes
                except Exception:  # removed from some builds of the bindings
                    pass
            if args.transport != "tcp":
                infos = h.get_peer_info()
                utp = sum(1 for p in infos if int(p.flags) & (1 << 17))  # peer_info::utp_socket
                extra["utp_peers"] = utp
                extra["tcp_peers"] = len(infos) - utp
            say(event="progress", state=str(st.state), progress=st.progress, peers=st.num_peers,
                downloaded=st.total_payload_download, uploaded=st.total_payload_upload, **extra)
            for p in args.peer:
                if st.num_peers == 0 and not st.is_seeding:
                    host, port = p.rsplit(":", 1)
                    h.connect_peer((host.strip("[]"), int(port)))
        time.sleep(0.1)
    st = h.status()
    say(event="exit", downloaded=st.total_payload_download, uploaded=st.total_payload_upload, progress=st.progress)


if __name__ == "__main__":
    main()
