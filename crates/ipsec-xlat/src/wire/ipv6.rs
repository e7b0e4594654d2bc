//! TODO(skeleton): ipv6 wire format.
