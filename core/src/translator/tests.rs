//! Translator tests.
use super::*;
