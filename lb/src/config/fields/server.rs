//! The `server` model, in client-native's `SerializeServer` parameter order.
use super::common::*;
use super::Field;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;

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
    ALPN,
    f(
        "tls_tickets",
        Toggle,
        Word("tls-tickets", "no-tls-tickets"),
        Stored,
    ),
    CHECK_SSL,
    CHECK_SNI,
    SLOWSTART,
    SNI,
    ALLOW_0RTT,
    f("maxconn", Int, Param("maxconn"), Honoured),
    f("weight", Int, Param("weight"), Honoured),
    INIT_ADDR,
    INTER,
    FASTINTER,
    DOWNINTER,
    f("cookie", Str, Param("cookie"), Stored),
    SSL_CERTIFICATE,
    SSL_CAFILE,
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
    RESOLVERS,
    RESOLVE_PREFER,
    RESOLVE_NET,
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
