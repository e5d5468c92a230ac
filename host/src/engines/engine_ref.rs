//! How a session names its engine: `name` (the newest loaded version) or
//! `name@version` (exactly that version).

use std::fmt;

use semver::Version;
use wharf_engine_api::check_engine_name;

/// What [`EngineRef::parse`] accepts, as a JSON Schema pattern for the
/// OpenAPI document: a name ([`wharf_engine_api::ENGINE_NAME_PATTERN`], in
/// either case), then optionally `@` and a semantic version.
pub const ENGINE_REF_PATTERN: &str = r"^[A-Za-z][A-Za-z0-9_-]{0,63}(?:@(?:0|[1-9][0-9]{0,8})\.(?:0|[1-9][0-9]{0,8})\.(?:0|[1-9][0-9]{0,8})(?:-(?:0|[1-9][0-9]{0,8}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]{0,8}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?$";

/// A parsed engine reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineRef {
    pub name: String,
    /// `None` means the newest loaded version.
    pub version: Option<Version>,
}

impl EngineRef {
    /// Parses `name` or `name@version`. The name is compared in lower case,
    /// as WAHA's engine names (`WEBJS`, `NOWEB`) are written in upper case.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (name, version) = match text.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (text, None),
        };
        let name = name.to_ascii_lowercase();
        check_engine_name(&name)?;
        let version = version
            .map(|version| {
                Version::parse(version).map_err(|err| {
                    format!("'{text}': the version after '@' must be a semantic version like 1.2.0 ({err})")
                })
            })
            .transpose()?;
        Ok(Self { name, version })
    }
}

impl fmt::Display for EngineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}@{version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn names_the_engine_api_pattern_allows_are_accepted(
            name in crate::testing::strings_matching(wharf_engine_api::ENGINE_NAME_PATTERN),
        ) {
            proptest::prop_assert!(EngineRef::parse(&name).is_ok(), "{name}");
            proptest::prop_assert!(check_engine_name(&name).is_ok(), "{name}");
        }

        #[test]
        fn references_the_documented_pattern_allows_are_accepted(
            reference in crate::testing::strings_matching(ENGINE_REF_PATTERN),
        ) {
            proptest::prop_assert!(EngineRef::parse(&reference).is_ok(), "{reference}");
        }
    }

    #[test]
    fn a_bare_name_means_the_newest_version() {
        let engine = EngineRef::parse("sandbox").unwrap();
        assert_eq!(engine.name, "sandbox");
        assert_eq!(engine.version, None);
        assert_eq!(engine.to_string(), "sandbox");
    }

    #[test]
    fn a_version_after_the_at_sign_pins_it() {
        let engine = EngineRef::parse(" web-md@1.2.0-rc.1 ").unwrap();
        assert_eq!(engine.name, "web-md");
        assert_eq!(
            engine.version,
            Some(Version::new(1, 2, 0)).map(|mut v| {
                v.pre = semver::Prerelease::new("rc.1").unwrap();
                v
            })
        );
        assert_eq!(engine.to_string(), "web-md@1.2.0-rc.1");
    }

    #[test]
    fn waha_style_upper_case_names_are_accepted() {
        assert_eq!(EngineRef::parse("SANDBOX").unwrap().name, "sandbox");
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        for (bad, says) in [
            ("", "engine name"),
            ("a b", "engine name"),
            ("../x", "engine name"),
            ("@1.0.0", "engine name"),
            ("sandbox@", "semantic version"),
            ("sandbox@1", "semantic version"),
            ("sandbox@latest", "semantic version"),
            ("sandbox@1.0.0@2", "semantic version"),
        ] {
            let err = EngineRef::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
