//! The HTTP client for Nomad's API.
