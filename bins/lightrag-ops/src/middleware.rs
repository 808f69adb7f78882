//! Request middleware: the request-duration histogram, and the API-key helpers the guard
//! ([`crate::guard`]) and the dashboard use.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::middleware::Next;

/// LightRAG's API-key header.
const API_KEY_HEADER: &str = "x-api-key";

/// The key a request presents, from `X-API-Key` or `Authorization: Bearer`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v);
    }
    let auth = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant-time comparison (the one: [`lightrag_config::constant_time_eq`]).
pub(crate) fn keys_match(presented: &str, expected: &str) -> bool {
    lightrag_config::constant_time_eq(presented.as_bytes(), expected.as_bytes())
}

/// Records `lightrag_http_request_duration_seconds{method,route,status}` for every request, with
/// the matched route *pattern* (`/api/v1/graphs/{id}`), or `unmatched`.
pub(crate) async fn record_duration(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let start = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    lightrag_monitoring::record::record_http_request(
        method,
        &route,
        res.status().as_u16(),
        start.elapsed(),
    );
    Ok(res)
}

/// Method label with bounded cardinality.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    #[test]
    fn key_comparison() {
        assert!(keys_match("abc", "abc"));
        assert!(!keys_match("abd", "abc"));
        assert!(!keys_match("ab", "abc"));
        assert!(!keys_match("", "abc"));
    }

    #[test]
    fn key_extraction() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer  tok "));
        assert_eq!(presented_key(&h), Some("tok"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic dXNlcg=="));
        assert_eq!(presented_key(&h), None);
        h.insert(
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_static("k1"),
        );
        assert_eq!(presented_key(&h), Some("k1"));
    }
}
