//! TODO(skeleton): encap wire format.
