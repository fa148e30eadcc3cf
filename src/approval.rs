//! Is the HR approval a User rests on valid?
//!
//! A tenant's [`ApprovalPolicy`] says who may approve: a list of HR mail addresses, members of
//! an Entra group, or both. Membership is looked up in Graph by the caller (this module does
//! no I/O) and handed in as a [`Membership`].
//!
//! In strict mode the approval must also carry a token: a JWT the HR system signed. Its
//! claims must match the manifest, so that a manifest cannot borrow another person's
//! approval. The claims, all required:
//!
//! | claim | meaning | compared with |
//! |---|---|---|
//! | `iss` | the HR system | `strict.issuer` |
//! | `aud` | the operator (a string or a list) | contains `strict.audience` |
//! | `exp` | end of the token's validity (NumericDate) | now, 60 s leeway |
//! | `approver` | mail address of the approving HR partner | `approval.approver`, ignoring case |
//! | `reference` | the HR request id | `approval.reference` |
//! | `given_name` | the person's first name | `givenName` |
//! | `family_name` | the person's last name | `surname` |
//! | `approved_at` | when HR approved (NumericDate) | `approval.approvedAt`, to the second |
//!
//! The token must be signed with ES256, ES384, RS256, RS384, RS512, PS256, PS384, PS512 or
//! EdDSA by a key in `strict.jwks` (chosen by `kid`) or the one in `strict.publicKeyPem`.
//! Problems name what is wrong, never the token.

use jiff::Timestamp;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Clock difference tolerated between the HR system and the operator.
const LEEWAY_SECONDS: u64 = 60;

/// Who may approve new accounts in a tenant.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.approvers.size() > 0 || has(self.approverGroup)")
    .message("an approval policy needs approvers, an approverGroup, or both"))]
pub struct ApprovalPolicy {
    /// Mail addresses of the HR partners who may approve; compared ignoring case.
    #[serde(default)]
    #[schemars(length(max = 100), inner(length(min = 3, max = 254)))]
    pub approvers: Vec<String>,

    /// Object id of an Entra group whose members may approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub approver_group: Option<String>,

    /// Approvals older than this many days are refused before an account is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub max_age_days: Option<u32>,

    /// Require a token signed by the HR system with every approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<StrictApproval>,
}

/// How to check the HR system's approval tokens.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.jwks) != has(self.publicKeyPem)")
    .message("strict approval needs exactly one of jwks and publicKeyPem"))]
pub struct StrictApproval {
    /// The `iss` the HR system's tokens carry.
    #[schemars(length(min = 1, max = 512))]
    pub issuer: String,

    /// The `aud` the HR system addresses the operator by.
    #[schemars(length(min = 1, max = 512))]
    pub audience: String,

    /// The HR system's public keys as a JSON Web Key Set document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 32768))]
    pub jwks: Option<String>,

    /// The HR system's public key in PEM (`-----BEGIN PUBLIC KEY-----`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 16, max = 16384))]
    pub public_key_pem: Option<String>,
}

/// The approval as the User states it.
#[derive(Clone, Copy, Debug)]
pub struct PresentedApproval<'a> {
    /// `spec.approval.approver`.
    pub approver: &'a str,
    /// `spec.approval.reference`.
    pub reference: &'a str,
    /// `spec.approval.approvedAt`.
    pub approved_at: Timestamp,
    /// The HR system's signed token, in strict mode.
    pub token: Option<&'a str>,
}

/// The person the approval is for, as the User names them.
#[derive(Clone, Copy, Debug)]
pub struct Person<'a> {
    /// `spec.givenName`.
    pub given_name: &'a str,
    /// `spec.surname`.
    pub surname: &'a str,
}

/// Whether the approver is in the policy's approver group, as Graph answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Graph reports the approver as a member of the group.
    Member,
    /// Graph does not.
    NotMember,
    /// Not looked up: no group is configured, or the approver is already listed by address.
    Unchecked,
}

/// Why an approval is not accepted. [`ApprovalProblem::reason`] is the condition reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalProblem {
    #[error("the approval has no {0}")]
    Missing(&'static str),
    #[error("{approver} is not an HR approver: not in the policy's approvers{group}")]
    ApproverNotHr { approver: String, group: String },
    #[error("{approver} is not a listed approver and membership of group {group} was not checked")]
    ApproverUnverified { approver: String, group: String },
    #[error("the approval token's signature does not verify: {0}")]
    SignatureInvalid(&'static str),
    #[error("the approval token is not acceptable: {0}")]
    TokenInvalid(&'static str),
    #[error("the approval token does not match the manifest: {0}")]
    Mismatch(String),
    #[error("the approval expired at {0}")]
    Expired(Timestamp),
    #[error("the approval is dated {0}, in the future")]
    FromTheFuture(Timestamp),
    #[error("the approval policy cannot be used: {0}")]
    PolicyInvalid(&'static str),
}

impl ApprovalProblem {
    /// A CamelCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            ApprovalProblem::Missing(_) => "ApprovalMissing",
            ApprovalProblem::ApproverNotHr { .. } => "ApproverNotHR",
            ApprovalProblem::ApproverUnverified { .. } => "ApproverUnverified",
            ApprovalProblem::SignatureInvalid(_) => "ApprovalSignatureInvalid",
            ApprovalProblem::TokenInvalid(_) => "ApprovalTokenInvalid",
            ApprovalProblem::Mismatch(_) => "ApprovalMismatch",
            ApprovalProblem::Expired(_) => "ApprovalExpired",
            ApprovalProblem::FromTheFuture(_) => "ApprovalFromTheFuture",
            ApprovalProblem::PolicyInvalid(_) => "ApprovalPolicyInvalid",
        }
    }
}

impl ApprovalPolicy {
    /// Whether `approver` is listed by address, ignoring case.
    pub fn lists(&self, approver: &str) -> bool {
        self.approvers
            .iter()
            .any(|listed| listed.trim().eq_ignore_ascii_case(approver.trim()))
    }

    /// The group whose membership the caller must look up for `approver`, if any.
    pub fn group_to_check(&self, approver: &str) -> Option<&str> {
        match self.approver_group.as_deref() {
            Some(group) if !self.lists(approver) => Some(group),
            _ => None,
        }
    }

    /// Checks that the strict-mode keys can be read, so a Tenant can report a bad policy
    /// before any User needs it.
    pub fn validate(&self) -> Result<(), ApprovalProblem> {
        match &self.strict {
            Some(strict) => strict.keys().map(|_| ()),
            None => Ok(()),
        }
    }
}

/// Accepts the approval, or says what is wrong with it.
pub fn check(
    policy: &ApprovalPolicy,
    approval: &PresentedApproval<'_>,
    person: &Person<'_>,
    membership: Membership,
    now: Timestamp,
) -> Result<(), ApprovalProblem> {
    if approval.approver.trim().is_empty() {
        return Err(ApprovalProblem::Missing("approver"));
    }
    if approval.reference.trim().is_empty() {
        return Err(ApprovalProblem::Missing("reference"));
    }
    check_dates(policy, approval.approved_at, now)?;
    check_approver(policy, approval.approver, membership)?;
    if let Some(strict) = &policy.strict {
        let token =
            approval
                .token
                .filter(|t| !t.trim().is_empty())
                .ok_or(ApprovalProblem::Missing(
                    "token, which strict mode requires",
                ))?;
        let claims = strict.verify(token, now)?;
        claims.matches(approval, person)?;
    }
    Ok(())
}

fn check_dates(
    policy: &ApprovalPolicy,
    approved_at: Timestamp,
    now: Timestamp,
) -> Result<(), ApprovalProblem> {
    let leeway = jiff::SignedDuration::from_secs(LEEWAY_SECONDS as i64);
    if approved_at.duration_since(now) > leeway {
        return Err(ApprovalProblem::FromTheFuture(approved_at));
    }
    if let Some(days) = policy.max_age_days {
        let expires = approved_at
            .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(days)))
            .map_err(|_| ApprovalProblem::PolicyInvalid("maxAgeDays is out of range"))?;
        if now > expires {
            return Err(ApprovalProblem::Expired(expires));
        }
    }
    Ok(())
}

fn check_approver(
    policy: &ApprovalPolicy,
    approver: &str,
    membership: Membership,
) -> Result<(), ApprovalProblem> {
    if policy.lists(approver) {
        return Ok(());
    }
    let approver = approver.trim().to_string();
    match (policy.approver_group.as_deref(), membership) {
        (Some(_), Membership::Member) => Ok(()),
        (Some(group), Membership::Unchecked) => Err(ApprovalProblem::ApproverUnverified {
            approver,
            group: group.to_string(),
        }),
        (group, _) => Err(ApprovalProblem::ApproverNotHr {
            approver,
            group: group.map_or_else(String::new, |g| format!(" nor a member of group {g}")),
        }),
    }
}

/// The signature algorithms accepted from the HR system: asymmetric ones only, so that a
/// public key can never be used as an HMAC secret.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// The HR system's keys, read from the policy.
enum HrKeys {
    Set(JwkSet),
    Pem(Vec<u8>),
}

impl StrictApproval {
    fn keys(&self) -> Result<HrKeys, ApprovalProblem> {
        match (&self.jwks, &self.public_key_pem) {
            (Some(jwks), None) => serde_json::from_str(jwks).map(HrKeys::Set).map_err(|_| {
                ApprovalProblem::PolicyInvalid("strict.jwks is not a JSON Web Key Set")
            }),
            (None, Some(pem)) => {
                let readable = DecodingKey::from_ec_pem(pem.as_bytes()).is_ok()
                    || DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok()
                    || DecodingKey::from_ed_pem(pem.as_bytes()).is_ok();
                readable
                    .then(|| HrKeys::Pem(pem.as_bytes().to_vec()))
                    .ok_or(ApprovalProblem::PolicyInvalid(
                        "strict.publicKeyPem is not an EC, RSA or Ed25519 public key",
                    ))
            }
            _ => Err(ApprovalProblem::PolicyInvalid(
                "strict mode needs exactly one of jwks and publicKeyPem",
            )),
        }
    }

    fn verify(&self, token: &str, now: Timestamp) -> Result<HrClaims, ApprovalProblem> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApprovalProblem::TokenInvalid("it is not a JWT"))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(ApprovalProblem::TokenInvalid(
                "it is not signed with an accepted asymmetric algorithm",
            ));
        }
        let key = self
            .keys()?
            .decoding_key(header.alg, header.kid.as_deref())?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Expiry is compared with `now` below, not with the library's clock.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<HrClaims>(token, &key, &validation)
            .map_err(|e| token_problem(e.kind()))?
            .claims;
        let expires = Timestamp::from_second(claims.exp)
            .map_err(|_| ApprovalProblem::TokenInvalid("its exp is out of range"))?;
        if now.as_second() > claims.exp.saturating_add(LEEWAY_SECONDS as i64) {
            return Err(ApprovalProblem::Expired(expires));
        }
        Ok(claims)
    }
}

fn token_problem(kind: &ErrorKind) -> ApprovalProblem {
    match kind {
        ErrorKind::InvalidSignature => {
            ApprovalProblem::SignatureInvalid("it was not signed by the HR system's key")
        }
        ErrorKind::InvalidIssuer => {
            ApprovalProblem::TokenInvalid("its issuer is not the HR system")
        }
        ErrorKind::InvalidAudience => {
            ApprovalProblem::TokenInvalid("it is not addressed to this operator")
        }
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => ApprovalProblem::TokenInvalid(
            "it lacks a required claim (iss, aud, exp, approver, reference, given_name, family_name, approved_at)",
        ),
        ErrorKind::InvalidAlgorithm => {
            ApprovalProblem::SignatureInvalid("its algorithm does not fit the HR system's key")
        }
        _ => ApprovalProblem::TokenInvalid("it cannot be decoded"),
    }
}

impl HrKeys {
    fn decoding_key(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<DecodingKey, ApprovalProblem> {
        match self {
            HrKeys::Set(set) => {
                let jwk = pick_jwk(set, kid)?;
                if jwk
                    .common
                    .key_algorithm
                    .is_some_and(|a| a.to_string() != format!("{alg:?}"))
                {
                    return Err(ApprovalProblem::SignatureInvalid(
                        "its algorithm differs from the one its key is for",
                    ));
                }
                DecodingKey::from_jwk(jwk).map_err(|_| {
                    ApprovalProblem::PolicyInvalid("a key in strict.jwks cannot be used")
                })
            }
            HrKeys::Pem(pem) => {
                let key = match alg.family() {
                    AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
                    AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
                    _ => DecodingKey::from_ed_pem(pem),
                };
                key.map_err(|_| {
                    ApprovalProblem::SignatureInvalid(
                        "its algorithm does not fit the HR system's key",
                    )
                })
            }
        }
    }
}

/// The key a token names, or the only key when it names none.
fn pick_jwk<'a>(set: &'a JwkSet, kid: Option<&str>) -> Result<&'a Jwk, ApprovalProblem> {
    match kid {
        Some(kid) => set.find(kid).ok_or(ApprovalProblem::SignatureInvalid(
            "it names a key the HR system does not publish",
        )),
        None if set.keys.len() == 1 => Ok(&set.keys[0]),
        None => Err(ApprovalProblem::TokenInvalid(
            "it names no key (kid) and the HR system has several",
        )),
    }
}

/// The claims of an HR approval token; see the module documentation.
#[derive(Deserialize)]
struct HrClaims {
    exp: i64,
    approver: String,
    reference: String,
    given_name: String,
    family_name: String,
    approved_at: i64,
}

impl HrClaims {
    /// Every field that differs, so that one fix makes the approval pass.
    fn matches(
        &self,
        approval: &PresentedApproval<'_>,
        person: &Person<'_>,
    ) -> Result<(), ApprovalProblem> {
        let mut differ = Vec::new();
        if !self
            .approver
            .trim()
            .eq_ignore_ascii_case(approval.approver.trim())
        {
            differ.push(format!("approver is {:?} in the token", self.approver));
        }
        if self.reference.trim() != approval.reference.trim() {
            differ.push(format!("reference is {:?} in the token", self.reference));
        }
        if !same_name(&self.given_name, person.given_name) {
            differ.push(format!("givenName is {:?} in the token", self.given_name));
        }
        if !same_name(&self.family_name, person.surname) {
            differ.push(format!("surname is {:?} in the token", self.family_name));
        }
        if self.approved_at != approval.approved_at.as_second() {
            let shown = Timestamp::from_second(self.approved_at)
                .map_or_else(|_| self.approved_at.to_string(), |t| t.to_string());
            differ.push(format!("approvedAt is {shown} in the token"));
        }
        if differ.is_empty() {
            Ok(())
        } else {
            Err(ApprovalProblem::Mismatch(differ.join("; ")))
        }
    }
}

/// Names compare after Unicode normalisation and trimming, ignoring case: HR systems and
/// manifests disagree on these without meaning different people.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .nfc()
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;

    const NOW: &str = "2026-12-02T10:00:00Z";
    const APPROVED: &str = "2026-12-01T09:30:00Z";

    /// An HR system's key pair: the signing half and its published JWK.
    struct HrSystem {
        signing: EncodingKey,
        public: Jwk,
    }

    impl HrSystem {
        fn new(kid: &str) -> Self {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &aws_lc_rs::rand::SystemRandom::new(),
            )
            .unwrap();
            let signing = EncodingKey::from_ec_der(pkcs8.as_ref());
            let mut public = Jwk::from_encoding_key(&signing, Algorithm::ES256).unwrap();
            public.common.key_id = Some(kid.into());
            Self { signing, public }
        }

        fn jwks(&self) -> String {
            json!({ "keys": [self.public] }).to_string()
        }

        /// The public key as PEM: SubjectPublicKeyInfo for P-256 is a fixed prefix and the point.
        fn pem(&self) -> String {
            let jwk = serde_json::to_value(&self.public).unwrap();
            let coordinate = |c: &str| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(jwk[c].as_str().unwrap())
                    .unwrap()
            };
            let mut der = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
            ];
            der.extend(coordinate("x"));
            der.extend(coordinate("y"));
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
        }

        fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = self.public.common.key_id.clone();
            jsonwebtoken::encode(&header, claims, &self.signing).unwrap()
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn claims() -> Value {
        json!({
            "iss": "https://hr.contoso.example",
            "aud": "m365-operator",
            "exp": at("2026-12-08T00:00:00Z").as_second(),
            "approver": "HR.Partner@contoso.example",
            "reference": "HR-2041",
            "given_name": "Zoë",
            "family_name": "Müller",
            "approved_at": at(APPROVED).as_second(),
        })
    }

    fn policy(hr: &HrSystem) -> ApprovalPolicy {
        ApprovalPolicy {
            approvers: vec!["hr.partner@contoso.example".into()],
            approver_group: Some("5b1e3c3e-0000-0000-0000-0000000000a1".into()),
            max_age_days: Some(30),
            strict: Some(StrictApproval {
                issuer: "https://hr.contoso.example".into(),
                audience: "m365-operator".into(),
                jwks: Some(hr.jwks()),
                public_key_pem: None,
            }),
        }
    }

    fn approval(token: Option<&str>) -> PresentedApproval<'_> {
        PresentedApproval {
            approver: "hr.partner@contoso.example",
            reference: "HR-2041",
            approved_at: at(APPROVED),
            token,
        }
    }

    const PERSON: Person<'static> = Person {
        given_name: "Zoë",
        surname: "Müller",
    };

    fn run(policy: &ApprovalPolicy, token: Option<&str>) -> Result<(), ApprovalProblem> {
        check(
            policy,
            &approval(token),
            &PERSON,
            Membership::Unchecked,
            at(NOW),
        )
    }

    #[test]
    fn a_valid_signed_approval_passes() {
        let hr = HrSystem::new("hr-1");
        let token = hr.sign(&claims());
        assert_eq!(run(&policy(&hr), Some(&token)), Ok(()));
    }

    #[test]
    fn a_public_key_in_pem_works_like_a_jwks() {
        let hr = HrSystem::new("hr-1");
        let mut policy = policy(&hr);
        let strict = policy.strict.as_mut().unwrap();
        strict.jwks = None;
        strict.public_key_pem = Some(hr.pem());
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(run(&policy, Some(&hr.sign(&claims()))), Ok(()));
        let forged = HrSystem::new("hr-1").sign(&claims());
        let problem = run(&policy, Some(&forged)).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalSignatureInvalid");
    }

    #[test]
    fn a_token_forged_with_another_key_is_refused() {
        let hr = HrSystem::new("hr-1");
        // Same key id, different key: what someone without the HR key would produce.
        let forger = HrSystem::new("hr-1");
        let token = forger.sign(&claims());
        let problem = run(&policy(&hr), Some(&token)).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalSignatureInvalid");
        assert!(!problem.to_string().contains(&token), "{problem}");
        let unknown = HrSystem::new("hr-2").sign(&claims());
        let problem = run(&policy(&hr), Some(&unknown)).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalSignatureInvalid");
        assert!(
            problem.to_string().contains("does not publish"),
            "{problem}"
        );
    }

    #[test]
    fn a_token_for_someone_else_names_every_difference() {
        let hr = HrSystem::new("hr-1");
        let mut other = claims();
        other["reference"] = "HR-9999".into();
        other["family_name"] = "Meier".into();
        let token = hr.sign(&other);
        let problem = run(&policy(&hr), Some(&token)).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalMismatch");
        let message = problem.to_string();
        assert!(message.contains("reference is \"HR-9999\""), "{message}");
        assert!(message.contains("surname is \"Meier\""), "{message}");
        assert!(!message.contains("approver"), "{message}");
        assert!(!message.contains(&token));
    }

    #[test]
    fn names_compare_across_unicode_forms_and_case() {
        let hr = HrSystem::new("hr-1");
        let mut decomposed = claims();
        decomposed["given_name"] = "ZOE\u{0308}".into();
        assert_eq!(run(&policy(&hr), Some(&hr.sign(&decomposed))), Ok(()));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let hr = HrSystem::new("hr-1");
        let mut old = claims();
        old["exp"] = at("2026-12-02T09:00:00Z").as_second().into();
        let problem = run(&policy(&hr), Some(&hr.sign(&old))).unwrap_err();
        assert_eq!(
            problem,
            ApprovalProblem::Expired(at("2026-12-02T09:00:00Z"))
        );
        assert_eq!(problem.reason(), "ApprovalExpired");
    }

    #[test]
    fn wrong_issuer_or_audience_or_missing_claims_are_refused() {
        let hr = HrSystem::new("hr-1");
        let bad = |edit: fn(&mut Value)| {
            let mut c = claims();
            edit(&mut c);
            run(&policy(&hr), Some(&hr.sign(&c))).unwrap_err()
        };
        let issuer = bad(|c| c["iss"] = "https://evil.example".into());
        assert_eq!(issuer.reason(), "ApprovalTokenInvalid");
        assert!(issuer.to_string().contains("issuer"), "{issuer}");
        let audience = bad(|c| c["aud"] = "someone-else".into());
        assert!(audience.to_string().contains("not addressed"), "{audience}");
        let missing = bad(|c| {
            c.as_object_mut().unwrap().remove("approved_at");
        });
        assert!(missing.to_string().contains("required claim"), "{missing}");
    }

    #[test]
    fn strict_mode_needs_a_token() {
        let hr = HrSystem::new("hr-1");
        let problem = run(&policy(&hr), None).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalMissing");
        assert!(problem.to_string().contains("token"), "{problem}");
        let garbage = run(&policy(&hr), Some("not-a-jwt")).unwrap_err();
        assert_eq!(garbage.reason(), "ApprovalTokenInvalid");
    }

    #[test]
    fn approvers_are_listed_or_group_members() {
        let policy = ApprovalPolicy {
            strict: None,
            ..policy(&HrSystem::new("hr-1"))
        };
        let by = |approver: &'static str, membership| {
            let presented = PresentedApproval {
                approver,
                ..approval(None)
            };
            check(&policy, &presented, &PERSON, membership, at(NOW))
        };
        assert_eq!(
            by("HR.PARTNER@contoso.example", Membership::Unchecked),
            Ok(())
        );
        assert_eq!(by("lead@contoso.example", Membership::Member), Ok(()));
        let outsider = by("intern@contoso.example", Membership::NotMember).unwrap_err();
        assert_eq!(outsider.reason(), "ApproverNotHR");
        assert!(
            outsider.to_string().contains("intern@contoso.example"),
            "{outsider}"
        );
        let unchecked = by("lead@contoso.example", Membership::Unchecked).unwrap_err();
        assert_eq!(unchecked.reason(), "ApproverUnverified");
        assert_eq!(policy.group_to_check("hr.partner@contoso.example"), None);
        assert!(policy.group_to_check("lead@contoso.example").is_some());
    }

    #[test]
    fn missing_old_and_future_approvals_are_refused() {
        let policy = ApprovalPolicy {
            strict: None,
            ..policy(&HrSystem::new("hr-1"))
        };
        let with = |presented: PresentedApproval<'_>, now: &str| {
            check(&policy, &presented, &PERSON, Membership::Unchecked, at(now))
        };
        let blank = PresentedApproval {
            reference: " ",
            ..approval(None)
        };
        assert_eq!(with(blank, NOW), Err(ApprovalProblem::Missing("reference")));
        let old = with(approval(None), "2027-01-01T00:00:00Z").unwrap_err();
        assert_eq!(old.reason(), "ApprovalExpired");
        let future = with(approval(None), "2026-11-30T00:00:00Z").unwrap_err();
        assert_eq!(future.reason(), "ApprovalFromTheFuture");
    }

    #[test]
    fn an_unreadable_policy_is_reported_as_such() {
        let hr = HrSystem::new("hr-1");
        let mut broken = policy(&hr);
        broken.strict.as_mut().unwrap().jwks = Some("{not json".into());
        assert_eq!(
            broken.validate().unwrap_err().reason(),
            "ApprovalPolicyInvalid"
        );
        let problem = run(&broken, Some(&hr.sign(&claims()))).unwrap_err();
        assert_eq!(problem.reason(), "ApprovalPolicyInvalid");
    }

    #[test]
    fn the_policy_schema_carries_its_rules() {
        let schema = serde_json::to_string(&schemars::schema_for!(ApprovalPolicy)).unwrap();
        assert!(
            schema.contains("has(self.jwks) != has(self.publicKeyPem)"),
            "{schema}"
        );
        assert!(schema.contains("\"maxLength\":32768"), "{schema}");
    }
}
