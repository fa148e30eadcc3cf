//! The mails of the procedure: the welcome mail to a new hire, the duplicate-address notice to
//! HR and the licence-shortage escalation to IT management. Pure text; sending is elsewhere.

use crate::api::tenant::WelcomeSettings;
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
const WELCOME_ACCESS_PASS_BODY: &str = "Hello {givenName},

your Microsoft 365 account is ready.

  User name:             {userPrincipalName}
  Temporary Access Pass: {temporaryAccessPass}
  Valid until:           {validUntil}

Sign in at {signInUrl} with your user name and the Temporary Access Pass, which you enter
where a password is asked for. Then set up the way you will sign in from now on, such as the
Microsoft Authenticator app or a passkey, in the same session: the pass may work for that one
sign-in only, and it stops working at the time above.

If you did not expect this mail, tell your manager or the IT service desk.
";

/// What a welcome mail says about the person.
#[derive(Debug)]
pub struct Welcome<'a> {
    pub display_name: &'a str,
    pub given_name: &'a str,
    pub user_principal_name: &'a str,
    pub credential: Credential<'a>,
}

/// What the person signs in with the first time. Both print as redacted.
#[derive(Debug)]
pub enum Credential<'a> {
    /// The temporary password stored in the credentials Secret.
    Password(&'a Password),
    /// A Temporary Access Pass issued for this mail.
    AccessPass {
        pass: &'a crate::graph::Sensitive,
        /// When it stops working, if Graph said.
        valid_until: Option<jiff::Timestamp>,
    },
}

/// Subject and body of the welcome mail, from the tenant's settings or the built-in text for
/// the credential.
pub fn welcome(settings: Option<&WelcomeSettings>, person: &Welcome<'_>) -> (String, String) {
    let built_in = match person.credential {
        Credential::Password(_) => WELCOME_BODY,
        Credential::AccessPass { .. } => WELCOME_ACCESS_PASS_BODY,
    };
    let subject = settings.and_then(|s| s.subject.as_deref());
    let body = settings.and_then(|s| s.body.as_deref());
    (
        fill(subject.unwrap_or(WELCOME_SUBJECT), person, false),
        fill(body.unwrap_or(built_in), person, true),
    )
}

/// Replaces the placeholders. The credential only ever goes into the body, and only the one
/// the mail is for: a placeholder of the other kind is left empty.
fn fill(text: &str, person: &Welcome<'_>, with_credential: bool) -> String {
    let (password, pass, valid_until) = match (&person.credential, with_credential) {
        (_, false) => (None, None, None),
        (Credential::Password(p), true) => (Some(p.expose()), None, None),
        (Credential::AccessPass { pass, valid_until }, true) => {
            (None, Some(pass.expose()), *valid_until)
        }
    };
    let valid_until = valid_until.map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string());
    text.replace("{displayName}", person.display_name)
        .replace("{givenName}", person.given_name)
        .replace("{userPrincipalName}", person.user_principal_name)
        .replace("{signInUrl}", SIGN_IN_URL)
        .replace("{validUntil}", valid_until.as_deref().unwrap_or_default())
        .replace("{temporaryPassword}", password.unwrap_or_default())
        .replace("{temporaryAccessPass}", pass.unwrap_or_default())
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

    use crate::api::tenant::WelcomeCredential;
    use crate::graph::Sensitive;

    fn person(credential: Credential<'_>) -> Welcome<'_> {
        Welcome {
            display_name: "Zoë Müller",
            given_name: "Zoë",
            user_principal_name: "zoe.muller@contoso.com",
            credential,
        }
    }

    fn template(subject: Option<&str>, body: Option<&str>) -> WelcomeSettings {
        WelcomeSettings {
            subject: subject.map(str::to_string),
            body: body.map(str::to_string),
            ..WelcomeSettings::default()
        }
    }

    #[test]
    fn the_built_in_welcome_has_everything_for_a_first_sign_in() {
        let password = Password::from_secret("Xy7#abcdefghJK".into());
        let (subject, body) = welcome(None, &person(Credential::Password(&password)));
        assert_eq!(subject, "Your new account: zoe.muller@contoso.com");
        assert!(body.contains("Hello Zoë,"));
        assert!(body.contains("Temporary password: Xy7#abcdefghJK"));
        assert!(body.contains(SIGN_IN_URL));
        assert!(!body.contains('{'), "a placeholder was left: {body}");
    }

    #[test]
    fn the_built_in_access_pass_welcome_gives_the_pass_and_its_expiry_only() {
        let pass = Sensitive::new("+drkzqAD");
        let valid_until = "2026-12-01T17:30:00Z".parse().ok();
        let credential = Credential::AccessPass {
            pass: &pass,
            valid_until,
        };
        let (subject, body) = welcome(None, &person(credential));
        assert_eq!(subject, "Your new account: zoe.muller@contoso.com");
        assert!(body.contains("Temporary Access Pass: +drkzqAD"), "{body}");
        assert!(body.contains("Valid until:           2026-12-01 17:30 UTC"));
        assert!(!body.contains("password:"), "{body}");
        assert!(!body.contains('{'), "a placeholder was left: {body}");
    }

    #[test]
    fn a_template_never_puts_a_credential_in_the_subject() {
        let password = Password::from_secret("Xy7#abcdefghJK".into());
        let template = template(
            Some("Welcome {displayName} {temporaryPassword}"),
            Some("Use {temporaryPassword} at {signInUrl}"),
        );
        let (subject, body) = welcome(Some(&template), &person(Credential::Password(&password)));
        assert_eq!(subject, "Welcome Zoë Müller ");
        assert_eq!(body, format!("Use Xy7#abcdefghJK at {SIGN_IN_URL}"));

        let pass = Sensitive::new("+drkzqAD");
        let template = WelcomeSettings {
            credential: WelcomeCredential::TemporaryAccessPass,
            ..template_pass()
        };
        let credential = Credential::AccessPass {
            pass: &pass,
            valid_until: None,
        };
        let (subject, body) = welcome(Some(&template), &person(credential));
        assert_eq!(subject, "Pass for zoe.muller@contoso.com: ");
        assert_eq!(body, "Pass +drkzqAD, password , until ");
    }

    fn template_pass() -> WelcomeSettings {
        template(
            Some("Pass for {userPrincipalName}: {temporaryAccessPass}"),
            Some("Pass {temporaryAccessPass}, password {temporaryPassword}, until {validUntil}"),
        )
    }

    #[test]
    fn a_template_may_replace_the_subject_alone() {
        let pass = Sensitive::new("+drkzqAD");
        let credential = Credential::AccessPass {
            pass: &pass,
            valid_until: None,
        };
        let (subject, body) = welcome(Some(&template(Some("Hi"), None)), &person(credential));
        assert_eq!(subject, "Hi");
        assert!(body.contains("Temporary Access Pass: +drkzqAD"), "{body}");
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
