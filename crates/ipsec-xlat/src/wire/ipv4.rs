//! TODO(skeleton): ipv4 wire format.
