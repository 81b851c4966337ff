//! The five kinds of configuration object the API edits, described once each so that one set
//! of generic handlers serves them all: where their list lives in the model, which query
//! parameter names the parent section, how an item is addressed.
use crate::config::fields::{self, Field};
use crate::config::{Backend, Bind, Config, Frontend, Server, SwitchingRule};

use super::error::{ApiError, ConfCode};

/// A kind of object the API lists, creates, replaces and deletes.
pub trait Resource: Send + Sync + 'static {
    /// Its model definition in the specification (`frontend`, `bind`, …).
    const DEFINITION: &'static str;
    /// Its field table: what is refused, and what a body keeps.
    const FIELDS: &'static [Field];
    /// Its name in messages, as dataplaneapi words them.
    const NOUN: &'static str;
    /// The query parameter naming the parent section (`frontend=`, `backend=`), if any.
    const PARENT: Option<&'static str> = None;
    /// Addressed by position (`{index}`, the switching rules) rather than by name.
    const BY_INDEX: bool = false;
    /// The fields a replace may change without a reload (§4.4: the runtime API's fields).
    const RUNTIME_FIELDS: &'static [&'static str] = &[];

    type Item: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync;

    /// The list under `parent`.
    fn items<'a>(config: &'a mut Config, parent: &str)
        -> Result<&'a mut Vec<Self::Item>, ApiError>;

    /// The item's name (unused for positional resources).
    fn name(item: &Self::Item) -> &str;
}

fn missing_parent(kind: &str, name: &str) -> ApiError {
    ApiError::conf(
        ConfCode::ParentMissing,
        format!("parent {kind} {name} does not exist"),
    )
}

fn frontend<'a>(config: &'a mut Config, name: &str) -> Result<&'a mut Frontend, ApiError> {
    config
        .frontends
        .iter_mut()
        .find(|f| f.name == name)
        .ok_or_else(|| missing_parent("frontend", name))
}

fn backend<'a>(config: &'a mut Config, name: &str) -> Result<&'a mut Backend, ApiError> {
    config
        .backends
        .iter_mut()
        .find(|b| b.name == name)
        .ok_or_else(|| missing_parent("backend", name))
}

pub struct Frontends;
pub struct Binds;
pub struct Backends;
pub struct Servers;
pub struct SwitchingRules;

impl Resource for Frontends {
    const DEFINITION: &'static str = "frontend";
    const FIELDS: &'static [Field] = fields::FRONTEND;
    const NOUN: &'static str = "Frontend";
    const RUNTIME_FIELDS: &'static [&'static str] = &["maxconn"];
    type Item = Frontend;

    fn items<'a>(config: &'a mut Config, _: &str) -> Result<&'a mut Vec<Frontend>, ApiError> {
        Ok(&mut config.frontends)
    }

    fn name(item: &Frontend) -> &str {
        &item.name
    }
}

impl Resource for Binds {
    const DEFINITION: &'static str = "bind";
    const FIELDS: &'static [Field] = fields::BIND;
    const NOUN: &'static str = "Bind";
    const PARENT: Option<&'static str> = Some("frontend");
    type Item = Bind;

    fn items<'a>(config: &'a mut Config, parent: &str) -> Result<&'a mut Vec<Bind>, ApiError> {
        Ok(&mut frontend(config, parent)?.binds)
    }

    fn name(item: &Bind) -> &str {
        &item.name
    }
}

impl Resource for Backends {
    const DEFINITION: &'static str = "backend";
    const FIELDS: &'static [Field] = fields::BACKEND;
    const NOUN: &'static str = "Backend";
    type Item = Backend;

    fn items<'a>(config: &'a mut Config, _: &str) -> Result<&'a mut Vec<Backend>, ApiError> {
        Ok(&mut config.backends)
    }

    fn name(item: &Backend) -> &str {
        &item.name
    }
}

impl Resource for Servers {
    const DEFINITION: &'static str = "server";
    const FIELDS: &'static [Field] = fields::SERVER;
    const NOUN: &'static str = "Server";
    const PARENT: Option<&'static str> = Some("backend");
    const RUNTIME_FIELDS: &'static [&'static str] = &[
        "weight",
        "address",
        "port",
        "health_check_port",
        "maintenance",
    ];
    type Item = Server;

    fn items<'a>(config: &'a mut Config, parent: &str) -> Result<&'a mut Vec<Server>, ApiError> {
        Ok(&mut backend(config, parent)?.servers)
    }

    fn name(item: &Server) -> &str {
        &item.name
    }
}

impl Resource for SwitchingRules {
    const DEFINITION: &'static str = "backend_switching_rule";
    const FIELDS: &'static [Field] = fields::SWITCHING_RULE;
    const NOUN: &'static str = "Backend switching rule";
    const PARENT: Option<&'static str> = Some("frontend");
    const BY_INDEX: bool = true;
    type Item = SwitchingRule;

    fn items<'a>(
        config: &'a mut Config,
        parent: &str,
    ) -> Result<&'a mut Vec<SwitchingRule>, ApiError> {
        Ok(&mut frontend(config, parent)?.backend_switching_rules)
    }

    fn name(item: &SwitchingRule) -> &str {
        &item.name
    }
}
