//! The known ZooKeeper workload of the live tests, run with the Rust client `zookeeper-client`,
//! and what the agent must decode from it. Each operation is written next to the messages it
//! produces on the wire, so that the expectations are derived from the workload itself.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use zookeeper_client as zk;

/// Every request, reply and watch event one run puts on the wire (pings aside: the agent hides
/// them by default), as multisets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// (request type, path or "") → count.
    pub requests: BTreeMap<(String, String), usize>,
    /// (request type the reply answers, error name) → count.
    pub replies: BTreeMap<(String, String), usize>,
    /// (event, path) → count.
    pub events: BTreeMap<(String, String), usize>,
    /// Multi requests: the sub-operations (type, path) of each, in order.
    pub multi_ops: Vec<Vec<(String, String)>>,
    /// Multi replies: the sub-results (type, error) of each, in order.
    pub multi_results: Vec<Vec<(String, String)>>,
    /// Client sessions opened (one connection each).
    pub sessions: usize,
}

impl Expected {
    /// One request of `kind` on `path` answered with `error`.
    pub fn op(&mut self, kind: &str, path: &str, error: &str) {
        *self.requests.entry((kind.into(), path.into())).or_default() += 1;
        *self.replies.entry((kind.into(), error.into())).or_default() += 1;
    }

    /// A session: its handshake and, at the end, its close.
    pub fn session(&mut self) {
        self.sessions += 1;
        self.op("ConnectRequest", "", "Ok");
        self.op("CloseRequest", "", "Ok");
    }

    /// A watch notification.
    pub fn event(&mut self, event: &str, path: &str) {
        *self.events.entry((event.into(), path.into())).or_default() += 1;
    }

    /// Adds everything of `other`.
    pub fn merge(&mut self, other: &Expected) {
        for (k, v) in &other.requests {
            *self.requests.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.replies {
            *self.replies.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.events {
            *self.events.entry(k.clone()).or_default() += v;
        }
        self.multi_ops.extend(other.multi_ops.iter().cloned());
        self.multi_results.extend(other.multi_results.iter().cloned());
        self.sessions += other.sessions;
    }

    /// Requests in total.
    pub fn request_count(&self) -> usize {
        self.requests.values().sum()
    }
}

/// Sizes of the workload (the loopback test keeps values small, see there).
#[derive(Clone, Copy, Debug)]
pub struct WorkloadSize {
    /// The large value written with setData and read back.
    pub big_value: usize,
    /// Concurrent sessions doing pipelined requests.
    pub sessions: usize,
    /// Pipelined setData + getData pairs per concurrent session.
    pub pipelined: usize,
}

impl Default for WorkloadSize {
    fn default() -> Self {
        WorkloadSize { big_value: 400_000, sessions: 20, pipelined: 10 }
    }
}

/// Converts a client error into a message naming the operation.
fn ctx(what: &str) -> impl FnOnce(zk::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Fails unless `r` is exactly the error `want`.
fn expect_err<T: std::fmt::Debug>(
    what: &str,
    r: Result<T, zk::Error>,
    want: zk::Error,
) -> Result<(), String> {
    match r {
        Err(e) if e == want => Ok(()),
        other => Err(format!("{what}: expected {want:?}, got {other:?}")),
    }
}

/// Connects a session (waiting for it to be established).
async fn connect(addr: SocketAddr) -> Result<zk::Client, String> {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(&addr.to_string())
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))
}

/// Closes a session and waits until the server answered the close (so that the agent sees it).
async fn close(client: zk::Client) -> Result<(), String> {
    let mut state = client.state_watcher();
    drop(client);
    let wait = async {
        loop {
            match state.changed().await {
                zk::SessionState::Closed => return,
                s if s.is_terminated() => return,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .map_err(|_| "a session did not close within 20 s".to_string())
}

/// Runs the workload under `root` (which must not exist) against the server at `addr` from the
/// calling thread's network namespace, returning what it put on the wire.
pub async fn run(addr: SocketAddr, root: &str, size: WorkloadSize) -> Result<Expected, String> {
    let mut x = Expected::default();
    let p = |name: &str| format!("{root}/{name}");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

    // --- Session A: every create mode, reads, writes, errors, multi, sync, auth, a big value.
    let a = connect(addr).await?;
    x.session();
    a.create(root, b"root", &open).await.map_err(ctx("create root"))?;
    x.op("Create2Request", root, "Ok");
    a.create(&p("persistent"), b"v1", &open).await.map_err(ctx("create persistent"))?;
    x.op("Create2Request", &p("persistent"), "Ok");
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    a.create(&p("ephemeral"), b"e", &ephemeral).await.map_err(ctx("create ephemeral"))?;
    x.op("CreateEphemeralRequest", &p("ephemeral"), "Ok");
    let pseq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    a.create(&p("pseq-"), b"ps", &pseq).await.map_err(ctx("create persistent sequential"))?;
    x.op("Create2Request", &p("pseq-"), "Ok");
    let eseq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    a.create(&p("eseq-"), b"es", &eseq).await.map_err(ctx("create ephemeral sequential"))?;
    x.op("CreateEphemeralRequest", &p("eseq-"), "Ok");
    let container = zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
    a.create(&p("container"), b"", &container).await.map_err(ctx("create container"))?;
    x.op("CreateContainerRequest", &p("container"), "Ok");
    // A child keeps the container alive until the end.
    a.create(&p("container/child"), b"", &open).await.map_err(ctx("create container child"))?;
    x.op("Create2Request", &p("container/child"), "Ok");
    let ttl = zk::CreateMode::Persistent
        .with_acls(zk::Acls::anyone_all())
        .with_ttl(Duration::from_secs(3600));
    a.create(&p("ttl"), b"t", &ttl).await.map_err(ctx("create TTL"))?;
    x.op("CreateTTLRequest", &p("ttl"), "Ok");
    expect_err(
        "create existing",
        a.create(&p("persistent"), b"", &open).await,
        zk::Error::NodeExists,
    )?;
    x.op("Create2Request", &p("persistent"), "NodeExists");
    expect_err(
        "create under missing",
        a.create(&p("missing/x"), b"", &open).await,
        zk::Error::NoNode,
    )?;
    x.op("Create2Request", &p("missing/x"), "NoNode");

    a.get_data(&p("persistent")).await.map_err(ctx("getData"))?;
    x.op("GetDataRequest", &p("persistent"), "Ok");
    expect_err("getData missing", a.get_data(&p("missing")).await, zk::Error::NoNode)?;
    x.op("GetDataRequest", &p("missing"), "NoNode");
    a.set_data(&p("persistent"), b"v2", Some(0)).await.map_err(ctx("setData"))?;
    x.op("SetDataRequest", &p("persistent"), "Ok");
    expect_err(
        "setData bad version",
        a.set_data(&p("persistent"), b"v3", Some(99)).await,
        zk::Error::BadVersion,
    )?;
    x.op("SetDataRequest", &p("persistent"), "BadVersion");
    a.check_stat(&p("persistent")).await.map_err(ctx("exists"))?;
    x.op("ExistsRequest", &p("persistent"), "Ok");
    let none = a.check_stat(&p("missing")).await.map_err(ctx("exists missing"))?;
    if none.is_some() {
        return Err("exists on a missing node found it".into());
    }
    x.op("ExistsRequest", &p("missing"), "NoNode");
    a.list_children(root).await.map_err(ctx("getChildren"))?;
    x.op("GetChildrenRequest", root, "Ok");
    a.get_children(root).await.map_err(ctx("getChildren2"))?;
    x.op("GetChildren2Request", root, "Ok");
    a.get_acl(&p("persistent")).await.map_err(ctx("getACL"))?;
    x.op("GetAclRequest", &p("persistent"), "Ok");
    a.list_ephemerals(root).await.map_err(ctx("getEphemerals"))?;
    x.op("GetEphemeralsRequest", root, "Ok");
    a.count_descendants_number(root).await.map_err(ctx("getAllChildrenNumber"))?;
    x.op("GetAllChildrenNumberRequest", root, "Ok");
    a.sync(root).await.map_err(ctx("sync"))?;
    x.op("SyncRequest", root, "Ok");

    // A transaction that commits: two creates, a setData, a version check.
    let mut multi = a.new_multi_writer();
    for (path, data) in [(p("m1"), b"1"), (p("m2"), b"2")] {
        multi.add_create(&path, data, &open).map_err(ctx("multi add_create"))?;
    }
    multi.add_set_data(&p("persistent"), b"v4", None).map_err(ctx("multi add_set_data"))?;
    multi.add_check_version(&p("ttl"), 0).map_err(ctx("multi add_check_version"))?;
    multi.commit().await.map_err(|e| format!("multi: {e}"))?;
    x.op("MultiRequest", &p("m1"), "Ok");
    x.multi_ops.push(vec![
        ("Create2Request".into(), p("m1")),
        ("Create2Request".into(), p("m2")),
        ("SetDataRequest".into(), p("persistent")),
        ("CheckRequest".into(), p("ttl")),
    ]);
    // ZooKeeper 3.8 labels a create's sub-result with op 1 (create), whatever the sub-request's
    // opcode (the Rust client sends create2).
    x.multi_results.push(vec![
        ("CreateReply".into(), "Ok".into()),
        ("CreateReply".into(), "Ok".into()),
        ("SetDataReply".into(), "Ok".into()),
        ("CheckReply".into(), "Ok".into()),
    ]);
    // A transaction that fails on its second operation: nothing is applied.
    let mut multi = a.new_multi_writer();
    multi.add_create(&p("m3"), b"3", &open).map_err(ctx("multi add_create"))?;
    multi.add_delete(&p("missing"), None).map_err(ctx("multi add_delete"))?;
    match multi.commit().await {
        Err(zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::NoNode }) => {}
        other => return Err(format!("failing multi: expected NoNode at 1, got {other:?}")),
    }
    // The reply header of a failed multi says Ok: the error is in the sub-results.
    x.op("MultiRequest", &p("m3"), "Ok");
    x.multi_ops
        .push(vec![("Create2Request".into(), p("m3")), ("DeleteRequest".into(), p("missing"))]);
    x.multi_results
        .push(vec![("ErrorResult".into(), "Ok".into()), ("ErrorResult".into(), "NoNode".into())]);
    // A read transaction.
    let mut reader = a.new_multi_reader();
    reader.add_get_data(&p("persistent")).map_err(ctx("multiRead add_get_data"))?;
    reader.add_get_children(root).map_err(ctx("multiRead add_get_children"))?;
    reader.commit().await.map_err(ctx("multiRead"))?;
    x.op("MultiReadRequest", &p("persistent"), "Ok");
    x.multi_ops.push(vec![
        ("GetDataRequest".into(), p("persistent")),
        ("GetChildrenRequest".into(), root.to_string()),
    ]);
    x.multi_results
        .push(vec![("GetDataReply".into(), "Ok".into()), ("GetChildrenReply".into(), "Ok".into())]);

    // Digest auth, then a node only its creator may read.
    a.auth("digest", b"zkt:secret").await.map_err(ctx("auth"))?;
    x.op("SetAuthRequest", "", "Ok");
    let mine = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    a.create(&p("secured"), b"s", &mine).await.map_err(ctx("create secured"))?;
    x.op("Create2Request", &p("secured"), "Ok");

    // A value of several hundred KB, written and read back.
    let big = vec![b'z'; size.big_value];
    a.create(&p("big"), b"", &open).await.map_err(ctx("create big"))?;
    x.op("Create2Request", &p("big"), "Ok");
    a.set_data(&p("big"), &big, None).await.map_err(ctx("setData big"))?;
    x.op("SetDataRequest", &p("big"), "Ok");
    let (back, _) = a.get_data(&p("big")).await.map_err(ctx("getData big"))?;
    if back.len() != big.len() {
        return Err(format!("big value read back with {} bytes", back.len()));
    }
    x.op("GetDataRequest", &p("big"), "Ok");

    // --- Watches set by session W, fired by session B.
    a.create(&p("kids"), b"", &open).await.map_err(ctx("create kids"))?;
    x.op("Create2Request", &p("kids"), "Ok");
    let w = connect(addr).await?;
    x.session();
    let (_, _, data_watch) =
        w.get_and_watch_data(&p("persistent")).await.map_err(ctx("watch data"))?;
    x.op("GetDataRequest", &p("persistent"), "Ok");
    let (_, child_watch) =
        w.list_and_watch_children(&p("kids")).await.map_err(ctx("watch children"))?;
    x.op("GetChildrenRequest", &p("kids"), "Ok");
    let (none, exist_watch) =
        w.check_and_watch_stat(&p("later")).await.map_err(ctx("watch exists"))?;
    if none.is_some() {
        return Err("watched node exists already".into());
    }
    x.op("ExistsRequest", &p("later"), "NoNode");
    let b = connect(addr).await?;
    x.session();
    b.set_data(&p("persistent"), b"v5", None).await.map_err(ctx("trigger data watch"))?;
    x.op("SetDataRequest", &p("persistent"), "Ok");
    b.create(&p("kids/k1"), b"", &open).await.map_err(ctx("trigger child watch"))?;
    x.op("Create2Request", &p("kids/k1"), "Ok");
    b.create(&p("later"), b"", &open).await.map_err(ctx("trigger exists watch"))?;
    x.op("Create2Request", &p("later"), "Ok");
    let fired = async {
        let e1 = data_watch.changed().await;
        let e2 = child_watch.changed().await;
        let e3 = exist_watch.changed().await;
        (e1, e2, e3)
    };
    let (e1, e2, e3) = tokio::time::timeout(Duration::from_secs(20), fired)
        .await
        .map_err(|_| "watches did not fire within 20 s".to_string())?;
    let fired_ok = e1.event_type == zk::EventType::NodeDataChanged
        && e2.event_type == zk::EventType::NodeChildrenChanged
        && e3.event_type == zk::EventType::NodeCreated;
    if !fired_ok {
        return Err(format!("unexpected watch events: {e1:?} {e2:?} {e3:?}"));
    }
    x.event("NodeDataChanged", &p("persistent"));
    x.event("NodeChildrenChanged", &p("kids"));
    x.event("NodeCreated", &p("later"));

    // Deletes: one that works, one on a missing node.
    a.delete(&p("m1"), None).await.map_err(ctx("delete"))?;
    x.op("DeleteRequest", &p("m1"), "Ok");
    expect_err("delete missing", a.delete(&p("missing"), None).await, zk::Error::NoNode)?;
    x.op("DeleteRequest", &p("missing"), "NoNode");

    // --- Many concurrent sessions, each pipelining its requests (the client sends each request
    // when its future is created; all are awaited afterwards).
    let mut tasks = Vec::new();
    for i in 0..size.sessions {
        let path = p(&format!("s{i}"));
        let pipelined = size.pipelined;
        tasks.push(tokio::spawn(async move {
            let c = connect(addr).await?;
            let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            c.create(&path, b"", &open).await.map_err(ctx("create session node"))?;
            let mut writes = Vec::new();
            let mut reads = Vec::new();
            for n in 0..pipelined {
                writes.push(c.set_data(&path, format!("value {n}").as_bytes(), None));
                reads.push(c.get_data(&path));
            }
            for f in writes {
                f.await.map_err(ctx("pipelined setData"))?;
            }
            for f in reads {
                f.await.map_err(ctx("pipelined getData"))?;
            }
            c.delete(&path, None).await.map_err(ctx("delete session node"))?;
            close(c).await
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        t.await.map_err(|e| format!("session task {i}: {e}"))??;
        let path = p(&format!("s{i}"));
        x.session();
        x.op("Create2Request", &path, "Ok");
        for _ in 0..size.pipelined {
            x.op("SetDataRequest", &path, "Ok");
            x.op("GetDataRequest", &path, "Ok");
        }
        x.op("DeleteRequest", &path, "Ok");
    }

    close(b).await?;
    close(w).await?;
    close(a).await?;
    Ok(x)
}

/// The `zkCli.sh` part: commands and what they put on the wire (the Java client's `create`
/// without a Stat is op 1, `CreateRequest`; its `ls` is getChildren2).
pub fn zkcli_commands(root: &str) -> (Vec<String>, Expected) {
    let mut x = Expected::default();
    let node = format!("{root}/cli");
    let cmds = vec![
        format!("create {node} hello"),
        format!("get {node}"),
        format!("ls {root}"),
        format!("set {node} world"),
        format!("stat {node}"),
        format!("delete {node}"),
    ];
    x.session();
    x.op("CreateRequest", &node, "Ok");
    x.op("GetDataRequest", &node, "Ok");
    x.op("GetChildren2Request", root, "Ok"); // `ls` asks for the Stat too
    x.op("SetDataRequest", &node, "Ok");
    x.op("ExistsRequest", &node, "Ok");
    x.op("DeleteRequest", &node, "Ok");
    (cmds, x)
}
