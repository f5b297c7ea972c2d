//! Decoded ZooKeeper messages: the only thing sinks see.
//!
//! Messages borrow from the frame they were decoded from; a sink that keeps one must copy what
//! it needs.

use crate::Timestamp;
use crate::tcp::ConnKey;

use super::error::ErrorCode;
use super::opcode::OpCode;

/// One decoded message on a connection.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    /// Capture time of the segment that completed the message.
    pub ts: Timestamp,
    /// The connection, client → server.
    pub conn: &'a ConnKey,
    /// The frame's 4-byte length prefix (bytes after the prefix); for a four-letter word, the
    /// size of the server's text answer.
    pub size: u32,
    /// What the message is.
    pub body: Body<'a>,
}

/// The kinds of message.
#[derive(Clone, Debug)]
pub enum Body<'a> {
    /// Client → server.
    Request(Request<'a>),
    /// Server → client, answering a request.
    Reply(Reply<'a>),
    /// Server → client watch notification (xid −1).
    Event(WatchEvent<'a>),
    /// A four-letter word (`stat`, `mntr`, …) and the size of its text answer (§A9).
    FourLetter(FourLetterWord),
}

/// A request: header plus record.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The client-chosen transaction id (0 for the handshake).
    pub xid: i32,
    /// The operation.
    pub op: OpCode,
    /// The decoded request record.
    pub record: RequestRecord<'a>,
}

impl<'a> Request<'a> {
    /// The user-facing name: the opcode's name, except `ReConnectRequest` for a handshake with a
    /// session id and `CreateEphemeralRequest` for any ephemeral create (as the original).
    #[inline]
    pub fn name(&self) -> &'static str {
        match &self.record {
            RequestRecord::Connect(c) if c.session_id != 0 => "ReConnectRequest",
            RequestRecord::Create(c) if c.mode().is_ephemeral() => "CreateEphemeralRequest",
            _ => self.op.request_name(),
        }
    }

    /// The request's path; for multi, the first sub-operation's path.
    pub fn path(&self) -> Option<&'a str> {
        self.record.path()
    }

    /// Whether the request sets a watch (`None` for requests without a watch flag).
    pub fn watch(&self) -> Option<bool> {
        match self.record {
            RequestRecord::PathWatch { watch, .. } => Some(watch),
            _ => None,
        }
    }
}

/// The record that follows a request header, by opcode.
#[derive(Clone, Debug)]
pub enum RequestRecord<'a> {
    /// The handshake.
    Connect(ConnectRequest),
    /// create, create2, createContainer, createTTL.
    Create(CreateRequest<'a>),
    /// delete, check: a path and an expected version.
    PathVersion { path: &'a str, version: i32 },
    /// exists, getData, getChildren, getChildren2: a path and the watch flag.
    PathWatch { path: &'a str, watch: bool },
    /// getACL, sync, getAllChildrenNumber, getEphemerals (its prefix).
    Path { path: &'a str },
    /// setData.
    SetData { path: &'a str, data_len: usize, version: i32 },
    /// setACL.
    SetAcl { path: &'a str, acl: Vec<Acl<'a>>, version: i32 },
    /// multi and multiRead: every sub-operation, in order.
    Multi(Vec<MultiOp<'a>>),
    /// reconfig.
    Reconfig { joining: &'a str, leaving: &'a str, new_members: &'a str, config_id: i64 },
    /// checkWatches, removeWatches: `watcher_type` 1 children, 2 data, 3 any, 4/5 persistent.
    Watches { path: &'a str, watcher_type: i32 },
    /// addWatch: `mode` 0 persistent, 1 persistent recursive.
    AddWatch { path: &'a str, mode: i32 },
    /// auth (xid −4). The credential is a secret: printers redact it unless asked not to.
    Auth { auth_type: i32, scheme: &'a str, credential: &'a [u8] },
    /// setWatches (101) and setWatches2 (105; the two persistent lists are empty for 101).
    /// Boxed: rare, and five lists would make every message larger.
    SetWatches(Box<SetWatches<'a>>),
    /// sasl: the token is opaque.
    Sasl { token_len: usize },
    /// ping, close, whoAmI: a header and nothing else.
    Empty,
    /// An unknown opcode: the body is not decoded.
    Unknown { body_len: usize },
}

impl<'a> RequestRecord<'a> {
    /// The record's path, if it has one (for multi, the first sub-operation's).
    pub fn path(&self) -> Option<&'a str> {
        match self {
            RequestRecord::Create(c) => Some(c.path),
            RequestRecord::PathVersion { path, .. }
            | RequestRecord::PathWatch { path, .. }
            | RequestRecord::Path { path }
            | RequestRecord::SetData { path, .. }
            | RequestRecord::SetAcl { path, .. }
            | RequestRecord::Watches { path, .. }
            | RequestRecord::AddWatch { path, .. } => Some(path),
            RequestRecord::Multi(ops) => ops.iter().find_map(|op| op.path),
            _ => None,
        }
    }
}

/// The handshake request (§A2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout_ms: i32,
    pub session_id: i64,
    /// Absent in 44-byte handshakes (3.4-era clients).
    pub read_only: Option<bool>,
}

/// The handshake response (§A2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// Negotiated timeout; 0 with session 0 means the session expired.
    pub timeout_ms: i32,
    pub session_id: i64,
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// The server refused to re-establish an expired or unknown session.
    pub fn is_expired(&self) -> bool {
        self.timeout_ms <= 0
    }
}

/// A create of any kind.
#[derive(Clone, Debug)]
pub struct CreateRequest<'a> {
    pub path: &'a str,
    pub data_len: usize,
    pub acl: Vec<Acl<'a>>,
    /// The raw `flags` field (see [`CreateMode`]).
    pub flags: i32,
    /// The TTL in ms (createTTL only).
    pub ttl_ms: Option<i64>,
}

impl CreateRequest<'_> {
    /// The create mode the flags select.
    pub fn mode(&self) -> CreateMode {
        CreateMode::from_flags(self.flags)
    }
}

/// Create modes (§A8 `CreateMode.fromFlag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMode {
    Persistent,
    Ephemeral,
    PersistentSequential,
    EphemeralSequential,
    Container,
    PersistentWithTtl,
    PersistentSequentialWithTtl,
    /// A flag value the server rejects with BadArguments.
    Invalid(i32),
}

impl CreateMode {
    /// Maps the `flags` field.
    pub const fn from_flags(flags: i32) -> Self {
        match flags {
            0 => CreateMode::Persistent,
            1 => CreateMode::Ephemeral,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::EphemeralSequential,
            4 => CreateMode::Container,
            5 => CreateMode::PersistentWithTtl,
            6 => CreateMode::PersistentSequentialWithTtl,
            other => CreateMode::Invalid(other),
        }
    }

    /// Ephemeral nodes vanish with their session.
    pub const fn is_ephemeral(self) -> bool {
        matches!(self, CreateMode::Ephemeral | CreateMode::EphemeralSequential)
    }

    /// Sequential nodes get a 10-digit suffix.
    pub const fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential
                | CreateMode::EphemeralSequential
                | CreateMode::PersistentSequentialWithTtl
        )
    }

    /// The `CreateMode` constant's name.
    pub const fn name(self) -> &'static str {
        match self {
            CreateMode::Persistent => "PERSISTENT",
            CreateMode::Ephemeral => "EPHEMERAL",
            CreateMode::PersistentSequential => "PERSISTENT_SEQUENTIAL",
            CreateMode::EphemeralSequential => "EPHEMERAL_SEQUENTIAL",
            CreateMode::Container => "CONTAINER",
            CreateMode::PersistentWithTtl => "PERSISTENT_WITH_TTL",
            CreateMode::PersistentSequentialWithTtl => "PERSISTENT_SEQUENTIAL_WITH_TTL",
            CreateMode::Invalid(_) => "INVALID",
        }
    }
}

/// One ACL entry: permissions and the identity they apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acl<'a> {
    pub perms: i32,
    pub scheme: &'a str,
    pub id: &'a str,
}

/// setWatches / setWatches2: the watches a reconnecting client re-registers.
#[derive(Clone, Debug, Default)]
pub struct SetWatches<'a> {
    pub relative_zxid: i64,
    pub data: Vec<&'a str>,
    pub exist: Vec<&'a str>,
    pub child: Vec<&'a str>,
    pub persistent: Vec<&'a str>,
    pub persistent_recursive: Vec<&'a str>,
}

/// One sub-operation of a multi or multiRead request.
#[derive(Clone, Debug)]
pub struct MultiOp<'a> {
    pub op: OpCode,
    /// The sub-operation's path (every allowed sub-operation has one).
    pub path: Option<&'a str>,
    /// The create mode, for create sub-operations.
    pub create_mode: Option<CreateMode>,
}

/// One sub-result of a multi or multiRead reply (§A6).
#[derive(Clone, Debug)]
pub struct MultiResult<'a> {
    /// The sub-result's type: the sub-operation's opcode, or `Unknown(-1)` for an error result.
    pub op: OpCode,
    /// `Ok` unless the sub-operation failed (or was rolled back: RuntimeInconsistency).
    pub err: ErrorCode,
    /// The created path, for create results.
    pub path: Option<&'a str>,
}

/// A reply: header, the request it answers (when that was seen), and record.
#[derive(Clone, Debug)]
pub struct Reply<'a> {
    /// The xid of the request it answers (or a special xid, see [`xid`](super::opcode::xid)).
    pub xid: i32,
    /// The server's last zxid when it answered (−1 or 0 where the protocol sends none).
    pub zxid: i64,
    /// The error code (0: success).
    pub err: ErrorCode,
    /// The request this reply answers, when it was captured.
    pub request: Option<PairedRequest<'a>>,
    /// The response record; `ReplyRecord::Empty` when `err != 0` or the type has none.
    pub record: ReplyRecord<'a>,
}

impl Reply<'_> {
    /// The operation answered: from the paired request, or inferred from a special xid.
    pub fn op(&self) -> Option<OpCode> {
        self.request.as_ref().map(|r| r.op).or(OpCode::from_special_xid(self.xid))
    }

    /// The reply's name, e.g. `ExistsReply`; `UnknownReply` when the request was not seen.
    pub fn name(&self) -> &'static str {
        self.op().map_or("UnknownReply", OpCode::reply_name)
    }

    /// Nanoseconds from the request to this reply, when both were seen.
    ///
    /// A reply timestamped before its request (a clock step, or timestamps taken on different
    /// CPUs) has latency 0; one more than `MAX_LATENCY_NS` (an hour) after it has none (a timestamp
    /// jump or a reused xid: no such wait is real). The decoder counts both.
    pub fn latency_ns(&self, reply_ts: Timestamp) -> Option<u64> {
        let ns = reply_ts.saturating_nanos_since(self.request.as_ref()?.ts);
        (ns <= MAX_LATENCY_NS).then_some(ns)
    }
}

/// The longest latency believed: an hour (ZooKeeper sessions time out within a minute).
pub const MAX_LATENCY_NS: u64 = 3_600 * 1_000_000_000;

/// What the decoder remembered of the request a reply answers.
#[derive(Clone, Copy, Debug)]
pub struct PairedRequest<'a> {
    pub op: OpCode,
    /// The request's user-facing name (see [`Request::name`]).
    pub name: &'static str,
    /// When the request was captured.
    pub ts: Timestamp,
    /// The request's path (first sub-operation's for multi).
    pub path: Option<&'a str>,
}

/// The record that follows a reply header, by the answered request's opcode.
#[derive(Clone, Debug)]
pub enum ReplyRecord<'a> {
    /// No body: an error reply, or an opcode whose response is the header alone.
    Empty,
    /// The handshake response.
    Connect(ConnectResponse),
    /// create, create2 (with a Stat), createContainer, createTTL, sync: the path.
    Path { path: &'a str, stat: Option<Stat<'a>> },
    /// exists, setData, setACL, check: a Stat.
    Stat(Stat<'a>),
    /// getData and reconfig: the data's length and the node's Stat.
    Data { data_len: usize, stat: Stat<'a> },
    /// getACL.
    Acl { acl: Vec<Acl<'a>>, stat: Stat<'a> },
    /// getChildren, getChildren2 (with a Stat), getEphemerals.
    Children { count: usize, stat: Option<Stat<'a>> },
    /// multi, multiRead: every sub-result, in order.
    Multi(Vec<MultiResult<'a>>),
    /// getAllChildrenNumber.
    ChildrenNumber(i32),
    /// addWatch: its ErrorResponse body.
    ErrorBody(ErrorCode),
    /// sasl: the server token's length.
    Sasl { token_len: usize },
    /// whoAmI: (scheme, user) pairs.
    WhoAmI(Vec<(&'a str, &'a str)>),
    /// A body this decoder cannot interpret (the request was not seen): left undecoded.
    Undecoded { body_len: usize },
}

/// Bytes of a Stat on the wire.
pub const STAT_LEN: usize = 68;

/// A znode's metadata, left in the frame and read on demand: most sinks never look at it, and
/// decoding its eleven fields for every reply showed in profiles.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a>(pub(crate) &'a [u8; STAT_LEN]);

impl Stat<'_> {
    fn i64_at(&self, at: usize) -> i64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[at..at + 8]);
        i64::from_be_bytes(b)
    }

    fn i32_at(&self, at: usize) -> i32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[at..at + 4]);
        i32::from_be_bytes(b)
    }

    /// zxid of the change that created the node.
    pub fn czxid(&self) -> i64 {
        self.i64_at(0)
    }
    /// zxid of the last change to the node.
    pub fn mzxid(&self) -> i64 {
        self.i64_at(8)
    }
    /// Creation time (ms since the epoch).
    pub fn ctime(&self) -> i64 {
        self.i64_at(16)
    }
    /// Last modification time (ms since the epoch).
    pub fn mtime(&self) -> i64 {
        self.i64_at(24)
    }
    /// Data version.
    pub fn version(&self) -> i32 {
        self.i32_at(32)
    }
    /// Children version.
    pub fn cversion(&self) -> i32 {
        self.i32_at(36)
    }
    /// ACL version.
    pub fn aversion(&self) -> i32 {
        self.i32_at(40)
    }
    /// Owning session of an ephemeral node (0 otherwise).
    pub fn ephemeral_owner(&self) -> i64 {
        self.i64_at(44)
    }
    /// Length of the node's data.
    pub fn data_length(&self) -> i32 {
        self.i32_at(52)
    }
    /// Number of children.
    pub fn num_children(&self) -> i32 {
        self.i32_at(56)
    }
    /// zxid of the last change to the children.
    pub fn pzxid(&self) -> i64 {
        self.i64_at(60)
    }
}

impl std::fmt::Debug for Stat<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stat")
            .field("czxid", &self.czxid())
            .field("mzxid", &self.mzxid())
            .field("version", &self.version())
            .field("cversion", &self.cversion())
            .field("ephemeral_owner", &self.ephemeral_owner())
            .field("data_length", &self.data_length())
            .field("num_children", &self.num_children())
            .field("pzxid", &self.pzxid())
            .finish()
    }
}

/// A watch notification (§A3, §A8).
#[derive(Clone, Copy, Debug)]
pub struct WatchEvent<'a> {
    /// −1 before 3.9; the zxid of the change from 3.9 on.
    pub zxid: i64,
    pub event_type: i32,
    pub state: i32,
    pub path: &'a str,
}

impl WatchEvent<'_> {
    /// `Watcher.Event.EventType` name.
    pub fn type_name(&self) -> &'static str {
        match self.event_type {
            -1 => "None",
            1 => "NodeCreated",
            2 => "NodeDeleted",
            3 => "NodeDataChanged",
            4 => "NodeChildrenChanged",
            5 => "DataWatchRemoved",
            6 => "ChildWatchRemoved",
            7 => "PersistentWatchRemoved",
            _ => "UnknownWatchEvent",
        }
    }

    /// `Watcher.Event.KeeperState` name.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            -1 => "Unknown",
            0 => "Disconnected",
            1 => "NoSyncConnected",
            3 => "SyncConnected",
            4 => "AuthFailed",
            5 => "ConnectedReadOnly",
            6 => "SaslAuthenticated",
            7 => "Closed",
            -112 => "Expired",
            _ => "UnknownState",
        }
    }
}

/// A four-letter word exchange on the client port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FourLetterWord {
    /// The command, e.g. `*b"stat"`.
    pub command: [u8; 4],
    /// Bytes of text the server answered with.
    pub response_len: u64,
}

impl FourLetterWord {
    /// The command as text.
    pub fn command_str(&self) -> &str {
        std::str::from_utf8(&self.command).unwrap_or("????")
    }
}
