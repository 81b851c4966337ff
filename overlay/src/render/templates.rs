//! The minijinja environment with the templates under `overlay/templates/`,
//! embedded at compile time so the static binary carries them.

use minijinja::{Environment, UndefinedBehavior, Value};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "link.j2",
    "network.j2",
    "hostname.j2",
    "resolv.conf.j2",
    "timesyncd.conf.j2",
    "shadow.j2",
    "sshd.conf.j2",
    "rt_tables.conf.j2",
    "anyip-routes.cfg.j2",
    "route-tables.cfg.j2",
    "lb-settings.toml.j2",
    "nftables.conf.j2",
    "keepalived.conf.j2",
    "issue.j2",
);

/// Renders one template; the templates are fixed, so an error is a defect.
pub fn render(name: &str, ctx: Value) -> String {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("toml", toml_string);
    env.add_filter("issue", issue_escape);
    for (n, src) in TEMPLATES {
        env.add_template(n, src).expect("embedded templates parse");
    }
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("template {name}: {e:#}"))
}

/// A TOML basic string with TOML's own escaping.
fn toml_string(s: String) -> String {
    toml::Value::String(s).to_string()
}

/// agetty expands backslash escapes in issue files; literal text must not.
fn issue_escape(s: String) -> String {
    s.replace('\\', "\\\\")
}
