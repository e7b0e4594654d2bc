//! TODO(skeleton): tail wire format.
