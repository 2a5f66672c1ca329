//! The contract suite: openapi.yaml, template.yaml (as written and as CloudFormation) and the
//! local router describe the same API, the template's table is the one the tests create, and
//! the README and docs/ link where they say.

mod contract;
mod docs;
mod operations;
mod sdk;
mod template_table;
