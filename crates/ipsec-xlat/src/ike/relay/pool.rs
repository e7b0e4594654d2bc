//! Surrogate s-side addresses: with a pool, each user reaches its SGW from an address of its
//! own, so the SGW (and anything behind it that filters or logs by source) tells users apart
//! although they all come through one relay.
//!
//! A user holds one address per address family while it has IKE sessions (half-open ones
//! included) and gives it back when the last one ends. Which address: the user id's hash picks
//! a starting point and the first free address from there is taken, so a user tends to get the
//! same address each time while distinct users get distinct addresses as long as any is free.
//! An exhausted pool refuses the user (the caller drops the mm1 and counts it).

use core::net::IpAddr;

use hashbrown::HashMap;

use crate::ike::tail_content::UserId;

/// A user's hold on an address: who, and which family (a user may have an IPv4 and an IPv6
/// SGW at once).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Holder {
    user: UserId,
    ipv4: bool,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    address: IpAddr,
    sessions: usize,
}

/// The pool and who holds what.
#[derive(Clone, Debug, Default)]
pub(super) struct SurrogatePool {
    addresses: Vec<IpAddr>,
    taken: Vec<bool>,
    leases: HashMap<Holder, Lease>,
}

impl SurrogatePool {
    /// A pool of `addresses` (duplicates are kept once), none held.
    pub(super) fn new(mut addresses: Vec<IpAddr>) -> Self {
        let mut seen = hashbrown::HashSet::new();
        addresses.retain(|a| seen.insert(*a));
        let taken = vec![false; addresses.len()];
        Self {
            addresses,
            taken,
            leases: HashMap::new(),
        }
    }

    /// Whether there is no pool (the relay's single s-side address is used).
    pub(super) fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// The address `user` uses toward an SGW of family `ipv4` for one more session: the one it
    /// already holds, or a free one. `None` when every address of that family is held by
    /// other users.
    pub(super) fn acquire(&mut self, user: &UserId, ipv4: bool) -> Option<(Holder, IpAddr)> {
        let holder = Holder {
            user: user.clone(),
            ipv4,
        };
        if let Some(lease) = self.leases.get_mut(&holder) {
            lease.sessions = lease.sessions.saturating_add(1);
            return Some((holder, lease.address));
        }
        let n = self.addresses.len();
        if n == 0 {
            return None;
        }
        let start = user_hash(user)
            .checked_rem(u64::try_from(n).ok()?)
            .and_then(|s| usize::try_from(s).ok())?;
        let index = (0..n)
            .filter_map(|k| start.wrapping_add(k).checked_rem(n))
            .find(|&i| {
                !self.taken.get(i).copied().unwrap_or(true)
                    && self.addresses.get(i).is_some_and(|a| a.is_ipv4() == ipv4)
            })?;
        let address = *self.addresses.get(index)?;
        if let Some(t) = self.taken.get_mut(index) {
            *t = true;
        }
        self.leases.insert(
            holder.clone(),
            Lease {
                address,
                sessions: 1,
            },
        );
        Some((holder, address))
    }

    /// One session of `holder` ended; its address is free again after the last.
    pub(super) fn release(&mut self, holder: &Holder) {
        let Some(lease) = self.leases.get_mut(holder) else {
            return;
        };
        lease.sessions = lease.sessions.saturating_sub(1);
        if lease.sessions > 0 {
            return;
        }
        let address = lease.address;
        self.leases.remove(holder);
        if let Some(i) = self.addresses.iter().position(|a| *a == address) {
            if let Some(t) = self.taken.get_mut(i) {
                *t = false;
            }
        }
    }

    /// Addresses held now.
    pub(super) fn held(&self) -> usize {
        self.leases.len()
    }
}

/// FNV-1a over the ID type and value: a fixed, seedless hash, so that a user's preferred
/// address does not change between runs. Only the starting point of the search depends on it;
/// a collision costs a probe, never a shared address.
fn user_hash(user: &UserId) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in core::iter::once(&user.id_type.0).chain(user.value.iter()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::wire::isakmp::IdType;

    fn user(name: &str) -> UserId {
        UserId {
            id_type: IdType::USER_FQDN,
            value: name.as_bytes().to_vec(),
        }
    }

    fn pool(addresses: &[&str]) -> SurrogatePool {
        SurrogatePool::new(addresses.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[test]
    fn a_user_keeps_its_address_while_it_has_sessions() {
        let mut p = pool(&["198.51.100.10", "198.51.100.11", "198.51.100.12"]);
        let (h1, a1) = p.acquire(&user("alice@example.com"), true).unwrap();
        let (h2, a2) = p.acquire(&user("alice@example.com"), true).unwrap();
        assert_eq!((h1.clone(), a1), (h2, a2));
        assert_eq!(p.held(), 1);
        p.release(&h1);
        // One session left: still held, still the same.
        assert_eq!(p.held(), 1);
        assert_eq!(p.acquire(&user("alice@example.com"), true).unwrap().1, a1);
        p.release(&h1);
        p.release(&h1);
        assert_eq!(p.held(), 0);
        // Free again, and the same user gets the same address back.
        assert_eq!(p.acquire(&user("alice@example.com"), true).unwrap().1, a1);
    }

    #[test]
    fn distinct_users_get_distinct_addresses_until_exhausted() {
        let mut p = pool(&["198.51.100.10", "198.51.100.11", "2001:db8::10"]);
        let a = p.acquire(&user("a@example.com"), true).unwrap();
        let b = p.acquire(&user("b@example.com"), true).unwrap();
        assert_ne!(a.1, b.1);
        assert!(a.1.is_ipv4() && b.1.is_ipv4());
        // No IPv4 address left for a third user; the IPv6 one is still there.
        assert!(p.acquire(&user("c@example.com"), true).is_none());
        let c6 = p.acquire(&user("c@example.com"), false).unwrap();
        assert_eq!(c6.1, "2001:db8::10".parse::<IpAddr>().unwrap());
        // Releasing a user frees its address for the next one.
        p.release(&a.0);
        assert_eq!(p.acquire(&user("c@example.com"), true).unwrap().1, a.1);
        assert!(SurrogatePool::new(Vec::new()).is_empty());
    }

    #[test]
    fn releasing_what_is_not_held_changes_nothing() {
        let mut p = pool(&["198.51.100.10"]);
        let (h, _) = p.acquire(&user("a@example.com"), true).unwrap();
        let other = Holder {
            user: user("b@example.com"),
            ipv4: true,
        };
        p.release(&other);
        assert_eq!(p.held(), 1);
        assert!(p.acquire(&user("b@example.com"), true).is_none());
        p.release(&h);
        assert!(p.acquire(&user("b@example.com"), true).is_some());
    }
}
