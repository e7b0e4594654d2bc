//! SIGHUP: the configuration file read again, converted into what the relay role can take
//! ([`RelayReload`]), and what it did put in words for the log.

use core::net::SocketAddr;

use ipsec_xlat::relay::RelayReload;

use super::{authorised, identity_rules, setup, RelayEndpoint, ReloadOutcome};

impl RelayEndpoint {
    /// Re-reads the configuration file (SIGHUP) and applies what a running relay can take
    /// without dropping sessions: newly authorised clients and the identification table. New
    /// mm1s are matched against the new table; every session already begun keeps its SGW,
    /// addresses and ports (an SGW in use keeps its ports even if the new file changes them).
    /// Everything else that changed is reported in [`ReloadOutcome::not_applied`] and stays as
    /// it was. A file that does not load changes nothing.
    pub fn reload(&mut self) -> Result<ReloadOutcome, crate::config::ConfigError> {
        let fresh = self.config.reload()?;
        let mut candidate = self.config.clone();
        candidate.identification = fresh.identification;
        let mut rule_warnings = Vec::new();
        let (rules, _) = identity_rules(&candidate, &mut rule_warnings);
        let mut outcome = ReloadOutcome {
            rules: rules.len(),
            ..ReloadOutcome::default()
        };
        let applied = self.relay.reload(RelayReload {
            authorised_clients: authorised(&fresh.authorized_clients),
            identities: rules,
            sgw_ports: candidate
                .identification
                .rules()
                .iter()
                .map(setup::sgw_ports)
                .collect(),
        });
        outcome.clients_added = applied.clients_added;
        if applied.clients_not_revoked > 0 {
            outcome.not_applied.push(format!(
                "{} client key(s) removed from `authorized_clients` stay authorised until \
                 restart (the IKE core cannot revoke a key yet)",
                applied.clients_not_revoked
            ));
        }
        outcome.not_applied.append(&mut rule_warnings);
        for kept in &applied.ports_kept {
            outcome.not_applied.push(format!(
                "`identification[{}]`: {} keeps ports {}/{} while sessions use it (reload again \
                 once they have ended)",
                kept.rule, kept.sgw, kept.ports.ike, kept.ports.natt
            ));
        }
        let named = |rules: &[crate::config::IdentificationRule]| {
            let mut out: Vec<SocketAddr> = Vec::new();
            for r in rules {
                if !out.contains(&r.sgw_ike) {
                    out.push(r.sgw_ike);
                }
            }
            out
        };
        let old = named(self.config.identification.rules());
        let new = named(candidate.identification.rules());
        outcome.sgws_added = new.iter().filter(|a| !old.contains(a)).copied().collect();
        outcome.sgws_removed = old.iter().filter(|a| !new.contains(a)).copied().collect();
        outcome.identification_changed = candidate.identification != self.config.identification;
        self.config.identification = candidate.identification;
        for section in &fresh.needs_restart {
            outcome
                .not_applied
                .push(format!("`{section}` changed: needs a restart"));
        }
        self.config.authorized_clients = fresh.authorized_clients;
        Ok(outcome)
    }
}
