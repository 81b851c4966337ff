//! SHA-512-crypt (`$6$salt$hash`) for the root password and the API user.
//! The 4-part form (default 5000 rounds, no `rounds=`) is what both
//! `/etc/shadow` and the Data Plane API's `password` userlist entries accept.

use sha_crypt::{sha512_crypt_b64, Sha512Params};

/// The characters crypt(3) allows in a salt.
const SALT_ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Hashes `password` with the given salt (up to 16 characters of [`SALT_ALPHABET`]).
pub fn sha512_crypt(password: &str, salt: &str) -> String {
    let hash = sha512_crypt_b64(
        password.as_bytes(),
        salt.as_bytes(),
        &Sha512Params::default(),
    )
    .expect("default rounds are valid");
    format!("$6${salt}${hash}")
}

/// The salts of one render, one per hash: with a shared salt, equal root and
/// API passwords would give equal hashes, and one file would tell about the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salts {
    /// For the root password in `/etc/shadow`.
    pub root: String,
    /// For the Data Plane API user in the load balancer settings.
    pub api: String,
}

impl Salts {
    /// Independent random salts (at boot; tests fix them).
    pub fn random() -> Salts {
        Salts {
            root: random_salt(),
            api: random_salt(),
        }
    }
}

/// A fresh random 16-character salt from the system CSPRNG.
fn random_salt() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source is available");
    bytes
        .iter()
        .map(|b| SALT_ALPHABET[usize::from(*b) % SALT_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_glibc_crypt() {
        // `openssl passwd -6 -salt saltsalt haproxy`
        assert_eq!(
            sha512_crypt("haproxy", "saltsalt"),
            "$6$saltsalt$IgB.66yCycLqA7gsEbm2TRB8TENbY/HrrLlKgEWEPTA8DmAKpy91dpGFc9yx5ynFLexlVLfOYV3ClzBleYso2."
        );
    }

    #[test]
    fn every_hash_gets_its_own_random_salt() {
        let (a, b) = (Salts::random(), Salts::random());
        assert_ne!(a.root, a.api, "root and API hashes never share a salt");
        assert_ne!(a, b, "every boot draws new salts");
        for salt in [&a.root, &a.api] {
            assert!(salt.bytes().all(|c| SALT_ALPHABET.contains(&c)) && salt.len() == 16);
        }
        assert_ne!(
            sha512_crypt("VMware1!", &a.root),
            sha512_crypt("VMware1!", &a.api),
            "one password, two different hashes"
        );
    }
}
