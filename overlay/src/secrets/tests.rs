use std::net::Ipv4Addr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

fn parse(pem_text: &str) -> Vec<u8> {
    pki::cert_der(pem_text).unwrap()
}

#[test]
fn generated_ca_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = ensure_ca(dir.path(), None).unwrap();
    let b = ensure_ca(dir.path(), None).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint.split(':').count(), 32);
    let der = parse(&a.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(cert.is_ca());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(CA_KEY))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn ca_from_properties_replaces_the_stored_one() {
    let dir = tempfile::tempdir().unwrap();
    let generated = ensure_ca(dir.path(), None).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let given = CaPem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    };
    let ca = ensure_ca(dir.path(), Some(&given)).unwrap();
    assert_ne!(ca.fingerprint, generated.fingerprint);
    assert_eq!(ca.cert_pem, given.cert);
}

#[test]
fn server_certificate_names_every_address_and_is_reissued_only_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ensure_ca(dir.path(), None).unwrap();
    let addrs = [
        Ipv4Addr::new(10, 13, 10, 199),
        Ipv4Addr::new(10, 13, 201, 10),
    ];
    assert!(ensure_server_cert(dir.path(), "haproxy.local", &addrs).unwrap());
    assert!(
        !ensure_server_cert(dir.path(), "haproxy.local", &addrs).unwrap(),
        "unchanged names: kept"
    );

    let server_pem = std::fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
    let der = parse(&server_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    let names: Vec<String> = san
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(ip) => {
                Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap()).to_string()
            }
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "haproxy.local",
            "localhost",
            "10.13.10.199",
            "10.13.201.10",
            "127.0.0.1"
        ]
    );
    let ca_der = parse(&ca.cert_pem);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    cert.verify_signature(Some(ca_cert.public_key()))
        .expect("signed by the CA");

    let moved = [Ipv4Addr::new(10, 13, 10, 200)];
    assert!(
        ensure_server_cert(dir.path(), "haproxy.local", &moved).unwrap(),
        "new address: reissued"
    );
    assert_eq!(
        ensure_ca(dir.path(), None).unwrap().fingerprint,
        ca.fingerprint,
        "CA kept"
    );
}
