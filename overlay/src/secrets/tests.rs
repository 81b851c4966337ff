use std::net::Ipv4Addr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

fn parse(pem_text: &str) -> Vec<u8> {
    pki::cert_der(pem_text).unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The validity of a stored certificate as x509-parser reads it.
fn validity(path: &Path) -> (OffsetDateTime, OffsetDateTime) {
    let der = parse(&std::fs::read_to_string(path).unwrap());
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let v = cert.validity();
    (v.not_before.to_datetime(), v.not_after.to_datetime())
}

#[test]
fn generated_ca_is_created_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let a = ensure_ca(dir.path(), None, now()).unwrap();
    let b = ensure_ca(dir.path(), None, now()).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint.split(':').count(), 32);
    let der = parse(&a.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(cert.is_ca());
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0), "signs no other CA");
    let (from, until) = validity(&dir.path().join(CA_CERT));
    assert_eq!(
        until - from,
        CA_VALIDITY + BACKDATE,
        "ten years, not 1975-4096"
    );
    assert!((until - now() - CA_VALIDITY).abs() < Duration::minutes(5));
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
    let generated = ensure_ca(dir.path(), None, now()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let given = CaPem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    };
    assert!(ensure_server_cert(dir.path(), "lb", &[], now()).unwrap());
    let ca = ensure_ca(dir.path(), Some(&given), now()).unwrap();
    assert_ne!(ca.fingerprint, generated.fingerprint);
    assert_eq!(ca.cert_pem, given.cert);
    assert!(
        ensure_server_cert(dir.path(), "lb", &[], now()).unwrap(),
        "a new CA means a new server certificate"
    );
    let der = parse(&std::fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap());
    let (_, server) = X509Certificate::from_der(&der).unwrap();
    let ca_der = parse(&ca.cert_pem);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    server
        .verify_signature(Some(ca_cert.public_key()))
        .expect("signed by the given CA");
}

#[test]
fn server_certificate_names_every_address_and_is_reissued_only_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ensure_ca(dir.path(), None, now()).unwrap();
    let addrs = [
        Ipv4Addr::new(10, 13, 10, 199),
        Ipv4Addr::new(10, 13, 201, 10),
    ];
    assert!(ensure_server_cert(dir.path(), "haproxy.local", &addrs, now()).unwrap());
    assert!(
        !ensure_server_cert(dir.path(), "haproxy.local", &addrs, now()).unwrap(),
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
        ensure_server_cert(dir.path(), "haproxy.local", &moved, now()).unwrap(),
        "new address: reissued"
    );
    assert_eq!(
        ensure_ca(dir.path(), None, now()).unwrap().fingerprint,
        ca.fingerprint,
        "CA kept"
    );
}

#[test]
fn server_certificate_is_bounded_and_renewed_in_its_last_month() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    ensure_ca(dir.path(), None, t0).unwrap();
    let addrs = [Ipv4Addr::new(10, 13, 10, 199)];
    assert!(ensure_server_cert(dir.path(), "lb", &addrs, t0).unwrap());
    let server = dir.path().join(SERVER_CERT);
    let (from, until) = validity(&server);
    assert_eq!(until - from, SERVER_VALIDITY + BACKDATE);
    let der = parse(&std::fs::read_to_string(&server).unwrap());
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(!cert.is_ca());

    let month_left = t0 + SERVER_VALIDITY - RENEW_BEFORE;
    assert!(
        !ensure_server_cert(dir.path(), "lb", &addrs, month_left - Duration::days(1)).unwrap(),
        "31 days left: kept"
    );
    assert!(
        ensure_server_cert(dir.path(), "lb", &addrs, month_left + Duration::days(1)).unwrap(),
        "29 days left: renewed"
    );
    assert!(validity(&server).1 > until, "the renewed one lasts longer");
}

#[test]
fn server_certificate_never_outlives_the_ca_and_an_expired_ca_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let ca = ensure_ca(dir.path(), None, t0).unwrap();
    let ca_end = validity(&dir.path().join(CA_CERT)).1;
    let late = ca_end - Duration::days(100);
    assert_eq!(
        ensure_ca(dir.path(), None, late).unwrap().fingerprint,
        ca.fingerprint,
        "kept while valid"
    );
    assert!(ensure_server_cert(dir.path(), "lb", &[], late).unwrap());
    assert_eq!(validity(&dir.path().join(SERVER_CERT)).1, ca_end);

    let expired = ca_end + Duration::days(1);
    let renewed = ensure_ca(dir.path(), None, expired).unwrap();
    assert_ne!(
        renewed.fingerprint, ca.fingerprint,
        "an expired CA signs nothing usable"
    );
    assert!(
        ensure_server_cert(dir.path(), "lb", &[], expired).unwrap(),
        "a new CA means a new server certificate"
    );
}
