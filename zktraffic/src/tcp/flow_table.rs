//! The table of live connections.

/// Caps on reassembly state.
#[derive(Clone, Debug)]
pub struct TcpLimits {}

/// Reassembly counters.
#[derive(Clone, Debug, Default)]
pub struct TcpStats {}

/// Every live connection and its reassembly state.
pub struct FlowTable {}
