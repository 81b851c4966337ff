//! Tests of the pure configuration core against the seed configurations in `lb/testdata`.
use super::haproxy::{parse, render};
use super::load::{self, Format};
use super::*;

const WCP: &str = include_str!("../../testdata/wcp.cfg");
const APPLIANCE: &str = include_str!("../../testdata/appliance-default.cfg");
const CAPV: &str = include_str!("../../testdata/capv.cfg");

/// import → export → import gives the same model, and export is a fixed point.
fn assert_round_trip(text: &str) -> Config {
    let first = parse(text).expect("seed imports").config;
    first.validate().expect("seed validates");
    let exported = render(&first);
    let second = parse(&exported).expect("export imports").config;
    assert_eq!(first, second, "model changed through export:\n{exported}");
    assert_eq!(render(&second), exported, "export is not canonical");
    assert!(
        parse(&exported).unwrap().ignored.is_empty(),
        "export has ignorable lines"
    );
    first
}

#[test]
fn wcp_config_round_trips_in_dataplane_layout() {
    let c = assert_round_trip(WCP);
    assert_eq!(c.version, 12);
    assert_eq!(c.global.maxconn, Some(60_000));
    assert_eq!(c.defaults.tunnel_timeout, Some(300_000));
    assert_eq!(c.frontends.len(), 1);
    assert_eq!(c.backends.len(), 2);
    let fe = &c.frontends[0];
    assert_eq!(fe.binds[1].port, Some(6443));
    assert_eq!(
        fe.backend_switching_rules[1].cond_test.as_deref(),
        Some("{ dst_port 6443 }")
    );
    // The frontend and backend blocks are byte-identical to what the Data Plane API wrote.
    let exported = render(&c);
    let from = |t: &str| t[t.find("frontend ").unwrap()..].to_string();
    assert_eq!(from(&exported), from(WCP));
    assert!(exported.starts_with("# _version=12\n"));
}

#[test]
fn appliance_default_config_round_trips_and_keeps_userlist() {
    let imported = parse(APPLIANCE).unwrap();
    let ignored_lines: Vec<usize> = imported.ignored.iter().map(|d| d.line).collect();
    // log, chroot, stats ×2, user, group, master-worker, ca-base, crt-base, ssl ×2,
    // log global, tcp-smart-accept, the program section.
    assert_eq!(
        ignored_lines,
        [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 23, 41]
    );
    let c = assert_round_trip(APPLIANCE);
    let users = &c.userlists[0];
    assert_eq!(users.name, "controller");
    assert_eq!(users.users.len(), 2);
    assert!(users.users[0].secure_password);
    assert!(users.users[0].password.starts_with("$6$"));
    assert_eq!(users.users[1].password, "cert");
    assert!(!users.users[1].secure_password);
    assert_eq!(c.defaults.maxconn, Some(4000));
    assert_eq!(c.defaults.tunnel_timeout, Some(3_600_000));
}

#[test]
fn capv_config_is_rejected_line_by_line() {
    let err = parse(CAPV).unwrap_err();
    let lines: Vec<usize> = err.rejected.iter().map(|d| d.line).collect();
    // mode http ×2, monitor-uri, httpchk, http-check, check-ssl.
    assert_eq!(lines, [5, 13, 14, 26, 27, 28]);
    assert!(err
        .to_string()
        .contains("line 13: mode: http is not supported"));
}

#[test]
fn unsupported_conditions_and_binds_are_rejected() {
    let text = "frontend f\n  bind 1.2.3.4:80 ssl crt x.pem\n  use_backend b if { src 1.2.3.4 }\n";
    let err = parse(text).unwrap_err();
    assert_eq!(err.rejected.len(), 2);
    assert_eq!(err.rejected[1].line, 3);
    assert!(err.rejected[1].message.contains("not supported"));
}

#[test]
fn toml_and_json_round_trip() {
    let c = parse(WCP).unwrap().config;
    let toml_text = toml::to_string(&c).unwrap();
    let json_text = serde_json::to_string_pretty(&c).unwrap();
    assert_eq!(load::parse(&toml_text, Format::Toml).unwrap().config, c);
    assert_eq!(load::parse(&json_text, Format::Json).unwrap().config, c);
    let server = serde_json::to_value(&c.backends[0].servers[0]).unwrap();
    assert_eq!(server["check"], "enabled");
    assert_eq!(server["verify"], "none");
    assert_eq!(
        c.backends[0].balance.unwrap().algorithm.keyword(),
        "roundrobin"
    );
}

#[test]
fn format_detection() {
    use std::path::Path;
    let p = Path::new("conf");
    assert_eq!(Format::detect(p, WCP), Format::Haproxy);
    assert_eq!(Format::detect(p, "{\"version\":1}"), Format::Json);
    assert_eq!(Format::detect(p, "version = 1\n[global]\n"), Format::Toml);
    assert_eq!(Format::detect(Path::new("x.cfg"), ""), Format::Haproxy);
}

fn sample() -> Config {
    let text = "frontend f1\n  bind 127.0.0.1:8080 name a\n  default_backend b1\n\
                backend b1\n  server s1 127.0.0.1:9000 weight 10\n";
    parse(text).unwrap().config
}

fn problems(c: &Config) -> Vec<String> {
    c.validate()
        .unwrap_err()
        .problems
        .into_iter()
        .map(|p| format!("{}: {}", p.object, p.message))
        .collect()
}

#[test]
fn validation_names_unknown_backends() {
    let mut c = sample();
    c.frontends[0].default_backend = Some("nope".into());
    c.frontends[0].backend_switching_rules.push(SwitchingRule {
        name: "missing".into(),
        cond: Some(Cond::If),
        cond_test: Some("{ dst_port 80 }".into()),
    });
    assert_eq!(
        problems(&c),
        [
            "frontend 'f1': default_backend 'nope' does not exist",
            "frontend 'f1' backend_switching_rule 0: backend 'missing' does not exist",
        ]
    );
}

#[test]
fn validation_names_duplicates_and_collisions() {
    let mut c = sample();
    let mut f2 = c.frontends[0].clone();
    f2.binds[0].name = "b".into();
    c.frontends.push(f2.clone());
    c.backends.push(c.backends[0].clone());
    let p = problems(&c);
    assert!(
        p.contains(&"frontend 'f1': duplicate name".to_string()),
        "{p:?}"
    );
    assert!(
        p.contains(&"backend 'b1': duplicate name".to_string()),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|m| m.starts_with("frontend 'f1' bind 'b': 127.0.0.1:8080 collides")),
        "{p:?}"
    );
    let mut c = sample();
    c.frontends[0].binds.push(Bind {
        name: "wild".into(),
        address: "*".into(),
        port: Some(8080),
        ..Bind::default()
    });
    assert_eq!(
        problems(&c),
        ["frontend 'f1' bind 'wild': 0.0.0.0:8080 collides with frontend 'f1' bind 'a'"]
    );
}

#[test]
fn validation_checks_ranges_and_addresses() {
    let mut c = sample();
    c.backends[0].servers[0].weight = Some(257);
    c.backends[0].servers.push(Server {
        name: "dns".into(),
        address: "db.example.com".into(),
        port: None,
        ..Server::default()
    });
    c.frontends[0].mode = Some(Mode::Http);
    assert_eq!(
        problems(&c),
        [
            "frontend 'f1': mode: http is not supported: lb is an L4 (TCP) proxy",
            "backend 'b1' server 's1': weight 257 is out of range 0-256",
            "backend 'b1' server 'dns': 'db.example.com' is not an IP address (host names are not resolved)",
            "backend 'b1' server 'dns': port is required (1-65535)",
        ]
    );
    c.backends[0].servers[0].weight = Some(256);
    c.backends[0].servers.pop();
    c.frontends[0].mode = None;
    c.validate().unwrap();
}

#[test]
fn kept_lines_with_words_that_need_quoting_are_rejected() {
    // `GET raw` would write `userlist "` back unquoted, which reads as another name.
    for text in [
        "userlist \\\"\n",
        "frontend \"a b\"\n",
        "backend be\n  server 'x' 127.0.0.1:80\n",
        "frontend fe\n  default_backend \"\"\n",
    ] {
        assert!(parse(text).is_err(), "accepted: {text}");
    }
    // Ignored lines may quote: they are not kept.
    assert!(parse("frontend fe\n  description \"the API\"\n").is_ok());
}
