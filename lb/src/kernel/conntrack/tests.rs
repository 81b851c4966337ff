//! Conntrack's events through the real kernel, in a network namespace of its own.
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

use super::event::{ctnetlink, IPCTNL_MSG_CT_DELETE};
use super::*;
use crate::kernel::netlink::{Message, NLM_F_ACK, NLM_F_REQUEST};
use crate::kernel::nft::testing::{in_netns, load, FIREWALL};

/// Ends every connection conntrack tracks in the caller's namespace (a delete without a
/// tuple is a flush), so that their destroy events come now rather than after their
/// timeouts (TIME_WAIT: 120 s).
fn flush() -> io::Result<()> {
    let mut socket = Socket::open(NETLINK_NETFILTER)?;
    let family = libc::AF_INET as u8;
    let m = Message::new(
        ctnetlink(IPCTNL_MSG_CT_DELETE),
        NLM_F_REQUEST | NLM_F_ACK,
        &[family, 0, 0, 0],
    );
    socket.transact(&[m]).map(drop)
}

/// A TCP connection on 127.0.0.1 that carried 1000 bytes one way and 500 back, still open:
/// its two ends and their addresses (client, server).
fn exchange() -> (TcpStream, TcpStream, SocketAddr, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(server_addr).unwrap();
    let client_addr = client.local_addr().unwrap();
    let (mut server, _) = listener.accept().unwrap();
    client.write_all(&[7; 1000]).unwrap();
    server.read_exact(&mut [0; 1000]).unwrap();
    server.write_all(&[9; 500]).unwrap();
    client.read_exact(&mut [0; 500]).unwrap();
    (client, server, client_addr, server_addr)
}

fn sysctl(name: &str, value: &str) {
    let path = format!("/proc/sys/net/netfilter/{name}");
    std::fs::write(&path, value).unwrap_or_else(|e| panic!("writing {path}: {e}"));
}

#[test]
fn reports_a_connection_from_start_to_end_with_counters_and_times() {
    in_netns(|| {
        load(FIREWALL);
        sysctl("nf_conntrack_acct", "1");
        sysctl("nf_conntrack_timestamp", "1");
        let began = SystemTime::now();
        let mut events = Events::subscribe(true, true, true).unwrap();
        // A test waits a bounded time: a missing event fails it instead of hanging.
        events.wait_at_most(Duration::from_secs(10)).unwrap();

        let (client, server, client_addr, server_addr) = exchange();
        drop(client);
        drop(server);
        flush().unwrap();

        let ours = |e: &Event| e.orig_src == client_addr && e.orig_dst == server_addr;
        let (mut new, mut closed, mut destroy) = (None, None, None);
        while new.is_none() || destroy.is_none() {
            match events.next().unwrap().expect("the connection's events") {
                Received::Events(batch) => {
                    for e in batch.into_iter().filter(ours) {
                        match e.kind {
                            EventKind::New => new = Some(e),
                            // The close: the update that moves it to TIME_WAIT (7) or
                            // CLOSE (8), before the entry is destroyed.
                            EventKind::Update if matches!(e.tcp_state, Some(7 | 8)) => {
                                closed.get_or_insert(e);
                            }
                            EventKind::Update => {}
                            EventKind::Destroy => destroy = Some(e),
                        }
                    }
                }
                Received::Lost => panic!("events lost in an idle namespace"),
                Received::Quiet => unreachable!("the subscription waits for ever"),
            }
        }
        let (new, destroy) = (new.unwrap(), destroy.unwrap());
        let closed = closed.expect("an update to TIME_WAIT or CLOSE before the destroy");
        assert_eq!(closed.id, new.id);

        for e in [&new, &destroy] {
            assert_eq!(e.protocol, 6, "{e:?}");
            assert_eq!(e.reply_src, server_addr, "{e:?}");
            assert_eq!(e.reply_dst, client_addr, "{e:?}");
        }
        assert!(new.id.is_some(), "{new:?}");
        // As documented on `Event`: counters and times come with the end only.
        assert_eq!((new.orig_bytes, new.start, new.stop), (None, None, None));
        assert_eq!(new.id, destroy.id);

        // Counted in IP bytes: the payload, plus headers of the handshake and the close.
        let (orig_bytes, reply_bytes) = (destroy.orig_bytes.unwrap(), destroy.reply_bytes.unwrap());
        assert!(orig_bytes > 1000 && orig_bytes < 2000, "{destroy:?}");
        assert!(reply_bytes > 500 && reply_bytes < 1500, "{destroy:?}");
        assert!(destroy.orig_packets.unwrap() >= 3, "{destroy:?}");
        assert!(destroy.reply_packets.unwrap() >= 2, "{destroy:?}");

        let start = destroy.start.expect("a start time");
        let stop = destroy.stop.expect("a stop time");
        let slack = Duration::from_secs(1);
        assert!(start + slack >= began && start <= stop, "{destroy:?}");
        assert!(stop <= SystemTime::now() + slack, "{destroy:?}");
    });
}

#[test]
fn subscribing_to_nothing_is_refused() {
    let e = Events::subscribe(false, false, false).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_reader_that_fell_behind_is_told_events_were_lost() {
    in_netns(|| {
        load(FIREWALL);
        let mut events = Events::subscribe(true, false, false).unwrap();
        events.wait_at_most(Duration::from_secs(10)).unwrap();
        // The smallest buffer the kernel allows (a few KiB): a few hundred events overflow
        // it while nobody reads.
        events.socket.set_receive_buffer(0).unwrap();
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for port in 1..=500 {
            // Each datagram to another port is a new connection to conntrack; nothing
            // listens there, so the kernel answers with ICMP, inside the namespace.
            socket.send_to(b"x", ("127.0.0.1", port)).unwrap();
        }
        assert_eq!(events.next().unwrap().unwrap(), Received::Lost);
        match events.next().unwrap().unwrap() {
            Received::Events(batch) => assert!(!batch.is_empty()),
            Received::Lost => panic!("a second loss without new events"),
            Received::Quiet => panic!("no events after the loss"),
        }
    });
}

#[test]
fn a_subscription_with_a_wait_says_when_nothing_came() {
    in_netns(|| {
        load(FIREWALL);
        let mut events = Events::subscribe(false, true, true).unwrap();
        events.wait_at_most(Duration::from_millis(200)).unwrap();
        let began = std::time::Instant::now();
        assert_eq!(events.next().unwrap().unwrap(), Received::Quiet);
        assert!(began.elapsed() >= Duration::from_millis(150));
    });
}

#[test]
fn a_lookup_gives_a_live_connections_counters_and_start() {
    in_netns(|| {
        load(FIREWALL);
        sysctl("nf_conntrack_acct", "1");
        sysctl("nf_conntrack_timestamp", "1");
        let (client, server, client_addr, server_addr) = exchange();

        let mut lookup = Lookup::open().unwrap();
        let live = lookup
            .get(6, client_addr, server_addr)
            .unwrap()
            .expect("the connection is tracked");
        assert_eq!((live.orig_src, live.reply_src), (client_addr, server_addr));
        assert!(live.orig_bytes.unwrap() > 1000, "{live:?}");
        assert!(live.reply_bytes.unwrap() > 500, "{live:?}");
        assert!(live.start.is_some(), "{live:?}");
        assert_eq!(live.tcp_state, Some(3), "established: {live:?}");

        drop((client, server));
        flush().unwrap();
        assert_eq!(lookup.get(6, client_addr, server_addr).unwrap(), None);
    });
}
