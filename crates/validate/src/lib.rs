//! # nativeguard-validate
//!
//! Control validation: does each control the seed page maps to a technique actually act on it?
#![deny(missing_docs)]

pub mod catalog;
mod embedded;
mod error;
pub mod expectations;
pub mod model;
pub mod process;
pub mod render;
pub mod runner;
mod validation;
pub mod windows;

pub use error::Error;
pub use validation::{validate, Inputs};
