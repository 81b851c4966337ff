//! The `defaults` model, in config-parser's defaults line order. Served read-only
//! (`GET /services/haproxy/configuration/defaults`); `POST raw` and the TOML file set it.
use super::common::*;
use super::Field;
use super::Kind::*;
use super::Syntax::*;
use super::Use::*;

pub static DEFAULTS: &[Field] = &[
    MODE,
    BALANCE,
    MAXCONN,
    HTTPLOG,
    CLFLOG,
    STATS_OPTIONS,
    LOG_TAG,
    LOG_FORMAT,
    LOG_FORMAT_SD,
    COOKIE,
    HTTP_CHECK,
    BIND_PROCESS,
    TCPLOG,
    HTTP_CONNECTION_MODE,
    HTTP_USE_HTX,
    REDISPATCH,
    DONTLOGNULL,
    LOG_SEPARATE_ERRORS,
    HTTP_BUFFER_REQUEST,
    HTTP_PRETEND_KEEPALIVE,
    CLITCPKA,
    CONTSTATS,
    ADV_CHECK,
    ABORTONCLOSE,
    HTTPCHK,
    LOGASAP,
    ALLBACKUPS,
    EXTERNAL_CHECK,
    FORWARDFOR,
    HTTP_REUSE,
    HTTP_REQUEST_TIMEOUT,
    CHECK_TIMEOUT,
    CONNECT_TIMEOUT,
    CLIENT_TIMEOUT,
    CLIENT_FIN_TIMEOUT,
    QUEUE_TIMEOUT,
    SERVER_TIMEOUT,
    TUNNEL_TIMEOUT,
    HTTP_KEEP_ALIVE_TIMEOUT,
    RETRIES,
    EXTERNAL_CHECK_PATH,
    EXTERNAL_CHECK_COMMAND,
    DEFAULT_SERVER,
    ERROR_FILES,
    DEFAULT_BACKEND,
    UNIQUE_ID_FORMAT,
    UNIQUE_ID_HEADER,
];

const ERROR_FILES: Field = Field {
    name: "error_files",
    kind: Opaque,
    syntax: Own,
    usage: Refused {
        neutral: &["[]"],
        why: "HTTP error pages need mode http; lb is an L4 (TCP) proxy",
    },
};
