//! The columns an import file may have, and how headers are matched to them.

/// One known column. The header row names them; order does not matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    Name,
    Namespace,
    GivenName,
    Surname,
    DisplayName,
    Department,
    JobTitle,
    UsageLocation,
    License,
    UpnLocalPart,
    MailNickname,
    Approver,
    ApprovalReference,
    ApprovedAt,
    WelcomeMailRecipient,
    Tenant,
}

impl Column {
    /// Every column, in the order the documentation lists them.
    pub const ALL: [Column; 16] = [
        Column::Name,
        Column::Namespace,
        Column::GivenName,
        Column::Surname,
        Column::DisplayName,
        Column::Department,
        Column::JobTitle,
        Column::UsageLocation,
        Column::License,
        Column::UpnLocalPart,
        Column::MailNickname,
        Column::Approver,
        Column::ApprovalReference,
        Column::ApprovedAt,
        Column::WelcomeMailRecipient,
        Column::Tenant,
    ];

    /// The columns a file must have. `namespace` is required unless given on the command line.
    pub const REQUIRED: [Column; 7] = [
        Column::GivenName,
        Column::Surname,
        Column::UsageLocation,
        Column::License,
        Column::Approver,
        Column::ApprovalReference,
        Column::ApprovedAt,
    ];

    /// The header as documented, which is also how problems name the column.
    pub fn header(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Namespace => "namespace",
            Column::GivenName => "givenName",
            Column::Surname => "surname",
            Column::DisplayName => "displayName",
            Column::Department => "department",
            Column::JobTitle => "jobTitle",
            Column::UsageLocation => "usageLocation",
            Column::License => "license",
            Column::UpnLocalPart => "upnLocalPart",
            Column::MailNickname => "mailNickname",
            Column::Approver => "approver",
            Column::ApprovalReference => "approvalReference",
            Column::ApprovedAt => "approvedAt",
            Column::WelcomeMailRecipient => "welcomeMailRecipient",
            Column::Tenant => "tenant",
        }
    }

    /// The column a header names. Case, spaces, hyphens and underscores are ignored, so that
    /// `GivenName`, `given name` and `given_name` all work.
    pub fn from_header(header: &str) -> Option<Column> {
        let wanted = fold(header);
        Column::ALL
            .into_iter()
            .find(|column| fold(column.header()) == wanted)
    }
}

fn fold(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_loosely_but_not_wrongly() {
        assert_eq!(Column::from_header("GivenName"), Some(Column::GivenName));
        assert_eq!(Column::from_header(" given name"), Some(Column::GivenName));
        assert_eq!(Column::from_header("APPROVED_AT"), Some(Column::ApprovedAt));
        assert_eq!(Column::from_header("surename"), None);
        for column in Column::ALL {
            assert_eq!(Column::from_header(column.header()), Some(column));
        }
    }
}
