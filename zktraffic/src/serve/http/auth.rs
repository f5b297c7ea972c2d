//! Who may read the daemon: with `--http-token-file`, every request must carry
//! `Authorization: Bearer <token>` (compared in constant time), except `/healthz` when
//! `--http-token-exempt-healthz` lets probes in. The token is re-read on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use subtle::ConstantTimeEq;

/// What HTTP asks of a client (`ServeConfig::http_auth`).
#[derive(Clone, Debug, Default)]
pub struct HttpAuth {
    /// The file holding the bearer token (none: no token asked).
    pub token_file: Option<PathBuf>,
    /// `/healthz` (and `/health`) answer without the token.
    pub exempt_healthz: bool,
    /// `/json/auths-dump` (which client connection authenticated as whom) is not served.
    pub no_auths_dump: bool,
}

/// The token in force.
#[derive(Debug)]
pub struct Access {
    config: HttpAuth,
    token: RwLock<Option<Vec<u8>>>,
}

/// Why a token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It could not be read.
    #[error("cannot read the HTTP token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// It holds no token.
    #[error(
        "the HTTP token file {0} is empty: write the token in it (e.g. `openssl rand -hex 32`)"
    )]
    Empty(PathBuf),
}

fn read_token(path: &Path) -> Result<Vec<u8>, TokenError> {
    let text =
        std::fs::read(path).map_err(|source| TokenError::Read { path: path.to_owned(), source })?;
    // A trailing newline (`echo token > file`, a Kubernetes Secret) is not part of it.
    let token = text.trim_ascii();
    if token.is_empty() {
        return Err(TokenError::Empty(path.to_owned()));
    }
    Ok(token.to_vec())
}

impl Access {
    /// Reads the token file, if any.
    pub fn load(config: HttpAuth) -> Result<Access, TokenError> {
        let token = config.token_file.as_deref().map(read_token).transpose()?;
        Ok(Access { config, token: RwLock::new(token) })
    }

    /// No token asked, everything served.
    #[cfg(test)]
    pub fn open() -> Access {
        Access { config: HttpAuth::default(), token: RwLock::new(None) }
    }

    /// Whether `/json/auths-dump` is served.
    pub fn serves_auths_dump(&self) -> bool {
        !self.config.no_auths_dump
    }

    /// Reads the token file again; on failure the old token stays in force.
    pub fn reload(&self) -> Result<bool, TokenError> {
        let Some(path) = &self.config.token_file else { return Ok(false) };
        let token = read_token(path)?;
        *self.token.write().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(true)
    }

    /// Whether a request for `path` with this `Authorization` header may be answered.
    pub fn allows(&self, path: &str, authorization: Option<&str>) -> bool {
        if self.config.exempt_healthz && matches!(path, "/healthz" | "/health") {
            return true;
        }
        let token = self.token.read().unwrap_or_else(|e| e.into_inner());
        let Some(token) = token.as_deref() else { return true };
        let Some((scheme, given)) = authorization.and_then(|h| h.split_once(' ')) else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer") && bool::from(given.trim().as_bytes().ct_eq(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(token: &str, exempt_healthz: bool) -> (Access, tempfile::NamedTempFile) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), token).unwrap();
        let config = HttpAuth {
            token_file: Some(file.path().to_owned()),
            exempt_healthz,
            ..HttpAuth::default()
        };
        (Access::load(config).unwrap(), file)
    }

    #[test]
    fn only_the_right_bearer_token_is_let_in() {
        let (a, _f) = access("s3cret\n", false);
        assert!(a.allows("/json/paths", Some("Bearer s3cret")));
        assert!(a.allows("/metrics", Some("bearer s3cret")));
        for wrong in [None, Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret")] {
            assert!(!a.allows("/json/paths", wrong), "{wrong:?}");
        }
        assert!(!a.allows("/healthz", None));
        let (a, _f) = access("s3cret", true);
        assert!(a.allows("/healthz", None) && !a.allows("/json/info", None));
    }

    #[test]
    fn no_token_file_lets_everyone_in_and_a_bad_reload_keeps_the_old_token() {
        let open = Access::open();
        assert!(open.allows("/json/paths", None));
        assert!(!open.reload().unwrap());
        let (a, f) = access("one", false);
        std::fs::write(f.path(), "two").unwrap();
        assert!(a.reload().unwrap() && a.allows("/", Some("Bearer two")));
        std::fs::write(f.path(), "\n").unwrap();
        assert!(matches!(a.reload(), Err(TokenError::Empty(_))));
        assert!(a.allows("/", Some("Bearer two")), "the old token stays");
    }
}
