//! The route table: every implemented operation of the served specification, and the layers
//! every request passes (version header, authentication, validation).
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use super::auth::{self, Gate};
use super::body;
use super::handlers::{self, meta, objects, raw, transactions, App};
use super::metrics;
use super::pair::{self, Shared as Pair};
use super::resources::{Backends, Binds, Frontends, Resource, Servers, SwitchingRules};
use super::spec::BASE_PATH;
use super::store::DataPlane;
use super::validate;

const CONFIGURATION: &str = "/services/haproxy/configuration";

type Route = (String, Method, MethodRouter<App>);

/// Every route as (path relative to [`BASE_PATH`], method, handler).
fn table() -> Vec<Route> {
    let mut routes: Vec<Route> = vec![
        (
            "/".into(),
            Method::GET,
            on(MethodFilter::GET, meta::discovery),
        ),
        (
            "/services".into(),
            Method::GET,
            on(MethodFilter::GET, meta::discovery),
        ),
        (
            "/services/haproxy".into(),
            Method::GET,
            on(MethodFilter::GET, meta::discovery),
        ),
        (
            CONFIGURATION.into(),
            Method::GET,
            on(MethodFilter::GET, meta::discovery),
        ),
        (
            "/info".into(),
            Method::GET,
            on(MethodFilter::GET, meta::info),
        ),
        (
            "/specification".into(),
            Method::GET,
            on(MethodFilter::GET, meta::specification),
        ),
        (
            "/specification_openapiv3".into(),
            Method::GET,
            on(MethodFilter::GET, meta::specification_openapiv3),
        ),
        (
            format!("{CONFIGURATION}/global"),
            Method::GET,
            on(MethodFilter::GET, meta::global),
        ),
        (
            format!("{CONFIGURATION}/defaults"),
            Method::GET,
            on(MethodFilter::GET, meta::defaults),
        ),
        (
            format!("{CONFIGURATION}/raw"),
            Method::GET,
            on(MethodFilter::GET, raw::get),
        ),
        (
            format!("{CONFIGURATION}/raw"),
            Method::POST,
            on(MethodFilter::POST, raw::post),
        ),
        (
            "/services/haproxy/reloads".into(),
            Method::GET,
            on(MethodFilter::GET, meta::reloads),
        ),
        (
            "/services/haproxy/reloads/{id}".into(),
            Method::GET,
            on(MethodFilter::GET, meta::reload),
        ),
        (
            "/services/haproxy/transactions".into(),
            Method::GET,
            on(MethodFilter::GET, transactions::list),
        ),
        (
            "/services/haproxy/transactions".into(),
            Method::POST,
            on(MethodFilter::POST, transactions::start),
        ),
        (
            "/services/haproxy/transactions/{id}".into(),
            Method::GET,
            on(MethodFilter::GET, transactions::get),
        ),
        (
            "/services/haproxy/transactions/{id}".into(),
            Method::PUT,
            on(MethodFilter::PUT, transactions::commit),
        ),
        (
            "/services/haproxy/transactions/{id}".into(),
            Method::DELETE,
            on(MethodFilter::DELETE, transactions::delete),
        ),
    ];
    objects_routes::<Frontends>(&mut routes, "frontends", "name");
    objects_routes::<Binds>(&mut routes, "binds", "name");
    objects_routes::<Backends>(&mut routes, "backends", "name");
    objects_routes::<Servers>(&mut routes, "servers", "name");
    objects_routes::<SwitchingRules>(&mut routes, "backend_switching_rules", "index");
    routes
}

fn objects_routes<R: Resource>(routes: &mut Vec<Route>, collection: &str, key: &str) {
    let list = format!("{CONFIGURATION}/{collection}");
    let item = format!("{list}/{{{key}}}");
    routes.push((
        list.clone(),
        Method::GET,
        on(MethodFilter::GET, objects::list::<R>),
    ));
    routes.push((
        list,
        Method::POST,
        on(MethodFilter::POST, objects::create::<R>),
    ));
    routes.push((
        item.clone(),
        Method::GET,
        on(MethodFilter::GET, objects::get::<R>),
    ));
    routes.push((
        item.clone(),
        Method::PUT,
        on(MethodFilter::PUT, objects::replace::<R>),
    ));
    routes.push((
        item,
        Method::DELETE,
        on(MethodFilter::DELETE, objects::delete::<R>),
    ));
}

/// The whole API: routes under `/v2`, authentication first on every path (unknown ones and
/// `/metrics` included), then for the Data Plane API the `Configuration-Version` header on
/// every authenticated answer (a 401 tells nothing), on a pair's standby the refusal of
/// writes, the body limit, and validation, whose body read is bounded by `body_within`.
/// A pair's replication endpoint has its own authentication (`pair::endpoint`).
pub fn router(
    store: App,
    plane: Arc<dyn DataPlane>,
    gate: Gate,
    body_within: Duration,
    pair: Option<Arc<Pair>>,
) -> Router {
    let api = table()
        .into_iter()
        .fold(Router::new(), |router, (path, _, handler)| {
            router.route(&format!("{BASE_PATH}{path}"), handler)
        })
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            body_within,
            validate::request,
        ))
        .layer(axum::middleware::from_fn(body::limit));
    let api = match &pair {
        Some(pair) => api.layer(axum::middleware::from_fn_with_state(
            pair.clone(),
            pair::guard::refuse_writes_on_standby,
        )),
        None => api,
    };
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            store.clone(),
            handlers::version_header,
        ))
        .with_state(store.clone());
    let authenticated = api.merge(metrics::router(plane, pair.clone())).layer(
        axum::middleware::from_fn_with_state(Arc::new(gate), auth::require),
    );
    match pair {
        Some(pair) => authenticated.merge(pair::endpoint::router(store, pair)),
        None => authenticated,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::api::spec::document;

    /// The served specification documents exactly the routed operations.
    #[test]
    fn routes_and_specification_agree() {
        let routed: BTreeSet<(String, String)> = table()
            .into_iter()
            .map(|(path, method, _)| (path, method.as_str().to_ascii_lowercase()))
            .collect();
        let specified: BTreeSet<(String, String)> = document()["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "parameters")
                    .map(move |method| (path.clone(), method.clone()))
            })
            .collect();
        assert_eq!(routed, specified);
    }
}
