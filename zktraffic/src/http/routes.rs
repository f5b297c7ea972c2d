//! The routes: `/`, `/healthz`, `/json/*`, `/metrics`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use tokio::sync::watch;
use warp::Filter;
use warp::http::{Response, StatusCode};

use super::HttpCounters;
use crate::serve::{Endpoint, Scope, Snapshot};

const JSON: &str = "application/json";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Snapshots = watch::Receiver<Arc<Snapshot>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<String>) -> Response<String> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

/// Every route, reading snapshots from `snapshots` and the HTTP side's own `counters`.
pub fn all(
    snapshots: Snapshots,
    counters: Arc<HttpCounters>,
) -> impl Filter<Extract = (Response<String>,), Error = Infallible> + Clone + Send + Sync + 'static
{
    let latest = warp::any().map(move || snapshots.borrow().clone());
    let index = warp::path::end()
        .and(warp::get())
        .map(|| respond(StatusCode::OK, "text/html; charset=utf-8", INDEX));
    let health = warp::path("healthz")
        .or(warp::path("health"))
        .unify()
        .and(warp::path::end())
        .and(warp::get())
        .and(latest.clone())
        .map(|s: Arc<Snapshot>| match &s.health {
            Ok(()) => respond(StatusCode::OK, "text/plain", "OK\n"),
            Err(why) => respond(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("UNHEALTHY: {why}\n"),
            ),
        });
    let http = warp::any().map(move || counters.clone());
    let info =
        warp::path!("json" / "info").and(warp::get()).and(latest.clone()).and(http.clone()).map(
            |s: Arc<Snapshot>, http: Arc<HttpCounters>| {
                let mut info = s.info_now();
                // Read now, not at publication: they move while the snapshot stands still.
                info["http"] = http.to_json();
                respond(StatusCode::OK, JSON, info.to_string())
            },
        );
    let json = warp::path!("json" / String)
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .and(latest.clone())
        .map(|name: String, q: HashMap<String, String>, s: Arc<Snapshot>| {
            let Some(endpoint) = Endpoint::from_name(&name) else {
                return respond(StatusCode::NOT_FOUND, "text/plain", "no such endpoint\n");
            };
            let scope = match q.get("scope").map(String::as_str) {
                None | Some("window") => Scope::Window,
                Some("cumulative") => Scope::Cumulative,
                Some(_) => {
                    return respond(
                        StatusCode::BAD_REQUEST,
                        "text/plain",
                        "scope must be `window` or `cumulative`\n",
                    );
                }
            };
            respond(StatusCode::OK, JSON, &*s.view(scope).body(endpoint))
        });
    let metrics = warp::path!("metrics").and(warp::get()).and(latest).and(http).map(
        |s: Arc<Snapshot>, http: Arc<HttpCounters>| {
            let body = s.metrics.get_or_init(|| Arc::from(super::metrics::render(&s))).clone();
            respond(StatusCode::OK, OPENMETRICS, super::metrics::with_http(&body, &http.to_json()))
        },
    );
    index
        .or(health)
        .unify()
        .or(info)
        .unify()
        .or(json)
        .unify()
        .or(metrics)
        .unify()
        .recover(not_found)
        .unify()
}

async fn not_found(_: warp::Rejection) -> Result<Response<String>, Infallible> {
    Ok(respond(StatusCode::NOT_FOUND, "text/plain", "not found; see /\n"))
}

const INDEX: &str = r#"<!doctype html>
<html><head><title>zktraffic</title></head><body>
<h1>zktraffic stats daemon</h1>
<p>Values of the last completed window; add <code>?scope=cumulative</code> for totals since start.</p>
<ul>
<li><a href="/json/paths">/json/paths</a>: requests, bytes, reads, writes, watches and watch events per path</li>
<li><a href="/json/ips">/json/ips</a>: the same per client IP (<code>per_ip/</code>)</li>
<li><a href="/json/auths">/json/auths</a>: the same per identity (<code>per_auth/</code>)</li>
<li><a href="/json/auths-dump">/json/auths-dump</a>: client connection to identity</li>
<li><a href="/json/latency">/json/latency</a>: latency per request type and per path</li>
<li><a href="/json/errors">/json/errors</a>: failed replies by request type, error and path</li>
<li><a href="/json/clients">/json/clients</a>: per client connection</li>
<li><a href="/json/info">/json/info</a>: version, uptime, capture and pipeline counters</li>
<li><a href="/metrics">/metrics</a>: Prometheus / OpenMetrics</li>
<li><a href="/healthz">/healthz</a>: health</li>
</ul>
</body></html>
"#;
