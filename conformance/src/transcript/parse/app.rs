//! `app-step`: what a device case asks the implementation's application to do, and what it
//! expects of the command's end and output.
//!
//! ```abnf
//! app-step   = "app" SP ( "->" SP app-action / "<-" [SP deadline] SP ("ok" / "fail") )
//! app-action = "create" SP expr / "edit" SP expr SP expr / "delete" SP expr
//!            / "show" SP expr / "list"
//! ```

use crate::transcript::cursor::Cursor;
use crate::transcript::expr::expr;
use crate::transcript::{AppAction, AppFinish, AppStep, Deadline, SyntaxError};

/// The part of an `app` step after `app`; `deadline` reads `[SP deadline]`.
pub(super) fn app_step(
    c: &mut Cursor<'_>,
    deadline: impl FnOnce(&mut Cursor<'_>) -> Result<Deadline, SyntaxError>,
) -> Result<AppStep, SyntaxError> {
    c.skip_space();
    if c.eat("->") {
        c.skip_space();
        let start = c.offset();
        let word = c.take_while(|ch| ch.is_ascii_alphabetic());
        let Some(action) = AppAction::ALL.into_iter().find(|a| a.as_str() == word) else {
            return Err(c.error_at(
                start,
                "expected an action: `create TEXT`, `edit ID TEXT`, `delete ID`, `show ID` or `list`",
            ));
        };
        let (names_note, carries_text) = action.arguments();
        let argument = |c: &mut Cursor<'_>, what: &str| {
            // The expression before may have taken the white space after it.
            let spaced =
                c.slice(0, c.offset()).ends_with([' ', '\t']) || c.rest().starts_with([' ', '\t']);
            c.skip_space();
            if c.at_end() {
                return Err(c.error(format!("`{}` needs {what}", action.as_str())));
            }
            if !spaced {
                return Err(c.error("expected white space before the argument"));
            }
            expr(c)
        };
        let id = if names_note {
            Some(argument(c, "the note's identity")?)
        } else {
            None
        };
        let text = if carries_text {
            Some(argument(c, "the note's text")?)
        } else {
            None
        };
        end(c)?;
        return Ok(AppStep::Run { action, id, text });
    }
    if c.eat("<-") {
        let deadline = deadline(c)?;
        c.skip_space();
        let success = if c.eat_word("ok") {
            true
        } else if c.eat_word("fail") {
            false
        } else {
            return Err(c.error(
                "expected `ok` (the command exits 0) or `fail` (it exits with another status)",
            ));
        };
        end(c)?;
        return Ok(AppStep::Finish(Box::new(AppFinish {
            deadline,
            success,
            expectations: Vec::new(),
            ordered: false,
            exact: false,
        })));
    }
    Err(c.error("expected `->` (an action the application is asked to do) or `<-` (its end)"))
}

fn end(c: &mut Cursor<'_>) -> Result<(), SyntaxError> {
    c.skip_space();
    if c.at_end() {
        Ok(())
    } else {
        Err(c.error("unexpected text at the end of the step"))
    }
}
