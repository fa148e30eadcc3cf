//! Reads a `$filter` expression: a small lexer and a recursive-descent parser with OData's
//! precedence (`not` over `and` over `or`).

use super::{Field, FieldKind, FieldPath, Filter, FilterError, ItemTest, Literal};
use crate::directory::schema::{self, EXTENSION_ATTRIBUTES};

/// Properties Graph can filter users on; `advanced` ones only in advanced queries.
const FIELDS: &[(&str, FieldKind, bool)] = &[
    ("id", FieldKind::Text, false),
    ("userPrincipalName", FieldKind::Text, false),
    ("mail", FieldKind::Text, false),
    ("displayName", FieldKind::Text, false),
    ("givenName", FieldKind::Text, false),
    ("surname", FieldKind::Text, false),
    ("mailNickname", FieldKind::Text, false),
    ("jobTitle", FieldKind::Text, false),
    ("department", FieldKind::Text, false),
    ("employeeId", FieldKind::Text, false),
    ("companyName", FieldKind::Text, false),
    ("city", FieldKind::Text, false),
    ("country", FieldKind::Text, false),
    ("state", FieldKind::Text, false),
    ("usageLocation", FieldKind::Text, false),
    ("accountEnabled", FieldKind::Bool, false),
    ("proxyAddresses", FieldKind::Texts, false),
    ("otherMails", FieldKind::Texts, false),
];

const EXTENSION_PREFIX: &str = "onPremisesExtensionAttributes/extensionAttribute";

/// Parses a `$filter` value.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let mut parser = Parser {
        tokens: lex(input)?,
        next: 0,
    };
    let filter = parser.or()?;
    match parser.peek() {
        None => Ok(filter),
        Some(token) => Err(syntax(format!(
            "unexpected {token:?} after a complete expression"
        ))),
    }
}

/// One lexical element of an OData expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// A name, keyword or path such as `ep/id`.
    Word(String),
    /// A string literal, apostrophes undone.
    Text(String),
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// `,`.
    Comma,
    /// `:`.
    Colon,
}

/// Splits an OData expression into tokens.
pub fn lex(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | ':' => {
                chars.next();
                tokens.push(punctuation(c));
            }
            '\'' => tokens.push(Token::Text(string_literal(&mut chars)?)),
            c if word_char(c) => {
                let word = std::iter::from_fn(|| chars.next_if(|c| word_char(*c))).collect();
                tokens.push(Token::Word(word));
            }
            other => return Err(syntax(format!("unexpected character '{other}'"))),
        }
    }
    Ok(tokens)
}

fn punctuation(c: char) -> Token {
    match c {
        '(' => Token::Open,
        ')' => Token::Close,
        ',' => Token::Comma,
        _ => Token::Colon,
    }
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/.-".contains(c)
}

/// Reads `'...'` where `''` stands for one apostrophe.
fn string_literal(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<String, FilterError> {
    chars.next();
    let mut text = String::new();
    loop {
        match chars.next() {
            Some('\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                text.push('\'');
            }
            Some('\'') => return Ok(text),
            Some(c) => text.push(c),
            None => return Err(syntax("unterminated string literal".into())),
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
}

impl Parser {
    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.eat(&Token::Open) {
            let inner = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let word = self.word()?;
        let lower = word.to_ascii_lowercase();
        if lower == "startswith" || lower == "endswith" {
            return self.affix(lower == "endswith");
        }
        if let Some(collection) = lower.strip_suffix("/any") {
            let field = field(&word[..collection.len()], FieldKind::Texts)?;
            return self.any(field);
        }
        let operator = self.word()?.to_ascii_lowercase();
        match operator.as_str() {
            "eq" | "ne" => self.equals(&word, operator == "ne"),
            "in" => self.one_of(&word),
            other => Err(FilterError::Unsupported(format!("operator '{other}'"))),
        }
    }

    fn equals(&mut self, name: &str, negated: bool) -> Result<Filter, FilterError> {
        let value = self.literal()?;
        let kind = match value {
            Literal::Bool(_) => FieldKind::Bool,
            Literal::Text(_) | Literal::Null => FieldKind::Text,
        };
        let field = field(name, kind).or_else(|e| match value {
            Literal::Null => field(name, FieldKind::Bool),
            _ => Err(e),
        })?;
        Ok(Filter::Equals {
            field,
            value,
            negated,
        })
    }

    fn one_of(&mut self, name: &str) -> Result<Filter, FilterError> {
        let field = field(name, FieldKind::Text)?;
        self.expect(&Token::Open)?;
        let mut values = vec![self.literal()?];
        while self.eat(&Token::Comma) {
            values.push(self.literal()?);
        }
        self.expect(&Token::Close)?;
        Ok(Filter::In { field, values })
    }

    fn affix(&mut self, at_end: bool) -> Result<Filter, FilterError> {
        self.expect(&Token::Open)?;
        let field = field(&self.word()?, FieldKind::Text)?;
        self.expect(&Token::Comma)?;
        let text = self.text()?;
        self.expect(&Token::Close)?;
        Ok(Filter::Affix {
            field,
            text,
            at_end,
        })
    }

    fn any(&mut self, field: Field) -> Result<Filter, FilterError> {
        self.expect(&Token::Open)?;
        let variable = self.word()?;
        self.expect(&Token::Colon)?;
        let item = self.item_test(&variable)?;
        self.expect(&Token::Close)?;
        Ok(Filter::Any { field, item })
    }

    fn item_test(&mut self, variable: &str) -> Result<ItemTest, FilterError> {
        let word = self.word()?;
        if word == variable {
            let operator = self.word()?;
            if !operator.eq_ignore_ascii_case("eq") {
                return Err(FilterError::Unsupported(format!(
                    "operator '{operator}' in a lambda"
                )));
            }
            return Ok(ItemTest::Equals(self.text()?));
        }
        if !word.eq_ignore_ascii_case("startswith") {
            return Err(FilterError::Unsupported(format!("'{word}' in a lambda")));
        }
        self.expect(&Token::Open)?;
        if self.word()? != variable {
            return Err(syntax(format!(
                "startsWith must test the lambda variable '{variable}'"
            )));
        }
        self.expect(&Token::Comma)?;
        let text = self.text()?;
        self.expect(&Token::Close)?;
        Ok(ItemTest::StartsWith(text))
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        match self.advance() {
            Some(Token::Text(text)) => Ok(Literal::Text(text)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            other => Err(syntax(format!("expected a literal, found {other:?}"))),
        }
    }

    fn text(&mut self) -> Result<String, FilterError> {
        match self.advance() {
            Some(Token::Text(text)) => Ok(text),
            other => Err(syntax(format!(
                "expected a string literal, found {other:?}"
            ))),
        }
    }

    fn word(&mut self) -> Result<String, FilterError> {
        match self.advance() {
            Some(Token::Word(word)) => Ok(word),
            other => Err(syntax(format!("expected a name, found {other:?}"))),
        }
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        if found {
            self.next += 1;
        }
        found
    }

    fn eat(&mut self, token: &Token) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, token: &Token) -> Result<(), FilterError> {
        if self.eat(token) {
            return Ok(());
        }
        Err(syntax(format!(
            "expected {token:?}, found {:?}",
            self.peek()
        )))
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }
}

/// The filterable property `name` (any case), which must hold values of `kind`.
fn field(name: &str, kind: FieldKind) -> Result<Field, FilterError> {
    let found = FIELDS
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
        .map(|&(known, kind, advanced)| Field {
            path: FieldPath::Property(known),
            kind,
            advanced,
        })
        .or_else(|| extension_attribute(name));
    match found {
        Some(field) if field.kind == kind => Ok(field),
        Some(_) => Err(FilterError::Unsupported(format!(
            "this comparison on property '{name}'"
        ))),
        None if schema::property_ignoring_case(name).is_some() => Err(FilterError::Unsupported(
            format!("filtering on property '{name}'"),
        )),
        None => Err(FilterError::UnknownProperty(name.to_string())),
    }
}

/// Graph filters on extension attributes only in advanced queries.
fn extension_attribute(name: &str) -> Option<Field> {
    let prefix = name.get(..EXTENSION_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(EXTENSION_PREFIX) {
        return None;
    }
    let n: usize = name[EXTENSION_PREFIX.len()..].parse().ok()?;
    (1..=EXTENSION_ATTRIBUTES).contains(&n).then_some(Field {
        path: FieldPath::ExtensionAttribute(n),
        kind: FieldKind::Text,
        advanced: true,
    })
}

fn syntax(message: String) -> FilterError {
    FilterError::Syntax(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_field(name: &'static str) -> Field {
        Field {
            path: FieldPath::Property(name),
            kind: FieldKind::Text,
            advanced: false,
        }
    }

    #[test]
    fn doubled_apostrophes_are_one_apostrophe() {
        let filter = parse("userPrincipalName eq 'o''neil@contoso.example'").unwrap();
        assert_eq!(
            filter,
            Filter::Equals {
                field: text_field("userPrincipalName"),
                value: Literal::Text("o'neil@contoso.example".into()),
                negated: false,
            }
        );
    }

    #[test]
    fn or_binds_looser_than_and() {
        let filter = parse("mail eq 'a' or mail eq 'b' and accountEnabled eq true").unwrap();
        let Filter::Or(_, right) = filter else {
            panic!("expected or at the top: {filter:?}")
        };
        assert!(matches!(*right, Filter::And(_, _)));
    }

    #[test]
    fn lambdas_and_functions() {
        let any = parse("proxyAddresses/any(p:p eq 'smtp:a@b')").unwrap();
        assert!(
            matches!(any, Filter::Any { item: ItemTest::Equals(ref t), .. } if t == "smtp:a@b")
        );
        let prefix = parse("proxyAddresses/any(x: startsWith(x, 'SMTP:'))").unwrap();
        assert!(matches!(
            prefix,
            Filter::Any {
                item: ItemTest::StartsWith(_),
                ..
            }
        ));
        let starts = parse("startswith(userPrincipalName,'jane')").unwrap();
        assert!(!starts.needs_advanced());
        assert!(
            parse("endsWith(mail,'@contoso.example')")
                .unwrap()
                .needs_advanced()
        );
    }

    #[test]
    fn advanced_constructs_are_flagged() {
        for expression in [
            "mail ne 'a'",
            "not(accountEnabled eq true)",
            "onPremisesExtensionAttributes/extensionAttribute7 eq 'owner'",
        ] {
            assert!(parse(expression).unwrap().needs_advanced(), "{expression}");
        }
        assert!(
            !parse("userPrincipalName in ('a', 'b')")
                .unwrap()
                .needs_advanced()
        );
    }

    #[test]
    fn refusals_are_sorted_by_kind() {
        assert!(matches!(parse("mail eq 'a"), Err(FilterError::Syntax(_))));
        assert!(matches!(
            parse("mail eq 'a' mail"),
            Err(FilterError::Syntax(_))
        ));
        assert!(matches!(
            parse("colour eq 'red'"),
            Err(FilterError::UnknownProperty(_))
        ));
        assert!(matches!(
            parse("createdDateTime eq 'x'"),
            Err(FilterError::Unsupported(_))
        ));
        assert!(matches!(
            parse("displayName gt 'a'"),
            Err(FilterError::Unsupported(_))
        ));
        assert!(matches!(
            parse("accountEnabled eq 'yes'"),
            Err(FilterError::Unsupported(_))
        ));
        assert!(matches!(
            parse("onPremisesExtensionAttributes/extensionAttribute16 eq 'x'"),
            Err(FilterError::UnknownProperty(_))
        ));
    }
}
