//! How a person's name becomes a UPN local part and a mailNickname.
//!
//! Entra accepts only ASCII in a UPN, so names are transliterated first, the way Entra's own
//! normaliser does it: accents are dropped (`Zoë Müller` → `zoe.muller`), letters with no
//! decomposition get their conventional spelling (`Øster` → `oester`, `Straße` → `strasse`),
//! apostrophes and spaces vanish. Scripts other than Latin are refused rather than guessed.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Longest local part Entra accepts.
pub const MAX_LOCAL_PART: usize = 64;

/// Why a name cannot become a UPN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "{field} {value:?} contains {character:?}, which has no Latin transliteration; set spec.upnLocalPart"
    )]
    NotTransliterable {
        field: &'static str,
        value: String,
        character: char,
    },
    #[error(
        "{field} {value:?} has no letters or digits left after transliteration; set spec.upnLocalPart"
    )]
    Empty { field: &'static str, value: String },
    #[error(
        "the UPN local part {local_part:?} is longer than {MAX_LOCAL_PART} characters; set spec.upnLocalPart"
    )]
    TooLong { local_part: String },
}

/// The address parts the operator derives for one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailIdentity {
    pub local_part: String,
    pub mail_nickname: String,
}

impl MailIdentity {
    /// `local_part@domain`.
    pub fn user_principal_name(&self, domain: &str) -> String {
        format!("{}@{}", self.local_part, domain)
    }
}

/// Derives `firstname.lastname`, honouring the manifest's overrides.
pub fn mail_identity(
    given_name: &str,
    surname: &str,
    local_part_override: Option<&str>,
    nickname_override: Option<&str>,
) -> Result<MailIdentity, NameError> {
    let local_part = match local_part_override {
        Some(local) => local.to_string(),
        None => {
            let local = format!(
                "{}.{}",
                transliterate("givenName", given_name)?,
                transliterate("surname", surname)?
            );
            if local.len() > MAX_LOCAL_PART {
                return Err(NameError::TooLong { local_part: local });
            }
            local
        }
    };
    let mail_nickname = nickname_override
        .map(str::to_string)
        .unwrap_or_else(|| local_part.clone());
    Ok(MailIdentity {
        local_part,
        mail_nickname,
    })
}

/// Lower-case ASCII letters, digits and inner hyphens for one name part.
pub fn transliterate(field: &'static str, name: &str) -> Result<String, NameError> {
    let mut out = String::with_capacity(name.len());
    for c in name.nfc() {
        if let Some(spelling) = special_spelling(c) {
            out.push_str(spelling);
        } else if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c.to_ascii_lowercase());
        } else if is_dropped(c) {
            continue;
        } else if let Some(base) = latin_base(c) {
            out.push(base.to_ascii_lowercase());
        } else {
            return Err(NameError::NotTransliterable {
                field,
                value: name.to_string(),
                character: c,
            });
        }
    }
    let trimmed = out.trim_matches('-');
    if !trimmed.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(NameError::Empty {
            field,
            value: name.to_string(),
        });
    }
    Ok(collapse_hyphens(trimmed))
}

/// Separators and marks that carry no letter: they are left out of the UPN.
fn is_dropped(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\'' | '\u{2019}' | '\u{02BC}' | '\u{2018}' | '`' | '.' | ','
        )
}

/// An accented Latin letter decomposes into an ASCII letter plus combining marks.
fn latin_base(c: char) -> Option<char> {
    let mut parts = std::iter::once(c).nfd();
    let base = parts.next()?;
    let rest_are_marks = parts.all(is_combining_mark);
    (base.is_ascii_alphabetic() && rest_are_marks).then_some(base)
}

/// Latin letters without a canonical decomposition, spelled as Entra spells them.
fn special_spelling(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'Ø' | 'ø' | 'Œ' | 'œ' => "oe",
        'Æ' | 'æ' => "ae",
        'Ł' | 'ł' => "l",
        'Đ' | 'đ' | 'Ð' | 'ð' => "d",
        'Þ' | 'þ' => "th",
        'Ħ' | 'ħ' => "h",
        'ı' => "i",
        'Ŋ' | 'ŋ' => "n",
        'Ŧ' | 'ŧ' => "t",
        'ĸ' => "k",
        _ => return None,
    })
}

fn collapse_hyphens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// The alternates offered when a UPN is taken, most natural first.
pub fn alternates(given: &str, surname: &str, middle_initial: Option<char>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(m) = middle_initial {
        out.push(format!("{given}.{}.{surname}", m.to_ascii_lowercase()));
    }
    if let Some(first) = given.chars().next() {
        out.push(format!("{first}.{surname}"));
    }
    out.extend((2..=4).map(|n| format!("{given}.{surname}{n}")));
    out.retain(|local| local.len() <= MAX_LOCAL_PART);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(given: &str, surname: &str) -> String {
        mail_identity(given, surname, None, None)
            .unwrap()
            .local_part
    }

    #[test]
    fn procedure_examples() {
        assert_eq!(local("Zoë", "Müller"), "zoe.muller");
        assert_eq!(local("Łukasz", "Øster"), "lukasz.oester");
        assert_eq!(local("Hans", "Straße"), "hans.strasse");
    }

    #[test]
    fn apostrophes_spaces_and_case() {
        assert_eq!(local("Mary Ann", "O'Brien"), "maryann.obrien");
        assert_eq!(local("Jean-Luc", "D\u{2019}Arcy"), "jean-luc.darcy");
        assert_eq!(local("  ÉLODIE ", "van der Berg"), "elodie.vanderberg");
    }

    #[test]
    fn decomposed_input_is_normalised_first() {
        assert_eq!(local("Zoe\u{0308}", "Mu\u{0308}ller"), "zoe.muller");
    }

    #[test]
    fn non_latin_scripts_are_refused() {
        let err = mail_identity("Дмитрий", "Smith", None, None).unwrap_err();
        assert!(matches!(
            err,
            NameError::NotTransliterable {
                field: "givenName",
                character: 'Д',
                ..
            }
        ));
        assert!(err.to_string().contains("spec.upnLocalPart"));
        assert!(mail_identity("Ann", "王", None, None).is_err());
    }

    #[test]
    fn names_without_letters_are_refused() {
        assert!(matches!(
            transliterate("surname", "' -"),
            Err(NameError::Empty { .. })
        ));
    }

    #[test]
    fn overrides_win() {
        let id = mail_identity("Дмитрий", "Smith", Some("d.smith"), None).unwrap();
        assert_eq!(id.user_principal_name("contoso.com"), "d.smith@contoso.com");
        assert_eq!(id.mail_nickname, "d.smith");
        let id = mail_identity("Ann", "Lee", None, Some("alee")).unwrap();
        assert_eq!(
            (id.local_part.as_str(), id.mail_nickname.as_str()),
            ("ann.lee", "alee")
        );
    }

    #[test]
    fn long_names_are_refused() {
        let long = "a".repeat(40);
        assert!(matches!(
            mail_identity(&long, &long, None, None),
            Err(NameError::TooLong { .. })
        ));
    }

    #[test]
    fn alternates_follow_the_procedure() {
        let alts = alternates("john", "smith", Some('Q'));
        assert_eq!(alts[..3], ["john.q.smith", "j.smith", "john.smith2"]);
    }
}
