//! `CLICKDAY_*` environment overrides. `__` separates nesting levels:
//! `CLICKDAY_GATEWAY__LISTEN=0.0.0.0:443` sets `gateway.listen`,
//! `CLICKDAY_NODE_ID=2` sets `node_id`. Values are read as TOML scalars
//! (numbers, booleans) when they parse as such, else as strings.

use crate::ConfigError;

pub(crate) fn apply_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix("CLICKDAY_") else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "empty key segment"));
        }
        set(table, &keys, scalar(&raw))
            .map_err(|message| ConfigError::new(name.clone(), message))?;
    }
    Ok(())
}

fn scalar(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_) | toml::Value::Boolean(_) | toml::Value::Float(_)),
            ) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("no key")?;
    let mut cursor = table;
    for key in parents {
        cursor = cursor
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("{key} is not a section"))?;
    }
    cursor.insert(last.clone(), value);
    Ok(())
}
