//! Sinks: what is done with decoded messages (printing, summaries).
