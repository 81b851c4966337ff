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

/// A fresh random 16-character salt from the system CSPRNG.
pub fn random_salt() -> String {
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
    fn random_salts_use_the_crypt_alphabet_and_differ() {
        let (a, b) = (random_salt(), random_salt());
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| SALT_ALPHABET.contains(&c)) && a.len() == 16);
    }
}
