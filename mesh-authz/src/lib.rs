//! mesh-authz
