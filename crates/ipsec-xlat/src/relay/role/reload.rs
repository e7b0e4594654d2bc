//! What a running relay can take without dropping a session (SIGHUP): newly authorised client
//! keys and a new identification table. Sessions already begun keep their SGW, s-side address
//! and the SGW's ports.

use core::net::{IpAddr, SocketAddr};

use crate::ike::tail_crypto::StaticPublicKey;
use crate::ike::IdentityRule;
use crate::net::{PeerPorts, PortPair};

use super::Relay;

/// The new authorisation and identification tables, as read from the configuration.
#[derive(Debug, Clone, Default)]
pub struct RelayReload {
    /// Every client key the new configuration authorises.
    pub authorised_clients: Vec<StaticPublicKey>,
    /// The new identification table, first match wins.
    pub identities: Vec<IdentityRule>,
    /// Each configured rule's SGW address and real ports, in the configuration's rule order
    /// (the index names the rule in [`KeptPorts::rule`]).
    pub sgw_ports: Vec<(IpAddr, PortPair)>,
}

/// An SGW that live sessions use and whose ports the new table changes: it keeps the old
/// ones, so its IKE and ESP-in-UDP keep reaching the same sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptPorts {
    /// The first rule (by position in [`RelayReload::sgw_ports`]) that asked for new ports.
    pub rule: usize,
    /// The SGW.
    pub sgw: IpAddr,
    /// The ports it keeps.
    pub ports: PortPair,
}

/// What [`Relay::reload`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadApplied {
    /// Client keys newly authorised.
    pub clients_added: usize,
    /// Keys authorised before and absent now: they stay authorised until restart (the IKE
    /// relay cannot revoke a key).
    pub clients_not_revoked: usize,
    /// SGWs in use that keep their ports.
    pub ports_kept: Vec<KeptPorts>,
}

impl Relay {
    /// Applies `update`: authorises new keys and installs the new identification table. New
    /// mm1s are matched against it; every session already begun keeps its SGW and addresses,
    /// and every SGW in use keeps the ports it has.
    pub fn reload(&mut self, update: RelayReload) -> ReloadApplied {
        let mut applied = ReloadApplied::default();
        for key in &update.authorised_clients {
            if !self.authorised.contains(key) {
                self.ike.authorise_client(*key);
                self.authorised.push(*key);
                applied.clients_added = applied.clients_added.saturating_add(1);
            }
        }
        applied.clients_not_revoked = self
            .authorised
            .iter()
            .filter(|k| !update.authorised_clients.contains(k))
            .count();
        let in_use: Vec<IpAddr> = self.ike.sgws_in_use().iter().map(SocketAddr::ip).collect();
        let mut sgws = PeerPorts::new();
        for address in &in_use {
            sgws.insert(*address, self.ports.sgws.get(*address));
        }
        let mut reported = Vec::new();
        for (rule, (address, pair)) in update.sgw_ports.iter().enumerate() {
            if sgws.insert(*address, *pair) || reported.contains(address) {
                continue;
            }
            reported.push(*address);
            if in_use.contains(address) {
                applied.ports_kept.push(KeptPorts {
                    rule,
                    sgw: *address,
                    ports: sgws.get(*address),
                });
            }
        }
        self.ike.set_identities(update.identities);
        self.ports.sgws = sgws;
        applied
    }
}
