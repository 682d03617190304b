//! Decision tests.
use super::*;
