//! The mails of the procedure: the welcome mail to a new hire, the duplicate-address notice to
//! HR and the licence-shortage escalation to IT management. Pure text; sending is elsewhere.

use crate::api::tenant::MailTemplate;
use crate::password::Password;

/// Where people sign in for the first time.
pub const SIGN_IN_URL: &str = "https://myaccount.microsoft.com";

const WELCOME_SUBJECT: &str = "Your new account: {userPrincipalName}";
const WELCOME_BODY: &str = "Hello {givenName},

your Microsoft 365 account is ready.

  User name:          {userPrincipalName}
  Temporary password: {temporaryPassword}

Sign in at {signInUrl}. You will be asked to choose a new password and to set up
multi-factor authentication. The temporary password works for your first sign-in only.

If you did not expect this mail, tell your manager or the IT service desk.
";

/// What a welcome mail says about the person.
#[derive(Debug)]
pub struct Welcome<'a> {
    pub display_name: &'a str,
    pub given_name: &'a str,
    pub user_principal_name: &'a str,
    pub password: &'a Password,
}

/// Subject and body of the welcome mail, from the tenant's template or the built-in one.
pub fn welcome(template: Option<&MailTemplate>, person: &Welcome<'_>) -> (String, String) {
    let (subject, body) = match template {
        Some(t) => (t.subject.as_str(), t.body.as_str()),
        None => (WELCOME_SUBJECT, WELCOME_BODY),
    };
    (fill(subject, person, false), fill(body, person, true))
}

/// Replaces the placeholders; the password only ever goes into the body.
fn fill(text: &str, person: &Welcome<'_>, with_password: bool) -> String {
    let filled = text
        .replace("{displayName}", person.display_name)
        .replace("{givenName}", person.given_name)
        .replace("{userPrincipalName}", person.user_principal_name)
        .replace("{signInUrl}", SIGN_IN_URL);
    if with_password {
        filled.replace("{temporaryPassword}", person.password.expose())
    } else {
        filled.replace("{temporaryPassword}", "")
    }
}

/// The notice to HR that the derived address is taken, with free alternates.
pub fn duplicate_address(
    user: &str,
    display_name: &str,
    taken: &str,
    alternates: &[String],
) -> (String, String) {
    let subject = format!("Address {taken} is taken: choose another for {display_name}");
    let choices = if alternates.is_empty() {
        "  (none of the usual alternates is free; pick one by hand)".to_string()
    } else {
        alternates
            .iter()
            .map(|a| format!("  - {a}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let body = format!(
        "The account for {display_name} (User {user}) cannot be created: {taken} already belongs \
         to another account.\n\nFree alternates:\n{choices}\n\nSet one of them as spec.upnLocalPart \
         (the part before @) in the User manifest; provisioning continues by itself.\n"
    );
    (subject, body)
}

/// The escalation to IT management that a licence has run out.
pub fn license_shortage(user: &str, display_name: &str, part_number: &str) -> (String, String) {
    let subject = format!("No free {part_number} licence for {display_name}");
    let body = format!(
        "The account for {display_name} (User {user}) exists but cannot be licensed: the tenant \
         has no free {part_number} seats.\n\nAdd seats to the subscription or free one; the \
         licence is assigned by itself as soon as a seat is available.\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(password: &Password) -> Welcome<'_> {
        Welcome {
            display_name: "Zoë Müller",
            given_name: "Zoë",
            user_principal_name: "zoe.muller@contoso.com",
            password,
        }
    }

    #[test]
    fn the_built_in_welcome_has_everything_for_a_first_sign_in() {
        let password = Password::from_secret("Xy7#abcdefghJK".into());
        let (subject, body) = welcome(None, &person(&password));
        assert_eq!(subject, "Your new account: zoe.muller@contoso.com");
        assert!(body.contains("Hello Zoë,"));
        assert!(body.contains("Temporary password: Xy7#abcdefghJK"));
        assert!(body.contains(SIGN_IN_URL));
        assert!(!body.contains('{'), "a placeholder was left: {body}");
    }

    #[test]
    fn a_template_never_puts_the_password_in_the_subject() {
        let password = Password::from_secret("Xy7#abcdefghJK".into());
        let template = MailTemplate {
            subject: "Welcome {displayName} {temporaryPassword}".into(),
            body: "Use {temporaryPassword} at {signInUrl}".into(),
        };
        let (subject, body) = welcome(Some(&template), &person(&password));
        assert_eq!(subject, "Welcome Zoë Müller ");
        assert_eq!(body, format!("Use Xy7#abcdefghJK at {SIGN_IN_URL}"));
    }

    #[test]
    fn hr_gets_the_alternates() {
        let alternates = vec!["john.q.smith".to_string(), "j.smith".to_string()];
        let (subject, body) =
            duplicate_address("john", "John Smith", "john.smith@contoso.com", &alternates);
        assert!(subject.contains("john.smith@contoso.com"));
        assert!(body.contains("  - john.q.smith\n  - j.smith"));
        assert!(body.contains("spec.upnLocalPart"));
    }
}
