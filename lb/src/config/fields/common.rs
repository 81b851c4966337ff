//! Rows shared by several models (a frontend, a backend and the defaults section take the
//! same `mode`, options and timeouts), written once.
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;
use super::{Field, Kind, Syntax, Use};

const TOGGLE: &[&str] = &["enabled", "disabled"];

/// Why a TLS or agent health-check setting is refused (servers and default-server alike).
pub const TCP_CHECKS: &str = "health checks are plain TCP connects";
/// Why the HTTP-only fields are refused.
pub const NEEDS_HTTP: &str = "needs mode http; lb is an L4 (TCP) proxy";

/// A row, for the tables that spell each one out (servers, binds, default-server).
pub const fn f(name: &'static str, kind: Kind, syntax: Syntax, usage: Use) -> Field {
    Field {
        name,
        kind,
        syntax,
        usage,
    }
}

/// A field refused unless it has one of `neutral`.
const fn refused(
    name: &'static str,
    kind: Kind,
    syntax: Syntax,
    neutral: &'static [&'static str],
    why: &'static str,
) -> Field {
    Field {
        name,
        kind,
        syntax,
        usage: Refused { neutral, why },
    }
}

/// An HTTP-only `option`: `disabled` is accepted, `enabled` refused.
const fn http_option(name: &'static str, keyword: &'static str) -> Field {
    refused(name, Toggle, Option(keyword), &["disabled"], NEEDS_HTTP)
}

/// An option that does not change L4 forwarding: stored.
const fn stored_option(name: &'static str, keyword: &'static str) -> Field {
    Field {
        name,
        kind: Toggle,
        syntax: Option(keyword),
        usage: Stored,
    }
}

/// A timeout.
const fn timeout(name: &'static str, keyword: &'static str, usage: Use) -> Field {
    Field {
        name,
        kind: Time,
        syntax: Timeout(keyword),
        usage,
    }
}

pub const MODE: Field = refused(
    "mode",
    Enum(&["http", "tcp"]),
    Line("mode"),
    &["tcp"],
    "http is not supported: lb is an L4 (TCP) proxy",
);
pub const MAXCONN: Field = Field {
    name: "maxconn",
    kind: Int,
    syntax: Line("maxconn"),
    usage: Honoured,
};
pub const BIND_PROCESS: Field = Field {
    name: "bind_process",
    kind: Str,
    syntax: Line("bind-process"),
    usage: Stored,
};
pub const LOG_TAG: Field = Field {
    name: "log_tag",
    kind: Str,
    syntax: Line("log-tag"),
    usage: Honoured,
};
pub const LOG_FORMAT: Field = Field {
    name: "log_format",
    kind: Str,
    syntax: Line("log-format"),
    usage: Stored,
};
pub const LOG_FORMAT_SD: Field = Field {
    name: "log_format_sd",
    kind: Str,
    syntax: Line("log-format-sd"),
    usage: Stored,
};
pub const HTTP_CONNECTION_MODE: Field = refused(
    "http_connection_mode",
    Enum(&["httpclose", "http-server-close", "http-keep-alive"]),
    OptionNamed,
    &[],
    NEEDS_HTTP,
);
pub const HTTP_BUFFER_REQUEST: Field = http_option("http-buffer-request", "http-buffer-request");
pub const HTTP_PRETEND_KEEPALIVE: Field =
    http_option("http_pretend_keepalive", "http-pretend-keepalive");
/// HTX is how HAProxy 2.x represents HTTP internally; in TCP mode it changes nothing.
pub const HTTP_USE_HTX: Field = stored_option("http-use-htx", "http-use-htx");
pub const FORWARDFOR: Field = refused("forwardfor", Opaque, Own, &[], NEEDS_HTTP);
pub const TCPLOG: Field = Field {
    name: "tcplog",
    kind: Bool,
    syntax: Option("tcplog"),
    usage: Honoured,
};
pub const DONTLOGNULL: Field = Field {
    name: "dontlognull",
    kind: Toggle,
    syntax: Option("dontlognull"),
    usage: Honoured,
};
pub const CONTSTATS: Field = Field {
    name: "contstats",
    kind: Enum(&["enabled"]),
    syntax: Option("contstats"),
    usage: Stored,
};
pub const LOG_SEPARATE_ERRORS: Field = stored_option("log_separate_errors", "log-separate-errors");
pub const CLITCPKA: Field = stored_option("clitcpka", "clitcpka");
pub const LOGASAP: Field = stored_option("logasap", "logasap");
pub const HTTPLOG: Field = refused("httplog", Bool, Option("httplog"), &["false"], NEEDS_HTTP);
/// `option httplog clf`: read through [`HTTPLOG`]'s line, which refuses it too.
pub const CLFLOG: Field = refused("clflog", Bool, Own, &["false"], NEEDS_HTTP);
pub const HTTP_REQUEST_TIMEOUT: Field = timeout("http_request_timeout", "http-request", Stored);
pub const HTTP_KEEP_ALIVE_TIMEOUT: Field =
    timeout("http_keep_alive_timeout", "http-keep-alive", Stored);
pub const CLIENT_TIMEOUT: Field = timeout("client_timeout", "client", Honoured);
pub const CLIENT_FIN_TIMEOUT: Field = timeout("client_fin_timeout", "client-fin", Honoured);
pub const QUEUE_TIMEOUT: Field = timeout("queue_timeout", "queue", Honoured);
pub const CHECK_TIMEOUT: Field = timeout("check_timeout", "check", Honoured);
pub const TUNNEL_TIMEOUT: Field = timeout("tunnel_timeout", "tunnel", Honoured);
pub const SERVER_TIMEOUT: Field = timeout("server_timeout", "server", Honoured);
pub const CONNECT_TIMEOUT: Field = timeout("connect_timeout", "connect", Honoured);
pub const STATS_OPTIONS: Field = refused(
    "stats_options",
    Opaque,
    Own,
    &[],
    "the HTTP statistics page is not served; lb exports Prometheus metrics at /metrics",
);
pub const DEFAULT_BACKEND: Field = Field {
    name: "default_backend",
    kind: Str,
    syntax: Line("default_backend"),
    usage: Honoured,
};
pub const UNIQUE_ID_FORMAT: Field = Field {
    name: "unique_id_format",
    kind: Str,
    syntax: Line("unique-id-format"),
    usage: Stored,
};
pub const UNIQUE_ID_HEADER: Field = refused(
    "unique_id_header",
    Str,
    Line("unique-id-header"),
    &[],
    NEEDS_HTTP,
);
pub const ADV_CHECK: Field = refused(
    "adv_check",
    Enum(&[
        "ssl-hello-chk",
        "smtpchk",
        "ldap-check",
        "mysql-check",
        "pgsql-check",
        "tcp-check",
        "redis-check",
    ]),
    OptionNamed,
    &["tcp-check"],
    "only TCP connect health checks (tcp-check) are run",
);
pub const ABORTONCLOSE: Field = stored_option("abortonclose", "abortonclose");
/// `lb` spreads every connection over all usable backups, as `option allbackups` does.
pub const ALLBACKUPS: Field = stored_option("allbackups", "allbackups");
pub const EXTERNAL_CHECK: Field = refused(
    "external_check",
    Toggle,
    Option("external-check"),
    &["disabled"],
    "external check commands are not run; health checks are TCP connects",
);
pub const EXTERNAL_CHECK_PATH: Field = Field {
    name: "external_check_path",
    kind: Str,
    syntax: Line("external-check path"),
    usage: Stored,
};
pub const EXTERNAL_CHECK_COMMAND: Field = Field {
    name: "external_check_command",
    kind: Str,
    syntax: Line("external-check command"),
    usage: Stored,
};
pub const HTTPCHK: Field = refused("httpchk", Opaque, Own, &[], NEEDS_HTTP);
pub const HTTP_CHECK: Field = refused("http-check", Opaque, Own, &[], NEEDS_HTTP);
pub const HTTP_REUSE: Field = refused(
    "http_reuse",
    Enum(&["aggressive", "always", "never", "safe"]),
    Line("http-reuse"),
    &[],
    NEEDS_HTTP,
);
pub const COOKIE: Field = refused("cookie", Opaque, Own, &[], NEEDS_HTTP);
pub const RETRIES: Field = Field {
    name: "retries",
    kind: Int,
    syntax: Line("retries"),
    usage: Honoured,
};
/// `option redispatch [interval]`: `lb` always retries a failed connect on another server.
pub const REDISPATCH: Field = Field {
    name: "redispatch",
    kind: Object(&[
        Field {
            name: "enabled",
            kind: Enum(TOGGLE),
            syntax: Own,
            usage: Stored,
        },
        Field {
            name: "interval",
            kind: Int,
            syntax: Own,
            usage: Stored,
        },
    ]),
    syntax: Own,
    usage: Stored,
};
pub const BALANCE: Field = Field {
    name: "balance",
    kind: Object(super::BALANCE),
    syntax: Own,
    usage: Honoured,
};
pub const DEFAULT_SERVER: Field = Field {
    name: "default_server",
    kind: Object(super::DEFAULT_SERVER),
    syntax: Params("default-server"),
    usage: Honoured,
};

/// A row the model's own code writes: the name, an address, children.
pub const fn own(name: &'static str) -> Field {
    Field {
        name,
        kind: Opaque,
        syntax: Own,
        usage: Honoured,
    }
}

// Parameters shared by the `server`, `default_server` and `bind` models.
pub const CHECK_SSL: Field = refused(
    "check-ssl",
    Toggle,
    Word("check-ssl", "no-check-ssl"),
    &["disabled"],
    TCP_CHECKS,
);
pub const RESOLVERS: Field = refused(
    "resolvers",
    Str,
    Param("resolvers"),
    &[],
    "names are not resolved: server addresses are IP literals",
);
pub const INIT_ADDR: Field = f("init-addr", Str, Param("init-addr"), Stored);
pub const INTER: Field = f("inter", Time, Param("inter"), Honoured);
pub const FASTINTER: Field = f("fastinter", Time, Param("fastinter"), Stored);
pub const DOWNINTER: Field = f("downinter", Time, Param("downinter"), Stored);
pub const SNI: Field = f("sni", Str, Param("sni"), Stored);
pub const CHECK_SNI: Field = f("check-sni", Str, Param("check-sni"), Stored);
pub const SLOWSTART: Field = f("slowstart", Time, Param("slowstart"), Stored);
pub const RESOLVE_PREFER: Field = f("resolve-prefer", Str, Param("resolve-prefer"), Stored);
pub const RESOLVE_NET: Field = f("resolve-net", Str, Param("resolve-net"), Stored);
pub const SSL_CERTIFICATE: Field = f("ssl_certificate", Str, Param("crt"), Stored);
pub const SSL_CAFILE: Field = f("ssl_cafile", Str, Param("ca-file"), Stored);
pub const ALPN: Field = f("alpn", Str, Param("alpn"), Stored);
pub const ALLOW_0RTT: Field = f("allow_0rtt", Bool, Word("allow-0rtt", ""), Stored);
