//! Operation codes (protocol reference §A5) and the names users see for them, and the special
//! xids (§A4).

/// The special xids (protocol reference §A4); ordinary requests have positive xids.
pub mod xid {
    /// Server → client: a watch notification (`NOTIFICATION_XID`).
    pub const NOTIFICATION: i32 = -1;
    /// A ping (opcode 11) and its header-only reply.
    pub const PING: i32 = -2;
    /// An auth packet (opcode 100) and its header-only reply.
    pub const AUTH: i32 = -4;
    /// Client → server: setWatches (`SET_WATCHES_XID`). Only the C client sends it: the Java
    /// client gives setWatches an ordinary xid.
    pub const SET_WATCHES: i32 = -8;
}

/// A request's operation code, as in `RequestHeader.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpCode {
    /// The handshake; not a wire opcode (the ConnectRequest has no header).
    Connect,
    /// `create`, opcode 1.
    Create,
    /// `delete`, opcode 2.
    Delete,
    /// `exists`, opcode 3.
    Exists,
    /// `getData`, opcode 4.
    GetData,
    /// `setData`, opcode 5.
    SetData,
    /// `getAcl`, opcode 6.
    GetAcl,
    /// `setAcl`, opcode 7.
    SetAcl,
    /// `getChildren`, opcode 8.
    GetChildren,
    /// `sync`, opcode 9.
    Sync,
    /// `ping`, opcode 11.
    Ping,
    /// `getChildren2`, opcode 12.
    GetChildren2,
    /// `check`, opcode 13.
    Check,
    /// `multi`, opcode 14.
    Multi,
    /// `create2`, opcode 15.
    Create2,
    /// `reconfig`, opcode 16.
    Reconfig,
    /// `checkWatches`, opcode 17.
    CheckWatches,
    /// `removeWatches`, opcode 18.
    RemoveWatches,
    /// `createContainer`, opcode 19.
    CreateContainer,
    /// `deleteContainer`, opcode 20.
    DeleteContainer,
    /// `createTtl`, opcode 21.
    CreateTtl,
    /// `multiRead`, opcode 22.
    MultiRead,
    /// `auth`, opcode 100.
    Auth,
    /// `setWatches`, opcode 101.
    SetWatches,
    /// `sasl`, opcode 102.
    Sasl,
    /// `getEphemerals`, opcode 103.
    GetEphemerals,
    /// `getAllChildrenNumber`, opcode 104.
    GetAllChildrenNumber,
    /// `setWatches2`, opcode 105.
    SetWatches2,
    /// `addWatch`, opcode 106.
    AddWatch,
    /// `whoAmI`, opcode 107.
    WhoAmI,
    /// `createSession`, opcode -10.
    CreateSession,
    /// `close`, opcode -11.
    Close,
    /// An opcode this decoder does not know (e.g. a ClickHouse Keeper extension).
    Unknown(i32),
}

impl OpCode {
    /// Every opcode with a wire number, for tests and documentation.
    pub const ALL: [OpCode; 31] = [
        OpCode::Create,
        OpCode::Delete,
        OpCode::Exists,
        OpCode::GetData,
        OpCode::SetData,
        OpCode::GetAcl,
        OpCode::SetAcl,
        OpCode::GetChildren,
        OpCode::Sync,
        OpCode::Ping,
        OpCode::GetChildren2,
        OpCode::Check,
        OpCode::Multi,
        OpCode::Create2,
        OpCode::Reconfig,
        OpCode::CheckWatches,
        OpCode::RemoveWatches,
        OpCode::CreateContainer,
        OpCode::DeleteContainer,
        OpCode::CreateTtl,
        OpCode::MultiRead,
        OpCode::Auth,
        OpCode::SetWatches,
        OpCode::Sasl,
        OpCode::GetEphemerals,
        OpCode::GetAllChildrenNumber,
        OpCode::SetWatches2,
        OpCode::AddWatch,
        OpCode::WhoAmI,
        OpCode::CreateSession,
        OpCode::Close,
    ];

    /// Maps a wire opcode; unknown values become [`OpCode::Unknown`].
    pub const fn from_wire(op: i32) -> OpCode {
        match op {
            1 => OpCode::Create,
            2 => OpCode::Delete,
            3 => OpCode::Exists,
            4 => OpCode::GetData,
            5 => OpCode::SetData,
            6 => OpCode::GetAcl,
            7 => OpCode::SetAcl,
            8 => OpCode::GetChildren,
            9 => OpCode::Sync,
            11 => OpCode::Ping,
            12 => OpCode::GetChildren2,
            13 => OpCode::Check,
            14 => OpCode::Multi,
            15 => OpCode::Create2,
            16 => OpCode::Reconfig,
            17 => OpCode::CheckWatches,
            18 => OpCode::RemoveWatches,
            19 => OpCode::CreateContainer,
            20 => OpCode::DeleteContainer,
            21 => OpCode::CreateTtl,
            22 => OpCode::MultiRead,
            100 => OpCode::Auth,
            101 => OpCode::SetWatches,
            102 => OpCode::Sasl,
            103 => OpCode::GetEphemerals,
            104 => OpCode::GetAllChildrenNumber,
            105 => OpCode::SetWatches2,
            106 => OpCode::AddWatch,
            107 => OpCode::WhoAmI,
            -10 => OpCode::CreateSession,
            -11 => OpCode::Close,
            other => OpCode::Unknown(other),
        }
    }

    /// The wire number (0 for the handshake).
    pub const fn to_wire(self) -> i32 {
        match self {
            OpCode::Connect => 0,
            OpCode::Create => 1,
            OpCode::Delete => 2,
            OpCode::Exists => 3,
            OpCode::GetData => 4,
            OpCode::SetData => 5,
            OpCode::GetAcl => 6,
            OpCode::SetAcl => 7,
            OpCode::GetChildren => 8,
            OpCode::Sync => 9,
            OpCode::Ping => 11,
            OpCode::GetChildren2 => 12,
            OpCode::Check => 13,
            OpCode::Multi => 14,
            OpCode::Create2 => 15,
            OpCode::Reconfig => 16,
            OpCode::CheckWatches => 17,
            OpCode::RemoveWatches => 18,
            OpCode::CreateContainer => 19,
            OpCode::DeleteContainer => 20,
            OpCode::CreateTtl => 21,
            OpCode::MultiRead => 22,
            OpCode::Auth => 100,
            OpCode::SetWatches => 101,
            OpCode::Sasl => 102,
            OpCode::GetEphemerals => 103,
            OpCode::GetAllChildrenNumber => 104,
            OpCode::SetWatches2 => 105,
            OpCode::AddWatch => 106,
            OpCode::WhoAmI => 107,
            OpCode::CreateSession => -10,
            OpCode::Close => -11,
            OpCode::Unknown(op) => op,
        }
    }

    /// The operation a reply with a special xid answers, when its request was not seen (§A4):
    /// `None` for the notification xid and every ordinary one.
    pub const fn from_special_xid(xid: i32) -> Option<OpCode> {
        match xid {
            xid::PING => Some(OpCode::Ping),
            xid::AUTH => Some(OpCode::Auth),
            xid::SET_WATCHES => Some(OpCode::SetWatches),
            _ => None,
        }
    }

    /// True for a known opcode a client may send on the client port.
    pub const fn is_client_request(self) -> bool {
        !matches!(
            self,
            OpCode::Connect | OpCode::DeleteContainer | OpCode::CreateSession | OpCode::Unknown(_)
        )
    }

    /// Writes, in the original zktraffic's classification (`ZK_WRITE_OPS`, extended with the
    /// opcodes it never knew): everything else counts as a read.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Multi
                | OpCode::Reconfig
        )
    }

    /// The request name before the `Request`/`Reply` suffix, in the original's style.
    pub const fn base_name(self) -> &'static str {
        match self {
            OpCode::Connect => "Connect",
            OpCode::Create => "Create",
            OpCode::Delete => "Delete",
            OpCode::Exists => "Exists",
            OpCode::GetData => "GetData",
            OpCode::SetData => "SetData",
            OpCode::GetAcl => "GetAcl",
            OpCode::SetAcl => "SetAcl",
            OpCode::GetChildren => "GetChildren",
            OpCode::Sync => "Sync",
            OpCode::Ping => "Ping",
            OpCode::GetChildren2 => "GetChildren2",
            OpCode::Check => "Check",
            OpCode::Multi => "Multi",
            OpCode::Create2 => "Create2",
            OpCode::Reconfig => "Reconfig",
            OpCode::CheckWatches => "CheckWatches",
            OpCode::RemoveWatches => "RemoveWatches",
            OpCode::CreateContainer => "CreateContainer",
            OpCode::DeleteContainer => "DeleteContainer",
            OpCode::CreateTtl => "CreateTTL",
            OpCode::MultiRead => "MultiRead",
            OpCode::Auth => "SetAuth",
            OpCode::SetWatches => "SetWatches",
            OpCode::Sasl => "Sasl",
            OpCode::GetEphemerals => "GetEphemerals",
            OpCode::GetAllChildrenNumber => "GetAllChildrenNumber",
            OpCode::SetWatches2 => "SetWatches2",
            OpCode::AddWatch => "AddWatch",
            OpCode::WhoAmI => "WhoAmI",
            OpCode::CreateSession => "CreateSession",
            OpCode::Close => "Close",
            OpCode::Unknown(_) => "Unknown",
        }
    }

    /// The request's name, e.g. `GetDataRequest` (create and connect names also depend on the
    /// record: see [`super::message::Request::name`]).
    pub const fn request_name(self) -> &'static str {
        match self {
            OpCode::Connect => "ConnectRequest",
            OpCode::Create => "CreateRequest",
            OpCode::Delete => "DeleteRequest",
            OpCode::Exists => "ExistsRequest",
            OpCode::GetData => "GetDataRequest",
            OpCode::SetData => "SetDataRequest",
            OpCode::GetAcl => "GetAclRequest",
            OpCode::SetAcl => "SetAclRequest",
            OpCode::GetChildren => "GetChildrenRequest",
            OpCode::Sync => "SyncRequest",
            OpCode::Ping => "PingRequest",
            OpCode::GetChildren2 => "GetChildren2Request",
            OpCode::Check => "CheckRequest",
            OpCode::Multi => "MultiRequest",
            OpCode::Create2 => "Create2Request",
            OpCode::Reconfig => "ReconfigRequest",
            OpCode::CheckWatches => "CheckWatchesRequest",
            OpCode::RemoveWatches => "RemoveWatchesRequest",
            OpCode::CreateContainer => "CreateContainerRequest",
            OpCode::DeleteContainer => "DeleteContainerRequest",
            OpCode::CreateTtl => "CreateTTLRequest",
            OpCode::MultiRead => "MultiReadRequest",
            OpCode::Auth => "SetAuthRequest",
            OpCode::SetWatches => "SetWatchesRequest",
            OpCode::Sasl => "SaslRequest",
            OpCode::GetEphemerals => "GetEphemeralsRequest",
            OpCode::GetAllChildrenNumber => "GetAllChildrenNumberRequest",
            OpCode::SetWatches2 => "SetWatches2Request",
            OpCode::AddWatch => "AddWatchRequest",
            OpCode::WhoAmI => "WhoAmIRequest",
            OpCode::CreateSession => "CreateSessionRequest",
            OpCode::Close => "CloseRequest",
            OpCode::Unknown(_) => "UnknownRequest",
        }
    }

    /// The reply's name, e.g. `GetDataReply`; the auth reply keeps the original's `AuthReply`.
    pub const fn reply_name(self) -> &'static str {
        match self {
            OpCode::Connect => "ConnectReply",
            OpCode::Create => "CreateReply",
            OpCode::Delete => "DeleteReply",
            OpCode::Exists => "ExistsReply",
            OpCode::GetData => "GetDataReply",
            OpCode::SetData => "SetDataReply",
            OpCode::GetAcl => "GetAclReply",
            OpCode::SetAcl => "SetAclReply",
            OpCode::GetChildren => "GetChildrenReply",
            OpCode::Sync => "SyncReply",
            OpCode::Ping => "PingReply",
            OpCode::GetChildren2 => "GetChildren2Reply",
            OpCode::Check => "CheckReply",
            OpCode::Multi => "MultiReply",
            OpCode::Create2 => "Create2Reply",
            OpCode::Reconfig => "ReconfigReply",
            OpCode::CheckWatches => "CheckWatchesReply",
            OpCode::RemoveWatches => "RemoveWatchesReply",
            OpCode::CreateContainer => "CreateContainerReply",
            OpCode::DeleteContainer => "DeleteContainerReply",
            OpCode::CreateTtl => "CreateTTLReply",
            OpCode::MultiRead => "MultiReadReply",
            OpCode::Auth => "AuthReply",
            OpCode::SetWatches => "SetWatchesReply",
            OpCode::Sasl => "SaslReply",
            OpCode::GetEphemerals => "GetEphemeralsReply",
            OpCode::GetAllChildrenNumber => "GetAllChildrenNumberReply",
            OpCode::SetWatches2 => "SetWatches2Reply",
            OpCode::AddWatch => "AddWatchReply",
            OpCode::WhoAmI => "WhoAmIReply",
            OpCode::CreateSession => "CreateSessionReply",
            OpCode::Close => "CloseReply",
            OpCode::Unknown(_) => "UnknownReply",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_numbers_round_trip() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_wire(op.to_wire()), op);
        }
        assert_eq!(OpCode::from_wire(10), OpCode::Unknown(10));
        assert_eq!(OpCode::from_wire(500), OpCode::Unknown(500));
    }

    #[test]
    fn names_follow_the_original() {
        assert_eq!(OpCode::GetAcl.request_name(), "GetAclRequest");
        assert_eq!(OpCode::Auth.reply_name(), "AuthReply");
        assert_eq!(OpCode::CreateTtl.request_name(), "CreateTTLRequest");
        assert!(OpCode::Multi.is_write() && !OpCode::Sync.is_write());
    }
}
