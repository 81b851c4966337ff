//! The formats the appliance is delivered in (GPT, VMDK, OVF, OVA) and the OVF
//! environment handed to a guest: no host tools and no processes, so each is
//! unit-tested on its own. The steps and the pipeline decide where the bytes go.

pub mod gpt;
pub mod ova;
pub mod ovf;
pub mod ovf_env;
pub mod vmdk;
