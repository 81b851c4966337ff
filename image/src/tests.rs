use super::*;

fn err_of(toml_text: &str) -> DefinitionError {
    Appliance::parse(toml_text, "test.toml").expect_err("definition must be rejected")
}

/// The shipped definition with one textual substitution applied.
fn shipped_with(from: &str, to: &str) -> String {
    assert!(
        APPLIANCE_TOML.contains(from),
        "fixture text {from:?} not in appliance.toml"
    );
    APPLIANCE_TOML.replacen(from, to, 1)
}

#[test]
fn shipped_definition_is_valid() {
    let a = Appliance::embedded();
    assert_eq!(a.appliance.name, "lb-appliance");
    assert_eq!(a.default_deployment().id, "default");
    assert_eq!(a.hardware.virtual_system_type, "vmx-15");
}

#[test]
fn shipped_definition_keeps_every_haproxy_appliance_key_and_default() {
    let a = Appliance::embedded();
    let expected: &[(&str, &str, Option<&str>)] = &[
        ("appliance.root_pwd", "string", Some("")),
        ("appliance.permit_root_login", "boolean", Some("true")),
        ("appliance.ca_cert", "string", Some("")),
        ("appliance.ca_cert_key", "string", Some("")),
        ("network.hostname", "string", Some("haproxy.local")),
        ("network.nameservers", "string", Some("1.1.1.1, 1.0.0.1")),
        ("network.management_ip", "string", None),
        ("network.management_gateway", "string", None),
        ("network.workload_ip", "string", None),
        ("network.workload_gateway", "string", None),
        ("network.additional_workload_networks", "string", None),
        ("network.frontend_ip", "string", None),
        ("network.frontend_gateway", "string", None),
        ("loadbalance.service_ip_range", "string", Some("")),
        ("loadbalance.dataplane_port", "int", Some("5556")),
        ("loadbalance.haproxy_user", "string", Some("")),
        ("loadbalance.haproxy_pwd", "string", Some("")),
    ];
    // Properties the HAProxy appliance did not have: optional, blank by default (the data
    // path: `auto`, the same as blank).
    let added = [
        ("network.ntp_servers", "string", Some("")),
        ("loadbalance.data_path", "string", Some("auto")),
        ("pair.floating_ip", "string", Some("")),
        ("pair.workload_floating_ip", "string", Some("")),
        ("pair.peer_ip", "string", Some("")),
        ("pair.router_id", "int", Some("0")),
        ("pair.secret", "string", Some("")),
        ("pair.prefer_active", "boolean", Some("false")),
    ];
    assert_eq!(a.properties.len(), expected.len() + added.len());
    let expected = expected.iter().chain(&added);
    for (key, ty, default) in expected {
        let p = a.property(key).unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(p.kind.ovf_name(), *ty, "{key}");
        assert_eq!(p.default.as_deref(), *default, "{key}");
    }
    for key in ["network.frontend_ip", "network.frontend_gateway"] {
        assert_eq!(
            a.property(key).unwrap().deployment.as_deref(),
            Some("frontend")
        );
    }
    assert_eq!(
        a.property("loadbalance.dataplane_port")
            .unwrap()
            .qualifiers()
            .as_deref(),
        Some("MinValue(1),MaxValue(65535)")
    );
}

/// The pair's properties have a section of their own, and its secret is one.
#[test]
fn the_pair_properties_are_a_category_of_their_own() {
    let a = Appliance::embedded();
    let section = a.sections.iter().find(|s| s.class == "pair").unwrap();
    assert_eq!(section.category, "4. Active/Standby Pair (optional)");
    assert!(a.property("pair.secret").unwrap().is_secret());
    assert_eq!(
        a.property("pair.router_id")
            .unwrap()
            .qualifiers()
            .as_deref(),
        Some("MinValue(0),MaxValue(255)"),
        "0, the default, derives the id"
    );
}

#[test]
fn nics_follow_deployment_options() {
    let a = Appliance::embedded();
    let roles = |d| a.nics_for(d).map(|n| n.role.as_str()).collect::<Vec<_>>();
    assert_eq!(roles("default"), ["management", "workload"]);
    assert_eq!(roles("frontend"), ["management", "workload", "frontend"]);
    let slots: Vec<_> = a
        .nics
        .iter()
        .map(|n| (n.pci_slot, n.pci_address.as_str()))
        .collect();
    assert_eq!(
        slots,
        [
            (160, "0000:03:00.0"),
            (192, "0000:0b:00.0"),
            (224, "0000:13:00.0")
        ]
    );
}

#[test]
fn unknown_field_is_rejected_with_its_line() {
    let e = err_of(&shipped_with("cpus = 2", "cpus = 2\ncpu_count = 2"));
    assert_eq!(e.file, "test.toml");
    assert!(e.reason.contains("unknown field `cpu_count`"), "{e}");
    assert!(e.key.starts_with("line "), "{e}");
}

#[test]
fn property_tied_to_undeclared_deployment_is_rejected() {
    let e = err_of(&shipped_with(
        "format = \"cidr\"\ndeployment = \"frontend\"",
        "format = \"cidr\"\ndeployment = \"front\"",
    ));
    assert!(e.key.contains("network.frontend_ip"), "{e}");
    assert!(e.reason.contains("\"front\" is not declared"), "{e}");
}

#[test]
fn bad_default_for_type_is_rejected() {
    let e = err_of(&shipped_with("default = \"5556\"", "default = \"55x6\""));
    assert!(e.key.contains("loadbalance.dataplane_port).default"), "{e}");
    assert!(e.reason.contains("not an integer"), "{e}");

    let e = err_of(&shipped_with("default = \"true\"", "default = \"yes\""));
    assert!(e.key.contains("appliance.permit_root_login"), "{e}");

    let e = err_of(&shipped_with("default = \"5556\"", "default = \"70000\""));
    assert!(e.reason.contains("above the maximum 65535"), "{e}");
}

#[test]
fn duplicate_keys_and_defaults_are_rejected() {
    let e = err_of(&shipped_with(
        "key = \"workload_gateway\"",
        "key = \"workload_ip\"",
    ));
    assert!(e.reason.contains("declared twice"), "{e}");

    let e = err_of(&shipped_with(
        "id = \"frontend\"\nlabel",
        "id = \"frontend\"\ndefault = true\nlabel",
    ));
    assert!(e.reason.contains("exactly one option"), "{e}");
}

#[test]
fn a_first_partition_other_than_the_esp_is_rejected() {
    let esp =
        "[[partitions]]\nname = \"esp\"\ntype = \"esp\"\nfilesystem = \"vfat\"\nsize_mib = 128\n\
        # Where systemd-bless-boot finds the boot entries it marks good.\nmount = \"/efi\"\n\n";
    let esp_last = shipped_with(esp, "").replacen("[hardware]", &format!("{esp}[hardware]"), 1);
    let e = err_of(&esp_last);
    assert_eq!(e.key, "partitions[0]", "{e}");
    assert!(e.reason.contains("\"root-a\" comes first"), "{e}");
    assert!(
        e.reason
            .contains("move the [[partitions]] entry of type esp to the top"),
        "{e}"
    );
}

#[test]
fn versions_are_numbers_and_dots() {
    for good in ["0.1.0", "1", "10.20.3"] {
        assert_eq!(check_version(good), Ok(()), "{good}");
    }
    for bad in ["", "0.1.", "v0.1.0", "0.1.0-rc1", "0..1", "0.1.0 "] {
        assert!(
            check_version(bad).unwrap_err().contains("e.g. 0.1.1"),
            "{bad}"
        );
    }
    let e = err_of(&shipped_with("version = \"0.1.0\"", "version = \"0.1.0a\""));
    assert_eq!(e.key, "appliance.version", "{e}");
}

#[test]
fn the_shipped_disk_has_both_slots() {
    let a = Appliance::embedded();
    let names: Vec<&str> = a.partitions.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["esp", "root-a", "verity-a", "root-b", "verity-b", "data"]
    );
    let verity = a.partition("verity-b").unwrap();
    assert_eq!(verity.kind, PartitionType::RootX86_64Verity);
    assert_eq!(
        verity.kind.type_guid(),
        "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"
    );
    assert!(a.partition("root-b").unwrap().read_only);
    let e = err_of(&shipped_with("mount = \"/efi\"", "mount = \"/boot/efi\""));
    assert_eq!(e.key, "partitions[0].mount", "{e}");
    assert!(e.reason.contains("set mount = \"/efi\""), "{e}");
}

/// The slot B partitions of the shipped definition.
const ROOT_B: &str = "[[partitions]]\nname = \"root-b\"\ntype = \"root-x86-64\"\n\
    filesystem = \"erofs\"\nsize_mib = 512\n";

#[test]
fn a_missing_or_misnamed_slot_partition_is_rejected() {
    let e = err_of(&shipped_with("name = \"verity-b\"", "name = \"hash-b\""));
    assert_eq!(e.key, "partitions[4].name", "{e}");
    assert!(e.reason.contains("not a slot's partition"), "{e}");
    let e = err_of(&shipped_with(
        ROOT_B,
        "[[partitions]]\nname = \"spare\"\n\
        type = \"linux-generic\"\nfilesystem = \"ext4\"\nsize_mib = 512\n",
    ));
    assert_eq!(e.key, "partitions", "{e}");
    assert!(
        e.reason
            .contains("add a [[partitions]] entry named \"root-b\" of type root-x86-64"),
        "{e}"
    );
}

#[test]
fn slots_of_different_sizes_are_rejected() {
    let e = err_of(&shipped_with(
        ROOT_B,
        &ROOT_B.replace("size_mib = 512", "size_mib = 256"),
    ));
    assert_eq!(e.key, "partitions[3].size_mib", "{e}");
    assert!(e.reason.contains("give both the same size"), "{e}");
}

#[test]
fn a_hash_tree_partition_too_small_for_its_root_is_rejected() {
    let e = err_of(&APPLIANCE_TOML.replace("size_mib = 512", "size_mib = 2048"));
    assert_eq!(e.key, "partitions[2].size_mib", "{e}");
    assert!(e.reason.contains("give it at least 17 MiB"), "{e}");
}

#[test]
fn a_writable_or_unsized_root_is_rejected() {
    let e = err_of(&shipped_with(
        &format!("{ROOT_B}mount = \"/\"\nread_only = true"),
        &format!("{ROOT_B}mount = \"/\"\nread_only = false"),
    ));
    assert_eq!(e.key, "partitions[3].read_only", "{e}");
    let e = err_of(&shipped_with(
        ROOT_B,
        &ROOT_B.replace("size_mib = 512", "size_mib = 0"),
    ));
    assert_eq!(e.key, "partitions[3].size_mib", "{e}");
    assert!(e.reason.contains("fixed sizes"), "{e}");
}

/// The vSphere Client refuses a value its qualifiers forbid, the blank one
/// too: a blank default under MinLen(6) could never be deployed as is.
#[test]
fn a_blank_default_or_meaning_the_qualifiers_forbid_is_rejected() {
    let e = err_of(&shipped_with(
        "advised_min_len = 6\ndefault = \"\"\nlabel = \"1.1.",
        "min_len = 6\ndefault = \"\"\nlabel = \"1.1.",
    ));
    assert!(e.key.contains("appliance.root_pwd).default"), "{e}");
    assert!(e.reason.contains("at least 6 are needed"), "{e}");

    // haproxy_user: blank means admin, so MinLen(1) hides a documented value.
    let e = err_of(&shipped_with(
        "format = \"username\"\ndefault = \"\"",
        "format = \"username\"\nmin_len = 1",
    ));
    assert!(e.key.contains("loadbalance.haproxy_user).min_len"), "{e}");
    assert!(e.reason.contains("blank means \"admin\""), "{e}");
}

#[test]
fn an_initramfs_module_outside_the_kept_modules_is_rejected() {
    let e = err_of(&shipped_with(
        "initramfs_modules = [\"vmw_pvscsi\",",
        "initramfs_modules = [\"nvme\", \"vmw_pvscsi\",",
    ));
    assert_eq!(e.key, "base.initramfs_modules[0]", "{e}");
    assert!(e.reason.contains("not in base.kernel_modules"), "{e}");
}

#[test]
fn a_relative_excluded_file_or_a_stub_source_outside_image_stubs_is_rejected() {
    let e = err_of(&shipped_with(
        "\"/usr/lib/*/gconv/*\"",
        "\"usr/lib/*/gconv/*\"",
    ));
    assert!(e.key.starts_with("base.exclude_files["), "{e}");
    let e = err_of(&shipped_with(
        "source = \"icudata.c\"",
        "source = \"../icudata.c\"",
    ));
    assert_eq!(e.key, "base.stub_libraries[0].source", "{e}");
    assert!(e.reason.contains("image/stubs/"), "{e}");
    let e = err_of(&shipped_with(
        "path = \"/usr/lib/x86_64-linux-gnu/libicudata.so.72.1\"",
        "path = \"/usr/lib/*/libicudata.so.72.1\"",
    ));
    assert_eq!(e.key, "base.stub_libraries[0].path", "{e}");
}

#[test]
fn qualifiers_of_wrong_type_are_rejected() {
    let e = err_of(&shipped_with(
        "key = \"permit_root_login\"\ntype = \"boolean\"",
        "key = \"permit_root_login\"\ntype = \"boolean\"\nmax_len = 3",
    ));
    assert!(e.reason.contains("apply to type = \"string\" only"), "{e}");
}

#[test]
fn booleans_are_case_insensitive() {
    let a = Appliance::embedded();
    let p = a.property("appliance.permit_root_login").unwrap();
    for v in ["True", "true", "FALSE"] {
        assert!(p.check_value(v).is_ok(), "{v}");
    }
    assert!(p.check_value("1").is_err());
}

#[test]
fn load_names_the_missing_file() {
    let e = Appliance::load(Path::new("does/not/exist.toml")).unwrap_err();
    assert!(e.to_string().contains("does/not/exist.toml"), "{e}");
}

#[test]
fn readme_property_table_matches_the_schema() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the workspace root");
    let table = Appliance::embedded().property_table();
    assert!(
        readme.contains(&table),
        "README.md's property table is stale; replace it with:\n{table}"
    );
}
