//! TODO(skeleton): ah wire format.
