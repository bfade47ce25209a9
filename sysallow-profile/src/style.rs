//! How text output is styled for a terminal, and wrapped; shared by every renderer (diff,
//! explain, the run-time layer).

/// ANSI styling, on only when the caller says the output is a terminal.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// `text` in pieces of at most `width` characters, broken at spaces where there are any;
/// continuation pieces are indented by two.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(20);
    let mut pieces = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let limit = if pieces.is_empty() { width } else { width - 2 };
        let len = current.chars().count();
        if len > 0 && len + 1 + word.chars().count() > limit {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
        // A single word longer than a line (a long path) is cut.
        loop {
            let limit = if pieces.is_empty() { width } else { width - 2 };
            if current.chars().count() <= limit {
                break;
            }
            let cut: String = current.chars().take(limit).collect();
            current = current.chars().skip(limit).collect();
            pieces.push(cut);
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, p)| if i == 0 { p } else { format!("  {p}") })
        .collect()
}
