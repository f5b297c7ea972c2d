//! Wires capture → TCP reassembly → ZooKeeper decoding → a message sink.
