//! Generic list/get/create/replace/delete of configuration objects, for every [`Resource`].
//!
//! Objects cross the API as JSON projected onto the specification's model: the model's
//! children (binds, rules, servers) and the fields the API does not expose stay out of the
//! answers, and a replace keeps them, so that `PUT frontends/x` never drops x's binds.
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use serde_json::{Map, Value};

use super::{blocking, body, changed, versioned, App, Verb};
use crate::api::error::{ApiError, ConfCode};
use crate::api::params::Params;
use crate::api::resources::Resource;
use crate::api::spec;
use crate::api::store::Outcome;
use crate::api::validate::Body;
use crate::config::fields;

fn parent<R: Resource>(params: &Params) -> &str {
    R::PARENT.map(|key| params.parent(key)).unwrap_or_default()
}

/// The API's view of an item at `index`.
fn view<R: Resource>(item: &R::Item, index: usize) -> Value {
    let value = serde_json::to_value(item).unwrap_or_default();
    let mut value = spec::project(R::DEFINITION, value);
    if R::BY_INDEX {
        value["index"] = Value::from(index);
    }
    value
}

/// The item a body describes, on top of what `base` holds outside the API's view; and the
/// body's `index` for positional resources.
fn parse<R: Resource>(
    body: Body,
    base: Option<&R::Item>,
) -> Result<(R::Item, Option<usize>), ApiError> {
    let Body::Json(Value::Object(mut fields)) = body else {
        return Err(ApiError::invalid("", "must be of type object"));
    };
    // What dataplaneapi would not keep (nulls, `false`, `""`) is dropped; a value `lb`
    // cannot honour is refused before anything is staged.
    fields::normalize(R::FIELDS, &mut fields);
    if let Some(r) = fields::refusal(R::FIELDS, &fields, "") {
        return Err(ApiError::refused(&r.field, r.why));
    }
    let index = if R::BY_INDEX {
        fields
            .remove("index")
            .and_then(|i| i.as_u64())
            .map(|i| i as usize)
    } else {
        None
    };
    let mut merged = match base.map(serde_json::to_value) {
        Some(Ok(Value::Object(old))) => hidden_fields::<R>(old),
        _ => Map::new(),
    };
    merged.extend(fields);
    let item = serde_path_to_error::deserialize(Value::Object(merged))
        .map_err(|e| ApiError::invalid(&e.path().to_string(), e.inner()))?;
    Ok((item, index))
}

/// The fields of an object the API cannot see (children, model-only settings).
fn hidden_fields<R: Resource>(mut object: Map<String, Value>) -> Map<String, Value> {
    if let Some(properties) = spec::definition(R::DEFINITION)["properties"].as_object() {
        object.retain(|key, _| !properties.contains_key(key));
    }
    object
}

/// Where `key` (a name, or an index for positional resources) is in `items`.
fn locate<R: Resource>(items: &[R::Item], key: &str) -> Result<usize, ApiError> {
    let found = if R::BY_INDEX {
        key.parse::<usize>().ok().filter(|i| *i < items.len())
    } else {
        items.iter().position(|item| R::name(item) == key)
    };
    found.ok_or_else(|| {
        ApiError::conf(
            ConfCode::NotFound,
            format!("{} {key} does not exist", R::NOUN),
        )
    })
}

pub async fn list<R: Resource>(
    State(store): State<App>,
    params: Params,
) -> Result<Response, ApiError> {
    // A private copy: `Resource::items` is the one accessor, shared with the edits.
    let mut config = (*store.snapshot(params.transaction_id.as_deref())?).clone();
    let version = config.version;
    let items = R::items(&mut config, parent::<R>(&params))?;
    let data: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| view::<R>(item, i))
        .collect();
    Ok(versioned(version, data))
}

pub async fn get<R: Resource>(
    State(store): State<App>,
    Path(key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let mut config = (*store.snapshot(params.transaction_id.as_deref())?).clone();
    let version = config.version;
    let items = R::items(&mut config, parent::<R>(&params))?;
    let index = locate::<R>(items, &key)?;
    Ok(versioned(version, view::<R>(&items[index], index)))
}

pub async fn create<R: Resource>(
    State(store): State<App>,
    params: Params,
    request_body: Option<Extension<Body>>,
) -> Result<Response, ApiError> {
    let target = params.target()?;
    let (item, index) = parse::<R>(body(request_body)?, None)?;
    let (outcome, echoed) = blocking(&store, move |store| {
        store.change(&target, |config| {
            let items = R::items(config, parent::<R>(&params))?;
            let at = if R::BY_INDEX {
                index.filter(|i| *i <= items.len()).ok_or_else(|| {
                    ApiError::conf(
                        ConfCode::IndexOutOfRange,
                        format!("{} index out of range (0..={})", R::NOUN, items.len()),
                    )
                })?
            } else if items.iter().any(|i| R::name(i) == R::name(&item)) {
                return Err(ApiError::conf(
                    ConfCode::AlreadyExists,
                    format!("{} {} already exists", R::NOUN, R::name(&item)),
                ));
            } else {
                items.len()
            };
            items.insert(at, item);
            Ok(view::<R>(&items[at], at))
        })
    })
    .await?;
    Ok(changed(outcome, Verb::Create, Some(echoed)))
}

pub async fn replace<R: Resource>(
    State(store): State<App>,
    Path(key): Path<String>,
    params: Params,
    request_body: Option<Extension<Body>>,
) -> Result<Response, ApiError> {
    let target = params.target()?;
    let body = body(request_body)?;
    let (outcome, (echoed, runtime_only)) = blocking(&store, move |store| {
        store.change_keeping_version_if(&target, |config| {
            let items = R::items(config, parent::<R>(&params))?;
            let at = locate::<R>(items, &key)?;
            let (item, _) = parse::<R>(body, Some(&items[at]))?;
            let before = view::<R>(&items[at], at);
            items[at] = item;
            let after = view::<R>(&items[at], at);
            let runtime_only = !R::RUNTIME_FIELDS.is_empty()
                && without(before, R::RUNTIME_FIELDS) == without(after.clone(), R::RUNTIME_FIELDS);
            Ok::<_, ApiError>(((after, runtime_only), runtime_only))
        })
    })
    .await?;
    // §4.4: a change the runtime API could make is not a reload: 200, no Reload-ID,
    // and the version stays.
    let outcome = match outcome {
        Outcome::Committed { reload_id, .. } if runtime_only => Outcome::Committed {
            reload_id,
            forced: true,
        },
        other => other,
    };
    Ok(changed(outcome, Verb::Replace, Some(echoed)))
}

fn without(mut value: Value, fields: &[&str]) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|key, _| !fields.contains(&key.as_str()));
    }
    value
}

pub async fn delete<R: Resource>(
    State(store): State<App>,
    Path(key): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let target = params.target()?;
    let (outcome, ()) = blocking(&store, move |store| {
        store.change(&target, |config| {
            let items = R::items(config, parent::<R>(&params))?;
            let at = locate::<R>(items, &key)?;
            items.remove(at);
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    Ok(changed(outcome, Verb::Delete, None::<Value>))
}
