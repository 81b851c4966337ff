pub mod gpt;
pub mod ova;
pub mod ovf;
pub mod ovf_env;
pub mod vmdk;
