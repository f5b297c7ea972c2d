//! The routes: `/`, `/healthz`, `/json/*`, `/metrics`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use tokio::sync::watch;
use warp::Filter;
use warp::http::{Response, StatusCode};

use super::auth::Access;
use super::endpoint::Endpoint;
use super::exposition::{OPENMETRICS, PROMETHEUS_TEXT, to_prometheus_text, wants_openmetrics};
use super::{HttpCounters, RenderOptions};
use crate::serve::snapshot::{Scope, Snapshot};

const JSON: &str = "application/json";

type Snapshots = watch::Receiver<Arc<Snapshot>>;

fn respond(status: StatusCode, content_type: &str, body: impl Into<String>) -> Response<String> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert("content-type", v);
    }
    r
}

/// Every route, reading snapshots from `snapshots` (bodies rendered with `options`) and the HTTP
/// side's own `counters`, for the clients `access` lets in.
pub fn all(
    snapshots: Snapshots,
    options: RenderOptions,
    counters: Arc<HttpCounters>,
    access: Arc<Access>,
) -> impl Filter<Extract = (Response<String>,), Error = Infallible> + Clone + Send + Sync + 'static
{
    // First: a request `access` refuses gets 401 whatever its path; one it lets in falls
    // through to the routes.
    let (gate, refused) = (access.clone(), counters.clone());
    let denied = warp::path::full()
        .and(warp::header::optional::<String>("authorization"))
        .and_then(move |path: warp::path::FullPath, auth: Option<String>| {
            let allowed = gate.allows(path.as_str(), auth.as_deref());
            if !allowed {
                HttpCounters::bump(&refused.unauthorized);
            }
            async move { if allowed { Err(warp::reject::not_found()) } else { Ok(unauthorized()) } }
        });
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
                info.http = Some(http.to_json());
                let body = serde_json::to_string(&info).unwrap_or_default();
                respond(StatusCode::OK, JSON, body)
            },
        );
    let quorum = warp::path!("json" / "quorum").and(warp::get()).and(latest.clone()).map(
        |s: Arc<Snapshot>| {
            let body = match &s.quorum {
                Some(q) => q.to_json(),
                None => serde_json::json!({
                    "role": "unknown",
                    "note": "no traffic seen on a quorum (--zab-port) or election (--election-port) port",
                }),
            };
            respond(StatusCode::OK, JSON, body.to_string())
        },
    );
    let json = warp::path!("json" / String)
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .and(latest.clone())
        .map(move |name: String, q: HashMap<String, String>, s: Arc<Snapshot>| {
            let Some(endpoint) = Endpoint::from_name(&name) else {
                return respond(StatusCode::NOT_FOUND, "text/plain", "no such endpoint\n");
            };
            if endpoint == Endpoint::AuthsDump && !access.serves_auths_dump() {
                return respond(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "turned off (--no-auths-dump)\n",
                );
            }
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
            let mut r = respond(StatusCode::OK, JSON, &*endpoint.body(s.view(scope), options));
            if scope == Scope::Window
                && let Some(hint) = first_window_hint(&s)
                && let Ok(v) = hint.parse()
            {
                r.headers_mut().insert("x-zktraffic-window", v);
            }
            r
        });
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(warp::header::optional::<String>("accept"))
        .and(latest)
        .and(http)
        .map(|accept: Option<String>, s: Arc<Snapshot>, http: Arc<HttpCounters>| {
            let cached = s.metrics.get_or_init(|| Arc::from(super::metrics::render(&s))).clone();
            // The HTTP counters are live, not part of the cached snapshot.
            let body = super::metrics::with_http(&cached, &http.to_json());
            if wants_openmetrics(accept.as_deref()) {
                respond(StatusCode::OK, OPENMETRICS, body)
            } else {
                respond(StatusCode::OK, PROMETHEUS_TEXT, to_prometheus_text(&body))
            }
        });
    denied
        .or(index)
        .unify()
        .or(health)
        .unify()
        .or(info)
        .unify()
        .or(quorum)
        .unify()
        .or(json)
        .unify()
        .or(metrics)
        .unify()
        .recover(not_found)
        .unify()
}

/// Before the first window closes the window scope is `{}` (as the original): says when it
/// will close, in capture time, and where the data is meanwhile.
fn first_window_hint(s: &Snapshot) -> Option<String> {
    let agg = s.info.aggregation.as_ref()?;
    if agg.windows_completed != 0 {
        return None;
    }
    let secs = |t: &str| t.parse::<f64>().ok();
    let start = agg.current_window_start.as_deref().and_then(secs);
    let left = match (start, secs(&agg.last_packet)) {
        (Some(start), Some(last)) => (agg.window_seconds - (last - start)).max(0.0),
        _ => agg.window_seconds,
    };
    Some(format!(
        "first window closes in {left:.0} s of capture time; ?scope=cumulative has the totals so far"
    ))
}

/// 401, with the scheme asked for.
fn unauthorized() -> Response<String> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        "text/plain",
        "a bearer token is required: send `Authorization: Bearer <token>` (the daemon reads it \
         from --http-token-file)\n",
    );
    r.headers_mut().insert(
        "www-authenticate",
        warp::http::HeaderValue::from_static("Bearer realm=\"zktraffic\""),
    );
    r
}

async fn not_found(_: warp::Rejection) -> Result<Response<String>, Infallible> {
    Ok(respond(StatusCode::NOT_FOUND, "text/plain", "not found; see /\n"))
}

const INDEX: &str = r#"<!doctype html>
<html><head><title>zktraffic</title></head><body>
<h1>zktraffic stats daemon</h1>
<p>Values of the last completed window; add <code>?scope=cumulative</code> for totals since start.
Until the first window closes the window scope is <code>{}</code>, as in the original; the
<code>X-Zktraffic-Window</code> header says when it will close.</p>
<ul>
<li><a href="/json/paths">/json/paths</a>: requests, bytes, reads, writes, watches and watch events per path</li>
<li><a href="/json/ips">/json/ips</a>: the same per client IP (<code>per_ip/</code>)</li>
<li><a href="/json/auths">/json/auths</a>: the same per identity (<code>per_auth/</code>)</li>
<li><a href="/json/auths-dump">/json/auths-dump</a>: client connection to identity</li>
<li><a href="/json/latency">/json/latency</a>: latency per request type and per path</li>
<li><a href="/json/errors">/json/errors</a>: failed replies by request type, error and path</li>
<li><a href="/json/clients">/json/clients</a>: per client connection</li>
<li><a href="/json/info">/json/info</a>: version, uptime, capture and pipeline counters</li>
<li><a href="/json/quorum">/json/quorum</a>: the ensemble: leader, learners and their syncs and ACK latency, elections, proposal → commit latency</li>
<li><a href="/metrics">/metrics</a>: Prometheus / OpenMetrics</li>
<li><a href="/healthz">/healthz</a>: health</li>
</ul>
</body></html>
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::info::{AggregationInfo, Info};
    use crate::serve::snapshot::View;
    use crate::stats::Tally;
    use crate::stats::connections::ConnTable;
    use crate::stats::tally::TallyLimits;

    fn snapshot(windows_completed: u64) -> Arc<Snapshot> {
        let view = || {
            let limits = TallyLimits {
                max_paths: 10,
                max_ips: 10,
                max_keys: 10,
                max_clients: 10,
                path_latency: false,
            };
            Arc::new(View::new(Tally::new(limits), ConnTable::new(0, 0)))
        };
        Arc::new(Snapshot {
            window: view(),
            cumulative: view(),
            recent: Vec::new(),
            history: Vec::new(),
            info: Info {
                aggregation: Some(AggregationInfo {
                    window_seconds: 60.0,
                    windows_completed,
                    current_window_start: Some("1000.000000000".into()),
                    last_packet: "1016.000000000".into(),
                    ..AggregationInfo::default()
                }),
                ..Info::default()
            },
            health: Ok(()),
            finished: false,
            started: std::time::Instant::now(),
            live_connections: 0,
            quorum: None,
            metrics: Default::default(),
        })
    }

    /// Before the first window closes the window scope is `{}`, with a header saying when it
    /// will close; afterwards, and in the cumulative scope, no header.
    #[tokio::test]
    async fn the_first_window_says_when_it_closes() {
        let (_tx, rx) = watch::channel(snapshot(0));
        let options = RenderOptions { max_results: 10, exclude_bytes: false };
        let routes = all(rx, options, Arc::default(), Arc::new(Access::open()));
        let r = warp::test::request().path("/json/paths").reply(&routes).await;
        assert_eq!(r.body(), "{}");
        let hint = r.headers().get("x-zktraffic-window").expect("the header");
        assert!(hint.to_str().unwrap().starts_with("first window closes in 44 s"), "{hint:?}");
        let r = warp::test::request().path("/json/paths?scope=cumulative").reply(&routes).await;
        assert!(r.headers().get("x-zktraffic-window").is_none());
        let (_tx, rx) = watch::channel(snapshot(1));
        let r = warp::test::request()
            .path("/json/paths")
            .reply(&all(rx, options, Arc::default(), Arc::new(Access::open())))
            .await;
        assert!(r.headers().get("x-zktraffic-window").is_none());
    }
}
