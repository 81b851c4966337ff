//! The static file tree agrees with the code: every `/etc` symlink points at a
//! file the renderer writes, and the units name the paths and subcommands the
//! binary has.

use std::path::Path;

use overlay::paths;

fn files() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(overlay::FILES_DIR)
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(files().join("usr/lib/systemd/system").join(name)).unwrap()
}

#[test]
fn etc_symlinks_point_at_rendered_files() {
    let expected = [
        ("etc/hostname", paths::HOSTNAME),
        ("etc/resolv.conf", paths::RESOLV_CONF),
        ("etc/shadow", paths::SHADOW),
        (
            "etc/ssh/sshd_config.d/10-lb-appliance.conf",
            paths::SSHD_DROP_IN,
        ),
        (
            "etc/iproute2/rt_tables.d/lb-appliance.conf",
            paths::RT_TABLES,
        ),
        ("etc/issue.d/50-lb-appliance.issue", paths::ISSUE),
    ];
    for (link, target) in expected {
        let got = std::fs::read_link(files().join(link)).unwrap_or_else(|e| panic!("{link}: {e}"));
        assert_eq!(got, Path::new(&paths::guest(target)), "{link}");
    }
}

#[test]
fn units_use_the_rendered_paths_and_existing_subcommands() {
    let lb = unit("lb.service");
    assert!(lb.contains(&format!(
        "ConditionPathExists={}",
        paths::guest(paths::LB_SETTINGS)
    )));
    assert!(lb.contains(&format!("--settings {}", paths::guest(paths::LB_SETTINGS))));
    assert!(lb.contains("After=appliance-render.service anyip-routes.service route-tables.service"));
    // lb runs unprivileged: its state directory is handed to it, and the files it reads
    // that are written root-only (settings, server key) are made group-readable first.
    assert!(lb.contains("User=lb\n"));
    assert!(lb.contains("AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN\n"));
    let state = paths::LB_STATE_DIR.strip_prefix("var/lib/").unwrap();
    assert!(lb.contains(&format!("StateDirectory={state}\n")));
    // lb-prepare.service, as root, does that once; a restart of lb runs lb alone.
    let prepare = unit("lb-prepare.service");
    let readable = format!(
        "{} {}/server.key\n",
        paths::guest(paths::LB_SETTINGS),
        paths::guest(paths::TLS_DIR)
    );
    assert!(prepare.contains(&format!("ExecStart=/usr/bin/chgrp lb {readable}")));
    assert!(prepare.contains(&format!("ExecStart=/usr/bin/chmod 0640 {readable}")));
    assert!(prepare.contains(&format!(
        "ConditionPathExists={}",
        paths::guest(paths::LB_SETTINGS)
    )));
    assert!(prepare.contains(&format!(
        "ReadWritePaths={} {}\n",
        paths::guest(paths::TLS_DIR),
        Path::new(&paths::guest(paths::LB_SETTINGS))
            .parent()
            .unwrap()
            .display()
    )));
    let render = unit("appliance-render.service");
    assert!(render.contains("Before=network-pre.target systemd-networkd.service"));
    assert!(render.contains(&format!(
        "RequiresMountsFor={}",
        paths::guest(paths::STATE_DIR)
    )));
    for name in [
        "lb-migrate.service",
        "appliance-render.service",
        "route-tables.service",
        "anyip-routes.service",
        "lb.service",
        "lb-prepare.service",
        "ssh.service.d/lb-appliance.conf",
        "ssh-listen.service",
        "api-cert.service",
        "lb-boot-health.service",
    ] {
        for line in unit(name)
            .lines()
            .filter(|l| l.contains("/usr/local/bin/appliancectl"))
        {
            let args: Vec<&str> = line
                .split("appliancectl")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .collect();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_appliancectl"))
                .args(&args[..1])
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: `appliancectl {}` is not a subcommand",
                args.join(" ")
            );
        }
    }
}

#[test]
fn sshd_listens_where_the_agent_says() {
    let ssh = unit("ssh.service.d/lb-appliance.conf");
    assert!(ssh.contains(&format!(
        "EnvironmentFile=-{}\n",
        paths::guest(paths::SSH_LISTEN_ENV)
    )));
    assert!(ssh.contains("ExecStartPre=/usr/local/bin/appliancectl ssh-listen\n"));
    let enabled = files().join("usr/lib/systemd/system/multi-user.target.wants/ssh-listen.path");
    assert_eq!(
        std::fs::read_link(enabled).unwrap(),
        Path::new("../ssh-listen.path")
    );
}

/// The data partition is in this version's format before anything reads it: the
/// migration runs first, once the partition is mounted, and the units that read its
/// formatted files (secrets, certificates, lb's configuration) do not run without it.
#[test]
fn the_data_partition_is_migrated_before_anything_reads_it() {
    let migrate = unit("lb-migrate.service");
    assert!(migrate.contains("ExecStart=/usr/local/bin/appliancectl migrate\n"));
    assert!(migrate.contains(&format!(
        "RequiresMountsFor={}\n",
        paths::guest(paths::STATE_DIR)
    )));
    assert!(migrate.contains("DefaultDependencies=no\n"));
    let before = migrate
        .lines()
        .find_map(|l| l.strip_prefix("Before="))
        .expect("Before=");
    let readers = [
        "appliance-render.service",
        "lb-prepare.service",
        "lb.service",
        "api-cert.service",
        "ssh.service",
    ];
    for reader in readers {
        assert!(
            before.split_whitespace().any(|u| u == reader),
            "lb-migrate.service is not before {reader}"
        );
    }
    // lb requires lb-prepare, which requires the migration: lb does not start without it.
    // The render only waits for it: a refused partition leaves the appliance reachable.
    let prepare = unit("lb-prepare.service");
    assert!(prepare.contains("Requires=lb-migrate.service\n"));
    assert!(prepare.contains("After=lb-migrate.service\n"));
    let render = unit("appliance-render.service");
    assert!(render.contains("Wants=lb-migrate.service\nAfter=lb-migrate.service\n"));
    assert!(unit("lb.service").contains(" lb-migrate.service\n"));
    let enabled = files().join("usr/lib/systemd/system/sysinit.target.wants/lb-migrate.service");
    assert_eq!(
        std::fs::read_link(enabled).unwrap(),
        Path::new("../lb-migrate.service")
    );
}

/// A DHCP lease that moves an interface address has the API server
/// certificate reissued for it, with the key handed to lb as at its start.
#[test]
fn the_api_certificate_follows_the_leases() {
    let path = unit("api-cert.path");
    assert!(path.contains(&format!(
        "PathChanged={}\n",
        paths::guest(paths::NETIF_LEASES)
    )));
    assert!(path.contains("Unit=api-cert.service\n"));
    let cert = unit("api-cert.service");
    assert!(cert.contains("ExecStart=/usr/local/bin/appliancectl tls --follow-leases\n"));
    assert!(cert.contains(&format!(
        "ConditionPathExists={}\n",
        paths::guest(paths::LB_SETTINGS)
    )));
    let key = format!("{}/server.key\n", paths::guest(paths::TLS_DIR));
    assert!(cert.contains(&format!("ExecStartPost=/usr/bin/chgrp lb {key}")));
    assert!(cert.contains(&format!("ExecStartPost=/usr/bin/chmod 0640 {key}")));
    let enabled = files().join("usr/lib/systemd/system/multi-user.target.wants/api-cert.path");
    assert_eq!(
        std::fs::read_link(enabled).unwrap(),
        Path::new("../api-cert.path")
    );
}

#[test]
fn the_firewall_loads_the_rendered_ruleset_before_the_network() {
    let fw = unit("lb-firewall.service");
    assert!(fw.contains(&format!(
        "ExecStart=/usr/sbin/nft -f {}\n",
        paths::guest(paths::NFTABLES)
    )));
    assert!(fw.contains("After=appliance-render.service"));
    assert!(fw.contains("Before=network-pre.target"));
    let enabled = files().join("usr/lib/systemd/system/sysinit.target.wants/lb-firewall.service");
    assert_eq!(
        std::fs::read_link(enabled).unwrap(),
        std::path::Path::new("../lb-firewall.service")
    );
}

/// Every long-running service is sandboxed and holds only the capabilities it uses
/// (`systemd-analyze security` in the guest scores them; see docs/security.md).
#[test]
fn services_are_sandboxed_with_least_privilege() {
    for (name, caps) in [
        // Low ports for the VIPs; netlink for the kernel data path (IPVS, the firewall's
        // kernel sets, conntrack events).
        ("lb.service", "CAP_NET_BIND_SERVICE CAP_NET_ADMIN"),
        ("lb-prepare.service", "CAP_CHOWN"),
        ("anyip-routes.service", "CAP_NET_ADMIN"),
        ("route-tables.service", "CAP_NET_ADMIN"),
        ("lb-firewall.service", "CAP_NET_ADMIN"),
    ] {
        let text = unit(name);
        for line in [
            format!("CapabilityBoundingSet={caps}"),
            "NoNewPrivileges=yes".into(),
            "ProtectSystem=strict".into(),
            "PrivateDevices=yes".into(),
            "RestrictNamespaces=yes".into(),
            "MemoryDenyWriteExecute=yes".into(),
            "SystemCallFilter=@system-service".into(),
        ] {
            assert!(text.lines().any(|l| l == line), "{name} lacks `{line}`");
        }
    }
}

/// A crash of lb is an outage of every VIP: systemd restarts it within a fraction of a
/// second; a crash loop is stopped by the start limit and retried by lb-recover.timer
/// only once the limit's window has passed, so that the retry is allowed
/// (docs/reliability.md). systemd 252 has no RestartSteps=, so no back-off in lb.service.
/// The preparation (wait for the management address, certificate, file modes) is not
/// part of a restart.
#[test]
fn lb_restarts_at_once_and_a_crash_loop_is_throttled_then_retried() {
    let lb = unit("lb.service");
    let value = |text: &str, key: &str| -> String {
        let prefix = format!("{key}=");
        let mut found = text.lines().filter_map(|l| l.strip_prefix(&prefix));
        let v = found
            .next()
            .unwrap_or_else(|| panic!("no {key}= in\n{text}"));
        assert!(found.next().is_none(), "{key}= twice");
        v.to_owned()
    };
    let seconds = |v: &str| -> f64 {
        match v.strip_suffix("ms") {
            Some(ms) => ms.parse::<f64>().unwrap() / 1000.0,
            None => v.trim_end_matches('s').parse().unwrap(),
        }
    };
    assert_eq!(value(&lb, "Restart"), "on-failure");
    // A restart is lb alone: the preparation is a oneshot that stays active, required
    // (a restart of lb does not propagate to the units it requires) but not bound.
    assert!(
        !lb.contains("ExecStartPre="),
        "lb.service has ExecStartPre="
    );
    assert_eq!(value(&lb, "Requires"), "lb-prepare.service");
    for key in ["BindsTo", "PartOf"] {
        assert!(!lb.contains(&format!("{key}=")), "lb.service has {key}=");
    }
    let prepare = unit("lb-prepare.service");
    assert_eq!(value(&prepare, "Type"), "oneshot");
    assert_eq!(value(&prepare, "RemainAfterExit"), "yes");
    assert_eq!(value(&prepare, "OnFailure"), "lb-recover.timer");
    assert!(seconds(&value(&lb, "RestartSec")) <= 0.1);
    let burst: u32 = value(&lb, "StartLimitBurst").parse().unwrap();
    assert!((2..=20).contains(&burst), "StartLimitBurst={burst}");
    let window = seconds(&value(&lb, "StartLimitIntervalSec"));
    assert!(window > 0.0, "a zero window disables the start limit");
    assert_eq!(value(&lb, "OnFailure"), "lb-recover.timer");
    let timer = unit("lb-recover.timer");
    assert_eq!(value(&timer, "Unit"), "lb.service");
    assert_eq!(value(&timer, "RemainAfterElapse"), "no");
    assert!(seconds(&value(&timer, "OnActiveSec")) >= window);
}

/// keepalived runs only in pair mode, with the rendered file, after lb; it is enabled,
/// and the commands its rendered configuration runs are subcommands of the agent.
#[test]
fn keepalived_runs_the_rendered_file_only_in_pair_mode() {
    let drop_in = unit("keepalived.service.d/lb-appliance.conf");
    let conf = paths::guest(paths::KEEPALIVED_CONF);
    for line in [
        "ConditionFileNotEmpty=\n".to_string(),
        format!("ConditionPathExists={conf}\n"),
        "After=appliance-render.service lb.service\n".to_string(),
        "ExecStart=\n".to_string(),
        format!("ExecStart=/usr/sbin/keepalived --dont-fork --use-file {conf}\n"),
    ] {
        assert!(drop_in.contains(&line), "{line:?} not in\n{drop_in}");
    }
    let enabled = files().join("usr/lib/systemd/system/multi-user.target.wants/keepalived.service");
    assert_eq!(
        std::fs::read_link(enabled).unwrap(),
        Path::new("../keepalived.service")
    );
    let template = include_str!("../templates/keepalived.conf.j2");
    for args in [&["pair", "check"][..], &["pair", "notify"][..]] {
        assert!(template.contains(&format!("/usr/local/bin/appliancectl {}", args.join(" "))));
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_appliancectl"))
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`appliancectl {}` is not a subcommand",
            args.join(" ")
        );
    }
}

/// A boot on trial is blessed only after the health check passed, and a
/// failed check reboots (a try counted down); a blessed boot is never
/// assessed, so a configuration problem cannot cause a reboot loop.
#[test]
fn boots_on_trial_are_assessed_before_they_are_blessed() {
    let text = unit("lb-boot-health.service");
    for line in [
        "Before=boot-complete.target",
        "FailureAction=reboot",
        "ExecStart=/usr/local/bin/appliancectl boot-health",
        &format!(
            "ConditionPathExists=/{}",
            overlay::upgrade::state::BOOT_COUNT_EFIVAR
        ),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "lb-boot-health.service lacks `{line}`"
        );
    }
    let required =
        files().join("usr/lib/systemd/system/boot-complete.target.requires/lb-boot-health.service");
    assert_eq!(
        std::fs::read_link(&required).unwrap(),
        Path::new("../lb-boot-health.service")
    );
}
