//! Editor operations, written as before/after text with `|` for the cursor.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;

/// An editor from text with one `|` marking the cursor.
fn ed(marked: &str) -> Editor {
    let cursor = marked.find('|').expect("test text marks the cursor");
    let mut editor = Editor::new(&marked.replacen('|', "", 1));
    editor.cursor = cursor;
    editor
}

fn shown(editor: &Editor) -> String {
    format!("{}|{}", editor.before(), editor.after())
}

fn after(marked: &str, edits: &[Edit]) -> String {
    let mut editor = ed(marked);
    for &edit in edits {
        editor.apply(edit);
    }
    shown(&editor)
}

#[test]
fn inserts_and_deletes_at_the_cursor() {
    assert_eq!(after(r#"{"a": |}"#, &[Edit::Insert('1')]), r#"{"a": 1|}"#);
    assert_eq!(after("ab|cd", &[Edit::Backspace]), "a|cd");
    assert_eq!(after("ab|cd", &[Edit::Delete]), "ab|d");
    assert_eq!(after("|ab", &[Edit::Backspace]), "|ab");
    assert_eq!(after("ab|", &[Edit::Delete]), "ab|");
    assert_eq!(after("a|b", &[Edit::Indent]), "a  |b");
}

#[test]
fn only_text_changes_count_as_changes() {
    let mut editor = ed("a|b");
    assert!(!editor.apply(Edit::Left));
    assert!(!editor.apply(Edit::Backspace));
    assert!(editor.apply(Edit::Delete));
    assert!(
        !editor.apply(Edit::Insert('\u{7}')),
        "control characters are dropped"
    );
    assert_eq!(editor.text(), "b");
}

#[test]
fn moves_and_deletes_whole_multibyte_characters() {
    assert_eq!(after("h|é", &[Edit::Right]), "hé|");
    assert_eq!(after("hé|", &[Edit::Backspace]), "h|");
    assert_eq!(after("日本|", &[Edit::Left]), "日|本");
    assert_eq!(after("|日本", &[Edit::Delete]), "|本");
    assert_eq!(after("日|本", &[Edit::Insert('ü')]), "日ü|本");
    assert_eq!(after("a|🦀b", &[Edit::Right, Edit::Right]), "a🦀b|");
}

#[test]
fn a_grapheme_of_several_code_points_is_one_step() {
    // "é" as e + combining acute, and a woman technologist (three code points joined).
    assert_eq!(after("e\u{301}|x", &[Edit::Left]), "|e\u{301}x");
    assert_eq!(after("xe\u{301}|", &[Edit::Backspace]), "x|");
    assert_eq!(after("|👩\u{200d}💻!", &[Edit::Right]), "👩\u{200d}💻|!");
    assert_eq!(after("|👩\u{200d}💻!", &[Edit::Delete]), "|!");
}

#[test]
fn an_insert_that_merges_graphemes_leaves_the_cursor_after_the_merged_one() {
    // Two regional indicators make one flag: the cursor must not end up inside it.
    assert_eq!(
        after("|\u{1F1F7}", &[Edit::Insert('\u{1F1EB}')]),
        "\u{1F1EB}\u{1F1F7}|"
    );
}

#[test]
fn line_start_end_and_document_start_end() {
    assert_eq!(after("ab\nc|d\nef", &[Edit::LineStart]), "ab\n|cd\nef");
    assert_eq!(after("ab\nc|d\nef", &[Edit::LineEnd]), "ab\ncd|\nef");
    assert_eq!(after("ab\nc|d\nef", &[Edit::Start]), "|ab\ncd\nef");
    assert_eq!(after("ab\nc|d\nef", &[Edit::End]), "ab\ncd\nef|");
}

#[test]
fn word_moves_skip_json_punctuation() {
    let text = r#"{"name": "x y"}|"#;
    assert_eq!(after(text, &[Edit::WordLeft]), r#"{"name": "x |y"}"#);
    assert_eq!(
        after(text, &[Edit::WordLeft, Edit::WordLeft, Edit::WordLeft]),
        r#"{"|name": "x y"}"#
    );
    assert_eq!(after(text, &[Edit::WordLeft; 4]), r#"|{"name": "x y"}"#);
    assert_eq!(
        after(r#"|{"name": 1}"#, &[Edit::WordRight]),
        r#"{"name|": 1}"#
    );
    assert_eq!(after("|größe über", &[Edit::WordRight]), "größe| über");
}

#[test]
fn deleting_words_and_lines() {
    assert_eq!(after("hello wor|ld", &[Edit::DeleteWordBack]), "hello |ld");
    assert_eq!(after("\"über\": |", &[Edit::DeleteWordBack]), "\"|");
    assert_eq!(after("a |bc de", &[Edit::DeleteWordForward]), "a | de");
    assert_eq!(after("ab\ncd|", &[Edit::DeleteToLineStart]), "ab\n|");
    // Repeated, it keeps clearing upwards.
    assert_eq!(after("ab\ncd|", &[Edit::DeleteToLineStart; 3]), "|");
    assert_eq!(after("a|bc\nd", &[Edit::DeleteToLineEnd]), "a|\nd");
    assert_eq!(after("a|bc\nd", &[Edit::DeleteToLineEnd; 2]), "a|d");
}

#[test]
fn up_and_down_keep_the_column_across_a_short_line() {
    let text = "abcdef\nab\nabcde|f";
    assert_eq!(after(text, &[Edit::Up]), "abcdef\nab|\nabcdef");
    assert_eq!(after(text, &[Edit::Up, Edit::Up]), "abcde|f\nab\nabcdef");
    assert_eq!(
        after(text, &[Edit::Up, Edit::Up, Edit::Down, Edit::Down]),
        text
    );
    // Any other edit forgets the goal column.
    assert_eq!(
        after(text, &[Edit::Up, Edit::Left, Edit::Down]),
        "abcdef\nab\na|bcdef"
    );
    // The first line's ↑ and the last line's ↓ go to its ends.
    assert_eq!(after("ab|c\nd", &[Edit::Up]), "|abc\nd");
    assert_eq!(after("abc\n|de", &[Edit::Down]), "abc\nde|");
}

#[test]
fn vertical_moves_count_terminal_columns_not_bytes() {
    // Column 3 falls inside 本 (columns 2 and 3): land before it, never inside it.
    assert_eq!(after("日本語\nabc|def", &[Edit::Up]), "日|本語\nabcdef");
    assert_eq!(after("日本|語\nabcdef", &[Edit::Down]), "日本語\nabcd|ef");
    assert_eq!(ed("x\n日本|").position(), (1, 4));
}

#[test]
fn newline_keeps_the_indentation() {
    assert_eq!(
        after("{\n  \"a\": 1,|\n}", &[Edit::Newline, Edit::Insert('"')]),
        "{\n  \"a\": 1,\n  \"|\n}"
    );
}

#[test]
fn paste_lands_at_the_cursor_as_it_is() {
    let mut editor = ed("{|}");
    assert!(editor.paste("\"a\":\r\n\t1\u{1b}"));
    assert_eq!(shown(&editor), "{\"a\":\n  1|}");
    assert!(!editor.paste(""));
    assert_eq!(Editor::new("a\rb\r\n").text(), "a\nb\n");
}

#[test]
fn go_to_follows_serde_json_positions_onto_a_boundary() {
    let mut editor = Editor::new("{\n  \"a\": 1\n  \"b\": 2\n}");
    let err = serde_json::from_str::<serde_json::Value>(editor.text()).expect_err("invalid");
    editor.go_to(err.line(), err.column());
    assert_eq!(shown(&editor), "{\n  \"a\": 1\n  |\"b\": 2\n}");
    // A byte column inside "é" snaps back to its start.
    let mut editor = Editor::new("xé");
    editor.go_to(1, 3);
    assert_eq!(shown(&editor), "x|é");
    editor.go_to(9, 9);
    assert_eq!(shown(&editor), "xé|");
}

#[test]
fn scrolling_moves_only_as_far_as_the_cursor_needs() {
    let text: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
    let mut editor = Editor::new(&text.join("\n"));
    assert_eq!(editor.scroll(5, 40), (15, 0));
    editor.apply(Edit::Up);
    editor.apply(Edit::Up);
    assert_eq!(
        editor.scroll(5, 40),
        (15, 0),
        "the view stays while the cursor fits"
    );
    editor.apply(Edit::Start);
    assert_eq!(editor.scroll(5, 40), (0, 0));
    let mut wide = Editor::new(&"x".repeat(30));
    assert_eq!(
        wide.scroll(1, 10),
        (0, 21),
        "room for the cursor after the text"
    );
    wide.apply(Edit::LineStart);
    assert_eq!(wide.scroll(1, 10), (0, 0));
}

#[test]
fn visible_lines_cut_wide_characters_at_either_edge_into_spaces() {
    assert_eq!(window("日本語", 1, 4), " 本 ");
    assert_eq!(window("abcdef", 2, 3), "cde");
    assert_eq!(window("ab", 5, 3), "");
    let editor = Editor::new("abc\ndef\nghi");
    assert_eq!(editor.visible_lines(1, 1, 5, 1), ["e", "h"]);
}

#[test]
fn keys_map_to_edits_in_every_spelling_terminals_use() {
    let key = |code, m| edit_for(&KeyEvent::new(code, m));
    let (none, ctrl, alt) = (KeyModifiers::NONE, KeyModifiers::CONTROL, KeyModifiers::ALT);
    assert_eq!(key(KeyCode::Char('x'), none), Some(Edit::Insert('x')));
    assert_eq!(
        key(KeyCode::Char('X'), KeyModifiers::SHIFT),
        Some(Edit::Insert('X'))
    );
    assert_eq!(key(KeyCode::Char('{'), ctrl | alt), Some(Edit::Insert('{')));
    assert_eq!(key(KeyCode::Enter, alt), Some(Edit::Newline));
    assert_eq!(key(KeyCode::Char('j'), ctrl), Some(Edit::Newline));
    assert_eq!(
        key(KeyCode::Enter, none),
        None,
        "the panel decides what Enter does"
    );
    assert_eq!(key(KeyCode::Char('s'), ctrl), None);
    assert_eq!(key(KeyCode::Char('b'), alt), Some(Edit::WordLeft));
    assert_eq!(key(KeyCode::Left, ctrl), Some(Edit::WordLeft));
    assert_eq!(key(KeyCode::Char('f'), alt), Some(Edit::WordRight));
    assert_eq!(key(KeyCode::Char('a'), ctrl), Some(Edit::LineStart));
    assert_eq!(key(KeyCode::Char('e'), ctrl), Some(Edit::LineEnd));
    assert_eq!(key(KeyCode::Char('w'), ctrl), Some(Edit::DeleteWordBack));
    assert_eq!(key(KeyCode::Backspace, alt), Some(Edit::DeleteWordBack));
    assert_eq!(key(KeyCode::Char('u'), ctrl), Some(Edit::DeleteToLineStart));
    assert_eq!(key(KeyCode::Home, ctrl), Some(Edit::Start));
}
