//! Why the daemon, or a collector, could not start.

use std::net::SocketAddr;

use thiserror::Error;

use crate::capture::SourceError;

/// Why the daemon could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A thread or the async runtime could not be created.
    #[error("cannot start the daemon: {0}")]
    Start(std::io::Error),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The HTTP token file cannot be used.
    #[error(transparent)]
    Token(#[from] super::http::TokenError),
    /// The TLS certificate and key cannot be used.
    #[error(transparent)]
    Tls(#[from] super::http::TlsError),
}
