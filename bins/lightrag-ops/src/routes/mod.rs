//! Route modules; each exports `fn config(cfg: &mut ServiceConfig)`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;

mod backups;
mod charts;
mod dashboard;
mod events;
mod graphs;
mod jobs;
mod metrics;
mod openapi;
mod probes;
mod recovery;
mod replication;

/// Registers every route.
pub(crate) fn config(cfg: &mut web::ServiceConfig) {
    cfg.configure(probes::config)
        .configure(metrics::config)
        .configure(graphs::config)
        .configure(backups::config)
        .configure(jobs::config)
        .configure(events::config)
        .configure(dashboard::config)
        .configure(recovery::config)
        .configure(replication::config)
        .service(openapi::openapi_json);
}

/// JSON 404 for paths no route matches.
pub(crate) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// JSON 400 for malformed JSON bodies, paths and queries.
pub(crate) fn json_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid JSON body: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid path: {e}")).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::BadRequest(format!("invalid query: {e}")).into()),
    );
}

/// What a route with a JSON body extracts (`web::Json<JsonObject>`): the body must be a JSON
/// object, as every request schema of the document says; [`from_object`] then reads the typed
/// body from it. Extracting the typed body directly would also accept a JSON *array* (serde
/// reads a struct from a sequence of its fields in order: `[null, null]` passed as a sync
/// request), which the document does not allow.
pub(crate) type JsonObject = serde_json::Map<String, serde_json::Value>;

/// The typed body in a JSON object; a 400 naming the problem otherwise.
pub(crate) fn from_object<T: serde::de::DeserializeOwned>(
    object: JsonObject,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// A JSON body that may be absent or `null` (then `T::default()`; the document declares such
/// bodies optional and nullable); anything but an object or `null` is a 400, as is malformed
/// JSON.
pub(crate) fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    {
        serde_json::Value::Null => Ok(T::default()),
        serde_json::Value::Object(o) => from_object(o),
        other => Err(ApiError::BadRequest(format!(
            "invalid JSON body: expected a JSON object (or nothing), found {}",
            match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                _ => "a boolean",
            }
        ))),
    }
}

/// A job result as JSON.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> lightrag_service::Result<serde_json::Value> {
    Ok(serde_json::to_value(v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, serde::Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Body {
        graph_id: Option<String>,
        target: Option<String>,
    }

    /// Found by the fuzzer (issue 14 #9): serde reads a struct from an array of its fields, so
    /// `[null, null]` was accepted as a body the document declares an object.
    #[test]
    fn bodies_are_objects() {
        assert_eq!(optional_json::<Body>(b"").unwrap(), Body::default());
        assert_eq!(optional_json::<Body>(b" null ").unwrap(), Body::default());
        assert_eq!(
            optional_json::<Body>(br#"{"target": "t"}"#).unwrap().target,
            Some("t".to_owned())
        );
        for bad in [
            &b"[null, null]"[..],
            b"[]",
            b"\"x\"",
            b"1",
            b"true",
            b"{",
            b"{\"x\": 1}",
        ] {
            let err = optional_json::<Body>(bad).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{bad:?}");
        }
        let object: JsonObject = serde_json::from_str(r#"{"graph_id": "g"}"#).unwrap();
        assert_eq!(
            from_object::<Body>(object).unwrap().graph_id,
            Some("g".to_owned())
        );
        assert!(serde_json::from_str::<JsonObject>("[null, null]").is_err());
    }
}
