//! An optional active/standby pair of appliances (settings `[pair]`). keepalived, run by the
//! boot agent, moves the floating management address onto `bind_interface` of the active
//! appliance; `lb`:
//!
//! - reads its role from there every [`ROLE_EVERY`] ([`role`]), and also listens on the
//!   floating address (bound with `IP_FREEBIND` at start, so it answers the moment the
//!   address arrives);
//! - refuses writes on the standby with 503 naming the floating address ([`guard`]);
//! - serves what it persisted to its peer ([`endpoint`]) and polls the peer's ([`client`],
//!   [`follow`]): whichever has the higher version wins, on both sides alike, so the
//!   standby follows the active and a returning appliance catches up;
//! - reports the role and replication in the status socket's `pair` object and the
//!   `lb_pair_*` metrics ([`state`]).
mod client;
pub mod endpoint;
mod follow;
pub mod guard;
mod role;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::MissedTickBehavior;

pub use state::Shared;

use super::settings::Settings;
use super::store::Store;

/// How often the role is read from the interface.
pub const ROLE_EVERY: Duration = Duration::from_millis(250);

/// The pair's part of a running API, before its tasks start.
pub struct Pair {
    shared: Arc<Shared>,
    watch: role::RoleWatch,
    client: client::Client,
}

impl Pair {
    /// The pair of `settings` (`None` without `[pair]`), with its role read once already so
    /// that the first request is answered as the role says.
    pub fn new(settings: &Settings) -> Result<Option<Pair>> {
        let Some(pair) = &settings.pair else {
            return Ok(None);
        };
        let api = &settings.api;
        let ca = api
            .ca_cert
            .as_deref()
            .context("[pair] needs [api] ca_cert")?;
        let peer = SocketAddr::new(pair.peer_address, api.port);
        let client = client::Client::new(peer, ca, &pair.secret.0)?;
        let mut watch = role::RoleWatch::new(&api.bind_interface, pair.floating_address);
        let shared = Arc::new(Shared::new(
            pair.floating_address,
            pair.peer_address,
            &api.bind_interface,
            api.bind_address,
            &pair.secret.0,
            watch.check(),
        ));
        Ok(Some(Pair {
            shared,
            watch,
            client,
        }))
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Follows the role and the peer for `store`, until the future is dropped.
    pub async fn run(self, store: Arc<Store>) {
        let Pair {
            shared,
            mut watch,
            client,
        } = self;
        let roles = {
            let shared = shared.clone();
            async move {
                let mut tick = tokio::time::interval(ROLE_EVERY);
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    shared.set_role(watch.check());
                }
            }
        };
        let follower = follow::Follower::new(client, store, shared);
        tokio::join!(roles, follower.run());
    }
}
