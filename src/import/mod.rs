//! Bulk import: many `User` manifests from one CSV file, as HR exports it.
//!
//! `m365-operator import FILE` reads a UTF-8 CSV file (with or without a byte-order mark,
//! CRLF or LF line ends, quoted fields that may hold commas, quotes and line breaks), checks
//! every row, and then either writes one manifest per User below a folder (`--out DIR`, for a
//! GitOps pull request) or applies them to the cluster (`--apply`, server-side apply with the
//! field manager [`FIELD_MANAGER`]). If any row has a problem, nothing is written or applied,
//! unless `--skip-invalid` is given; either way every problem is reported with its row.
//!
//! # Columns
//!
//! The header row names the columns, in any order. Headers ignore case, spaces, hyphens and
//! underscores (`givenName`, `Given Name` and `given_name` are the same column); an unknown
//! header is a problem, so that a typo cannot drop a column silently.
//!
//! | column | required | becomes |
//! |---|---|---|
//! | `givenName` | yes | `spec.givenName` |
//! | `surname` | yes | `spec.surname` |
//! | `usageLocation` | yes | `spec.usageLocation`: an ISO 3166 code in capitals |
//! | `license` | yes | `spec.license`: `E3` or `E5` |
//! | `approver` | yes | `spec.approval.approver`: a mail address |
//! | `approvalReference` | yes | `spec.approval.reference` |
//! | `approvedAt` | yes | `spec.approval.approvedAt`: RFC 3339, e.g. `2026-12-01T09:30:00Z` |
//! | `namespace` | unless `--namespace` | the User's namespace |
//! | `name` | no | the User's name; derived from the UPN (`zoe.muller` → `zoe-muller`) |
//! | `tenant` | no | `spec.tenant`; else `--tenant`, else `default` |
//! | `displayName`, `department`, `jobTitle` | no | the same spec fields |
//! | `upnLocalPart`, `mailNickname` | no | the same spec fields |
//! | `welcomeMailRecipient` | no | `spec.welcomeMail.recipient` |
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1. When a quoted field
//! holds a line break, problems also name the line the row starts on.
//!
//! Beyond each field's own rules, two rows may not name the same User, nor derive the same
//! UPN in the same Tenant. With `--apply` or `--check-cluster` rows are also compared with
//! the Users already in the cluster, and their Tenant must exist. With `--apply` the API
//! server then checks each User in a dry run, so that nothing is applied unless all of them
//! would be.

mod cluster;
mod columns;
mod command;
mod countries;
mod output;
mod reader;
mod validate;

use std::fmt;

use jiff::Timestamp;

pub use cluster::{Applied, FIELD_MANAGER, apply, check_against_cluster, dry_run};
pub use columns::Column;
pub use command::{ImportArgs, run};
pub use output::{manifest_path, manifest_yaml, write_manifests};
pub use validate::object_name;

use crate::api::User;

/// A problem with one row, or with the file as a whole (row 1, the header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The row as a spreadsheet numbers it; 1 is the header.
    pub row: usize,
    /// The line the row starts on, when it differs from the row number.
    pub line: Option<u64>,
    /// The column's documented header.
    pub column: Option<&'static str>,
    /// What is wrong, naming the value.
    pub message: String,
}

impl Problem {
    /// A problem with a whole row.
    pub fn row(row: usize, message: impl Into<String>) -> Self {
        Problem {
            row,
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}", self.row)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(column) = self.column {
            write!(f, ": {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Values for rows that leave a column out.
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    /// For rows without a namespace (`--namespace`).
    pub namespace: Option<String>,
    /// For rows without a tenant (`--tenant`); `default` when not given either.
    pub tenant: Option<String>,
}

/// A User that passed every check, and the row it came from.
#[derive(Clone, Debug)]
pub struct PlannedUser {
    /// The row it came from.
    pub row: usize,
    /// The manifest, with namespace.
    pub user: User,
}

/// The outcome of checking a file.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Data rows read, blank ones not counted.
    pub rows: usize,
    checked: Vec<validate::Checked>,
    /// Problems with the file or with rows that could not be split into columns.
    file_problems: Vec<Problem>,
}

impl Plan {
    /// Every problem, by row.
    pub fn problems(&self) -> Vec<Problem> {
        let mut all = self.file_problems.clone();
        all.extend(self.checked.iter().flat_map(|c| c.problems.iter().cloned()));
        // Stable: a row's problems keep the order of its columns.
        all.sort_by_key(|p| p.row);
        all
    }

    /// Whether no row has a problem.
    pub fn is_valid(&self) -> bool {
        self.file_problems.is_empty() && self.checked.iter().all(|c| c.problems.is_empty())
    }

    /// The Users of rows without problems.
    pub fn users(&self) -> Vec<PlannedUser> {
        self.checked
            .iter()
            .filter_map(|c| c.user.clone().map(|user| PlannedUser { row: c.row, user }))
            .collect()
    }

    /// Adds a problem found outside the file to a row; the row is no longer imported.
    pub fn reject(&mut self, row: usize, message: impl Into<String>) {
        if let Some(checked) = self.checked.iter_mut().find(|c| c.row == row) {
            checked.reject(None, message);
        }
    }

    /// How many rows have a problem.
    pub fn invalid_rows(&self) -> usize {
        let mut rows: Vec<usize> = self.problems().iter().map(|p| p.row).collect();
        rows.dedup();
        rows.len()
    }
}

/// Reads and checks a file without touching the cluster. `now` is when approvals must have
/// happened by.
pub fn plan(bytes: &[u8], defaults: &Defaults, now: Timestamp) -> Plan {
    let (rows, file_problems) = reader::read(bytes, defaults.namespace.is_some());
    let mut checked: Vec<validate::Checked> = rows
        .iter()
        .map(|row| validate::check_row(row, defaults, now))
        .collect();
    validate::find_clashes(&mut checked);
    Plan {
        rows: rows.len() + file_problems.iter().filter(|p| p.row > 1).count(),
        checked,
        file_problems,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::names;

    const HEADER: &str =
        "givenName,surname,usageLocation,license,approver,approvalReference,approvedAt,namespace";

    fn now() -> Timestamp {
        "2026-12-10T00:00:00Z".parse().unwrap()
    }

    fn shown(plan: &Plan) -> Vec<String> {
        plan.problems().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_row_becomes_a_user() {
        let text = format!(
            "{HEADER},jobTitle,welcomeMailRecipient\nZoë,Müller,DE,e5,hr@contoso.example,HR-2041,2026-12-01T09:30:00Z,people,\"Analyst, Risk\",zoe@example.net\n"
        );
        let plan = plan(text.as_bytes(), &Defaults::default(), now());
        assert_eq!(shown(&plan), Vec::<String>::new());
        let users = plan.users();
        let user = &users[0].user;
        assert_eq!(user.metadata.name.as_deref(), Some("zoe-muller"));
        assert_eq!(user.metadata.namespace.as_deref(), Some("people"));
        assert_eq!(user.spec.tenant, "default");
        assert_eq!(user.spec.license, crate::api::LicenseTier::E5);
        assert_eq!(user.spec.job_title.as_deref(), Some("Analyst, Risk"));
        assert_eq!(
            user.spec.approval.approved_at.0,
            "2026-12-01T09:30:00Z".parse().unwrap()
        );
        assert_eq!(
            user.spec
                .welcome_mail
                .as_ref()
                .map(|w| w.recipient.as_str()),
            Some("zoe@example.net")
        );
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let text = format!("{HEADER}\n,Müller,Germany,E7,hr,HR-1,yesterday,People\n");
        let plan = plan(text.as_bytes(), &Defaults::default(), now());
        assert_eq!(
            shown(&plan),
            [
                "row 2: givenName: is required",
                "row 2: usageLocation: \"Germany\" is not a two-letter ISO 3166 country code such as DE or US",
                "row 2: license: \"E7\" is not a licence tier; use E3 or E5",
                "row 2: approver: \"hr\" is not a mail address",
                "row 2: approvedAt: \"yesterday\" is not a timestamp with an offset, such as 2026-12-01T09:30:00Z",
                "row 2: namespace: \"People\" is not a valid namespace: lower-case letters, digits and '-'",
            ]
        );
        assert!(plan.users().is_empty());
        assert_eq!(plan.invalid_rows(), 1);
    }

    #[test]
    fn defaults_fill_namespace_and_tenant() {
        let text = "givenName,surname,usageLocation,license,approver,approvalReference,approvedAt\nAnn,Lee,US,E3,hr@contoso.example,HR-1,2026-12-01T09:30:00+01:00\n";
        let defaults = Defaults {
            namespace: Some("people".into()),
            tenant: Some("contoso".into()),
        };
        let plan = plan(text.as_bytes(), &defaults, now());
        let user = &plan.users()[0].user;
        assert_eq!(user.metadata.namespace.as_deref(), Some("people"));
        assert_eq!(user.spec.tenant, "contoso");
        assert_eq!(
            user.spec.approval.approved_at.0,
            "2026-12-01T08:30:00Z".parse().unwrap()
        );
    }

    proptest! {
        #[test]
        fn transliteration_yields_upn_characters_or_a_clear_error(name in "\\PC{0,40}") {
            match names::transliterate("givenName", &name) {
                Ok(out) => {
                    prop_assert!(!out.is_empty());
                    prop_assert!(out.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{out:?}");
                    prop_assert!(!out.starts_with('-') && !out.ends_with('-'), "{out:?}");
                }
                Err(error) => {
                    let message = error.to_string();
                    prop_assert!(message.contains("givenName") && message.contains("upnLocalPart"), "{message}");
                }
            }
        }
    }
}
