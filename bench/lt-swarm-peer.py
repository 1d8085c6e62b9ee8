#!/usr/bin/python3
"""One libtorrent host of bench:swarm (bench/swarm.ts), a seeder or a leecher.

Usage: lt-swarm-peer.py --torrent FILE --dir DIR --bind ADDR [--port N]
Adds the torrent (its data checked in DIR: a seeder has it all) and stays in the swarm until killed.
Prints JSON lines with the wall-clock time in ms: {"event": "listening"}, {"event": "start"} once the
check is done, {"event": "progress", "uploaded": ..., "downloaded": ..., "verifiedBytes": ...} every
0.2 s, {"event": "complete"} when every piece is verified. The peers come from the torrent's tracker
only (and PEX): DHT, LSD, UPnP, NAT-PMP and uTP are off, as in bitswarm's run of the bench.
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def say(**kw):
    kw["time"] = int(time.time() * 1000)
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, default=6881)
    args = ap.parse_args()
    ses = lt.session({
        "listen_interfaces": "%s:%d" % (args.bind, args.port),
        "outgoing_interfaces": args.bind,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
        "user_agent": "lt-bench",
    })
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(args.torrent)
    params.save_path = args.dir
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    h = ses.add_torrent(params)
    deadline = time.time() + 10
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.05)
    say(event="listening", port=ses.listen_port())
    total = params.ti.total_size()
    started = complete = False
    while True:
        for a in ses.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                say(event="alert", message=a.message())
        st = h.status()
        checking = st.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
        if not started and not checking:
            started = True
            say(event="start", totalLength=total)
        if started and not complete and st.is_seeding:
            complete = True
            say(event="complete", uploaded=st.total_payload_upload, downloaded=st.total_payload_download)
        say(event="progress", verifiedBytes=st.total_wanted_done, uploaded=st.total_payload_upload,
            downloaded=st.total_payload_download, peers=st.num_peers)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
