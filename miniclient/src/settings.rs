//! The settings file the portal hands out with the program
//! (`clickday-client.toml`, from its download page): the portal and
//! gateway addresses, the certificate authority to trust for them, and the
//! published receipt and ledger keys. With it, `activate --email E` needs
//! nothing else, and every flag it covers becomes optional.
//!
//! Looked for, first found wins: `--settings FILE`, the copy `activate`
//! keeps in the home folder, `clickday-client.toml` beside the program.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file's name beside the program and on the portal's download page.
pub const FILE_NAME: &str = "clickday-client.toml";
/// The copy kept in the home folder.
const HOME_COPY: &str = "settings.toml";
/// The certificate authority, written out for the TLS configuration.
const HOME_CA: &str = "ca.pem";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub portal: Option<String>,
    pub gateway: Option<String>,
    pub receipt_key: Option<String>,
    pub ledger_key: Option<String>,
    /// PEM of the certificate authority for the portal and the gateway.
    pub ca: Option<String>,
}

impl Settings {
    /// Parses a settings file's text, naming the file in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Settings> {
        let settings: Settings =
            toml::from_str(text).with_context(|| format!("{origin} is not a settings file"))?;
        for (name, url) in [("portal", &settings.portal), ("gateway", &settings.gateway)] {
            if let Some(url) = url
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                anyhow::bail!("{origin}: {name} = {url:?} is not an http(s) address");
            }
        }
        if let Some(ca) = &settings.ca
            && !ca.contains("-----BEGIN CERTIFICATE-----")
        {
            anyhow::bail!("{origin}: ca is not a PEM certificate");
        }
        Ok(settings)
    }

    /// The settings in effect, with where they came from; `None` when
    /// there are none (every address must then be given as a flag).
    pub fn find(
        explicit: Option<&Path>,
        home: &Path,
    ) -> anyhow::Result<Option<(Settings, PathBuf)>> {
        let beside_program = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join(FILE_NAME)));
        let candidates: Vec<(PathBuf, bool)> = match explicit {
            Some(path) => vec![(path.to_path_buf(), true)],
            None => std::iter::once(home.join(HOME_COPY))
                .chain(beside_program)
                .map(|p| (p, false))
                .collect(),
        };
        for (path, required) in candidates {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let settings = Settings::parse(&text, &path.display().to_string())?;
                    return Ok(Some((settings, path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        Ok(None)
    }

    /// Keeps these settings in the home folder (so a moved program keeps
    /// working), with the CA written out beside them.
    pub fn keep(&self, home: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        let text = toml::to_string(self)?;
        crate::home::write_private(&home.join(HOME_COPY), text.as_bytes())?;
        self.ca_file(home).map(drop)
    }

    /// The CA as a file for the TLS configuration (written into the home
    /// folder when missing or different); `None` without a CA.
    pub fn ca_file(&self, home: &Path) -> anyhow::Result<Option<PathBuf>> {
        let Some(pem) = &self.ca else {
            return Ok(None);
        };
        let path = home.join(HOME_CA);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(pem.as_str()) {
            std::fs::create_dir_all(home)
                .with_context(|| format!("creating {}", home.display()))?;
            crate::home::write_private(&path, pem.as_bytes())?;
        }
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_settings_file_is_read_and_checked() {
        let text = "portal = \"https://portale.example.it\"\ngateway = \"https://invio.example.it\"\nreceipt_key = \"abc\"\n";
        let s = Settings::parse(text, "f").unwrap();
        assert_eq!(s.gateway.as_deref(), Some("https://invio.example.it"));
        assert!(s.ca.is_none());
        let bad = Settings::parse("portal = \"portale.example.it\"\n", "f.toml").unwrap_err();
        assert!(format!("{bad:#}").contains("f.toml: portal"), "{bad:#}");
        let unknown = Settings::parse("gatway = \"https://x\"\n", "f.toml").unwrap_err();
        assert!(format!("{unknown:#}").contains("gatway"), "{unknown:#}");
        let ca = Settings::parse("ca = \"not a certificate\"\n", "f.toml").unwrap_err();
        assert!(format!("{ca:#}").contains("PEM"), "{ca:#}");
    }

    #[test]
    fn the_home_copy_comes_first_and_keeps_the_ca() {
        let home = tempfile::tempdir().unwrap();
        assert!(Settings::find(None, home.path()).unwrap().is_none());
        let settings = Settings {
            portal: Some("https://portale.example.it".into()),
            ca: Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into()),
            ..Settings::default()
        };
        settings.keep(home.path()).unwrap();
        let (found, path) = Settings::find(None, home.path()).unwrap().unwrap();
        assert_eq!(found, settings);
        assert_eq!(path, home.path().join(HOME_COPY));
        let ca = found.ca_file(home.path()).unwrap().unwrap();
        assert!(
            std::fs::read_to_string(ca)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        let missing = Settings::find(Some(&home.path().join("nope.toml")), home.path());
        assert!(
            missing.is_err(),
            "an explicit file that is missing is an error"
        );
    }
}
