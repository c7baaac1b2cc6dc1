use rmcp::model::{EmbeddedResource, Resource};
use serde_json::json;

use super::*;

fn tool(name: &str, description: &str, schema: Value) -> Tool {
    let Value::Object(map) = schema else {
        panic!("schema must be an object")
    };
    let mut t = Tool::new(name.to_string(), description.to_string(), map);
    t.description = Some(description.to_string().into());
    t
}

#[test]
fn catalogue_lists_names_descriptions_and_arguments() {
    let c = Catalogue {
        tools: vec![
            tool(
                "add",
                "Add two numbers; returns the sum\nand more on a second line",
                json!({"type": "object",
                       "properties": {"a": {"type": "number"}, "b": {"type": "number"},
                                      "note": {"type": ["string", "null"]}},
                       "required": ["a", "b"]}),
            ),
            tool("ping", "Ping", json!({"type": "object"})),
        ],
        ..Catalogue::default()
    };
    let text = render_catalogue(&c);
    assert_eq!(
        text,
        "tools (2)\n\
         \x20 add   Add two numbers; returns the sum…\n\
         \x20       args: a: number, b: number, note?: string or null\n\
         \x20 ping  Ping\n\
         \x20       args: (no arguments)\n"
    );
}

#[test]
fn result_renders_every_block_kind() {
    let mut r = CallToolResult::success(vec![
        ContentBlock::text("3"),
        ContentBlock::image("aGVsbG8=", "image/png"),
        ContentBlock::audio("AAAA", "audio/wav"),
        ContentBlock::Resource(EmbeddedResource::new(ResourceContents::text(
            "hello",
            "file:///a.txt",
        ))),
        ContentBlock::Resource(EmbeddedResource::new(
            ResourceContents::BlobResourceContents {
                uri: "file:///b.bin".into(),
                mime_type: None,
                blob: "AAE=".into(),
                meta: None,
            },
        )),
        ContentBlock::resource_link(
            Resource::new("file:///c.csv", "c.csv")
                .with_mime_type("text/csv")
                .with_size(12),
        ),
    ]);
    r.structured_content = Some(json!({"sum": 3}));
    assert_eq!(
        render_result("add", &r, 12),
        "[1] text\n3\n\
         [2] image image/png (5 bytes)\n\
         [3] audio audio/wav (3 bytes)\n\
         [4] resource file:///a.txt (text/plain, 5 bytes)\nhello\n\
         [5] resource file:///b.bin (application/octet-stream, 2 bytes)\n\
         [6] resource link file:///c.csv (c.csv, text/csv, 12 bytes)\n\
         structuredContent:\n{\n  \"sum\": 3\n}\n\
         add: ok in 12 ms\n"
    );
}

#[test]
fn tool_errors_and_empty_results_say_so() {
    let r = CallToolResult::error(vec![ContentBlock::text("no such city")]);
    let text = render_result("weather", &r, 5);
    assert!(
        text.ends_with("weather: returned an error (isError) in 5 ms\n"),
        "{text}"
    );
    let r = CallToolResult::success(vec![]);
    assert!(render_result("x", &r, 1).starts_with("(no content blocks)\n"));
}

#[test]
fn invalid_base64_is_reported_not_fatal() {
    let r = CallToolResult::success(vec![ContentBlock::image("***", "image/png")]);
    assert!(render_result("x", &r, 1).contains("3 characters of invalid base64"));
}
