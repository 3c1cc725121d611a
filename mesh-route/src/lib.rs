//! mesh-route
