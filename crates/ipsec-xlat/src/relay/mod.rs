//! The relay: translation tables and the per-packet rewrite. It holds no keys.
