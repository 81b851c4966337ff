//! Certificate and key plumbing shared by validation and the secrets store:
//! loading keys in the forms admins paste, checking that a CA certificate and
//! key belong together, and fingerprints. All cryptography is rcgen/ring.

use pkcs8::der::asn1::AnyRef;
use pkcs8::der::Encode;
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
use rcgen::{Issuer, KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// rsaEncryption (RFC 8017), the algorithm of a PKCS#1 key wrapped in PKCS#8.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Loads a private key from PEM: PKCS#8 (`PRIVATE KEY`) as ring reads it, or
/// PKCS#1 (`RSA PRIVATE KEY`, what the HAProxy appliance's docs produce),
/// re-wrapped as PKCS#8 without touching the key material.
pub fn load_key(pem_text: &str) -> Result<KeyPair, String> {
    let block = pem::parse(pem_text).map_err(|e| format!("not PEM: {e}"))?;
    let pkcs8_der = match block.tag() {
        "PRIVATE KEY" => block.contents().to_vec(),
        "RSA PRIVATE KEY" => PrivateKeyInfo::new(
            AlgorithmIdentifierRef {
                oid: RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            block.contents(),
        )
        .to_der()
        .map_err(|e| format!("cannot re-encode the RSA key: {e}"))?,
        other => {
            return Err(format!(
                "{other} keys are not supported; convert with `openssl pkcs8 -topk8 -nocrypt`"
            ))
        }
    };
    KeyPair::try_from(pkcs8_der.as_slice()).map_err(|e| format!("the key cannot be used: {e}"))
}

/// The DER of the first certificate in `pem_text`.
pub fn cert_der(pem_text: &str) -> Result<Vec<u8>, String> {
    pem::parse_many(pem_text)
        .map_err(|e| format!("not PEM: {e}"))?
        .into_iter()
        .find(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .ok_or_else(|| "no CERTIFICATE block".to_string())
}

/// Checks that the first certificate is a usable issuer and that `key` is its key.
pub fn check_ca_pair(cert_pem: &str, key: &KeyPair) -> Result<(), String> {
    let der = cert_der(cert_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
    if cert.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err("the key does not belong to the certificate".into());
    }
    Ok(())
}

/// When the first certificate in `cert_pem` expires.
pub fn not_after(cert_pem: &str) -> Result<OffsetDateTime, String> {
    let der = cert_der(cert_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
    Ok(cert.validity().not_after.to_datetime())
}

/// An issuer for signing server certificates with the CA.
pub fn issuer<'a>(cert_pem: &str, key: KeyPair) -> Result<Issuer<'a, KeyPair>, String> {
    Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| format!("the CA cannot sign: {e}"))
}

/// SHA-256 over the first certificate's DER, as `AB:CD:…` (the form openssl and browsers show).
pub fn fingerprint(cert_pem: &str) -> Result<String, String> {
    let digest = Sha256::digest(cert_der(cert_pem)?);
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}
