//! Revocation state tests.
use super::*;
