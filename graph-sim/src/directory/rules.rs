//! The value rules Entra enforces on user names, aliases, locations and passwords.

/// Symbols Entra accepts in passwords, besides the space.
const PASSWORD_SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<>";

/// Words Entra's banned-password list stands for here; a password containing one, in any case,
/// is refused even when it mixes enough character classes.
const BANNED_WORDS: &[&str] = &[
    "password", "passw0rd", "p@ssw0rd", "welcome", "qwerty", "letmein",
];

/// A mailNickname or UPN local part shorter than this is too common a string to forbid inside
/// passwords.
const MIN_PERSONAL_LEN: usize = 3;

/// Whether `upn` has the shape Entra accepts: allowed characters only, exactly one `@`, no dot
/// right before it, and the length limits of local part, domain and whole.
pub fn upn_is_well_formed(upn: &str) -> bool {
    let Some((local, domain)) = upn.split_once('@') else {
        return false;
    };
    !domain.contains('@')
        && (1..=64).contains(&local.len())
        && (1..=48).contains(&domain.len())
        && upn.len() <= 113
        && !local.ends_with('.')
        && local.chars().all(upn_local_char)
        && domain_is_well_formed(domain)
}

fn upn_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c)
}

fn domain_is_well_formed(domain: &str) -> bool {
    domain.split('.').all(|label| {
        !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// The part of an address before its last `@` (the whole string when there is none).
pub fn local_part(address: &str) -> &str {
    address.rsplit_once('@').map_or(address, |(local, _)| local)
}

/// The part of an address after its last `@`.
pub fn domain_part(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, domain)| domain)
}

/// Whether `nickname` is a valid mailNickname: 1–64 printable ASCII characters without
/// `@()\[]";:<>,` or space.
pub fn mail_nickname_is_valid(nickname: &str) -> bool {
    (1..=64).contains(&nickname.len())
        && nickname
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@()\\[]\";:<>,".contains(c))
}

/// Whether `location` is an ISO 3166 alpha-2 code in capitals.
pub fn usage_location_is_valid(location: &str) -> bool {
    location.len() == 2 && location.chars().all(|c| c.is_ascii_uppercase())
}

/// Whether `address` looks like an SMTP address: ASCII without spaces, one `@` with text on
/// both sides.
pub fn address_is_valid(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && address.chars().all(|c| c.is_ascii_graphic())
        }
        None => false,
    }
}

/// Whether `password` meets Entra's rules: 8–256 characters from the allowed set (so no
/// Unicode) and, unless the strong-password rules are disabled, three of the four character
/// classes, none of the `personal` strings and no banned word.
pub fn password_complies(password: &str, strong_rules: bool, personal: &[&str]) -> bool {
    let length_ok = (8..=256).contains(&password.chars().count());
    if !length_ok || !password.chars().all(password_char) {
        return false;
    }
    !strong_rules
        || (character_classes(password) >= 3
            && !contains_any(
                password,
                personal
                    .iter()
                    .copied()
                    .filter(|p| p.len() >= MIN_PERSONAL_LEN),
            )
            && !contains_any(password, BANNED_WORDS.iter().copied()))
}

fn password_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || PASSWORD_SYMBOLS.contains(c)
}

fn character_classes(password: &str) -> usize {
    let classes: [fn(&char) -> bool; 4] = [
        char::is_ascii_lowercase,
        char::is_ascii_uppercase,
        char::is_ascii_digit,
        |c| !c.is_ascii_alphanumeric(),
    ];
    classes
        .iter()
        .filter(|class| password.chars().any(|c| class(&c)))
        .count()
}

fn contains_any<'a>(password: &str, words: impl Iterator<Item = &'a str>) -> bool {
    let password = password.to_ascii_lowercase();
    words
        .into_iter()
        .any(|w| password.contains(&w.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_accepts_the_documented_characters() {
        assert!(upn_is_well_formed("o'brien.j-x_y!z#a^b~c@contoso.example"));
        assert!(upn_is_well_formed("A1@sub.contoso.example"));
    }

    #[test]
    fn upn_refuses_accents_spaces_and_misplaced_at_signs() {
        for upn in [
            "josé@contoso.example",
            "jose smith@contoso.example",
            "jose@@contoso.example",
            "jose@contoso@example",
            "jose.@contoso.example",
            "@contoso.example",
            "jose@",
            "jose",
            "jose+tag@contoso.example",
            "jose@contoso..example",
        ] {
            assert!(!upn_is_well_formed(upn), "{upn}");
        }
    }

    #[test]
    fn upn_length_limits() {
        let domain = "contoso.example";
        assert!(upn_is_well_formed(&format!("{}@{domain}", "a".repeat(64))));
        assert!(!upn_is_well_formed(&format!("{}@{domain}", "a".repeat(65))));
        let long_domain = format!("{}.example", "d".repeat(40));
        assert_eq!(long_domain.len(), 48);
        assert!(upn_is_well_formed(&format!(
            "{}@{long_domain}",
            "a".repeat(64)
        )));
        assert!(!upn_is_well_formed(&format!("a@d{long_domain}")));
    }

    #[test]
    fn nickname_rules() {
        assert!(mail_nickname_is_valid("jane.doe"));
        for bad in ["", "jane doe", "jane@x", "jane(x)", "jané", &"a".repeat(65)] {
            assert!(!mail_nickname_is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn usage_location_is_two_capitals() {
        assert!(usage_location_is_valid("DE"));
        for bad in ["de", "DEU", "D", "D1"] {
            assert!(!usage_location_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn password_needs_three_classes_and_length() {
        assert!(password_complies("Tr0ub4dor&3", true, &[]));
        assert!(password_complies("horse battery Staple9", true, &[]));
        assert!(!password_complies("Sh0rt!", true, &[]), "too short");
        assert!(
            !password_complies("alllowercase1", true, &[]),
            "two classes"
        );
        assert!(
            !password_complies(&format!("Aa1!{}", "x".repeat(253)), true, &[]),
            "too long"
        );
    }

    #[test]
    fn password_refuses_unicode_and_unknown_symbols() {
        assert!(!password_complies("Pässwort12!", true, &[]));
        assert!(!password_complies("Tab\tTab12!", true, &[]));
    }

    #[test]
    fn password_must_not_contain_the_alias_or_a_banned_word() {
        assert!(!password_complies("xxJDoe2024!", true, &["jdoe"]));
        assert!(
            password_complies("Ab12!xyzwv", true, &["ab"]),
            "aliases under 3 chars ignored"
        );
        assert!(!password_complies("MyPassword9!", true, &[]));
    }

    #[test]
    fn disabling_strong_passwords_keeps_only_length_and_charset() {
        assert!(password_complies("simplesimple", false, &[]));
        assert!(!password_complies("short", false, &[]));
    }

    #[test]
    fn address_parts() {
        assert_eq!(local_part("a.b@contoso.example"), "a.b");
        assert_eq!(domain_part("a.b@contoso.example"), Some("contoso.example"));
        assert!(address_is_valid("a@b"));
        assert!(!address_is_valid("a b@c"));
        assert!(!address_is_valid("nobody"));
    }
}
