//! Link, network and transport header decoding of captured frames.
