//! An elicitation's form: the fields a server's `requestedSchema` asks for, how typed or JSON
//! answers are checked against them, and the prompt that asks for them over any pair of
//! streams. Who answers (the policy) is `mcp::elicit`; the terminal itself is the CLI's.

mod answer;
mod checks;
pub mod form;
pub mod prompt;
#[cfg(test)]
pub(crate) mod tests_form;
#[cfg(test)]
mod tests_prompt;
