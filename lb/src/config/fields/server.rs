//! The `server` model, in client-native's `SerializeServer` parameter order.
use super::common::{own, NEEDS_HTTP};
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;
use super::{Field, Kind, Syntax, Use};

const fn f(name: &'static str, kind: Kind, syntax: Syntax, usage: Use) -> Field {
    Field {
        name,
        kind,
        syntax,
        usage,
    }
}

const NO_TLS: &str = "TLS to servers is not supported: lb forwards the TCP bytes unchanged";
const NO_PROXY_PROTOCOL: &str =
    "the PROXY protocol is not sent: lb forwards the TCP bytes unchanged";

pub static SERVER: &[Field] = &[
    own("name"),
    own("address"),
    own("port"),
    f("backup", Toggle, Word("backup", "no-backup"), Honoured),
    f("maintenance", Toggle, Word("disabled", "enabled"), Honoured),
    f("check", Toggle, Word("check", "no-check"), Honoured),
    f(
        "agent-check",
        Toggle,
        Word("agent-check", "no-agent-check"),
        Refused {
            neutral: &["disabled"],
            why: "agent checks are not run; health checks are TCP connects",
        },
    ),
    f("agent-addr", Str, Param("agent-addr"), Stored),
    f("agent-port", Int, Param("agent-port"), Stored),
    f("agent-inter", Time, Param("agent-inter"), Stored),
    f("agent-send", Str, Param("agent-send"), Stored),
    f(
        "ssl",
        Toggle,
        Word("ssl", "no-ssl"),
        Refused {
            neutral: &["disabled"],
            why: NO_TLS,
        },
    ),
    f("alpn", Str, Param("alpn"), Stored),
    f(
        "tls_tickets",
        Toggle,
        Word("tls-tickets", "no-tls-tickets"),
        Stored,
    ),
    f(
        "check-ssl",
        Toggle,
        Word("check-ssl", "no-check-ssl"),
        Refused {
            neutral: &["disabled"],
            why: super::common::TCP_CHECKS,
        },
    ),
    f("check-sni", Str, Param("check-sni"), Stored),
    f("slowstart", Time, Param("slowstart"), Stored),
    f("sni", Str, Param("sni"), Stored),
    f("allow_0rtt", Bool, Word("allow-0rtt", ""), Stored),
    f("maxconn", Int, Param("maxconn"), Honoured),
    f("weight", Int, Param("weight"), Honoured),
    f("init-addr", Str, Param("init-addr"), Stored),
    f("inter", Time, Param("inter"), Honoured),
    f("fastinter", Time, Param("fastinter"), Stored),
    f("downinter", Time, Param("downinter"), Stored),
    f("cookie", Str, Param("cookie"), Stored),
    f("ssl_certificate", Str, Param("crt"), Stored),
    f("ssl_cafile", Str, Param("ca-file"), Stored),
    f(
        "verify",
        Enum(&["none", "required"]),
        Param("verify"),
        Stored,
    ),
    f(
        "on-error",
        Enum(&["fastinter", "fail-check", "sudden-death", "mark-down"]),
        Param("on-error"),
        Stored,
    ),
    f(
        "on-marked-down",
        Enum(&["shutdown-sessions"]),
        Param("on-marked-down"),
        Stored,
    ),
    f(
        "on-marked-up",
        Enum(&["shutdown-backup-sessions"]),
        Param("on-marked-up"),
        Stored,
    ),
    f("health_check_port", Int, Param("port"), Honoured),
    f(
        "send-proxy",
        Toggle,
        Word("send-proxy", "no-send-proxy"),
        Refused {
            neutral: &["disabled"],
            why: NO_PROXY_PROTOCOL,
        },
    ),
    f(
        "send-proxy-v2",
        Toggle,
        Word("send-proxy-v2", "no-send-proxy-v2"),
        Refused {
            neutral: &["disabled"],
            why: NO_PROXY_PROTOCOL,
        },
    ),
    f(
        "resolvers",
        Str,
        Param("resolvers"),
        Refused {
            neutral: &[],
            why: "names are not resolved: server addresses are IP literals",
        },
    ),
    f("resolve-prefer", Str, Param("resolve-prefer"), Stored),
    f("resolve-net", Str, Param("resolve-net"), Stored),
    f(
        "proto",
        Str,
        Param("proto"),
        Refused {
            neutral: &[],
            why: NEEDS_HTTP,
        },
    ),
    f(
        "proxy-v2-options",
        List(&[
            "ssl",
            "cert-cn",
            "ssl-cipher",
            "cert-sig",
            "cert-key",
            "authority",
            "crc32c",
            "unique-id",
        ]),
        Joined("proxy-v2-options"),
        Stored,
    ),
];
