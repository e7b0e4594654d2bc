//! Criterion benches for ipsec-xlat; see `benches/` and BENCHMARKS.md.
