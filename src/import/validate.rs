//! Turning one row into a User, checking every field the way the API server will, and
//! finding rows that would clash with each other.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::columns::Column;
use super::countries::is_country;
use super::reader::Row;
use super::{Defaults, Problem};
use crate::api::user::{Approval, WelcomeMail};
use crate::api::{LicenseTier, User, UserSpec};
use crate::names::{self, NameError};

/// Longest User name: its credentials Secret's name must still fit.
const MAX_NAME: usize = 240;

/// What identifies a row's User, for finding clashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The User's namespace.
    pub namespace: String,
    /// The User's name.
    pub name: String,
    /// The Tenant the UPN is made in.
    pub tenant: String,
    /// Lower case: Entra compares UPNs ignoring case.
    pub local_part: String,
}

/// One row, checked.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The row as a spreadsheet numbers it.
    pub row: usize,
    /// The line the row starts on, when it differs from the row number.
    pub line: Option<u64>,
    /// Known when the row's names, namespace and tenant are usable, even if other fields
    /// are not, so that clashes are reported alongside them.
    pub identity: Option<Identity>,
    /// The User, when the row has no problem.
    pub user: Option<User>,
    /// Everything wrong with the row.
    pub problems: Vec<Problem>,
}

/// Checks every field of a row and builds its User.
pub fn check_row(row: &Row, defaults: &Defaults, now: Timestamp) -> Checked {
    let mut check = Check {
        row,
        problems: Vec::new(),
    };
    let spec = check.spec(defaults, now);
    let namespace = check.namespace(defaults);
    let local_part = check.local_part();
    let name = check.name(local_part.as_deref());
    let identity = match (&namespace, &name, &spec.tenant, &local_part) {
        (Some(namespace), Some(name), Some(tenant), Some(local_part)) => Some(Identity {
            namespace: namespace.clone(),
            name: name.clone(),
            tenant: tenant.clone(),
            local_part: local_part.to_lowercase(),
        }),
        _ => None,
    };
    let user = match (check.problems.is_empty(), spec.build(), &identity) {
        (true, Some(spec), Some(identity)) => {
            let mut user = User::new(&identity.name, spec);
            user.metadata.namespace = Some(identity.namespace.clone());
            Some(user)
        }
        _ => None,
    };
    Checked {
        row: row.number,
        line: (row.line != row.number as u64).then_some(row.line),
        identity,
        user,
        problems: check.problems,
    }
}

/// Adds a problem to every row whose User or UPN an earlier row already claims.
pub fn find_clashes(rows: &mut [Checked]) {
    let mut names: HashMap<(String, String), usize> = HashMap::new();
    let mut upns: HashMap<(String, String), usize> = HashMap::new();
    for checked in rows.iter_mut() {
        let Some(id) = checked.identity.clone() else {
            continue;
        };
        let key = (id.namespace.clone(), id.name.clone());
        if let Some(first) = names.get(&key) {
            let message = format!("is the same User as row {first} ({}/{})", key.0, key.1);
            checked.reject(None, message);
        } else {
            names.insert(key, checked.row);
        }
        let key = (id.tenant.clone(), id.local_part.clone());
        if let Some(first) = upns.get(&key) {
            let message = format!(
                "gets the same UPN as row {first} ({:?} in Tenant {}); set upnLocalPart to tell them apart",
                key.1, key.0
            );
            checked.reject(None, message);
        } else {
            upns.insert(key, checked.row);
        }
    }
}

impl Checked {
    /// Records a problem found later, e.g. against the cluster; the row is no longer imported.
    pub fn reject(&mut self, column: Option<Column>, message: impl Into<String>) {
        self.problems.push(Problem {
            row: self.row,
            line: self.line,
            column: column.map(Column::header),
            message: message.into(),
        });
        self.user = None;
    }
}

/// The spec's fields, each `None` when missing or invalid.
struct SpecFields {
    tenant: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    department: Option<String>,
    job_title: Option<String>,
    usage_location: Option<String>,
    license: Option<LicenseTier>,
    upn_local_part: Option<String>,
    mail_nickname: Option<String>,
    approver: Option<String>,
    reference: Option<String>,
    approved_at: Option<Timestamp>,
    welcome_mail: Option<String>,
}

impl SpecFields {
    /// The spec, when every required field is there; optional fields are taken as they are.
    fn build(self) -> Option<UserSpec> {
        Some(UserSpec {
            tenant: self.tenant?,
            given_name: self.given_name?,
            surname: self.surname?,
            display_name: self.display_name,
            department: self.department,
            job_title: self.job_title,
            usage_location: self.usage_location?,
            license: self.license?,
            upn_local_part: self.upn_local_part,
            mail_nickname: self.mail_nickname,
            approval: Approval {
                approver: self.approver?,
                reference: self.reference?,
                approved_at: Time(self.approved_at?),
                token: None,
            },
            welcome_mail: self.welcome_mail.map(|recipient| WelcomeMail { recipient }),
        })
    }
}

/// The problems of one row, collected field by field.
struct Check<'a> {
    row: &'a Row,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn fail(&mut self, column: Column, message: impl Into<String>) {
        self.problems.push(self.row.problem(Some(column), message));
    }

    /// A text field within the API server's length limit.
    fn text(&mut self, column: Column, max: usize, required: bool) -> Option<String> {
        match self.row.get(column) {
            None if required => {
                self.fail(column, "is required");
                None
            }
            None => None,
            Some(value) if value.chars().count() > max => {
                self.fail(column, format!("is longer than {max} characters"));
                None
            }
            Some(value) => Some(value.to_string()),
        }
    }

    /// A text field that must also pass `valid`, else `rule` says why.
    fn shaped(
        &mut self,
        column: Column,
        max: usize,
        required: bool,
        valid: fn(&str) -> bool,
        rule: &str,
    ) -> Option<String> {
        let value = self.text(column, max, required)?;
        if valid(&value) {
            Some(value)
        } else {
            self.fail(column, format!("{value:?} {rule}"));
            None
        }
    }

    fn spec(&mut self, defaults: &Defaults, now: Timestamp) -> SpecFields {
        use Column::*;
        SpecFields {
            given_name: self.text(GivenName, 64, true),
            surname: self.text(Surname, 64, true),
            display_name: self.text(DisplayName, 256, false),
            department: self.text(Department, 64, false),
            job_title: self.text(JobTitle, 128, false),
            usage_location: self.usage_location(),
            license: self.license(),
            upn_local_part: self.shaped(UpnLocalPart, 64, false, is_local_part, LOCAL_PART_RULE),
            mail_nickname: self.shaped(MailNickname, 64, false, is_nickname, NICKNAME_RULE),
            approver: self.shaped(Approver, 254, true, is_mail, MAIL_RULE),
            reference: self.text(ApprovalReference, 128, true),
            approved_at: self.approved_at(now),
            welcome_mail: self.shaped(WelcomeMailRecipient, 254, false, is_mail, MAIL_RULE),
            tenant: self.tenant(defaults),
        }
    }

    fn usage_location(&mut self) -> Option<String> {
        let value = self.text(Column::UsageLocation, 64, true)?;
        if is_country(&value) {
            return Some(value);
        }
        let upper = value.to_ascii_uppercase();
        let message = if is_country(&upper) {
            format!("{value:?} must be in capitals: {upper}")
        } else if value.len() == 2 {
            format!("{value:?} is not an ISO 3166 country code")
        } else {
            format!("{value:?} is not a two-letter ISO 3166 country code such as DE or US")
        };
        self.fail(Column::UsageLocation, message);
        None
    }

    fn license(&mut self) -> Option<LicenseTier> {
        let value = self.text(Column::License, 64, true)?;
        match value.to_ascii_uppercase().as_str() {
            "E3" => Some(LicenseTier::E3),
            "E5" => Some(LicenseTier::E5),
            _ => {
                self.fail(
                    Column::License,
                    format!("{value:?} is not a licence tier; use E3 or E5"),
                );
                None
            }
        }
    }

    fn approved_at(&mut self, now: Timestamp) -> Option<Timestamp> {
        let value = self.text(Column::ApprovedAt, 64, true)?;
        let Ok(at) = value.parse::<Timestamp>() else {
            let message = format!(
                "{value:?} is not a timestamp with an offset, such as 2026-12-01T09:30:00Z"
            );
            self.fail(Column::ApprovedAt, message);
            return None;
        };
        if at > now {
            self.fail(Column::ApprovedAt, format!("{value} lies in the future"));
            return None;
        }
        Some(at)
    }

    fn tenant(&mut self, defaults: &Defaults) -> Option<String> {
        let own = self.shaped(Column::Tenant, 253, false, is_dns_subdomain, DNS_RULE);
        if self.row.get(Column::Tenant).is_some() {
            return own;
        }
        Some(
            defaults
                .tenant
                .clone()
                .unwrap_or_else(|| "default".to_string()),
        )
    }

    fn namespace(&mut self, defaults: &Defaults) -> Option<String> {
        if self.row.get(Column::Namespace).is_some() {
            return self.shaped(Column::Namespace, 63, true, is_dns_label, LABEL_RULE);
        }
        if defaults.namespace.is_none() {
            self.fail(Column::Namespace, "is required (or give --namespace)");
        }
        defaults.namespace.clone()
    }

    /// The UPN local part the operator will derive, as `names` derives it.
    fn local_part(&mut self) -> Option<String> {
        let given = self.row.get(Column::GivenName)?;
        let surname = self.row.get(Column::Surname)?;
        let chosen = self.row.get(Column::UpnLocalPart);
        match names::mail_identity(given, surname, chosen, None) {
            Ok(identity) => Some(identity.local_part),
            Err(error) => {
                let (column, message) = name_problem(error);
                self.fail(column, message);
                None
            }
        }
    }

    /// The row's name, or one derived from the UPN local part: `zoe.muller` → `zoe-muller`.
    fn name(&mut self, local_part: Option<&str>) -> Option<String> {
        if self.row.get(Column::Name).is_some() {
            return self.shaped(Column::Name, MAX_NAME, true, is_dns_subdomain, DNS_RULE);
        }
        let derived = object_name(local_part?);
        if derived.is_empty() {
            self.fail(Column::Name, "cannot be derived from the UPN; fill it in");
            return None;
        }
        Some(derived)
    }
}

fn name_problem(error: NameError) -> (Column, String) {
    let column = |field: &str| {
        if field == "surname" {
            Column::Surname
        } else {
            Column::GivenName
        }
    };
    match error {
        NameError::NotTransliterable {
            field,
            value,
            character,
        } => (
            column(field),
            format!(
                "{value:?} contains {character:?}, which has no Latin transliteration; fill in upnLocalPart"
            ),
        ),
        NameError::Empty { field, value } => (
            column(field),
            format!("{value:?} has no letters or digits for a UPN; fill in upnLocalPart"),
        ),
        NameError::TooLong { local_part } => (
            Column::UpnLocalPart,
            format!(
                "the derived UPN local part {local_part:?} is longer than {} characters; fill in upnLocalPart",
                names::MAX_LOCAL_PART
            ),
        ),
    }
}

/// A Kubernetes object name from a UPN local part: lower case, other characters as hyphens.
pub fn object_name(local_part: &str) -> String {
    let mut name = String::with_capacity(local_part.len());
    for c in local_part.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    name.truncate(MAX_NAME);
    name.trim_end_matches('-').to_string()
}

const LOCAL_PART_RULE: &str = "may use letters A-Z, digits and ' . - _ ! # ^ ~ only, without a leading, trailing or doubled dot";
const NICKNAME_RULE: &str = "may use letters A-Z, digits and . - _ ! # ^ ~ ' only";
const MAIL_RULE: &str = "is not a mail address";
const DNS_RULE: &str = "is not a valid name: lower-case letters, digits, '-' and '.'";
const LABEL_RULE: &str = "is not a valid namespace: lower-case letters, digits and '-'";

fn is_nickname_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_!#^~'-".contains(c)
}

fn is_local_part(value: &str) -> bool {
    value
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(is_nickname_char))
}

fn is_nickname(value: &str) -> bool {
    value.chars().all(|c| c == '.' || is_nickname_char(c))
}

fn is_mail(value: &str) -> bool {
    let mut parts = value.split('@');
    let ok_part =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && !p.contains(char::is_whitespace));
    ok_part(parts.next()) && ok_part(parts.next()) && parts.next().is_none() && value.len() >= 3
}

fn is_dns_label(value: &str) -> bool {
    let edges_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    value.len() <= 63
        && edges_ok(value.chars().next())
        && edges_ok(value.chars().last())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_dns_subdomain(value: &str) -> bool {
    value.len() <= 253 && value.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_the_local_part() {
        assert_eq!(object_name("zoe.muller"), "zoe-muller");
        assert_eq!(object_name("Jean-Luc.O'Neil"), "jean-luc-o-neil");
        assert_eq!(object_name("..a__b.."), "a-b");
        assert_eq!(object_name("'"), "");
    }

    #[test]
    fn field_shapes_mirror_the_crd_rules() {
        assert!(is_local_part("zoe.muller2") && is_local_part("o'neil_x"));
        assert!(!is_local_part(".zoe") && !is_local_part("zoe..m") && !is_local_part("zoë"));
        assert!(is_mail("hr@contoso.example") && !is_mail("hr@@x") && !is_mail("h r@x"));
        assert!(!is_mail("hr.contoso.example") && !is_mail("a@b@c"));
        assert!(is_dns_label("people") && !is_dns_label("People") && !is_dns_label("-p"));
        assert!(is_dns_subdomain("a.b-c") && !is_dns_subdomain("a..b"));
    }
}
