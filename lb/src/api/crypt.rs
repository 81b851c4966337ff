//! crypt(3) verification of the hash forms dataplaneapi v2.1 accepts (`checkPassword` in
//! `configure_data_plane.go`): exactly four `$`-separated parts, MD5-crypt `$1$`,
//! SHA-256-crypt `$5$`, SHA-512-crypt `$6$`, always the default rounds. Anything else (bcrypt,
//! a `rounds=` parameter) never matches, as there.
//!
//! SHA-crypt is RustCrypto's `sha-crypt`, the crate and version the boot agent hashes with;
//! RustCrypto publishes no MD5-crypt, so `$1$` (what `openssl passwd -1` writes) is `md5crypt`.
use sha_crypt::{sha256_crypt_b64, sha512_crypt_b64, Sha256Params, Sha512Params};
use subtle::ConstantTimeEq;

/// The salt lengths glibc uses at most; a longer salt is cut, as `crypt(3)` cuts it.
const MD5_SALT: usize = 8;
const SHA_SALT: usize = 16;

/// Recomputes the hash of `password` with the salt of `hash` and compares the results in
/// constant time. Costs milliseconds of CPU, growing with the square of the password length
/// for SHA-crypt: callers bound the length and run this off the async threads.
pub fn matches(hash: &str, password: &str) -> bool {
    let parts: Vec<&str> = hash.split('$').collect();
    let key = password.as_bytes();
    let computed = match parts.as_slice() {
        ["", "1", salt, _] => {
            let salt = cut(salt, MD5_SALT);
            String::from_utf8(md5crypt::md5crypt(key, salt.as_bytes())).ok()
        }
        ["", "5", salt, _] => {
            let salt = cut(salt, SHA_SALT);
            sha256_crypt_b64(key, salt.as_bytes(), &Sha256Params::default())
                .ok()
                .map(|sum| format!("$5${salt}${sum}"))
        }
        ["", "6", salt, _] => {
            let salt = cut(salt, SHA_SALT);
            sha512_crypt_b64(key, salt.as_bytes(), &Sha512Params::default())
                .ok()
                .map(|sum| format!("$6${salt}${sum}"))
        }
        _ => None,
    };
    computed
        .is_some_and(|c| c.len() == hash.len() && bool::from(c.as_bytes().ct_eq(hash.as_bytes())))
}

/// The first `max` bytes of `salt` (all of it when that would split a character: such a salt
/// then never matches, as no crypt(3) wrote it).
fn cut(salt: &str, max: usize) -> &str {
    salt.get(..max).unwrap_or(salt)
}

#[cfg(test)]
mod tests {
    use super::matches;

    /// (password, hash): `openssl passwd -1|-5|-6 -salt …`, and the published vectors of
    /// Drepper's SHA-crypt specification and of md5crypt.
    const VECTORS: [(&str, &str); 7] = [
        ("haproxy", "$1$abcdefgh$2n3IIQHlkPbzZbZMug4F6."),
        ("haproxy", "$5$abcdefgh$C3tILacpEZvmkFsg9gdYWT7flQ3OzO1PpPN.P/sQn/9"),
        ("haproxy", "$6$abcdefgh$Qc2a.iN/0nvn83JKG0x5EHdPcGt9DTdrQUXYyWNrHipfHcsebS9vwpFynBH7rmQgGx4NvcqWDc8eEE2uJtbOO/"),
        ("Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
        ("Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
        ("Hello world!", "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1"),
        ("hunter2", "$1$1234abcd$k941IFPqhCBpKvhOnZqRd/"),
    ];

    #[test]
    fn known_vectors_match_and_nothing_else_does() {
        for (password, hash) in VECTORS {
            assert!(matches(hash, password), "{hash}");
            assert!(!matches(hash, &format!("{password}x")), "{hash}");
            assert!(!matches(hash, ""), "{hash}");
        }
    }

    /// The longest password libxcrypt hashes (511 bytes; the API hashes up to 1 KiB), from
    /// `perl -e 'print crypt("x" x 511, q($6$abcdefgh$))'`.
    #[test]
    fn long_passwords_as_libxcrypt_hashes_them() {
        let long = "x".repeat(511);
        assert!(matches("$1$abcdefgh$jBEDbI/aTXR/AhNlqcHuk/", &long));
        assert!(matches(
            "$5$abcdefgh$rKfLIht5ff20Rn/FWIOcGK4beOB9KzL7RN3x8I9FWWB",
            &long
        ));
        assert!(matches(
            "$6$abcdefgh$DqQZnrHJnd1RbXtYVSOYoxD0oq2WszT9.eJms/MKvy9FpSTkzCZ76oIy2T1qtVLydP7hjGpZ6a0FeZ3qGmMON/",
            &long
        ));
    }

    #[test]
    fn forms_dataplaneapi_refuses() {
        // `openssl passwd -6 -salt 'rounds=6000$abcdefgh' x`: five parts.
        let rounds = "$6$rounds=6000$abcdefgh$4RHbj/MLeIxe7RoQgLULKkOZYJby2UxgU1IGYZYpwtNLrQBsMCE.Ed6kFUnAM/4hil1DU4/vuMgDtJKC6jvyl1";
        assert!(!matches(rounds, "x"));
        assert!(!matches("$2b$10$abcdefghijklmnopqrstuv", "x"));
        assert!(!matches("", ""));
        assert!(!matches("$6$abcdefgh$", "haproxy"));
    }
}
