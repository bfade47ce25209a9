//! Which pods the agent records: by a pod annotation, by namespace, by label selector.

use super::naming::Labels;

/// The pods to record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// A pod whose sandbox carries this annotation with the value "true" is recorded, wherever
    /// it runs; "false" opts a pod out of a selected namespace or selector.
    pub annotation: String,
    /// Every pod in these namespaces is recorded (narrowed by `selector` when both are given).
    pub namespaces: Vec<String>,
    /// Pods whose labels have every one of these values are recorded (within `namespaces`
    /// when both are given).
    pub selector: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("selector {selector:?}: {reason} (write key=value[,key=value...])")]
pub struct SelectorError {
    selector: String,
    reason: &'static str,
}

/// Parse a label selector of equalities, `app=web,tier=front` (kubectl's `-l` for the common
/// case; set-based expressions are not understood and are refused, never half-applied).
pub fn parse_selector(text: &str) -> Result<Vec<(String, String)>, SelectorError> {
    let err = |reason| SelectorError {
        selector: text.to_owned(),
        reason,
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.contains("!=") || part.contains(" in ") || part.contains(" notin ") {
            return Err(err("only equalities are understood"));
        }
        let (key, value) = part
            .split_once("==")
            .or_else(|| part.split_once('='))
            .ok_or_else(|| err("a term has no `=`"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(err("a term has an empty key"));
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    if out.is_empty() {
        return Err(err("it is empty"));
    }
    Ok(out)
}

impl Selection {
    /// Whether a pod in `namespace` with these labels and annotations is recorded.
    pub fn selects(&self, namespace: &str, labels: &Labels, annotations: &Labels) -> bool {
        match annotations.get(&self.annotation).map(String::as_str) {
            Some("true") => return true,
            Some("false") => return false,
            _ => {}
        }
        let in_namespace = self.namespaces.iter().any(|n| n == namespace);
        let labelled = self
            .selector
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v));
        match (self.namespaces.is_empty(), self.selector.is_empty()) {
            (true, true) => false,
            (false, true) => in_namespace,
            (true, false) => labelled,
            (false, false) => in_namespace && labelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selectors_parse_equalities_only() {
        assert_eq!(
            parse_selector("app=web, tier==front").ok(),
            Some(vec![
                ("app".to_owned(), "web".to_owned()),
                ("tier".to_owned(), "front".to_owned())
            ])
        );
        assert!(parse_selector("app!=web").is_err());
        assert!(parse_selector("app").is_err());
        assert!(parse_selector("=x").is_err());
        assert!(parse_selector(" , ").is_err());
    }

    #[test]
    fn annotation_namespace_and_selector() {
        let by_annotation = Selection {
            annotation: "sysallow.dev/record".to_owned(),
            ..Selection::default()
        };
        let yes = map(&[("sysallow.dev/record", "true")]);
        let no = map(&[("sysallow.dev/record", "false")]);
        let none = Labels::new();
        assert!(by_annotation.selects("any", &none, &yes));
        assert!(!by_annotation.selects("any", &none, &none));
        assert!(!by_annotation.selects("any", &none, &map(&[("sysallow.dev/record", "yes")])));

        let ns = Selection {
            namespaces: vec!["shop".to_owned()],
            ..by_annotation.clone()
        };
        assert!(ns.selects("shop", &none, &none));
        assert!(!ns.selects("other", &none, &none));
        assert!(!ns.selects("shop", &none, &no), "the annotation opts out");
        assert!(ns.selects("other", &none, &yes));

        let web = map(&[("app", "web"), ("tier", "front")]);
        let sel = Selection {
            selector: vec![("app".to_owned(), "web".to_owned())],
            ..by_annotation.clone()
        };
        assert!(sel.selects("x", &web, &none));
        assert!(!sel.selects("x", &map(&[("app", "db")]), &none));
        let both = Selection {
            namespaces: vec!["shop".to_owned()],
            ..sel
        };
        assert!(both.selects("shop", &web, &none));
        assert!(!both.selects("other", &web, &none));
        assert!(!both.selects("shop", &none, &none));
    }
}
