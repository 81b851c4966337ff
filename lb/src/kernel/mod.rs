//! The kernel data path: frontends that the kernel can forward on its own are served by
//! IPVS, with nftables masquerading toward the backends and conntrack reporting each
//! connection; `lb` stays their control plane (configuration, health, metrics, logs).
pub mod choice;
pub mod conntrack;
pub mod desired;
pub mod ipvs;
pub mod netlink;
pub mod nft;
pub mod reconcile;
