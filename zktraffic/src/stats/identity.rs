//! Who a connection authenticated as, without its secret.

/// The identity of a connection that never authenticated.
pub const NOAUTH: &str = "noauth";

/// The identity an auth request establishes: `digest:<user>` for digest (the password after
/// the first colon is never kept), `ip:<addr>` for ip, the scheme alone for any other scheme
/// (its credential may be a secret).
pub fn from_auth(scheme: &str, credential: &[u8]) -> String {
    match scheme {
        "digest" => {
            let text = String::from_utf8_lossy(credential);
            match text.split_once(':') {
                Some((user, _)) => format!("digest:{user}"),
                // No colon: the whole credential might be the password.
                None => "digest".to_owned(),
            }
        }
        "ip" => format!("ip:{}", String::from_utf8_lossy(credential)),
        other => other.to_owned(),
    }
}

/// The identity of a SASL exchange: the mechanism is inside the opaque token, so only `sasl`.
pub const SASL: &str = "sasl";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_dropped() {
        assert_eq!(from_auth("digest", b"tacos:tacos"), "digest:tacos");
        assert_eq!(from_auth("digest", b"secret"), "digest");
        assert_eq!(from_auth("ip", b"10.0.0.1"), "ip:10.0.0.1");
        assert_eq!(from_auth("x509", b"CN=me"), "x509");
    }
}
