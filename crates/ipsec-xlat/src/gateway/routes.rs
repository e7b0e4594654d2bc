//! What a gateway learns from traffic: which bundle an inner address is reachable through
//! (from the inner source of packets that bundle opened), and which of our addresses each
//! peer talks to (from its IKE datagrams). Both are bounded: every entry comes from the
//! network, and a test tool must not grow without limit either.

use core::hash::Hash;
use core::net::IpAddr;

use hashbrown::HashMap;

/// Entries each map keeps at most; past that, only known keys are updated.
pub const MAX_ROUTES: usize = 4096;

/// A map that learns at most [`MAX_ROUTES`] keys.
#[derive(Debug, Clone)]
struct Learnt<K, V> {
    map: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Copy> Learnt<K, V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
        }
    }

    fn learn(&mut self, key: K, value: V) {
        if self.map.len() < MAX_ROUTES || self.map.contains_key(&key) {
            self.map.insert(key, value);
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).copied()
    }
}

/// Inner address → index of the installed bundle it was last seen behind.
#[derive(Debug, Clone)]
pub(super) struct Routes(Learnt<IpAddr, usize>);

impl Routes {
    pub(super) fn new() -> Self {
        Self(Learnt::new())
    }

    /// `inner` came out of bundle `index`: replies to it go back through that bundle.
    pub(super) fn learn(&mut self, inner: IpAddr, index: usize) {
        self.0.learn(inner, index);
    }

    /// The bundle learnt for `inner`, if it is still within `installed` bundles.
    pub(super) fn bundle_for(&self, inner: IpAddr, installed: usize) -> Option<usize> {
        self.0.get(&inner).filter(|i| *i < installed)
    }

    /// Forgets everything: bundle indices moved (traffic teaches the routes again).
    pub(super) fn clear(&mut self) {
        self.0.map.clear();
    }

    /// Inner addresses known.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.map.len()
    }
}

/// Peer address → our address it talks to (the destination of its IKE datagrams), which
/// becomes the source of the outer headers of its bundles.
#[derive(Debug, Clone)]
pub(super) struct LocalAddresses {
    learnt: Learnt<IpAddr, IpAddr>,
    default: IpAddr,
}

impl LocalAddresses {
    pub(super) fn new(default: IpAddr) -> Self {
        Self {
            learnt: Learnt::new(),
            default,
        }
    }

    /// `peer` sent IKE to our `local`.
    pub(super) fn learn(&mut self, peer: IpAddr, local: IpAddr) {
        self.learnt.learn(peer, local);
    }

    /// Our address toward `peer`: as learnt, else the default.
    pub(super) fn toward(&self, peer: IpAddr) -> IpAddr {
        self.learnt.get(&peer).unwrap_or(self.default)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use core::net::Ipv6Addr;

    use super::*;

    fn addr(i: usize) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(u128::try_from(i).unwrap() + 1))
    }

    #[test]
    fn routes_stop_learning_new_addresses_at_the_bound_but_update_known_ones() {
        let mut routes = Routes::new();
        for i in 0..MAX_ROUTES + 10 {
            routes.learn(addr(i), 0);
        }
        assert_eq!(routes.len(), MAX_ROUTES);
        assert_eq!(routes.bundle_for(addr(MAX_ROUTES), 5), None);
        routes.learn(addr(0), 3);
        assert_eq!(routes.bundle_for(addr(0), 5), Some(3));
        assert_eq!(
            routes.bundle_for(addr(0), 3),
            None,
            "index past the bundles"
        );
        routes.clear();
        assert_eq!(routes.bundle_for(addr(0), 5), None);
    }

    #[test]
    fn local_addresses_default_until_learnt() {
        let default = addr(1000);
        let mut locals = LocalAddresses::new(default);
        assert_eq!(locals.toward(addr(1)), default);
        locals.learn(addr(1), addr(2));
        assert_eq!(locals.toward(addr(1)), addr(2));
        for i in 0..MAX_ROUTES + 10 {
            locals.learn(addr(10 + i), addr(3));
        }
        assert_eq!(locals.toward(addr(10 + MAX_ROUTES + 5)), default);
    }
}
