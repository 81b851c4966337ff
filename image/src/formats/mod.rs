//! The formats an appliance version travels in, read here so that the
//! builder (which writes them and reads them back in `inspect`) and
//! `appliancectl upgrade` (which installs a newer version from its OVA) share
//! one reader: the OVA's tar walk and manifest, the OVF descriptor, the
//! streamOptimized VMDK and the GPT. Pure: no processes, no paths.

pub mod gpt;
pub mod ova;
pub mod ovf;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
pub mod vmdk;
