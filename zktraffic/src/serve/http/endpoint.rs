//! The `/json/*` endpoints: their names, and their bodies rendered from a snapshot's views.

use std::sync::Arc;

use super::render::{self, Dimension, RenderOptions};
use crate::serve::snapshot::{BODY_SLOTS, View};

/// The `/json/*` endpoints rendered from a [`View`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/json/paths`.
    Paths,
    /// `/json/ips`.
    Ips,
    /// `/json/auths`.
    Auths,
    /// `/json/auths-dump`.
    AuthsDump,
    /// `/json/latency`.
    Latency,
    /// `/json/errors`.
    Errors,
    /// `/json/clients`.
    Clients,
}

impl Endpoint {
    /// Every endpoint, in index order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Paths,
        Endpoint::Ips,
        Endpoint::Auths,
        Endpoint::AuthsDump,
        Endpoint::Latency,
        Endpoint::Errors,
        Endpoint::Clients,
    ];

    /// The endpoint served at `/json/<name>`.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Some(match name {
            "paths" => Endpoint::Paths,
            "ips" => Endpoint::Ips,
            "auths" => Endpoint::Auths,
            "auths-dump" => Endpoint::AuthsDump,
            "latency" => Endpoint::Latency,
            "errors" => Endpoint::Errors,
            "clients" => Endpoint::Clients,
            _ => return None,
        })
    }

    /// The JSON body of this endpoint for `view`, rendered once per view.
    pub fn body(self, view: &View, options: RenderOptions) -> Arc<str> {
        view.cached(self as usize, || {
            let (t, conns, o) = (&view.tally, &view.conns, options);
            let v = match self {
                Endpoint::Paths => render::compatible(t, Dimension::Path, o),
                Endpoint::Ips => render::compatible(t, Dimension::Ip, o),
                Endpoint::Auths => render::compatible(t, Dimension::Auth, o),
                Endpoint::AuthsDump => render::auths_dump(conns),
                Endpoint::Latency => render::latency(t, o),
                Endpoint::Errors => render::errors(t),
                Endpoint::Clients => render::clients(t, conns, o),
            };
            v.to_string()
        })
    }
}

// Every endpoint has a cache slot.
const _: () = assert!(Endpoint::ALL.len() <= BODY_SLOTS);
