//! TODO(skeleton): esp wire format.
