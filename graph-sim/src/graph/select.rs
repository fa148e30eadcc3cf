//! `$select` and how a user is written back to clients.

use serde_json::{Map, Value};

use super::query::QueryParams;
use crate::directory::User;
use crate::directory::schema::{self, Property};
use crate::http::error::GraphError;

/// Which properties a read returns.
#[derive(Clone, Debug)]
pub enum Selection {
    /// The default property set (no `$select`).
    Default,
    /// The properties named by `$select`, in the order named.
    Chosen(Vec<&'static Property>),
}

impl Selection {
    /// Reads `$select`; unknown property names are refused as Graph refuses them.
    pub fn from_query(params: &QueryParams) -> Result<Self, GraphError> {
        let Some(select) = params.option("$select") else {
            return Ok(Self::Default);
        };
        let chosen = select
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| schema::property_ignoring_case(name).ok_or_else(|| unknown_property(name)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if chosen.is_empty() {
            Self::Default
        } else {
            Self::Chosen(chosen)
        })
    }

    /// The user as a client sees it with this selection. Unset properties read as `null`
    /// (`[]` for collections) and the password profile always reads as `null`.
    pub fn render(&self, user: &User) -> Map<String, Value> {
        let properties: Vec<&Property> = match self {
            Self::Default => schema::default_properties().collect(),
            Self::Chosen(chosen) => chosen.clone(),
        };
        properties
            .into_iter()
            .map(|p| (p.name.to_string(), read(user, p)))
            .collect()
    }

    /// The `@odata.context` of a collection of users read with this selection.
    pub fn context(&self, base_url: &str) -> String {
        match self {
            Self::Default => format!("{base_url}/v1.0/$metadata#users"),
            Self::Chosen(chosen) => {
                let names: Vec<&str> = chosen.iter().map(|p| p.name).collect();
                format!("{base_url}/v1.0/$metadata#users({})", names.join(","))
            }
        }
    }

    /// One user as a Graph entity with its `@odata.context`.
    pub fn entity(&self, user: &User, base_url: &str) -> Value {
        let mut entity = Map::new();
        let context = format!("{}/$entity", self.context(base_url));
        entity.insert("@odata.context".into(), Value::String(context));
        entity.extend(self.render(user));
        Value::Object(entity)
    }
}

fn read(user: &User, property: &Property) -> Value {
    if property.name == "passwordProfile" {
        return Value::Null;
    }
    match user.props.get(property.name) {
        Some(value) => value.clone(),
        None if property.collection => Value::Array(Vec::new()),
        None => Value::Null,
    }
}

fn unknown_property(name: &str) -> GraphError {
    GraphError::bad_request(
        "BadRequest",
        format!(
            "Parsing OData Select and Expand failed: Could not find a property named '{name}' \
             on type 'microsoft.graph.user'."
        ),
    )
}
