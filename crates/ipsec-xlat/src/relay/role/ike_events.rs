//! What the IKE relay reports, turned into the table's entries and the role's events: an
//! IPsec translation is installed (or refused, its grant given back), a bundle the client
//! deleted leaves the table, an IKE entry is recorded and forgotten with its session.

use crate::ike::{IkeRelayEvent, IpsecTranslation, SpiAllocator};
use crate::relay::{Entry, EntryId};
use crate::time::Timestamp;

use super::counters::bump;
use super::install::{self, Legs};
use super::{Refusal, Relay, RelayEvent, TableSpis};

/// How long an entry whose bundle the client deleted keeps forwarding: the client's own
/// drain period ([`crate::client::DRAIN_GRACE`]), as strongSwan keeps a rekeyed inbound SA
/// (`charon.delete_rekeyed_delay`).
const RETIRED_DRAIN: core::time::Duration = crate::client::DRAIN_GRACE;

impl Relay {
    /// Queues what the IKE relay wants sent and turns its events into entries and
    /// [`RelayEvent`]s.
    pub(super) fn drain_ike(&mut self, now: Timestamp) {
        while let Some(t) = self.ike.poll_transmit() {
            let path = self.ports.ike_path(&t);
            self.tx.push(path, t.payload);
        }
        while let Some(event) = self.ike.poll_event() {
            match event {
                IkeRelayEvent::IkeTranslation(entry) => {
                    let entry = self.ports.real_ike(entry);
                    self.events
                        .push_back(RelayEvent::IkeEntryComplete(entry.clone()));
                    self.ike_entries.push(entry);
                }
                IkeRelayEvent::IpsecTranslation(t) => {
                    let t = self.ports.real_ipsec(t);
                    self.install(now, t);
                }
                IkeRelayEvent::IpsecRetired {
                    client, c_spi_2, ..
                } => {
                    // The client deleted the bundle; the entry's name is its outermost
                    // c-SPI-2. It stays for the drain period, so what the SGW sent before
                    // the DELETE reached it still reaches the client (which opens it for the
                    // same period); then it expires and frees its SPIs.
                    // Only this client's entry: a grant the IKE relay still remembers may
                    // name SPIs the table has since given to another client's bundle.
                    let ours = install::entry_id(c_spi_2).filter(|id| {
                        self.datapath
                            .table()
                            .get(*id)
                            .is_some_and(|e| e.client.path.peer_addr == client.ip())
                    });
                    if let Some(id) = ours {
                        let until = now.saturating_add(RETIRED_DRAIN);
                        if self.datapath.table_mut().expire_by(id, until) {
                            self.events
                                .push_back(RelayEvent::IpsecRetired { client, id });
                        }
                    }
                }
                IkeRelayEvent::IkeExpired {
                    client, c_cookies, ..
                }
                | IkeRelayEvent::IkeRetired {
                    client, c_cookies, ..
                } => {
                    self.events
                        .push_back(RelayEvent::IkeSessionEnded { client, c_cookies });
                    self.ike_entries.retain(|e| {
                        !(e.client == client && e.c_cookies.initiator == c_cookies.initiator)
                    });
                    if !self.ike_entries.iter().any(|e| e.client == client) {
                        self.ports.c_local.remove(&client);
                    }
                }
            }
        }
    }

    fn install(&mut self, now: Timestamp, t: IpsecTranslation) {
        match self.try_install(now, &t) {
            Ok(id) => {
                bump(&mut self.counters.entries_installed);
                self.events
                    .push_back(RelayEvent::IpsecInstalled { id, translation: t });
            }
            Err(reason) => {
                bump(&mut self.counters.entries_refused);
                // The grant's SPIs go back to the table.
                let mut spis = TableSpis::new(self.datapath.table_mut(), &mut self.spi_rng);
                for spi in install::relay_spis(&t) {
                    spis.release(spi);
                }
                self.events.push_back(RelayEvent::IpsecRefused {
                    translation: t,
                    reason,
                });
            }
        }
    }

    fn try_install(&mut self, now: Timestamp, t: &IpsecTranslation) -> Result<EntryId, Refusal> {
        if self.datapath.table().len() >= self.max_entries {
            return Err(Refusal::Limit(self.max_entries));
        }
        let entry: Entry = install::entry(
            now,
            t,
            &Legs {
                relay_c: self
                    .ports
                    .relay_c(t.client, t.relay_c.ip())
                    .ok_or(Refusal::NoClientAddress)?,
                c_ports: self.ports.c_ports,
                s_ports: self.ports.s_ports,
                sgws: &self.ports.sgws,
            },
        )?;
        Ok(self.datapath.table_mut().insert(entry, now)?)
    }
}
