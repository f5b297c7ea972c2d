//! Reply error codes (`ReplyHeader.err`, protocol reference §A7).

use std::fmt;

/// A `KeeperException.Code` as carried in a reply header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i32);

impl ErrorCode {
    /// Success.
    pub const OK: ErrorCode = ErrorCode(0);
    /// The node does not exist.
    pub const NO_NODE: ErrorCode = ErrorCode(-101);
    /// The session expired (also what an expired ConnectResponse means).
    pub const SESSION_EXPIRED: ErrorCode = ErrorCode(-112);

    /// The name of a known code, in `KeeperException.Code` style (`NoNode`, `Ok`, …).
    pub const fn known_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "Ok",
            -1 => "SystemError",
            -2 => "RuntimeInconsistency",
            -3 => "DataInconsistency",
            -4 => "ConnectionLoss",
            -5 => "MarshallingError",
            -6 => "Unimplemented",
            -7 => "OperationTimeout",
            -8 => "BadArguments",
            -12 => "UnknownSession",
            -13 => "NewConfigNoQuorum",
            -14 => "ReconfigInProgress",
            -100 => "ApiError",
            -101 => "NoNode",
            -102 => "NoAuth",
            -103 => "BadVersion",
            -108 => "NoChildrenForEphemerals",
            -110 => "NodeExists",
            -111 => "NotEmpty",
            -112 => "SessionExpired",
            -113 => "InvalidCallback",
            -114 => "InvalidACL",
            -115 => "AuthFailed",
            -118 => "SessionMoved",
            -119 => "NotReadOnly",
            -120 => "EphemeralOnLocalSession",
            -121 => "NoWatcher",
            -122 => "RequestTimeout",
            -123 => "ReconfigDisabled",
            -124 => "SessionClosedRequireSaslAuth",
            -125 => "QuotaExceeded",
            -127 => "Throttled",
            _ => return None,
        })
    }

    /// True when the server can send this code (used to judge resync candidates).
    pub const fn is_known(self) -> bool {
        self.known_name().is_some()
    }

    /// True for success.
    pub const fn is_ok(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Unknown({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ErrorCode(-101).to_string(), "NoNode");
        assert_eq!(ErrorCode(0).to_string(), "Ok");
        assert_eq!(ErrorCode(-6).to_string(), "Unimplemented");
        assert_eq!(ErrorCode(-126).to_string(), "Unknown(-126)");
    }
}
