//! The webhook's serving certificate as data: making a fresh authority and certificate for a
//! set of names, reading back what a stored certificate covers and until when, and deciding
//! when it must be replaced. No I/O here.

use std::collections::BTreeSet;
use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::GeneralName;

use super::AdmissionError;

/// How long a certificate the operator makes is valid.
pub const VALIDITY: SignedDuration = SignedDuration::from_hours(365 * 24);

/// A certificate is replaced once it expires within this time: early enough that a renewal
/// failing for days (an API outage, missing RBAC) still leaves room to notice and fix it.
pub const RENEW_BEFORE: SignedDuration = SignedDuration::from_hours(30 * 24);

/// A certificate authority, made for one serving certificate, and that certificate.
///
/// The authority's private key is dropped once it has signed: nobody, the operator included,
/// can sign another certificate the webhook configuration would trust.
pub struct Issued {
    /// The authority's certificate (PEM): what the webhook configuration's `caBundle` trusts.
    pub ca_pem: String,
    /// The serving certificate (PEM).
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8 PEM). Never logged.
    pub key_pem: String,
}

/// Makes a fresh authority and a serving certificate for `names`, valid from `now` for
/// [`VALIDITY`]. A name that parses as an IP address becomes an IP SAN, any other a DNS SAN.
pub fn issue(names: &[String], now: Timestamp) -> Result<Issued, AdmissionError> {
    let failed = |_: rcgen::Error| AdmissionError::Certificate("making the certificate failed");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca_params = authority_params(now).map_err(failed)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().map_err(failed)?;
    let cert = serving_params(names, now)
        .map_err(|_| AdmissionError::Certificate("a webhook name is not a valid DNS name or IP"))?
        .signed_by(&key, &issuer)
        .map_err(failed)?;
    Ok(Issued {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn authority_params(now: Timestamp) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "m365-operator webhook CA");
    // It signs the one serving certificate and nothing below it.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now);
    Ok(params)
}

fn serving_params(names: &[String], now: Timestamp) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "m365-operator webhook");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut params, now);
    Ok(params)
}

/// From the start of `now`'s day (UTC), so that a clock slightly behind ours still accepts
/// it, for [`VALIDITY`].
fn set_validity(params: &mut CertificateParams, now: Timestamp) {
    let day = |t: Timestamp| {
        let date = t.to_zoned(jiff::tz::TimeZone::UTC).date();
        // Month and day are always in 1..=12 and 1..=31.
        rcgen::date_time_ymd(i32::from(date.year()), date.month() as u8, date.day() as u8)
    };
    params.not_before = day(now);
    params.not_after = day(now + VALIDITY);
}

/// What a stored serving certificate covers, and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The end of its validity.
    pub not_after: Timestamp,
    /// Its DNS and IP subject alternative names, IPs in their usual text form.
    pub names: BTreeSet<String>,
}

impl Coverage {
    /// Reads the first certificate of a PEM chain. The problem is a fixed phrase: a parser's
    /// message could quote what it choked on.
    pub fn of_pem(chain_pem: &str) -> Result<Self, AdmissionError> {
        let der = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .next()
            .ok_or(AdmissionError::Certificate("no PEM certificate found"))?
            .map_err(|_| AdmissionError::Certificate("the certificate is not valid PEM"))?;
        Self::of_der(&der)
    }

    fn of_der(der: &[u8]) -> Result<Self, AdmissionError> {
        let unreadable = AdmissionError::Certificate("the certificate is not valid X.509");
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| unreadable)?;
        let not_after = Timestamp::from_second(cert.validity().not_after.timestamp())
            .map_err(|_| AdmissionError::Certificate("the certificate's expiry is out of range"))?;
        let mut names = BTreeSet::new();
        let sans = cert
            .subject_alternative_name()
            .map_err(|_| AdmissionError::Certificate("the certificate's SANs are unreadable"))?;
        for name in sans.iter().flat_map(|ext| &ext.value.general_names) {
            match name {
                GeneralName::DNSName(dns) => {
                    names.insert(dns.to_string());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        names.insert(ip.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok(Coverage { not_after, names })
    }

    /// Why the certificate must be replaced to serve `names` at `now`, if it must.
    pub fn renewal_reason(&self, names: &[String], now: Timestamp) -> Option<Renewal> {
        if self.not_after <= now + RENEW_BEFORE {
            return Some(Renewal::Expiring);
        }
        let missing = names.iter().any(|n| !self.names.contains(&canonical(n)));
        missing.then_some(Renewal::NamesMissing)
    }
}

/// Why a stored certificate is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// It expires within [`RENEW_BEFORE`] (or has expired).
    Expiring,
    /// It does not name every address the webhook is reached at.
    NamesMissing,
}

impl Renewal {
    /// A phrase for the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Renewal::Expiring => "it expires within 30 days",
            Renewal::NamesMissing => "it does not cover every webhook name",
        }
    }
}

/// `name` as [`Coverage::names`] spells it: IPs normalised, DNS names as given.
fn canonical(name: &str) -> String {
    name.parse::<IpAddr>()
        .map_or_else(|_| name.to_string(), |ip| ip.to_string())
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// The names a webhook Service is reached by inside the cluster: `<service>`,
/// `<service>.<namespace>`, `<service>.<namespace>.svc` and the fully qualified
/// `<service>.<namespace>.svc.cluster.local`, then `extra` (duplicates dropped, order kept).
pub fn service_names(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    for name in extra {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn names() -> Vec<String> {
        service_names(
            "m365-operator",
            "ops",
            &["127.0.0.1".into(), "hooks.example".into()],
        )
    }

    #[test]
    fn the_service_names_come_first_then_the_extra_ones() {
        assert_eq!(
            names(),
            [
                "m365-operator",
                "m365-operator.ops",
                "m365-operator.ops.svc",
                "m365-operator.ops.svc.cluster.local",
                "127.0.0.1",
                "hooks.example",
            ]
        );
        let repeated = service_names("hook", "ns", &["hook.ns.svc".into()]);
        assert_eq!(repeated.len(), 4);
    }

    #[test]
    fn an_issued_certificate_covers_every_name_with_ips_as_ip_sans() {
        let now = at("2026-12-01T09:00:00Z");
        let issued = issue(&names(), now).unwrap();
        let coverage = Coverage::of_pem(&issued.cert_pem).unwrap();
        let expected: BTreeSet<String> = names().into_iter().collect();
        assert_eq!(coverage.names, expected);
        assert_eq!(coverage.not_after, at("2027-12-01T00:00:00Z"));
        assert!(issued.key_pem.contains("PRIVATE KEY"));
        assert!(issued.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        // The IP is an IP SAN: a DNS SAN "127.0.0.1" would not satisfy a TLS client.
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = cert.subject_alternative_name().unwrap().unwrap();
        assert!(
            sans.value
                .general_names
                .contains(&GeneralName::IPAddress(&[127, 0, 0, 1]))
        );
    }

    #[test]
    fn the_serving_certificate_names_its_authority_as_issuer() {
        let issued = issue(&names(), Timestamp::now()).unwrap();
        let ca = CertificateDer::from_pem_slice(issued.ca_pem.as_bytes()).unwrap();
        let leaf = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap();
        let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf).unwrap();
        assert_eq!(leaf.issuer(), ca.subject());
        assert!(ca.is_ca());
        assert!(!leaf.is_ca());
        // That it verifies is shown by TLS handshakes in `serving`.
    }

    #[test]
    fn renewal_is_due_within_thirty_days_of_expiry() {
        let coverage = Coverage {
            not_after: at("2027-12-01T00:00:00Z"),
            names: names().into_iter().collect(),
        };
        let due = |now| coverage.renewal_reason(&names(), at(now));
        assert_eq!(due("2027-10-31T00:00:00Z"), None);
        assert_eq!(due("2027-11-01T00:00:01Z"), Some(Renewal::Expiring));
        assert_eq!(due("2027-11-01T00:00:00Z"), Some(Renewal::Expiring));
        assert_eq!(due("2028-01-01T00:00:00Z"), Some(Renewal::Expiring));
    }

    #[test]
    fn renewal_is_due_when_a_name_is_missing() {
        let coverage =
            Coverage::of_pem(&issue(&names(), Timestamp::now()).unwrap().cert_pem).unwrap();
        let now = Timestamp::now();
        assert_eq!(coverage.renewal_reason(&names(), now), None);
        // An IP written another way is the same IP.
        let mut more = names();
        more.push("::1".into());
        assert_eq!(
            coverage.renewal_reason(&more, now),
            Some(Renewal::NamesMissing)
        );
        let v6 = Coverage::of_pem(&issue(&more, now).unwrap().cert_pem).unwrap();
        more.push("0:0:0:0:0:0:0:1".into());
        assert_eq!(v6.renewal_reason(&more, now), None);
    }

    #[test]
    fn a_name_that_is_neither_dns_nor_ip_is_refused_without_echoing_it() {
        let result = issue(&["bäd-name.example".into()], Timestamp::now());
        let error = result.err().expect("refused").to_string();
        assert!(!error.contains("bäd"), "{error}");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(Coverage::of_pem("hello").is_err());
        let not_x509 = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(Coverage::of_pem(not_x509).is_err());
    }
}
