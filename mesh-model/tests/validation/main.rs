//! Istio's validating-webhook rules (`istio-semantics.md` §10), one test
//! per rule id: a violating document is rejected (or admitted with a
//! warning, as the table grades the rule) with that code at the field path,
//! and a nearby valid document is admitted. Expected outcomes and messages
//! come from Istio's validation source (`pkg/config/validation`,
//! `pkg/config/security`) as the rule table cites it.

mod fixtures;

mod dr;
mod general;
mod gw;
mod rendered;
mod sc;
mod se;
mod security;
mod vs;
