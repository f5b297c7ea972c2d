//! Per-direction stream reassembly.
