//! `$search` on users: quoted `"property:text"` clauses joined by `AND` / `OR`, matched the
//! way the directory's tokenized search does (a word of the property starts with the text).

use crate::directory::User;

/// Properties `$search` may name on users.
const SEARCHABLE: &[&str] = &[
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "mailNickname",
    "jobTitle",
    "department",
    "employeeId",
];

/// A parsed `$search`: clauses in OR-of-ANDs form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search(Vec<Vec<Clause>>);

/// `"property:text"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    property: &'static str,
    text: String,
}

impl Search {
    /// Parses `$search`; the error says what is wrong.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut any = vec![Vec::new()];
        let mut rest = input.trim();
        loop {
            let (clause, after) = clause(rest)?;
            if let Some(all) = any.last_mut() {
                all.push(clause);
            }
            rest = after.trim_start();
            if rest.is_empty() {
                return Ok(Self(any));
            }
            let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match word {
                "AND" => {}
                "OR" => any.push(Vec::new()),
                other => return Err(format!("expected AND or OR, found '{other}'")),
            }
            rest = after.trim_start();
        }
    }

    /// Whether `user` matches.
    pub fn matches(&self, user: &User) -> bool {
        self.0.iter().any(|all| all.iter().all(|c| c.matches(user)))
    }
}

impl Clause {
    fn matches(&self, user: &User) -> bool {
        let text = self.text.to_lowercase();
        user.text(self.property).is_some_and(|value| {
            value
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|word| word.starts_with(&text))
                || value.to_lowercase().starts_with(&text)
        })
    }
}

/// One `"property:text"` and what follows it.
fn clause(input: &str) -> Result<(Clause, &str), String> {
    let inner = input
        .strip_prefix('"')
        .ok_or("each search clause must be in double quotes")?;
    let (body, rest) = inner.split_once('"').ok_or("unterminated search clause")?;
    let (name, text) = body
        .split_once(':')
        .ok_or_else(|| format!("'{body}' does not name a property"))?;
    let property = SEARCHABLE
        .iter()
        .find(|p| p.eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| format!("'{name}' cannot be searched"))?;
    let clause = Clause {
        property,
        text: text.trim().to_string(),
    };
    Ok((clause, rest))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(name: &str, mail: &str) -> User {
        let props = json!({"displayName": name, "mail": mail});
        User::new(1, true, props.as_object().unwrap().clone(), 1)
    }

    #[test]
    fn words_match_by_prefix_and_clauses_combine() {
        let zoe = user("Zoë Müller", "zoe.muller@contoso.example");
        assert!(Search::parse("\"displayName:mül\"").unwrap().matches(&zoe));
        assert!(
            Search::parse("\"displayName:zo\" AND \"mail:zoe\"")
                .unwrap()
                .matches(&zoe)
        );
        assert!(
            !Search::parse("\"displayName:ann\" AND \"mail:zoe\"")
                .unwrap()
                .matches(&zoe)
        );
        assert!(
            Search::parse("\"displayName:ann\" OR \"mail:zoe\"")
                .unwrap()
                .matches(&zoe)
        );
        assert!(!Search::parse("\"displayName:ller\"").unwrap().matches(&zoe));
    }

    #[test]
    fn unquoted_or_unknown_clauses_are_refused() {
        assert!(Search::parse("displayName:zoe").is_err());
        assert!(Search::parse("\"password:x\"").is_err());
        assert!(Search::parse("\"displayName:a\" NEAR \"mail:b\"").is_err());
    }
}
