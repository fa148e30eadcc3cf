//! `$filter` on users: the expressions Graph answers by default, the ones it answers only as
//! advanced queries, and how they are evaluated (strings compare without regard to case, as
//! the directory does).

mod parse;

use serde_json::Value;

use crate::directory::User;

pub use parse::{Token, lex, parse};

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `not a` (advanced).
    Not(Box<Filter>),
    /// `field eq value`, or `field ne value` (advanced) when negated.
    Equals {
        /// The property compared.
        field: Field,
        /// The value it is compared with.
        value: Literal,
        /// Whether the operator was `ne`.
        negated: bool,
    },
    /// `field in ('a', 'b')`.
    In {
        /// The property compared.
        field: Field,
        /// Any of these values matches.
        values: Vec<Literal>,
    },
    /// `startsWith(field, 'text')`, or `endsWith` (advanced) when `at_end`.
    Affix {
        /// The property tested.
        field: Field,
        /// The prefix or suffix.
        text: String,
        /// Whether it is `endsWith`.
        at_end: bool,
    },
    /// `collection/any(x: x eq 'a')` or `collection/any(x: startsWith(x, 'a'))`.
    Any {
        /// The collection property.
        field: Field,
        /// The test each item may pass.
        item: ItemTest,
    },
}

/// The test inside an `any` lambda.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemTest {
    /// `x eq 'a'`.
    Equals(String),
    /// `startsWith(x, 'a')`.
    StartsWith(String),
}

/// A literal on the right of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`, with doubled apostrophes already undone.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A user property a filter may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Where the value lives.
    pub path: FieldPath,
    /// What kind of value it holds.
    pub kind: FieldKind,
    /// Whether Graph filters on it only in advanced queries.
    pub advanced: bool,
}

/// Where a filterable value lives in a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldPath {
    /// A top-level property.
    Property(&'static str),
    /// `onPremisesExtensionAttributes/extensionAttributeN`.
    ExtensionAttribute(usize),
}

/// The kind of value a filterable property holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A string.
    Text,
    /// A boolean.
    Bool,
    /// A collection of strings.
    Texts,
}

/// Why a `$filter` was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// Not a well-formed expression.
    Syntax(String),
    /// Names a property users do not have.
    UnknownProperty(String),
    /// Well-formed, but Graph does not support it on users.
    Unsupported(String),
}

impl Filter {
    /// Whether Graph answers this filter only with `ConsistencyLevel: eventual` and
    /// `$count=true`.
    pub fn needs_advanced(&self) -> bool {
        match self {
            Self::Or(a, b) | Self::And(a, b) => a.needs_advanced() || b.needs_advanced(),
            Self::Not(_) => true,
            Self::Equals { field, negated, .. } => *negated || field.advanced,
            Self::Affix { field, at_end, .. } => *at_end || field.advanced,
            Self::In { field, .. } | Self::Any { field, .. } => field.advanced,
        }
    }

    /// Whether `user` passes the filter.
    pub fn matches(&self, user: &User) -> bool {
        match self {
            Self::Or(a, b) => a.matches(user) || b.matches(user),
            Self::And(a, b) => a.matches(user) && b.matches(user),
            Self::Not(a) => !a.matches(user),
            Self::Equals {
                field,
                value,
                negated,
            } => equals(field.read(user), value) != *negated,
            Self::In { field, values } => values.iter().any(|v| equals(field.read(user), v)),
            Self::Affix {
                field,
                text,
                at_end,
            } => field
                .read(user)
                .and_then(Value::as_str)
                .is_some_and(|v| affixed(v, text, *at_end)),
            Self::Any { field, item } => field
                .read(user)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|v| item.passes(v)),
        }
    }
}

impl ItemTest {
    fn passes(&self, item: &str) -> bool {
        match self {
            Self::Equals(text) => item.to_lowercase() == text.to_lowercase(),
            Self::StartsWith(text) => affixed(item, text, false),
        }
    }
}

impl Field {
    fn read<'u>(&self, user: &'u User) -> Option<&'u Value> {
        match self.path {
            FieldPath::Property(name) => user.props.get(name),
            FieldPath::ExtensionAttribute(n) => user
                .props
                .get("onPremisesExtensionAttributes")
                .and_then(|a| a.get(format!("extensionAttribute{n}"))),
        }
    }
}

fn equals(value: Option<&Value>, literal: &Literal) -> bool {
    match (value, literal) {
        (None | Some(Value::Null), Literal::Null) => true,
        (Some(Value::String(v)), Literal::Text(t)) => v.to_lowercase() == t.to_lowercase(),
        (Some(Value::Bool(v)), Literal::Bool(b)) => v == b,
        _ => false,
    }
}

fn affixed(value: &str, text: &str, at_end: bool) -> bool {
    let (value, text) = (value.to_lowercase(), text.to_lowercase());
    if at_end {
        value.ends_with(&text)
    } else {
        value.starts_with(&text)
    }
}
