use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixListener;
use std::time::Instant;

use super::notify::{self, Event};
use super::role;
use super::*;
use crate::paths;
use crate::status::lb::{alive as check, ALIVE_TIMEOUT as CHECK_TIMEOUT};

/// The pair golden case's settings file, as the renderer wrote it.
const PAIR_SETTINGS: &str =
    include_str!("../../tests/golden/pair/run/lb-appliance/lb/settings.toml");
const STANDALONE_SETTINGS: &str =
    include_str!("../../tests/golden/seed-frontend/run/lb-appliance/lb/settings.toml");

fn root_with_settings(text: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join(paths::LB_SETTINGS);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    root
}

#[test]
fn the_rendered_settings_name_the_pair() {
    let root = root_with_settings(PAIR_SETTINGS);
    let pair = configured(&root.path().join(paths::LB_SETTINGS))
        .unwrap()
        .unwrap();
    assert_eq!(
        pair,
        Configured {
            floating: Ipv4Addr::new(10, 13, 10, 198),
            peer: Ipv4Addr::new(10, 13, 10, 200),
            vip_ranges: vec!["10.13.200.32/27".parse().unwrap()],
        }
    );
    let root = root_with_settings(STANDALONE_SETTINGS);
    assert_eq!(
        configured(&root.path().join(paths::LB_SETTINGS)).unwrap(),
        None
    );
    assert_eq!(configured(&root.path().join("absent.toml")).unwrap(), None);
}

/// lb's socket as a real Unix socket: answered, or silent.
fn serve(answer: Option<&'static str>) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("status.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            match answer {
                Some(a) => {
                    let _ = stream.write_all(a.as_bytes());
                }
                // Holds the connection without a word.
                None => std::thread::sleep(std::time::Duration::from_secs(5)),
            }
        }
    });
    (dir, socket)
}

#[test]
fn the_check_passes_only_when_lb_answers_in_time() {
    let (_d, ok) = serve(Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));
    check(&ok).unwrap();
    let (_d, failing) = serve(Some("HTTP/1.1 503 Service Unavailable\r\n\r\n"));
    assert!(check(&failing).is_err());
    let (_d, silent) = serve(None);
    let started = Instant::now();
    assert!(check(&silent).is_err());
    assert!(
        started.elapsed() < CHECK_TIMEOUT * 2,
        "{:?}",
        started.elapsed()
    );
    assert!(check(std::path::Path::new("/nonexistent/status.sock")).is_err());
}

fn event(state: &str) -> Event {
    Event {
        kind: "INSTANCE".into(),
        name: "lb_pair".into(),
        state: state.into(),
        priority: Some(150),
    }
}

#[test]
fn becoming_active_records_the_role_and_announces_every_vip_range() {
    let root = root_with_settings(PAIR_SETTINGS);
    let mut asked = None;
    let log = notify::run(
        root.path(),
        &event("MASTER"),
        "frontend",
        1_800_000_000,
        |dev, ranges| {
            asked = Some((dev.to_string(), ranges.to_vec()));
            Ok(32)
        },
    );
    assert_eq!(
        asked,
        Some((
            "frontend".to_string(),
            vec!["10.13.200.32/27".parse().unwrap()]
        ))
    );
    assert_eq!(
        log,
        [
            "pair: INSTANCE lb_pair is MASTER (active), priority 150",
            "pair: announced 32 VIP address(es) on frontend"
        ]
    );
    let record = role::read(&root.path().join(paths::PAIR_ROLE))
        .unwrap()
        .unwrap();
    assert_eq!(
        record,
        role::Record {
            role: "active".into(),
            state: "MASTER".into(),
            instance: "lb_pair".into(),
            priority: Some(150),
            since_unix: 1_800_000_000,
        }
    );
}

#[test]
fn other_states_are_recorded_without_announcing_and_errors_are_logged_only() {
    let root = root_with_settings(PAIR_SETTINGS);
    let log = notify::run(root.path(), &event("BACKUP"), "frontend", 1, |_, _| {
        panic!("a standby announces nothing")
    });
    assert_eq!(log.len(), 1);
    let record = role::read(&root.path().join(paths::PAIR_ROLE))
        .unwrap()
        .unwrap();
    assert_eq!(record.role, "standby");
    // A failing announcement and an unwritable record (`run` is a file here, so
    // nothing can be made under it) are lines of the log.
    let blocked = tempfile::tempdir().unwrap();
    std::fs::write(blocked.path().join("run"), "").unwrap();
    let log = notify::run(blocked.path(), &event("MASTER"), "frontend", 1, |_, _| {
        Ok(0)
    });
    assert!(log[1].starts_with("error: recording the role"), "{log:?}");
    assert!(
        log[2].starts_with("error: announcing the VIPs on frontend: cannot read"),
        "{log:?}"
    );
    let log = notify::run(root.path(), &event("MASTER"), "frontend", 1, |_, _| {
        anyhow::bail!("no ARP today")
    });
    assert_eq!(
        log[1],
        "error: announcing the VIPs on frontend: no ARP today"
    );
}
