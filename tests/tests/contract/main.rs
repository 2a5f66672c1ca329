//! The contract suite: openapi.yaml, template.yaml (as written and as CloudFormation) and the
//! local router describe the same API, and the template's table is the one the tests create.

mod contract;
mod operations;
mod template_table;
