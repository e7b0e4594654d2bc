//! TODO(skeleton): udp wire format.
