//! The view's state and what each key does to it: a state machine apart from the screen, so
//! that every key is tested without a terminal.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::model::{Scope, Tab, TableOptions};

/// Deepest path depth `+` reaches before full paths.
pub const MAX_DEPTH: usize = 12;

/// What the screen shows and how.
#[derive(Clone, Debug)]
pub struct UiState {
    /// The view.
    pub tab: Tab,
    /// Sort column and direction, per view.
    sorts: [(usize, bool); Tab::ALL.len()],
    /// Path depth (0: full paths).
    pub depth: usize,
    /// The filter in force.
    pub filter: String,
    /// The filter being typed after `/` (Enter applies it, Esc clears it).
    pub editing: Option<String>,
    /// Space: the display stays as it is while collection goes on.
    pub frozen: bool,
    /// Rates over the window, or totals.
    pub scope: Scope,
    /// The key list is shown.
    pub help: bool,
}

/// What a key asks of the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// Draw again.
    Redraw,
    /// Forget every count so far (Ctrl-R).
    Reset,
    /// Restore the terminal and exit.
    Quit,
}

impl UiState {
    /// The first screen: Ops, busiest first, at `depth`.
    pub fn new(depth: usize) -> Self {
        UiState {
            tab: Tab::Ops,
            sorts: Tab::ALL.map(|t| (t.default_sort(), false)),
            depth,
            filter: String::new(),
            editing: None,
            frozen: false,
            scope: Scope::Rates,
            help: false,
        }
    }

    fn tab_index(&self) -> usize {
        Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0)
    }

    /// The current view's sort column and whether it is reversed.
    pub fn sort(&self) -> (usize, bool) {
        self.sorts[self.tab_index()]
    }

    /// How the current view's rows are chosen and ordered.
    pub fn table_options(&self) -> TableOptions {
        let (sort, reverse) = self.sort();
        TableOptions {
            scope: self.scope,
            depth: self.depth,
            filter: self.filter.clone(),
            sort,
            reverse,
        }
    }

    /// Applies one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            return Action::Quit;
        }
        if let Some(text) = &mut self.editing {
            match key.code {
                KeyCode::Enter => {
                    self.filter = self.editing.take().unwrap_or_default();
                }
                KeyCode::Esc => {
                    self.editing = None;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) if !ctrl => text.push(c),
                _ => return Action::None,
            }
            return Action::Redraw;
        }
        if self.help {
            // Any key closes the key list; q still quits.
            self.help = false;
            return if key.code == KeyCode::Char('q') { Action::Quit } else { Action::Redraw };
        }
        let i = self.tab_index();
        let columns = self.tab.columns().len();
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('r') if ctrl => return Action::Reset,
            KeyCode::Tab => self.tab = Tab::ALL[(i + 1) % Tab::ALL.len()],
            KeyCode::BackTab => self.tab = Tab::ALL[(i + Tab::ALL.len() - 1) % Tab::ALL.len()],
            KeyCode::Char(c @ '1'..='6') => self.tab = Tab::ALL[usize::from(c as u8 - b'1')],
            KeyCode::Char('<') => {
                let s = &mut self.sorts[i].0;
                *s = (*s + columns - 1) % columns;
            }
            KeyCode::Char('>') => {
                let s = &mut self.sorts[i].0;
                *s = (*s + 1) % columns;
            }
            KeyCode::Char('r') => self.sorts[i].1 = !self.sorts[i].1,
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.depth = match self.depth {
                    0 => 0,
                    d if d >= MAX_DEPTH => 0,
                    d => d + 1,
                }
            }
            KeyCode::Char('-') => {
                self.depth = match self.depth {
                    0 => MAX_DEPTH,
                    d => (d - 1).max(1),
                }
            }
            KeyCode::Char('/') => self.editing = Some(String::new()),
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char(' ') => self.frozen = !self.frozen,
            KeyCode::Char('t') => {
                self.scope = match self.scope {
                    Scope::Rates => Scope::Totals,
                    Scope::Totals => Scope::Rates,
                }
            }
            KeyCode::Char('?') | KeyCode::Char('h') => self.help = true,
            _ => return Action::None,
        }
        Action::Redraw
    }
}

/// The key list of the help overlay and the README, as (keys, what they do).
pub const KEYS: &[(&str, &str)] = &[
    ("Tab, Shift-Tab, 1-6", "switch view: Ops, Paths, Clients, Errors, Watches, Ensemble"),
    ("< >", "sort on the previous / next column"),
    ("r", "reverse the sort"),
    ("+ -", "path depth deeper / shallower (full paths past 12)"),
    ("/", "filter: a path prefix (/app) or text in any column; Enter applies"),
    ("Esc", "clear the filter"),
    ("space", "freeze the display (collection goes on)"),
    ("t", "rates over the window / totals since start"),
    ("Ctrl-R", "reset every count"),
    ("?", "this help (any key closes it)"),
    ("q, Ctrl-C", "quit"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(state: &mut UiState, code: KeyCode) -> Action {
        state.on_key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn chars(state: &mut UiState, s: &str) {
        for c in s.chars() {
            key(state, KeyCode::Char(c));
        }
    }

    #[test]
    fn views_switch_by_tab_and_number() {
        let mut s = UiState::new(0);
        assert_eq!(key(&mut s, KeyCode::Tab), Action::Redraw);
        assert_eq!(s.tab, Tab::Paths);
        key(&mut s, KeyCode::BackTab);
        key(&mut s, KeyCode::BackTab);
        assert_eq!(s.tab, Tab::Ensemble);
        key(&mut s, KeyCode::Char('5'));
        assert_eq!(s.tab, Tab::Watches);
        key(&mut s, KeyCode::Char('3'));
        assert_eq!(s.tab, Tab::Clients);
        assert_eq!(key(&mut s, KeyCode::Char('9')), Action::None);
    }

    #[test]
    fn sorting_is_per_view_and_wraps() {
        let mut s = UiState::new(0);
        assert_eq!(s.sort(), (1, false));
        key(&mut s, KeyCode::Char('<'));
        key(&mut s, KeyCode::Char('<'));
        assert_eq!(s.sort(), (Tab::Ops.columns().len() - 1, false));
        key(&mut s, KeyCode::Char('r'));
        assert!(s.sort().1);
        key(&mut s, KeyCode::Char('2'));
        assert_eq!(s.sort(), (1, false), "Paths keeps its own order");
        key(&mut s, KeyCode::Char('>'));
        assert_eq!(s.table_options().sort, 2);
    }

    #[test]
    fn depth_goes_between_one_and_full_paths() {
        let mut s = UiState::new(2);
        key(&mut s, KeyCode::Char('-'));
        key(&mut s, KeyCode::Char('-'));
        assert_eq!(s.depth, 1);
        key(&mut s, KeyCode::Char('+'));
        assert_eq!(s.depth, 2);
        let mut s = UiState::new(0);
        key(&mut s, KeyCode::Char('+'));
        assert_eq!(s.depth, 0, "full paths are the deepest");
        key(&mut s, KeyCode::Char('-'));
        assert_eq!(s.depth, MAX_DEPTH);
        key(&mut s, KeyCode::Char('+'));
        assert_eq!(s.depth, 0);
    }

    #[test]
    fn the_filter_is_typed_applied_and_cleared() {
        let mut s = UiState::new(0);
        key(&mut s, KeyCode::Char('/'));
        chars(&mut s, "/appq");
        assert_eq!(s.editing.as_deref(), Some("/appq"), "q is text while typing");
        key(&mut s, KeyCode::Backspace);
        key(&mut s, KeyCode::Enter);
        assert_eq!((s.filter.as_str(), s.editing.is_none()), ("/app", true));
        assert_eq!(s.table_options().filter, "/app");
        key(&mut s, KeyCode::Esc);
        assert_eq!(s.filter, "");
        key(&mut s, KeyCode::Char('/'));
        chars(&mut s, "x");
        key(&mut s, KeyCode::Esc);
        assert_eq!((s.filter.as_str(), s.editing.is_none()), ("", true));
    }

    #[test]
    fn freeze_scope_help_reset_and_quit() {
        let mut s = UiState::new(0);
        key(&mut s, KeyCode::Char(' '));
        assert!(s.frozen);
        key(&mut s, KeyCode::Char('t'));
        assert_eq!(s.scope, Scope::Totals);
        key(&mut s, KeyCode::Char('?'));
        assert!(s.help);
        assert_eq!(key(&mut s, KeyCode::Char('t')), Action::Redraw);
        assert_eq!((s.help, s.scope), (false, Scope::Totals), "a key only closes the help");
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(s.on_key(ctrl('r')), Action::Reset);
        assert_eq!(key(&mut s, KeyCode::Char('q')), Action::Quit);
        key(&mut s, KeyCode::Char('/'));
        assert_eq!(s.on_key(ctrl('c')), Action::Quit, "Ctrl-C quits even while typing");
    }
}
